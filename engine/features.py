"""Whisper's log-mel features, computed in slices to bound memory.

faster-whisper's ``FeatureExtractor`` frames the whole input at once: for ten
minutes of audio its STFT intermediates peak at about 600 MB. ``log_mel``
computes the same features (same padding, window, mel filters, log and clamp,
to float rounding) a few thousand frames at a time, so the transient memory is
a few tens of MB whatever the input length; only the result (80 floats per
10 ms, about 19 MB for ten minutes) grows with the input.

This is the serving path's feature computation for the CTranslate2 backend;
training code that wants the exact serving features should call it too.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16_000
N_FFT = 400
HOP = 160
N_MELS = 80
SLICE_FRAMES = 500  # 5 s of frames per slice: numpy's FFT needs ~8 KB per frame while it works


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(N_FFT + 1)[:-1].astype(np.float32)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, linear)


@lru_cache(maxsize=4)
def mel_filters(n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, 201) Slaney-normalized triangular mel filters for 16 kHz, n_fft 400.

    The matrix openai-whisper ships and faster-whisper computes (checked in the
    tests); computed here so that whisper.cpp jobs need not import faster-whisper.
    """
    fft_hz = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    edges = _mel_to_hz(np.linspace(0.0, _hz_to_mel(SAMPLE_RATE / 2), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def _padded_piece(wave: np.ndarray, padding: int, start: int, stop: int) -> np.ndarray:
    """``np.pad(np.pad(wave, (0, padding)), N_FFT // 2, mode="reflect")[start:stop]``, built
    from the needed samples only (the whole padded signal is never materialized)."""
    n = len(wave) + padding
    index = np.arange(start, stop, dtype=np.int64) - N_FFT // 2
    index = np.abs(index)  # reflect at the start: x[-k] -> x[k]
    index = np.where(index > n - 1, 2 * (n - 1) - index, index)  # reflect at the end
    piece = np.zeros(len(index), dtype=np.float32)
    inside = index < len(wave)  # beyond the signal: the zero padding
    piece[inside] = wave[index[inside]]
    return piece


def log_mel(pcm: np.ndarray, padding: int = HOP, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, frames) log-mel spectrogram, as faster-whisper's ``FeatureExtractor(pcm)``."""
    wave = np.asarray(pcm, dtype=np.float32).reshape(-1)
    half = N_FFT // 2
    n = len(wave) + padding
    if n <= half:  # too short for one reflection: pad the (tiny) signal whole
        whole = np.pad(np.pad(wave, (0, padding)), (half, half), mode="reflect")

        def piece_of(a: int, b: int) -> np.ndarray:
            return whole[a:b]
    else:

        def piece_of(a: int, b: int) -> np.ndarray:
            return _padded_piece(wave, padding, a, b)

    n_frames = 1 + (n + 2 * half - N_FFT) // HOP
    n_out = n_frames - 1  # the last frame is dropped, as faster-whisper does
    filters = mel_filters(n_mels)
    window = _window()
    mel = np.empty((n_mels, max(n_out, 0)), dtype=np.float32)
    for first in range(0, n_out, SLICE_FRAMES):
        last = min(first + SLICE_FRAMES, n_out)
        piece = piece_of(first * HOP, (last - 1) * HOP + N_FFT)
        frames = np.lib.stride_tricks.sliding_window_view(piece, N_FFT)[::HOP]
        spectrum = np.fft.rfft(frames * window, n=N_FFT, axis=-1).astype(np.complex64, copy=False)
        power = np.abs(spectrum) ** 2
        mel[:, first:last] = filters @ power.T
    np.clip(mel, 1e-10, None, out=mel)
    np.log10(mel, out=mel)
    if mel.size:
        np.maximum(mel, mel.max() - 8.0, out=mel)
    mel += 4.0
    mel /= 4.0
    return mel
