"""engine.features.log_mel equals faster-whisper's features, in bounded memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from faster_whisper.feature_extractor import FeatureExtractor

from engine import audio
from engine.features import log_mel


@pytest.fixture(scope="module")
def speech(general_corpus: Path) -> np.ndarray:
    return np.concatenate(
        [
            audio.decode(general_corpus / n)
            for n in sorted(p.name for p in general_corpus.iterdir())
            if n.endswith((".wav", ".flac", ".ogg"))
        ]
    )


@pytest.mark.parametrize("samples", [199, 200, 361, 16_000, 77_777, 480_000, 480_123])
def test_features_equal_faster_whispers(speech: np.ndarray, samples: int) -> None:
    piece = speech[1000 : 1000 + samples]
    expected = FeatureExtractor()(piece)
    got = log_mel(piece)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_whole_corpus_features_equal(speech: np.ndarray) -> None:
    np.testing.assert_allclose(log_mel(speech), FeatureExtractor()(speech), rtol=0, atol=1e-6)


def test_memory_is_the_result_plus_a_small_slice(speech: np.ndarray) -> None:
    ten_minutes = np.resize(speech, 10 * 60 * audio.SAMPLE_RATE)
    tracemalloc.start()
    features = log_mel(ten_minutes)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result = features.nbytes  # 19 MB for ten minutes
    assert peak < result + 12e6, f"peak {peak / 1e6:.1f} MB for a {result / 1e6:.1f} MB result"


def test_mel_filters_are_whispers() -> None:
    from engine.features import mel_filters

    np.testing.assert_allclose(
        mel_filters(), FeatureExtractor.get_mel_filters(16_000, 400, n_mels=80), rtol=0, atol=1e-7
    )
