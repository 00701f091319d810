"""Both backends on real speech: corpus WER, agreement, and the shape of what they return."""

from __future__ import annotations

import math
import os

import pytest

from engine.corpus import read_manifest
from engine.scoring import corpus_error_counts, corpus_wer, normalize

MAX_CORPUS_WER = 0.12
MAX_DISAGREEMENT = 0.02


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["ctranslate2", "whispercpp"])
def test_corpus_wer_is_within_bound(greedy_general_runs, backend: str) -> None:
    runs = greedy_general_runs[backend]
    counts = corpus_error_counts([r.item.text for r in runs], [r.text for r in runs])
    print(f"{backend}: corpus WER {counts.wer:.2%} over {counts.reference_words} words")
    assert counts.wer <= MAX_CORPUS_WER
    assert all(r.text.strip() for r in runs), "a clip produced no text"


@pytest.mark.slow
def test_backends_agree_with_the_same_greedy_settings(greedy_general_runs) -> None:
    ct2 = [r.text for r in greedy_general_runs["ctranslate2"]]
    cpp = [r.text for r in greedy_general_runs["whispercpp"]]
    disagreement = corpus_wer(ct2, cpp)
    print(f"corpus WER between the backends: {disagreement:.2%}")
    assert disagreement <= MAX_DISAGREEMENT


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["ctranslate2", "whispercpp"])
def test_segments_carry_words_timings_and_confidences(greedy_general_runs, backend: str) -> None:
    for run in greedy_general_runs[backend]:
        assert run.info.backend == backend
        assert run.info.duration == pytest.approx(run.item.seconds, abs=0.05)
        previous_end = 0.0
        for segment in run.segments:
            assert 0.0 <= segment.start <= segment.end <= run.item.seconds + 0.05
            assert segment.start >= previous_end - 1e-6
            previous_end = segment.end
            assert segment.words, run.item.name
            assert normalize(" ".join(w.text for w in segment.words)) == normalize(segment.text)
            for word in segment.words:
                assert segment.start - 1e-6 <= word.start <= word.end <= segment.end + 1e-6
                assert 0.0 <= word.probability <= 1.0
            assert segment.avg_logprob < 0.0
            assert segment.compression_ratio > 0.0
            assert math.isnan(segment.no_speech_prob) or 0.0 <= segment.no_speech_prob <= 1.0


@pytest.mark.slow
def test_word_timings_of_the_backends_agree(greedy_general_runs) -> None:
    """Both use cross-attention alignment (DTW): the same word ends within 0.2 s, mostly."""
    close = total = 0
    for ct2_run, cpp_run in zip(
        greedy_general_runs["ctranslate2"], greedy_general_runs["whispercpp"], strict=True
    ):
        ct2_words = [w for s in ct2_run.segments for w in s.words]
        cpp_words = [w for s in cpp_run.segments for w in s.words]
        if [normalize(w.text) for w in ct2_words] != [normalize(w.text) for w in cpp_words]:
            continue
        for a, b in zip(ct2_words[:-1], cpp_words[:-1], strict=True):  # last word: segment end
            total += 1
            close += abs(a.end - b.end) <= 0.2
    assert total > 50
    assert close / total >= 0.9, f"{close}/{total} word ends within 0.2 s"


@pytest.mark.slow
def test_whispercpp_reports_its_no_speech_probability(greedy_general_runs) -> None:
    values = [s.no_speech_prob for r in greedy_general_runs["whispercpp"] for s in r.segments]
    assert all(not math.isnan(v) for v in values), "the native no-speech call is unavailable"
    assert max(values) < 0.6  # every clip is speech


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["ctranslate2", "whispercpp"])
def test_a_job_does_not_depend_on_what_the_model_decoded_before(
    general_corpus, engine_session_env, backend: str
) -> None:
    """A loaded model is reused across jobs; no state of one job may leak into the next.

    (whisper.cpp keeps the previous call's text in its context unless told not to; that
    once made every clip after the JFK one lose its punctuation.)
    """
    from engine import transcribe
    from engine.models import unload_all
    from engine.types import TranscribeOptions

    items = {item.name: item for item in read_manifest(general_corpus)}
    clip, before = items["harvard_birch_canoe.wav"], items["jfk_inaugural_44k_stereo.flac"]
    options = TranscribeOptions(backend=backend, beam_size=1, temperatures=(0.0,))
    with pytest.MonkeyPatch.context() as patch:
        for key, value in engine_session_env.items():
            patch.setenv(key, value)
        unload_all()  # a freshly loaded model: the reference
        fresh = [s.text for s in transcribe(clip.path, options)[0]]
        unload_all()
        list(transcribe(before.path, options)[0])  # (whisper.cpp ends it without a full stop)
        after = [s.text for s in transcribe(clip.path, options)[0]]
    assert after == fresh


_SAMPLED = """
import json, sys
from pathlib import Path
from engine import transcribe
from engine.types import TranscribeOptions
options = TranscribeOptions(backend=sys.argv[2], beam_size=1, temperatures=(1.0,))
print(json.dumps([[s.text for s in transcribe(Path(sys.argv[1]), options)[0]] for _ in range(2)]))
"""


@pytest.mark.parametrize("backend", ["ctranslate2", "whispercpp"])
def test_sampled_decoding_is_the_same_in_every_run(
    general_corpus, engine_session_env, backend: str
) -> None:
    """Temperature fallback samples at random; a process decoding the same jobs must get
    the same text in every run (the learning pipeline compares candidates on them)."""
    import json
    import subprocess
    import sys

    clip = general_corpus / "librivox_sense_0870.wav"
    env = {**os.environ, **engine_session_env}
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", _SAMPLED, str(clip), backend],
                capture_output=True, text=True, check=True, env=env, timeout=300,
            ).stdout
        )
        for _ in range(2)
    ]  # fmt: skip
    assert runs[0] == runs[1]
