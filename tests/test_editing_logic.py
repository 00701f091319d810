"""The editor's Qt-free logic: word alignment, split points, diff, find/replace, rows."""

from __future__ import annotations

import pytest

from app.editing.diff import word_diff
from app.editing.document import TranscriptDocument
from app.editing.find import FindQuery, find_matches, plan_replace_all
from app.editing.segments import SegmentState
from app.editing.timefmt import format_precise, format_time, parse_time
from app.editing.words import align, split_point, token_at_char, token_at_time
from engine.types import Word

WORDS = (
    Word(" The", 0.0, 0.3, 0.98),
    Word(" cube", 0.3, 0.8, 0.41),
    Word(" daemon", 0.8, 1.4, 0.35),
    Word(" restarted.", 1.4, 2.0, 0.93),
)
ORIGINAL = "The cube daemon restarted."


def test_untouched_words_keep_probability_and_time() -> None:
    tokens = align(ORIGINAL, WORDS, 0.0, 2.0)
    assert [round(t.probability or 0, 2) for t in tokens] == [0.98, 0.41, 0.35, 0.93]
    assert [t.unsure(0.5) for t in tokens] == [False, True, True, False]
    assert (tokens[2].start, tokens[2].end) == (0.8, 1.4)


def test_words_the_user_typed_are_not_unsure_and_get_interpolated_times() -> None:
    tokens = align("The kube daemon restarted.", WORDS, 0.0, 2.0)
    assert tokens[1].probability is None and not tokens[1].unsure(0.5)
    assert (tokens[1].start, tokens[1].end) == (0.3, 0.8)  # one word for one word keeps its time
    tokens = align("The Kubernetes cube daemon restarted.", WORDS, 0.0, 2.0)
    added = tokens[1]
    assert added.probability is None
    assert 0.3 - 1e-9 <= added.start <= added.end <= 0.3 + 1e-9  # squeezed between neighbours
    assert tokens[2].probability == pytest.approx(0.41)


def test_token_lookup_by_time_and_character() -> None:
    tokens = align(ORIGINAL, WORDS, 0.0, 2.0)
    assert token_at_time(tokens, 1.0) == 2
    assert token_at_time(tokens, 5.0) == 3
    assert token_at_char(tokens, ORIGINAL.index("daemon") + 2) == 2


def test_split_point_snaps_to_the_word_boundary() -> None:
    cursor_inside_daemon = ORIGINAL.index("daemon") + 3
    point = split_point(ORIGINAL, WORDS, 0.0, 2.0, cursor_inside_daemon)
    assert point is not None
    assert (point.left_text, point.right_text) == ("The cube", "daemon restarted.")
    assert (point.left_end, point.right_start) == (0.8, 0.8)
    assert split_point(ORIGINAL, WORDS, 0.0, 2.0, 0) is None
    assert split_point(ORIGINAL, WORDS, 0.0, 2.0, len(ORIGINAL)) is None


def test_word_diff_shows_removed_and_added_words() -> None:
    pieces = word_diff(ORIGINAL, "The kube daemon restarted twice.")
    assert [(p.kind, p.text) for p in pieces] == [
        ("same", "The"),
        ("removed", "cube"),
        ("added", "kube"),
        ("same", "daemon"),
        ("removed", "restarted."),
        ("added", "restarted twice."),
    ]


def _segments() -> list[SegmentState]:
    texts = ["the cube daemon", "Cube is down", "no match here", "cubed cube"]
    return [SegmentState(id=i + 10, start=i, end=i + 1, text=t) for i, t in enumerate(texts)]


def test_find_matches_case_and_whole_words() -> None:
    segments = _segments()
    assert len(find_matches(segments, FindQuery("cube"))) == 4
    assert len(find_matches(segments, FindQuery("cube", match_case=True))) == 3
    hits = find_matches(segments, FindQuery("cube", whole_words=True))
    assert [(m.row, m.first) for m in hits] == [(0, 4), (1, 0), (3, 6)]


def test_replace_all_plans_one_text_per_changed_segment() -> None:
    plan = plan_replace_all(_segments(), FindQuery("cube", whole_words=True), "kube")
    assert plan == [(10, "the kube daemon"), (11, "kube is down"), (13, "cubed kube")]
    assert plan_replace_all(_segments(), FindQuery("zzz"), "y") == []
    removed = plan_replace_all(_segments(), FindQuery("cube "), "")
    assert (10, "the daemon") in removed


def test_reconcile_reports_the_smallest_row_change() -> None:
    segments = _segments()
    document = TranscriptDocument(1, segments)
    merged = segments[1].with_(text="Cube is down no match here", end=3)
    fresh = [segments[0], merged, segments[3].with_(reviewed=True)]
    change = document.reconcile(fresh)
    assert (change.first, change.removed, change.inserted) == (2, 1, 0)  # segment 12 went
    assert change.updated == (1, 2)  # 11 took its text, 13 was verified
    assert list(document) == fresh
    assert document.row_of(13) == 2
    assert document.row_at_time(3.5) == 2


def test_times_format_and_parse() -> None:
    assert format_time(83.46) == "1:23.5"
    assert format_time(3723.4) == "1:02:03.4"
    assert format_precise(83.4567) == "0:01:23.457"
    assert parse_time("1:23.5") == pytest.approx(83.5)
    assert parse_time("0:01:23,5") == pytest.approx(83.5)
    assert parse_time("83.5") == pytest.approx(83.5)
    with pytest.raises(ValueError):
        parse_time("1:2x")


def test_play_through_counts_only_segments_heard_whole() -> None:
    from app.editing.playthrough import PlayThroughTracker

    segments = [
        SegmentState(id=i, start=i * 2.0, end=i * 2.0 + 1.8, text=f"s{i}") for i in range(5)
    ]
    segments[3] = segments[3].with_(reviewed=True)
    document = TranscriptDocument(1, segments)
    tracker = PlayThroughTracker()
    tracker.start(1.0)  # mid-way through segment 0: it was not heard whole
    assert tracker.advance(3.0, document) == []
    assert tracker.advance(6.5, document) == [1, 2]
    assert tracker.advance(9.9, document) == [4]  # 3 is already reviewed
    tracker.stop()
    assert tracker.advance(20.0, document) == []
