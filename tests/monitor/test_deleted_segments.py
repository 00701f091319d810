"""Model segments the person deleted count in the field edit rate (all their words are
errors), through the store's real edit API: delete, batch delete, undo, redo, merge."""

from __future__ import annotations

import pytest
from monitorkit import add_reviewed, add_version, set_times

from retrain.monitor import MonitorReport, run_monitor
from retrain.monitor.telemetry import deleted_segments, week_of
from retrain.store import (
    Batch,
    DeleteSegment,
    InsertSegment,
    MergeSegments,
    Store,
    TextEdit,
)

WEEK1 = "2026-11-02T10:00:00.000000Z"  # a Monday
WEEK2 = "2026-11-10T10:00:00.000000Z"


@pytest.fixture
def store(tiro_home):
    with Store.open(auto_snippets=False) as s:
        yield s


def version_rate(report: MonitorReport, version: str) -> tuple[int, int, int]:
    rate = next(v for v in report.version_rates if v.version == version)
    return rate.segments, rate.words, rate.errors


def low_bucket(report: MonitorReport, version: str) -> tuple[int, int]:
    bucket = report.calibration_by_version[version][0]  # probabilities 0.0 to 0.5
    return bucket.words, bucket.edited


def p1_transcript(store: Store) -> tuple[int, list[int]]:
    """A p1 transcript: one segment reviewed unchanged (WEEK2), then a hallucination over
    silence and one more segment, neither reviewed; every word at probability 0.3."""
    add_version(store, "p1")
    transcript, ids = add_reviewed(
        store,
        "p1",
        [
            ("alpha beta gamma delta", "alpha beta gamma delta"),
            ("thanks for watching", ""),
            ("see you next time", ""),
        ],
        reviewed=False,
        probability=0.3,
    )
    store.mark_verified(transcript, ids[:1]).result()
    set_times(store, transcript, WEEK2)
    return transcript, ids


def test_a_deleted_segment_raises_its_versions_edit_rate_by_its_word_count(
    store: Store,
) -> None:
    add_reviewed(store, "base-x", [("hello world again today", "hello word again today")], at=WEEK1)
    transcript, ids = p1_transcript(store)
    before = run_monitor(store)
    assert version_rate(before, "p1") == (1, 4, 0)
    assert low_bucket(before, "p1") == (4, 0)

    # the person first trims the hallucination, then deletes it: the model's three words
    # count, not what the segment held when it went
    store.apply_edit(transcript, TextEdit(ids[1], "thanks for watching", "thanks")).result()
    store.apply_edit(transcript, DeleteSegment(ids[1])).result()
    after = run_monitor(store)
    assert version_rate(after, "p1") == (2, 4, 3)
    assert version_rate(after, "factory") == version_rate(before, "factory") == (1, 4, 1)
    assert low_bucket(after, "p1") == (7, 3)  # each deleted word is an edited word

    deleted_at = store.edit_log(transcript)[-1].created_at
    week = week_of(deleted_at)
    assert week != week_of(WEEK2)  # the test clock is not in WEEK2's week
    points = {(p.version, p.week): p for p in after.edit_rates}
    assert (points[("p1", week)].segments, points[("p1", week)].errors) == (1, 3)
    assert points[("p1", week)].words == 0
    assert (points[("p1", week_of(WEEK2))].words, points[("p1", week_of(WEEK2))].errors) == (4, 0)
    [gone] = deleted_segments(store)
    assert (gone.segment_id, gone.hypothesis, gone.final, gone.deleted) == (
        ids[1],
        "thanks for watching",
        "",
        True,
    )
    assert gone.reviewed_at == deleted_at and gone.version == "p1"


def test_an_undone_delete_does_not_count_and_a_redone_one_does(store: Store) -> None:
    transcript, ids = p1_transcript(store)
    store.apply_edit(transcript, DeleteSegment(ids[1])).result()
    assert version_rate(run_monitor(store), "p1") == (2, 4, 3)
    store.undo(transcript).result()
    assert store.segment(ids[1]).text == "thanks for watching"  # back in the transcript
    assert deleted_segments(store) == []
    report = run_monitor(store)
    assert version_rate(report, "p1") == (1, 4, 0) and low_bucket(report, "p1") == (4, 0)
    store.redo(transcript).result()
    assert version_rate(run_monitor(store), "p1") == (2, 4, 3)
    # undone, then a new edit: the delete can no longer come back and never counts again
    store.undo(transcript).result()
    store.apply_edit(transcript, TextEdit(ids[2], "see you next time", "see you")).result()
    assert deleted_segments(store) == []


def test_deleting_several_segments_at_once_counts_each(store: Store) -> None:
    transcript, ids = p1_transcript(store)
    edit = Batch((DeleteSegment(ids[1]), DeleteSegment(ids[2])), label="delete")
    store.apply_edit(transcript, edit).result()
    assert version_rate(run_monitor(store), "p1") == (3, 4, 7)
    store.undo(transcript).result()
    assert version_rate(run_monitor(store), "p1") == (1, 4, 0)


def test_a_merge_and_a_deleted_typed_segment_are_not_model_deletions(store: Store) -> None:
    transcript, ids = p1_transcript(store)
    store.mark_verified(transcript, ids[1:]).result()  # reviewed unchanged
    store.apply_edit(transcript, MergeSegments(ids[1], ids[2])).result()  # removes ids[2]'s row
    typed = store.apply_edit(transcript, InsertSegment(ids[1], 20.0, 21.0, "my own words"))
    typed_id = typed.result().changed[0].id
    store.apply_edit(transcript, DeleteSegment(typed_id)).result()  # the person's, not the model's
    assert deleted_segments(store) == []
    # the merged segment keeps both parts' model text, all kept: no error from the merge
    assert version_rate(run_monitor(store), "p1")[2] == 0
