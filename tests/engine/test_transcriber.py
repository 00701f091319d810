"""engine.transcribe end to end with the real model: streaming, chunking, progress, cancel,
personalization, fallback, caching and hot swap."""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from media_factory import write_audio

import engine.transcriber as transcriber
from engine import audio, models, transcribe
from engine.bundle import (
    MANIFEST_NAME,
    CorrectionRule,
    LexiconTerm,
    ModelBundle,
    file_sha256,
    write_manifest,
)
from engine.corpus import read_manifest
from engine.errors import TranscriptionCancelled, UnknownBackendError
from engine.scoring import error_counts, normalize
from engine.types import Segment, TranscribeOptions
from engine.weights.ct2 import read_model_bin, write_model_bin

SR = audio.SAMPLE_RATE
BACKENDS = ("ctranslate2", "whispercpp")
GREEDY = TranscribeOptions(beam_size=1, temperatures=(0.0,))


def _looped(general_corpus: Path, times: int) -> tuple[np.ndarray, str]:
    """The general corpus ``times`` times, clips 0.5 s apart, and its reference text."""
    gap = np.zeros(SR // 2, np.float32)
    pieces, texts = [], []
    for _ in range(times):
        for item in read_manifest(general_corpus):
            pieces += [audio.decode(item.path), gap]
            texts.append(item.text)
    return np.concatenate(pieces), " ".join(texts)


@pytest.fixture(scope="module")
def speech_loop(general_corpus: Path) -> tuple[np.ndarray, str]:
    """About 2.5 minutes of real speech: the general corpus three times."""
    return _looped(general_corpus, 3)


def _text(segments) -> str:
    return " ".join(s.text for s in segments)


def _small_chunks(monkeypatch: pytest.MonkeyPatch, first: float, rest: float) -> None:
    monkeypatch.setattr(
        transcriber,
        "DEFAULTS",
        dataclasses.replace(transcriber.DEFAULTS, first_chunk_seconds=first, chunk_seconds=rest),
    )


# ----------------------------------------------------------------------------- basics


def test_file_and_array_sources_give_the_same_transcript(general_corpus: Path) -> None:
    clip = general_corpus / "jfk_inaugural_44k_stereo.flac"
    from_file, info = transcribe(clip, GREEDY)
    from_array, array_info = transcribe(audio.decode(clip), GREEDY)
    assert _text(from_file) == _text(from_array)
    assert info.media is not None and info.media.sample_rate == 44100
    assert array_info.media is None and array_info.duration == pytest.approx(11.0, abs=0.01)
    assert info.model_sha256 and len(info.model_sha256) == 64


def test_unknown_backend_fails_before_any_model_loads(general_corpus: Path) -> None:
    before = models.loaded_count()
    with pytest.raises(UnknownBackendError, match="unknown backend"):
        transcribe(general_corpus / "harvard_birch_canoe.wav", TranscribeOptions(backend="vosk"))
    assert models.loaded_count() == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_progress_rises_to_one_and_segments_come_before_the_end(speech_loop, backend: str) -> None:
    pcm, _ = speech_loop
    pcm = pcm[: 90 * SR]  # three 30-s windows are enough to see segments before the end
    seen: list[float] = []
    segments, _ = transcribe(
        pcm, dataclasses.replace(GREEDY, backend=backend), progress=seen.append
    )
    first = next(segments)
    progress_at_first_segment = seen[-1] if seen else 0.0
    rest = list(segments)
    assert first.text and rest
    assert progress_at_first_segment < 0.5, "the first segment only came at the end: not lazy"
    assert seen == sorted(seen) and seen[-1] == 1.0


# ----------------------------------------------------------------------------- long media


@pytest.mark.slow
def test_chunk_boundaries_never_cut_or_repeat_words(speech_loop, monkeypatch) -> None:
    pcm, reference = speech_loop
    whole, _ = transcribe(pcm, GREEDY)
    whole_text = _text(whole)
    _small_chunks(monkeypatch, first=20.0, rest=25.0)  # ~7 boundaries inside speech
    chunked = list(transcribe(pcm, GREEDY)[0])
    chunked_text = _text(chunked)
    whole_counts = error_counts(reference, whole_text)
    counts = error_counts(reference, chunked_text)
    print(f"WER whole {whole_counts.wer:.2%}, chunked {counts.wer:.2%}")
    assert counts.wer <= whole_counts.wer + 0.02
    assert counts.insertions <= whole_counts.insertions + 2  # no repeated words
    assert counts.deletions <= whole_counts.deletions + 2  # no lost words
    ends = [(s.start, s.end) for s in chunked]
    assert all(a_end <= b_start + 1e-6 for (_, a_end), (b_start, _) in itertools.pairwise(ends))


def _peak_traced_memory(path: Path) -> tuple[float, int]:
    tracemalloc.start()
    try:
        segments, _info = transcribe(path, GREEDY)
        count = sum(1 for _ in segments)
        return tracemalloc.get_traced_memory()[1], count
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_does_not_grow_with_the_length_of_the_media(
    tmp_path: Path, speech_loop, monkeypatch
) -> None:
    """5 and 10 minutes of audio through one-minute chunks: the same peak memory.

    tracemalloc sees the PCM, feature and decoding arrays (numpy); the whole
    10-minute PCM alone would be 38 MB.
    """
    pcm, _ = speech_loop
    speech = pcm[: 30 * SR]
    files = {}
    for minutes in (5, 10):
        media = np.zeros(minutes * 60 * SR, np.float32)
        for start in range(0, len(media) - len(speech), 2 * 60 * SR):  # 30 s every 2 minutes
            media[start : start + len(speech)] = speech
        files[minutes] = write_audio(media, tmp_path / f"long{minutes}.flac", codec="flac")
    del media
    _small_chunks(monkeypatch, first=60.0, rest=60.0)
    transcribe(files[5], GREEDY)  # the model is loaded before measuring
    peak5, count5 = _peak_traced_memory(files[5])
    peak10, count10 = _peak_traced_memory(files[10])
    print(f"peak traced memory: 5 min {peak5 / 1e6:.1f} MB, 10 min {peak10 / 1e6:.1f} MB")
    assert count10 > count5 > 10
    assert peak10 < 1.15 * peak5
    assert peak10 < 10 * 60 * SR * 4  # less than the whole PCM


# ----------------------------------------------------------------------------- cancel


@pytest.mark.parametrize("backend", BACKENDS)
def test_cancel_from_another_thread_stops_within_a_second(speech_loop, backend: str) -> None:
    pcm, _ = speech_loop
    long = np.concatenate([pcm, pcm, pcm])  # ~7.5 minutes: far from done when cancelled
    cancel = threading.Event()
    produced: list[float] = []
    outcome: dict[str, float | BaseException] = {}

    def job() -> None:
        segments, _ = transcribe(long, dataclasses.replace(GREEDY, backend=backend), cancel=cancel)
        try:
            for _segment in segments:
                produced.append(time.monotonic())
        except BaseException as exc:
            outcome["error"] = exc
        outcome["stopped"] = time.monotonic()

    worker = threading.Thread(target=job)
    worker.start()
    deadline = time.monotonic() + 120
    while not produced and time.monotonic() < deadline:
        time.sleep(0.02)
    assert produced, "no segment within two minutes"
    cancelled_at = time.monotonic()
    cancel.set()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert isinstance(outcome.get("error"), TranscriptionCancelled)
    delay = float(outcome["stopped"]) - cancelled_at
    print(f"{backend}: stopped {delay:.3f} s after cancel")
    assert delay < 1.0
    assert all(t <= cancelled_at + 1.0 for t in produced)


def test_cancel_before_start_raises_at_once(general_corpus: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TranscriptionCancelled):
        transcribe(general_corpus / "harvard_birch_canoe.wav", cancel=cancel)


# ----------------------------------------------------------------------------- bundles


def _write_bundle(bundle: ModelBundle) -> ModelBundle:
    assert bundle.directory is not None
    bundle.directory.mkdir(parents=True, exist_ok=True)
    write_manifest(bundle)
    return bundle


def _with_own_weights(tmp: Path, version: str, base: ModelBundle) -> ModelBundle:
    """A personalized bundle with its own (here: identical, hard-linked) CT2 weights."""
    directory = tmp / version
    files = {}
    for rel, sha in base.files.items():
        if not rel.startswith("weights/ct2/"):
            continue
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(base.directory / rel, target)
        files[rel] = sha
    return _write_bundle(
        ModelBundle(
            version=version,
            kind="personal",
            directory=directory,
            base_weights=base.version,
            files=files,
        )
    )


def test_lexicon_prompt_and_rules_serve_a_personal_bundle(tmp_path: Path, user_sim_corpus) -> None:
    item = next(i for i in read_manifest(user_sim_corpus) if i.split == "train")
    plain, _ = transcribe(item.path, GREEDY)
    plain = list(plain)
    heard = [w.text for s in plain for w in s.words]
    assert len(heard) >= 3
    # a rule from the model's real output: its 2nd and 3rd words become one term
    source = tuple(normalize(w) for w in heard[1:3])
    bundle = _write_bundle(
        ModelBundle(
            version="personal-1",
            kind="personal",
            directory=tmp_path / "personal-1",
            lexicon=(LexiconTerm("Terraform", 3), LexiconTerm("Kästner", 5)),
            rules=(CorrectionRule(source, "Zyzzyva", support=2),),
        )
    )
    segments, info = transcribe(item.path, GREEDY, bundle=bundle.directory)
    segments = list(segments)
    assert info.model_version == "personal-1" and info.notices == ()
    assert info.options.initial_prompt == "Kästner, Terraform."
    words = [w for s in segments for w in s.words]
    assert "Zyzzyva" in [w.text.strip(".,") for w in words]
    for s in segments:
        assert normalize(" ".join(w.text for w in s.words)) == normalize(s.text)
        assert [w.start for w in s.words] == sorted(w.start for w in s.words)


def test_a_damaged_personal_bundle_falls_back_to_the_base_model(
    tmp_path: Path, general_corpus: Path
) -> None:
    bundle = _write_bundle(
        ModelBundle(
            version="p-bad",
            kind="personal",
            directory=tmp_path / "p-bad",
            rules=(CorrectionRule(("birch",), "Birch"),),
        )
    )
    manifest = bundle.directory / MANIFEST_NAME
    manifest.write_text(manifest.read_text().replace("Birch", "Beech"))  # checksum now wrong
    segments, info = transcribe(
        general_corpus / "harvard_birch_canoe.wav", GREEDY, bundle=bundle.directory
    )
    assert "birch canoe" in normalize(_text(segments))
    assert info.model_version == models.base_bundle().version
    assert len(info.notices) == 1 and "base model" in info.notices[0]


def test_personal_weights_that_do_not_load_fall_back_to_the_base_model(
    tmp_path: Path, general_corpus: Path
) -> None:
    directory = tmp_path / "p-broken"
    weights = directory / "weights" / "ct2"
    weights.mkdir(parents=True)
    base = models.base_bundle()
    for rel in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (weights / rel).write_bytes((base.directory / "weights" / "ct2" / rel).read_bytes())
    (weights / "model.bin").write_bytes(b"not a CTranslate2 model" * 100)
    files = {f"weights/ct2/{p.name}": file_sha256(p) for p in weights.iterdir()}
    bundle = _write_bundle(
        ModelBundle(
            version="p-broken",
            kind="personal",
            directory=directory,
            base_weights=base.version,
            files=files,
        )
    )
    segments, info = transcribe(general_corpus / "cheetah_platforms.wav", GREEDY, bundle=bundle)
    assert "platforms" in normalize(_text(segments))
    assert info.model_version == base.version
    assert any("did not load" in n for n in info.notices)


def test_guarded_own_weights_are_served_beside_the_factory_model(
    tmp_path: Path, speech_loop: tuple[np.ndarray, str]
) -> None:
    """Plumbing of guarded serving (``engine.guard``) over 2.5 minutes of speech: both
    models decode every chunk, progress runs once from 0 to 1, and where the two agree
    (here the weights are the factory's own) the text is the factory's exactly. What the
    guard keeps where they differ: tests/engine/test_guard.py and, with fine-tuned
    weights, tests/finetune/test_serving.py."""
    pcm, _ = speech_loop
    base = models.base_bundle()
    own = _with_own_weights(tmp_path, "guarded-1", base)
    guarded = _write_bundle(
        dataclasses.replace(
            own, decoding=dataclasses.replace(own.decoding, guard_terms=("Okonkwo",))
        )
    )
    plain, _ = transcribe(pcm, GREEDY)
    plain = list(plain)
    seen: list[float] = []
    segments, info = transcribe(pcm, GREEDY, bundle=guarded.directory, progress=seen.append)
    segments = list(segments)
    assert info.model_version == "guarded-1" and info.notices == ()
    assert [(s.start, s.end, s.text) for s in segments] == [(s.start, s.end, s.text) for s in plain]
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 4


def test_models_are_cached_and_a_new_version_is_picked_up_by_the_next_job(
    tmp_path: Path, general_corpus: Path
) -> None:
    base = models.base_bundle()
    clip = general_corpus / "librivox_sense_0870.wav"
    v1 = _with_own_weights(tmp_path, "personal-v1", base)
    v2 = _with_own_weights(tmp_path, "personal-v2", base)

    first_v1, _ = models.acquire("ctranslate2", models.resolve(v1), 2)
    again_v1, _ = models.acquire("ctranslate2", models.resolve(v1), 2)
    assert first_v1 is again_v1  # a second job does not reload

    in_flight, info_v1 = transcribe(clip, dataclasses.replace(GREEDY, threads=2), bundle=v1)
    head = next(in_flight)  # job on v1 has started
    swapped, info_v2 = transcribe(clip, dataclasses.replace(GREEDY, threads=2), bundle=v2)
    assert (info_v1.model_version, info_v2.model_version) == ("personal-v1", "personal-v2")
    new_backend, _ = models.acquire("ctranslate2", models.resolve(v2), 2)
    assert new_backend is not first_v1
    finished_v1 = _text([head, *in_flight])  # the old job finishes on its own model
    assert normalize(finished_v1) == normalize(_text(swapped))


def test_a_bundle_rewritten_in_place_under_the_same_version_is_loaded_again(
    tmp_path: Path,
) -> None:
    """The loaded-backend cache is keyed by the files' content too: a folder rewritten
    in place (a benchmark re-exporting to the same path and version did) must not keep
    serving the weights it held before."""
    base = models.base_bundle()
    first = _with_own_weights(tmp_path, "same-version", base)
    before, _ = models.acquire("ctranslate2", models.resolve(first), 2)
    model_bin = first.directory / "weights" / "ct2" / "model.bin"
    stored = read_model_bin(model_bin)
    name = next(n for n, v in stored.variables.items() if v.ndim == 1 and "bias" in n)
    model_bin.unlink()  # a hard link to the base's file: write a new one
    write_model_bin(stored.with_variables({name: stored.variables[name] * 1.01}), model_bin)
    files = dict(first.files) | {"weights/ct2/model.bin": file_sha256(model_bin)}
    second = _write_bundle(dataclasses.replace(first, files=files))
    assert second.directory == first.directory and second.version == first.version
    again, _ = models.acquire("ctranslate2", models.resolve(second.directory), 2)
    assert again is not before
    assert again is models.acquire("ctranslate2", models.resolve(second.directory), 2)[0]


# ----------------------------------------------------------------------------- chunk decisions


def _seg(start: float, end: float) -> Segment:
    return Segment(start, end, "words")


@pytest.mark.parametrize(
    ("last", "emitted_end", "expected"),
    [
        (None, None, (117.0, False)),  # silence: skip all but the tail
        (_seg(100.0, 119.5), 95.0, (95.0, False)),  # may be cut: decode again after 95 s
        (_seg(100.0, 119.5), None, (99.5, False)),  # ... from just before it when alone
        (_seg(30.0, 40.0), 25.0, (117.0, True)),  # complete, silence after it
        (_seg(0.5, 119.0), None, (119.0, True)),  # cannot move on without it
        (_seg(100.0, 119.5), 2.0, (119.5, True)),  # resuming at 2 s would not move on
    ],
)
def test_next_chunk_start(last, emitted_end, expected) -> None:
    assert transcriber.next_chunk_start(0.0, 120.0, last, emitted_end) == expected


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_full_lexicon_prompt_does_not_harm_long_ordinary_speech(
    tmp_path: Path, general_corpus: Path, user_sim_corpus: Path, backend: str
) -> None:
    """A lexicon larger than the default prompt budget, with conditioning on previous text,
    still transcribes 1.7 minutes of ordinary speech (four windows) as well as the base
    model."""
    pcm, reference = _looped(general_corpus, 2)
    vocabulary = (user_sim_corpus / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    lexicon = tuple(LexiconTerm(f"{t} {t} {t}", 1) for t in vocabulary if t.strip())
    bundle = _write_bundle(
        ModelBundle(
            version="big-lexicon", kind="personal", directory=tmp_path / "lex", lexicon=lexicon
        )
    )
    plain = error_counts(reference, _text(transcribe(pcm, TranscribeOptions(backend=backend))[0]))
    segments, info = transcribe(pcm, TranscribeOptions(backend=backend), bundle=bundle)
    from engine.personalize import count_prompt_tokens

    used = count_prompt_tokens(info.options.initial_prompt or "")
    assert transcriber.DEFAULTS.prompt_tokens - 15 < used <= transcriber.DEFAULTS.prompt_tokens
    counts = error_counts(reference, _text(segments))
    print(f"{backend}: WER {plain.wer:.2%} without, {counts.wer:.2%} with a full lexicon prompt")
    assert counts.deletions <= plain.deletions + 0.02 * counts.reference_words
    assert counts.wer <= plain.wer + 0.03
