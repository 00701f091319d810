"""The transcript as the editor holds it in memory: an ordered list of segment states.

The store is the source of truth; the document is the editor's copy. Local edits
apply to it immediately (the UI never waits on disk) and the store's answer
replaces them. ``reconcile`` compares a fresh list from the store with the copy
and reports the smallest row change, so the view repaints only what moved.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from app.editing.segments import SegmentState


@dataclass(frozen=True, slots=True)
class RowChange:
    """What ``reconcile`` did: rows [first, first+removed) became [first, first+inserted);
    ``updated`` rows (indices in the new list, outside that range) changed in place."""

    first: int
    removed: int
    inserted: int
    updated: tuple[int, ...]

    @property
    def structural(self) -> bool:
        return self.removed > 0 or self.inserted > 0


class TranscriptDocument:
    def __init__(self, transcript_id: int | None = None, segments: Sequence[SegmentState] = ()):
        self.transcript_id = transcript_id
        self._segments: list[SegmentState] = list(segments)
        self._reindex()

    # -- reading -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._segments)

    def __iter__(self) -> Iterator[SegmentState]:
        return iter(self._segments)

    def __getitem__(self, row: int) -> SegmentState:
        return self._segments[row]

    @property
    def segments(self) -> list[SegmentState]:
        return list(self._segments)

    def row_of(self, segment_id: int) -> int | None:
        return self._rows.get(segment_id)

    def by_id(self, segment_id: int) -> SegmentState | None:
        row = self._rows.get(segment_id)
        return None if row is None else self._segments[row]

    def row_at_time(self, seconds: float) -> int | None:
        """The row being spoken at ``seconds``: the last one started (None before the first)."""
        if not self._segments:
            return None
        row = bisect.bisect_right(self._starts, seconds) - 1
        if row < 0:
            return None
        # Segments may overlap after retiming: prefer one that still covers the time.
        probe = row
        while probe >= 0 and self._segments[probe].end < seconds and probe > row - 3:
            probe -= 1
        if probe >= 0 and self._segments[probe].start <= seconds <= self._segments[probe].end:
            return probe
        return row

    @property
    def duration(self) -> float:
        return max((s.end for s in self._segments), default=0.0)

    def reviewed_count(self) -> int:
        return sum(1 for s in self._segments if s.reviewed)

    # -- changing ------------------------------------------------------------------------
    def set(self, row: int, segment: SegmentState) -> None:
        old = self._segments[row]
        self._segments[row] = segment
        if old.id != segment.id:
            del self._rows[old.id]
            self._rows[segment.id] = row
        if old.start != segment.start:
            self._starts[row] = segment.start

    def append(self, segment: SegmentState) -> int:
        self._segments.append(segment)
        self._rows[segment.id] = len(self._segments) - 1
        self._starts.append(segment.start)
        return len(self._segments) - 1

    def replace_rows(self, first: int, removed: int, new: Sequence[SegmentState]) -> None:
        self._segments[first : first + removed] = list(new)
        self._reindex()

    def plan(self, fresh: Sequence[SegmentState]) -> RowChange:
        """The smallest row change that turns the document into ``fresh`` (no change made)."""
        old = self._segments
        new = fresh
        head = 0
        limit = min(len(old), len(new))
        while head < limit and old[head].id == new[head].id:
            head += 1
        tail = 0
        while tail < limit - head and old[len(old) - 1 - tail].id == new[len(new) - 1 - tail].id:
            tail += 1
        removed = len(old) - head - tail
        inserted = len(new) - head - tail
        updated = tuple(
            row
            for row in (*range(head), *range(len(new) - tail, len(new)))
            if old[row if row < head else row - inserted + removed] != new[row]
        )
        return RowChange(head, removed, inserted, updated)

    def reconcile(self, fresh: Sequence[SegmentState]) -> RowChange:
        """Make the document equal to ``fresh`` and say which rows changed."""
        change = self.plan(fresh)
        self._segments = list(fresh)
        self._reindex()
        return change

    def _reindex(self) -> None:
        self._rows = {s.id: row for row, s in enumerate(self._segments)}
        self._starts = [s.start for s in self._segments]
