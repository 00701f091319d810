"""No train/serve skew in features: training sees exactly the serving path's encoder input.

The serving backends are run for real on the general corpus and the features they hand
to their model are captured at the library boundary: faster-whisper's
``WhisperModel.encode`` (CTranslate2 backend) and ``whisper_set_mel`` (whisper.cpp
backend, which pads the window with zeros itself). Training's ``encoder_input`` must
equal them bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import audio, transcribe
from engine.corpus import read_manifest
from engine.types import TranscribeOptions
from retrain.finetune.availability import availability
from retrain.finetune.features import WINDOW_FRAMES, content_frames, encoder_input


def _clips(general_corpus: Path):
    items = read_manifest(general_corpus)
    assert all(i.seconds < 30 for i in items)
    return items


def test_ctranslate2_serving_encodes_exactly_the_training_window(
    general_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faster_whisper.transcribe import WhisperModel

    captured: list[np.ndarray] = []
    original = WhisperModel.encode

    def spy(self, features):
        captured.append(np.array(features, copy=True))
        return original(self, features)

    monkeypatch.setattr(WhisperModel, "encode", spy)
    for item in _clips(general_corpus):
        captured.clear()
        segments, _ = transcribe(item.path, TranscribeOptions(backend="ctranslate2"))
        list(segments)
        assert len(captured) == 1, item.name  # one window per clip of under 30 s
        pcm = audio.decode(item.path)
        expected = encoder_input(pcm)
        assert captured[0].shape == (80, WINDOW_FRAMES)
        assert np.array_equal(captured[0], expected), item.name


def test_whispercpp_serving_gets_the_same_content_frames(
    general_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import _pywhispercpp as pw

    captured: list[np.ndarray] = []
    original = pw.whisper_set_mel

    def spy(ctx, mel, n_len, n_mel):
        captured.append(np.array(mel, copy=True))
        return original(ctx, mel, n_len, n_mel)

    monkeypatch.setattr(pw, "whisper_set_mel", spy)
    for item in _clips(general_corpus)[:4]:
        captured.clear()
        segments, _ = transcribe(item.path, TranscribeOptions(backend="whispercpp"))
        list(segments)
        assert len(captured) == 1, item.name
        pcm = audio.decode(item.path)
        window = encoder_input(pcm)
        n = content_frames(pcm)
        assert captured[0].shape == (80, n)
        assert np.array_equal(captured[0], window[:, :n]), item.name
        assert not window[:, n:].any()  # the rest of the window is zero padding


@pytest.mark.finetune
@pytest.mark.skipif(not availability().available, reason=availability().reason)
def test_transformers_feature_extractor_would_be_skewed(general_corpus: Path) -> None:
    """Why training cannot use transformers' ``WhisperFeatureExtractor``: it pads the audio
    to 30 s before the log-mel, so its window differs from serving's."""
    from transformers import WhisperFeatureExtractor

    pcm = audio.decode(general_corpus / "harvard_birch_canoe.wav")
    theirs = WhisperFeatureExtractor(feature_size=80)(pcm, sampling_rate=16000).input_features[0]
    ours = encoder_input(pcm)
    assert theirs.shape == ours.shape
    assert np.abs(theirs - ours).max() > 0.1


def test_a_clip_longer_than_one_window_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit one 30-s decoding window"):
        encoder_input(np.zeros(16000 * 31, dtype=np.float32))
    assert encoder_input(np.zeros(16000 * 29, dtype=np.float32)).shape == (80, WINDOW_FRAMES)
