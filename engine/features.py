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
SLICE_FRAMES = 3000  # 30 s of frames per slice


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(N_FFT + 1)[:-1].astype(np.float32)


@lru_cache(maxsize=4)
def _mel_filters(n_mels: int = N_MELS) -> np.ndarray:
    from faster_whisper.feature_extractor import FeatureExtractor

    return FeatureExtractor.get_mel_filters(SAMPLE_RATE, N_FFT, n_mels=n_mels).astype(np.float32)


def log_mel(pcm: np.ndarray, padding: int = HOP, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, frames) log-mel spectrogram, as faster-whisper's ``FeatureExtractor(pcm)``."""
    wave = np.asarray(pcm, dtype=np.float32).reshape(-1)
    if padding:
        wave = np.pad(wave, (0, padding))
    half = N_FFT // 2
    # reflect padding at both ends, as a centred STFT does
    padded = np.pad(wave, (half, half), mode="reflect")
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    n_out = n_frames - 1  # the last frame is dropped, as faster-whisper does
    filters = _mel_filters(n_mels)
    window = _window()
    mel = np.empty((n_mels, max(n_out, 0)), dtype=np.float32)
    for first in range(0, n_out, SLICE_FRAMES):
        last = min(first + SLICE_FRAMES, n_out)
        piece = padded[first * HOP : (last - 1) * HOP + N_FFT]
        frames = np.lib.stride_tricks.sliding_window_view(piece, N_FFT)[::HOP]
        spectrum = np.fft.rfft(frames * window, n=N_FFT, axis=-1).astype(np.complex64)
        power = np.abs(spectrum) ** 2
        mel[:, first:last] = filters @ power.T
    np.clip(mel, 1e-10, None, out=mel)
    np.log10(mel, out=mel)
    if mel.size:
        np.maximum(mel, mel.max() - 8.0, out=mel)
    mel += 4.0
    mel /= 4.0
    return mel
