"""Which segments the user listened to from start to end without jumping.

A segment played through unchanged is a review signal: the person heard it and
let it stand. Continuous playback starts at ``start(position)``; any seek or
pause ends it. A segment counts when its whole span lies inside one continuous
stretch of playback (a quarter second of slack at its start).
"""

from __future__ import annotations

from app.editing.document import TranscriptDocument

SLACK = 0.25


class PlayThroughTracker:
    def __init__(self) -> None:
        self._from: float | None = None
        self._last = 0.0
        self.reported: set[int] = set()

    def start(self, position: float) -> None:
        self._from = position
        self._last = position

    def stop(self) -> None:
        self._from = None

    @property
    def active(self) -> bool:
        return self._from is not None

    def advance(self, position: float, document: TranscriptDocument) -> list[int]:
        """Ids of segments completed since the last call (each reported once)."""
        if self._from is None:
            return []
        if position < self._last - 0.05:  # went backwards: a loop or a seek
            self._from = position
            self._last = position
            return []
        self._last = position
        first = document.row_at_time(self._from)
        last = document.row_at_time(position)
        if last is None:
            return []
        done = []
        for row in range(max(0, first or 0), last + 1):
            segment = document[row]
            if segment.reviewed or segment.id in self.reported:
                continue
            if segment.start >= self._from - SLACK and segment.end <= position:
                done.append(segment.id)
                self.reported.add(segment.id)
        return done
