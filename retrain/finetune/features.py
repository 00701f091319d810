"""The encoder input the serving path computes for one clip of at most 30 s.

Serving (``engine.backends.ctranslate2``; whisper.cpp is fed the same log-mel)
computes ``engine.features.log_mel`` of the whole clip (faster-whisper's
``FeatureExtractor``, with its 160-sample padding), treats all frames but the last
as content, and pads that content with zeros to Whisper's 3000-frame window
(faster-whisper's ``pad_or_trim``). Training must see exactly these numbers: Hugging
Face's ``WhisperFeatureExtractor`` pads the *audio* to 30 s before the log-mel, which
changes the normalization and the padding, and with it the transcripts.
``tests/finetune/test_features.py`` compares this with what the serving backend
actually hands its encoder.
"""

from __future__ import annotations

import numpy as np

from engine.features import HOP, SAMPLE_RATE, log_mel

WINDOW_FRAMES = 3000  # 30 s at 100 frames per second
MAX_SAMPLES = WINDOW_FRAMES * HOP  # longer clips do not fit one decoding window


def content_frames(pcm: np.ndarray) -> int:
    """Frames of ``pcm`` the serving path treats as content (before padding)."""
    return (len(pcm) + HOP) // HOP - 1


def fits_one_window(pcm: np.ndarray) -> bool:
    return content_frames(pcm) <= WINDOW_FRAMES


def encoder_input(pcm: np.ndarray) -> np.ndarray:
    """(80, 3000) float32: the log-mel window serving decodes ``pcm`` (16 kHz mono) from.

    Raises ``ValueError`` for a clip longer than one window (30 s): serving would
    decode it in several windows, so one (window, text) training pair would be wrong.
    """
    wave = np.asarray(pcm, dtype=np.float32).reshape(-1)
    mel = log_mel(wave, padding=HOP)
    content = mel[:, : max(mel.shape[1] - 1, 0)]
    if content.shape[1] > WINDOW_FRAMES:
        seconds = len(wave) / SAMPLE_RATE
        raise ValueError(f"a {seconds:.1f}-s clip does not fit one 30-s decoding window")
    window = np.zeros((mel.shape[0], WINDOW_FRAMES), dtype=np.float32)
    window[:, : content.shape[1]] = content
    return window
