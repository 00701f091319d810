"""The edit model: every kind of edit, its log entry, undo and redo (also across restarts)."""

from __future__ import annotations

import random
import sqlite3

import pytest
from storekit import add_transcript

from engine.types import Segment, Word
from retrain.errors import (
    EditConflictError,
    InvalidEditError,
    NotFoundError,
    NothingToUndoError,
)
from retrain.store import (
    Batch,
    DeleteSegment,
    InsertSegment,
    MergeSegments,
    Retime,
    RetranscribeSegment,
    SpeakerEdit,
    SplitSegment,
    Store,
    TextEdit,
    history,
    positions,
)

TEXTS = ["the quick brown fox", "jumps over the lazy dog", "and runs away", "into the woods"]


@pytest.fixture
def store(tiro_home):
    with Store.open(auto_snippets=False) as opened:
        yield opened


@pytest.fixture
def transcript(store):
    return add_transcript(store, TEXTS)


def texts(store: Store, transcript_id: int) -> list[str]:
    return [s.text for s in store.load_transcript(transcript_id).segments]


def snapshot(store: Store, transcript_id: int) -> list[tuple]:
    return [
        (s.id, s.position, s.start, s.end, s.text, s.speaker, s.origin, s.original_text, s.words)
        for s in store.load_transcript(transcript_id).segments
    ]


def test_text_edit_changes_text_logs_it_and_marks_the_segment_reviewed(store, transcript):
    _, tid, ids = transcript
    result = store.apply_edit(tid, TextEdit(ids[0], TEXTS[0], "the quick brown Fox")).result()
    assert result.kind == "text" and result.edit_id is not None
    assert [s.text for s in result.changed] == ["the quick brown Fox"]
    assert result.removed == ()
    assert result.history.can_undo and not result.history.can_redo
    view = store.segment(ids[0])
    assert view.original_text == TEXTS[0]  # the ASR part is untouched
    assert view.reviewed and view.review_source == "edited" and view.edited
    (entry,) = store.edit_log(tid)
    assert entry.kind == "text" and entry.segment_id == ids[0]
    assert entry.payload["op"] == {
        "segment_id": ids[0],
        "before": TEXTS[0],
        "after": "the quick brown Fox",
    }
    (change,) = entry.payload["changes"]
    assert change["before"]["text"] == TEXTS[0] and change["after"]["text"] == "the quick brown Fox"


def test_an_edit_against_stale_text_is_refused_and_changes_nothing(store, transcript):
    _, tid, ids = transcript
    with pytest.raises(EditConflictError):
        store.apply_edit(tid, TextEdit(ids[0], "not what is there", "x")).result()
    assert texts(store, tid) == TEXTS
    assert store.edit_log(tid) == []


def test_an_unchanged_text_is_not_logged(store, transcript):
    _, tid, ids = transcript
    result = store.apply_edit(tid, TextEdit(ids[0], TEXTS[0], TEXTS[0])).result()
    assert result.edit_id is None and result.changed == ()
    assert store.edit_log(tid) == []


def test_split_keeps_the_hypothesis_words_with_each_part(store, transcript):
    _, tid, ids = transcript
    seg = store.segment(ids[1])  # "jumps over the lazy dog", 2.5 .. 4.5 s, words 0.4 s each
    at_char = seg.text.index("the")
    at_time = seg.words[2].start
    result = store.apply_edit(tid, SplitSegment(ids[1], at_char, at_time)).result()
    first, second = result.changed
    assert (first.id, first.text, first.end) == (ids[1], "jumps over", at_time)
    assert (second.text, second.start, second.end) == ("the lazy dog", at_time, seg.end)
    assert first.original_text == "jumps over" and second.original_text == "the lazy dog"
    assert [w.text for w in second.words] == [" the", " lazy", " dog"]
    assert first.origin == second.origin == "split"
    assert texts(store, tid) == [TEXTS[0], "jumps over", "the lazy dog", *TEXTS[2:]]
    log = store.edit_log(tid)[-1]
    assert log.payload["op"]["new_segment_id"] == second.id


@pytest.mark.parametrize(
    ("at_char", "at_time"),
    [(0, 3.0), (100, 3.0), (5, 2.5), (5, 9.0)],
    ids=["at-start", "past-end", "time-at-start", "time-outside"],
)
def test_split_outside_the_segment_is_invalid(store, transcript, at_char, at_time):
    _, tid, ids = transcript
    with pytest.raises(InvalidEditError):
        store.apply_edit(tid, SplitSegment(ids[1], at_char, at_time)).result()
    assert texts(store, tid) == TEXTS


def test_merge_joins_text_span_and_hypothesis_and_removes_the_second(store, transcript):
    _, tid, ids = transcript
    result = store.apply_edit(tid, MergeSegments(ids[0], ids[1])).result()
    (merged,) = result.changed
    assert result.removed == (ids[1],)
    assert merged.text == f"{TEXTS[0]} {TEXTS[1]}"
    assert merged.original_text == f"{TEXTS[0]} {TEXTS[1]}"
    assert (merged.start, merged.end) == (0.0, 4.5)
    assert len(merged.words) == 9
    assert texts(store, tid) == [f"{TEXTS[0]} {TEXTS[1]}", *TEXTS[2:]]


def test_merge_only_with_the_next_segment(store, transcript):
    _, tid, ids = transcript
    with pytest.raises(InvalidEditError):
        store.apply_edit(tid, MergeSegments(ids[0], ids[2])).result()


def test_retime_records_before_and_after(store, transcript):
    _, tid, ids = transcript
    store.apply_edit(tid, Retime(ids[2], 5.1, 6.8)).result()
    view = store.segment(ids[2])
    assert (view.start, view.end) == (5.1, 6.8)
    assert (view.original_start, view.original_end) == (5.0, 7.0)
    op = store.edit_log(tid)[-1].payload["op"]
    assert op["before"] == [5.0, 7.0] and op["after"] == [5.1, 6.8]
    with pytest.raises(InvalidEditError):
        store.apply_edit(tid, Retime(ids[2], 3.0, 2.0)).result()


def test_insert_places_a_user_segment_without_hypothesis(store, transcript):
    _, tid, ids = transcript
    result = store.apply_edit(tid, InsertSegment(ids[0], 2.05, 2.45, "um, right")).result()
    (new,) = result.changed
    assert new.origin == "insert" and new.original_text is None and new.reviewed
    assert texts(store, tid) == [TEXTS[0], "um, right", *TEXTS[1:]]
    top = store.apply_edit(tid, InsertSegment(None, 0.0, 0.1, "first")).result().changed[0]
    assert texts(store, tid)[0] == "first" and top.position < store.segment(ids[0]).position


def test_delete_and_speaker_edits(store, transcript):
    _, tid, ids = transcript
    store.apply_edit(tid, SpeakerEdit(ids[0], None, "Ana")).result()
    assert store.segment(ids[0]).speaker == "Ana"
    result = store.apply_edit(tid, DeleteSegment(ids[3])).result()
    assert result.removed == (ids[3],) and result.changed == ()
    assert texts(store, tid) == TEXTS[:3]
    with pytest.raises(NotFoundError):
        store.segment(ids[3])


def test_retranscribe_adds_asr_output_and_makes_the_segment_unreviewed(store, transcript):
    _, tid, ids = transcript
    store.mark_verified(tid, [ids[2]]).result()
    new = Segment(5.0, 7.0, " and ran away", (Word(" and", 5.0, 5.5, 0.8),), -0.1, 0.0, 1.1)
    result = store.apply_edit(tid, RetranscribeSegment(ids[2], new, "personal-2")).result()
    (view,) = result.changed
    assert view.text == "and ran away" and view.original_text == "and ran away"
    assert view.model_version == "personal-2" and not view.reviewed
    store.undo(tid).result()
    restored = store.segment(ids[2])
    assert restored.text == TEXTS[2] and restored.model_version == "factory-test"
    assert restored.reviewed  # the verification is back with the old text


def test_batch_is_one_undoable_step(store, transcript):
    _, tid, ids = transcript
    edits = tuple(
        TextEdit(sid, text, text.replace("the", "THE"))
        for sid, text in zip(ids, TEXTS, strict=True)
        if "the" in text
    )
    result = store.apply_edit(tid, Batch(edits)).result()
    assert len(result.changed) == 3
    assert len(store.edit_log(tid)) == 1
    store.undo(tid).result()
    assert texts(store, tid) == TEXTS
    assert not store.history(tid).can_undo


def test_a_conflict_inside_a_batch_rolls_back_all_of_it(store, transcript):
    _, tid, ids = transcript
    edits = (TextEdit(ids[0], TEXTS[0], "changed"), TextEdit(ids[1], "stale", "changed"))
    with pytest.raises(EditConflictError):
        store.apply_edit(tid, Batch(edits)).result()
    assert texts(store, tid) == TEXTS and store.edit_log(tid) == []


def test_undo_and_redo_walk_every_kind_of_edit_back_and_forth(store, transcript):
    _, tid, ids = transcript
    states = [snapshot(store, tid)]
    steps = [
        TextEdit(ids[0], TEXTS[0], "the quick brown Fox"),
        SplitSegment(ids[1], 11, 3.7),
        Retime(ids[2], 5.2, 6.9),
        MergeSegments(ids[2], ids[3]),
        InsertSegment(ids[0], 2.0, 2.4, "hm"),
        DeleteSegment(ids[0]),
        SpeakerEdit(ids[2], None, "B"),
    ]
    for step in steps:
        store.apply_edit(tid, step).result()
        states.append(snapshot(store, tid))
    for expected in reversed(states[:-1]):
        store.undo(tid).result()
        assert snapshot(store, tid) == expected
    with pytest.raises(NothingToUndoError):
        store.undo(tid).result()
    for expected in states[1:]:
        store.redo(tid).result()
        assert snapshot(store, tid) == expected
    assert not store.history(tid).can_redo


def test_undo_redo_state_survives_a_restart(tiro_home):
    with Store.open(auto_snippets=False) as store:
        _, tid, ids = add_transcript(store, TEXTS)
        store.apply_edit(tid, TextEdit(ids[0], TEXTS[0], "one")).result()
        store.apply_edit(tid, TextEdit(ids[0], "one", "two")).result()
        store.apply_edit(tid, SplitSegment(ids[1], 6, 3.0)).result()
        store.undo(tid).result()
        before = snapshot(store, tid)
    with Store.open(auto_snippets=False) as store:
        view = store.load_transcript(tid)
        assert view.history.can_undo and view.history.can_redo
        assert (view.history.undo_kind, view.history.redo_kind) == ("text", "split")
        assert snapshot(store, tid) == before
        store.redo(tid).result()
        assert len(texts(store, tid)) == 5
        store.undo(tid).result()
        store.undo(tid).result()
        store.undo(tid).result()
        assert texts(store, tid) == TEXTS
    with Store.open(auto_snippets=False) as store:
        assert store.history(tid).redo_kind == "text"
        store.redo(tid).result()
        assert texts(store, tid)[0] == "one"


def test_a_new_edit_after_undo_clears_redo(store, transcript):
    _, tid, ids = transcript
    store.apply_edit(tid, TextEdit(ids[0], TEXTS[0], "a")).result()
    store.undo(tid).result()
    assert store.history(tid).can_redo
    result = store.apply_edit(tid, TextEdit(ids[1], TEXTS[1], "b")).result()
    assert not result.history.can_redo
    with pytest.raises(NothingToUndoError):
        store.redo(tid).result()


def test_undo_refuses_when_the_rows_were_changed_behind_its_back(store, transcript):
    _, tid, ids = transcript
    store.apply_edit(tid, TextEdit(ids[0], TEXTS[0], "a")).result()

    def tamper(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE segments SET text = 'tampered' WHERE id = ?", (ids[0],))

    store.write(tamper).result()
    with pytest.raises(EditConflictError):
        store.undo(tid).result()
    assert store.segment(ids[0]).text == "tampered"


def test_verification_after_an_edit_survives_undo_of_that_edit(store, transcript):
    _, tid, ids = transcript
    store.apply_edit(tid, TextEdit(ids[0], TEXTS[0], "a")).result()
    store.mark_verified(tid, [ids[0]]).result()
    store.undo(tid).result()
    view = store.segment(ids[0])
    assert view.text == TEXTS[0] and view.reviewed and view.review_source == "verified"


def test_undo_of_an_edit_restores_unreviewed(store, transcript):
    _, tid, ids = transcript
    store.apply_edit(tid, TextEdit(ids[0], TEXTS[0], "a")).result()
    store.undo(tid).result()
    assert not store.segment(ids[0]).reviewed


def test_edits_on_an_unknown_transcript_or_segment(store, transcript):
    _, tid, ids = transcript
    with pytest.raises(NotFoundError):
        store.apply_edit(999, TextEdit(ids[0], TEXTS[0], "x")).result()
    with pytest.raises(NotFoundError):
        store.apply_edit(tid, TextEdit(12345, "", "x")).result()


# --- pure parts ---------------------------------------------------------------------


def test_history_is_derived_from_the_log():
    log = [
        (1, "text", None),
        (2, "split", None),
        (3, "undo", 2),
        (4, "undo", 1),
        (5, "redo", 1),
        (6, "merge", None),
    ]
    stacks = history.derive(log)
    assert stacks.undo == [1, 6] and stacks.redo == []
    state = history.derive(log[:5]).state()
    assert state.can_undo and state.can_redo
    assert (state.undo_kind, state.redo_kind) == ("text", "split")


def test_position_keys_always_fall_strictly_between():
    rng = random.Random(7)
    keys = [positions.first()]
    for _ in range(300):
        keys.append(positions.after(keys[-1]))
    for _ in range(2000):
        i = rng.randrange(-1, len(keys))
        low = keys[i] if i >= 0 else None
        high = keys[i + 1] if i + 1 < len(keys) else None
        new = positions.between(low, high)
        assert (low is None or low < new) and (high is None or new < high)
        assert not new.endswith("0") or len(new) == positions.WIDTH
        keys.insert(i + 1, new)
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_undo_follows_the_shared_log_when_another_process_edits_too(tiro_home):
    """Two stores on one file (the app and a CLI, say): the stacks come from the log."""
    with Store.open(auto_snippets=False) as first, Store.open(auto_snippets=False) as second:
        _, tid, ids = add_transcript(first, TEXTS)
        first.apply_edit(tid, TextEdit(ids[0], TEXTS[0], "from the first")).result()
        second.apply_edit(tid, TextEdit(ids[1], TEXTS[1], "from the second")).result()
        undone = first.undo(tid).result()  # the newest edit in the log is the second's
        assert undone.changed[0].id == ids[1] and undone.changed[0].text == TEXTS[1]
        assert second.history(tid).redo_kind == "text"
        first.undo(tid).result()
        assert texts(first, tid) == TEXTS
        second.redo(tid).result()
        assert texts(second, tid)[0] == "from the first"
