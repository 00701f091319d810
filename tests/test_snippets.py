"""Learning snippets, captured from real speech with the engine's decoder and FLAC encoder."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import av
import numpy as np
import pytest

from engine.audio import decode
from engine.corpus import read_manifest
from engine.paths import snippets_dir
from engine.types import Segment
from retrain.contract import build_examples, file_sha256
from retrain.importer import import_file
from retrain.snippets import (
    CONTEXT_MARGIN,
    SnippetSpan,
    capture_snippets,
    context_span,
    neighbour_bounds,
    removed_speech,
)
from retrain.store import DeleteSegment, Retime, Store

SPANS = [(0.0, 3.5), (3.5, 7.2), (7.2, 10.9)]


@pytest.fixture
def clip(general_corpus: Path, tmp_path: Path) -> Path:
    """A private copy of an 11 s real-speech clip, so that a test may change it."""
    item = next(i for i in read_manifest(general_corpus) if i.seconds >= 10)
    copy = tmp_path / item.path.name
    shutil.copyfile(item.path, copy)
    return copy


def add_reviewed(store: Store, clip: Path, *, verify: bool = True) -> tuple[int, int, list[int]]:
    rid = store.add_recording(clip, sha256=file_sha256(clip)).result()
    tid = store.create_transcript(rid, "factory", "ctranslate2").result()
    segs = [Segment(s, e, f" part {i} of the speech") for i, (s, e) in enumerate(SPANS)]
    ids = store.append_segments(tid, segs).result()
    if verify:
        store.mark_verified(tid).result()
    return rid, tid, ids


def probe(path: Path) -> tuple[int, int, float]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        frames = sum(frame.samples for frame in container.decode(stream))
        return stream.rate, stream.channels, frames / stream.rate


def test_reviewed_segments_get_16k_mono_flac_snippets_with_their_hash(tiro_home, clip):
    with Store.open(auto_snippets=False) as store:
        store.set_consent(True, "1").result()
        _, _, ids = add_reviewed(store, clip)
        report = capture_snippets(store)
        assert report.captured == 3
        rows = store.read(
            lambda c: c.execute(
                "SELECT segment_id, path, sha256, start_sec, end_sec, sample_rate FROM snippets "
                "ORDER BY segment_id"
            ).fetchall()
        )
        assert [r[0] for r in rows] == ids
        clip_seconds = len(decode(clip)) / 16000
        for (_sid, relative, sha, start, end, rate), span in zip(rows, SPANS, strict=True):
            path = snippets_dir() / relative
            assert path.suffix == ".flac" and file_sha256(path) == sha
            assert (start, end, rate) == (*span, 16000)
            got_rate, channels, seconds = probe(path)
            assert (got_rate, channels) == (16000, 1)
            # the spans touch, so only the last one gets context: the rest of the clip
            held = (min(clip_seconds, end + CONTEXT_MARGIN) if end == SPANS[-1][1] else end) - start
            assert seconds == pytest.approx(held, abs=0.05)
        result = build_examples(store)
        assert len(result.examples) == 3 and result.rejections == {}
        assert capture_snippets(store).captured == 0  # nothing more is due


def test_nothing_is_captured_without_consent(tiro_home, clip):
    with Store.open(auto_snippets=False) as store:
        add_reviewed(store, clip)
        report = capture_snippets(store)
        assert report.captured == 0 and report.skipped["consent_off"] == 1
        assert not any(snippets_dir().rglob("*.flac"))


def test_a_moved_or_changed_original_is_not_used(tiro_home, clip):
    with Store.open(auto_snippets=False) as store:
        store.set_consent(True, "1").result()
        add_reviewed(store, clip)
        data = bytearray(clip.read_bytes())
        data[-100] ^= 0xFF
        clip.write_bytes(bytes(data))
        report = capture_snippets(store)
        assert report.captured == 0 and report.skipped["recording_changed"] == 1
        clip.unlink()
        report = capture_snippets(store)
        assert report.captured == 0 and report.skipped["recording_missing"] == 1
        assert build_examples(store).rejections == {"audio_missing": 3}


def test_retimed_segments_are_recaptured_and_deleted_ones_swept(tiro_home, clip):
    with Store.open(auto_snippets=False) as store:
        store.set_consent(True, "1").result()
        _, tid, ids = add_reviewed(store, clip)
        capture_snippets(store)
        before = sorted(p.name for p in snippets_dir().rglob("*.flac"))
        store.apply_edit(tid, Retime(ids[1], 3.6, 7.2)).result()
        assert build_examples(store).rejections == {"audio_outdated": 1}
        # the retimed segment, and the one before it: its context now reaches 3.6 s
        assert capture_snippets(store).captured == 2
        after = sorted(p.name for p in snippets_dir().rglob("*.flac"))
        assert len(after) == 3 and len(set(after) - set(before)) == 2
        (kept_name,) = store.read(
            lambda c: c.execute(
                "SELECT path FROM snippets WHERE segment_id = ?", (ids[1],)
            ).fetchone()
        )
        kept = snippets_dir() / kept_name
        store.apply_edit(tid, DeleteSegment(ids[2])).result()
        report = capture_snippets(store)
        # the deleted segment's file is swept; the segment before it keeps its snippet:
        # the speech the user deleted (7.2-10.9 s) is not context, or learning would be
        # taught text that leaves words of the audio out
        assert report.removed_files == 1 and report.captured == 0
        assert kept.is_file() and kept.name.endswith("-3600-7200-c3500-7200.flac")
        assert len(list(snippets_dir().rglob("*.flac"))) == 2


class HashedBytes:
    """Counts the bytes every ``hashlib.sha256`` object is fed while installed."""

    def __init__(self) -> None:
        self.total = 0
        self._real = hashlib.sha256

    def __call__(self, *args, **kwargs):
        counter, real = self, self._real(*args, **kwargs)

        class Counted:
            def update(self, data) -> None:
                counter.total += len(data)
                real.update(data)

            def hexdigest(self) -> str:
                return real.hexdigest()

        return Counted()


def test_captures_after_each_review_do_not_read_the_recording_again(tiro_home, clip, monkeypatch):
    """Capture runs after every review and checks the original against its sha256. A
    meeting's video may be gigabytes, so the hash taken at import is remembered by size,
    mtime and inode (engine.digests): the only bytes capture hashes are its snippets'. A
    file changed later is hashed again and refused. (hashlib is wrapped to count bytes.)"""
    hashed = HashedBytes()
    monkeypatch.setattr(hashlib, "sha256", hashed)
    with Store.open(auto_snippets=False) as store:
        store.set_consent(True, "1").result()
        tid = import_file(store, clip).transcript_id
        segments = store.load_transcript(tid).segments
        assert len(segments) >= 2
        hashed.total = 0
        for segment in segments:
            store.mark_verified(tid, [segment.id]).result()
            assert capture_snippets(store).captured >= 1
        snippet_bytes = sum(p.stat().st_size for p in snippets_dir().rglob("*.flac"))
        assert hashed.total == snippet_bytes < clip.stat().st_size

        data = bytearray(clip.read_bytes())
        data[-100] ^= 0xFF
        clip.write_bytes(bytes(data))
        later = clip.stat().st_mtime_ns + 2_000_000_000  # however coarse the clock
        os.utime(clip, ns=(later, later))
        hashed.total = 0
        first = segments[0]
        store.apply_edit(tid, Retime(first.id, first.start, first.end - 0.2)).result()
        report = capture_snippets(store)
        assert report.captured == 0 and report.skipped["recording_changed"] == 1
        assert hashed.total == clip.stat().st_size


def test_context_reaches_into_uncovered_audio_only() -> None:
    margin = CONTEXT_MARGIN
    assert context_span(3.0, 5.0, None, None, None) == SnippetSpan(3.0 - margin, 5.0 + margin)
    assert context_span(3.0, 5.0, 0.5, 8.0, 20.0) == SnippetSpan(1.0, 7.0)  # far neighbours
    assert context_span(3.0, 5.0, 2.5, 5.5, 20.0) == SnippetSpan(2.5, 5.5)  # near ones
    assert context_span(3.0, 5.0, 3.0, 5.0, 20.0) == SnippetSpan(3.0, 5.0)  # touching
    assert context_span(3.0, 5.0, 9.0, 1.0, None) == SnippetSpan(3.0, 5.0)  # overlapping
    assert context_span(0.5, 5.0, None, None, 5.2) == SnippetSpan(0.0, 5.2)  # the recording
    current = [(1, 0.0, 3.5), (2, 3.6, 7.2)]
    model = [(10, 0.0, 3.5), (11, 3.5, 7.2), (12, 7.2, 10.9), (13, 1.0, 2.0), (14, 11.0, 12.0)]
    # 12 and 14 no current segment overlaps (deleted); 11 was retimed, 13 merged into 1
    assert removed_speech(current, model) == [(-12, 7.2, 10.9), (-14, 11.0, 12.0)]
    assert removed_speech([], model[:1]) == [(-10, 0.0, 3.5)]
    bounds = neighbour_bounds([(1, 0.0, 3.5), (2, 3.5, 7.2), (3, 8.0, 10.0), (4, 8.0, 9.0)])
    assert bounds[1] == (None, 3.5) and bounds[2] == (3.5, 8.0)
    assert bounds[3] == bounds[4] == (8.0, 8.0)  # they start together: no context


def test_a_snippet_holds_the_words_the_model_dropped_after_its_segment(tiro_home, user_sim_corpus):
    """Real model, real clip: user-sim train/001 ends "... today I'm reviewing Kästner's
    pull request", and the base model stops at "reviewing", its segment ending about
    1.4 s before the clip does. The user types the missing words in; the snippet must
    hold their audio, or learning is taught text the audio does not have."""
    item = next(i for i in read_manifest(user_sim_corpus) if i.path.name == "001.mp3")
    with Store.open(auto_snippets=False) as store:
        store.set_consent(True, "1").result()
        result = import_file(store, item.path)
        (segment,) = store.load_transcript(result.transcript_id).segments
        assert "pull request" not in segment.text.lower()
        clip_seconds = len(decode(item.path)) / 16000
        assert clip_seconds - segment.end > 1.0, "the model's segment now reaches the end"
        store.mark_verified(result.transcript_id, [segment.id]).result()
        assert capture_snippets(store).captured == 1
        (relative,) = store.read(lambda c: [p for (p,) in c.execute("SELECT path FROM snippets")])
        held = decode(snippets_dir() / relative)
    assert len(held) / 16000 == pytest.approx(clip_seconds, abs=0.05)
    after = held[round(segment.end * 16000) :]
    loudest = max(
        float(np.sqrt(np.mean(after[i : i + 1600] ** 2))) for i in range(0, len(after) - 1600, 1600)
    )
    assert loudest > 0.02, "no speech after the segment's end in its snippet"


def test_the_store_captures_in_the_background_after_a_review(tiro_home, clip):
    with Store.open() as store:
        store.set_consent(True, "1").result()
        _, tid, ids = add_reviewed(store, clip, verify=False)
        store.mark_verified(tid, ids[:1]).result()
        deadline = time.monotonic() + 30
        while store.stats().snippets < 1:
            assert time.monotonic() < deadline, "no snippet captured in the background"
            time.sleep(0.1)
        store.set_consent(False, "1").result()
        assert store.stats().snippets == 0
        assert not any(snippets_dir().rglob("*.flac"))
