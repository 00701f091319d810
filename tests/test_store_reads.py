"""Reads: library search, loading a transcript, statistics, transcript lifecycle."""

from __future__ import annotations

import pytest
from storekit import add_transcript, segment

from engine.types import TranscribeOptions
from retrain.errors import NotFoundError
from retrain.store import Store, TextEdit


@pytest.fixture
def store(tiro_home):
    with Store.open(auto_snippets=False) as opened:
        yield opened


def test_library_lists_recordings_newest_first_with_their_transcripts(store):
    first = add_transcript(store, ["alpha beta"], name="first.wav")
    second = add_transcript(store, ["gamma delta"], name="second.mp3")
    entries = store.library()
    assert [e.recording.name for e in entries] == ["second.mp3", "first.wav"]
    assert entries[0].latest.id == second[1] and entries[1].latest.id == first[1]
    assert entries[0].latest.status == "done" and entries[0].latest.segment_count == 1


def test_library_searches_file_names_and_transcript_text(store):
    add_transcript(store, ["we discussed the Kubernetes rollout"], name="standup.wav")
    add_transcript(store, ["lunch plans for friday"], name="kubernetes-notes.m4a")
    add_transcript(store, ["nothing relevant"], name="other.wav")
    by_text = store.library("kubernet")
    assert {e.recording.name for e in by_text} == {"standup.wav", "kubernetes-notes.m4a"}
    text_hit = next(e for e in by_text if e.recording.name == "standup.wav")
    assert "[Kubernetes]" in text_hit.match
    assert [e.recording.name for e in store.library("lunch friday")] == ["kubernetes-notes.m4a"]
    assert store.library("zebra") == []
    assert store.library('"; DROP TABLE segments; --') == []


def test_search_follows_edits(store):
    _, tid, ids = add_transcript(store, ["the cooper netties cluster"])
    assert store.library("kubernetes") == []
    store.apply_edit(tid, TextEdit(ids[0], "the cooper netties cluster", "the Kubernetes cluster"))
    store.apply_edit(tid, TextEdit(ids[0], "x", "y"))  # a conflict; must not hide the first
    store.write(lambda c: None).result()  # wait for the queue
    assert len(store.library("kubernetes")) == 1
    assert store.library("netties") == []


def test_load_transcript_has_current_and_original_state_with_words(store):
    rid, tid, ids = add_transcript(store, ["one two three", "four five"])
    store.apply_edit(tid, TextEdit(ids[0], "one two three", "one, two, three!")).result()
    view = store.load_transcript(tid)
    assert view.recording.id == rid and view.transcript.model_version == "factory-test"
    first, second = view.segments
    assert first.text == "one, two, three!" and first.original_text == "one two three"
    assert [w.text for w in first.words] == [" one", " two", " three"]
    assert first.words[0].probability == pytest.approx(0.9)
    assert first.avg_logprob == pytest.approx(-0.25) and first.compression_ratio == pytest.approx(
        1.4
    )
    assert not second.edited and first.edited
    assert view.history.can_undo and view.history.undo_kind == "text"


def test_transcript_lifecycle_and_options(store):
    rid = store.add_recording("/media/a.wav", sha256="a" * 64).result()
    assert store.add_recording("/moved/a.wav", sha256="a" * 64).result() == rid
    assert store.recording(rid).path == "/moved/a.wav"
    options = TranscribeOptions(beam_size=5, initial_prompt="Tiro")
    tid = store.create_transcript(rid, "factory", "ctranslate2", options).result()
    assert store.transcript(tid).status == "queued"
    store.set_transcript_status(tid, "running").result()
    store.append_segments(tid, [segment("hello", 0.0, 1.0)]).result()
    store.append_segments(tid, [segment("again", 1.0, 2.0)]).result()
    store.set_transcript_status(tid, "failed", "the model crashed").result()
    summary = store.transcript(tid)
    assert summary.status == "failed" and summary.error == "the model crashed"
    assert summary.started_at and summary.finished_at
    view = store.load_transcript(tid)
    assert view.options["beam_size"] == 5 and view.options["initial_prompt"] == "Tiro"
    assert [s.text for s in view.segments] == ["hello", "again"]
    with pytest.raises(ValueError):
        store.set_transcript_status(tid, "exploded").result()


def test_unknown_ids_raise_not_found(store):
    with pytest.raises(NotFoundError):
        store.load_transcript(42)
    with pytest.raises(NotFoundError):
        store.segment(42)
    with pytest.raises(NotFoundError):
        store.create_transcript(42, "factory", "ct2").result()


def test_stats_count_what_is_stored(store):
    _, tid, ids = add_transcript(store, ["a b", "c d", "e f"])
    store.apply_edit(tid, TextEdit(ids[0], "a b", "a B")).result()
    store.record_review_signal(tid, "played", [ids[1]]).result()
    store.record_review_signal(tid, "exported", detail={"format": "srt"}).result()
    stats = store.stats()
    assert (stats.recordings, stats.transcripts, stats.segments) == (1, 1, 3)
    assert stats.reviewed_segments == 2 and stats.edited_segments == 1
    assert stats.edits == 1 and stats.review_signals == 2
    assert not stats.consent.enabled and stats.database_bytes > 0


def test_review_signals(store):
    _, tid, ids = add_transcript(store, ["a b", "c d", "e f"])
    store.record_review_signal(tid, "played", [ids[0]]).result()
    store.mark_verified(tid).result()
    views = store.load_transcript(tid).segments
    assert [v.review_source for v in views] == ["verified", "verified", "verified"]
    store.mark_verified(tid, [ids[2]], verified=False).result()
    assert not store.segment(ids[2]).reviewed
    kinds = store.read(
        lambda c: [
            (k, s) for k, s in c.execute("SELECT kind, segment_id FROM review_signals ORDER BY id")
        ]
    )
    assert kinds == [("played", ids[0]), ("verified", None), ("unverified", ids[2])]
    with pytest.raises(NotFoundError):
        store.mark_verified(tid, [999]).result()


def test_segments_by_id_in_display_order(store):
    _, _tid, ids = add_transcript(store, ["a", "b", "c"])
    assert [s.text for s in store.segments([ids[2], ids[0], 9999])] == ["a", "c"]
