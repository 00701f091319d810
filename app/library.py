"""The library as the app lists it: one row per recording, from the store's entries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.editing.timefmt import format_time


@dataclass(frozen=True, slots=True)
class LibraryRow:
    recording_id: int
    transcript_id: int | None
    name: str
    path: str
    duration: float | None
    status: str  # of the latest transcript: queued, running, done, failed, cancelled, none
    created_at: str
    segment_count: int = 0
    reviewed_count: int = 0
    error: str | None = None
    match: str | None = None  # excerpt with [hits] when found by text

    def facts(self) -> str:
        parts = []
        if self.duration:
            parts.append(format_time(self.duration, tenths=False))
        if self.created_at:
            parts.append(self.created_at[:10])
        if self.status == "done" and self.segment_count:
            share = self.reviewed_count / self.segment_count
            parts.append("all checked" if share >= 1 else f"{share:.0%} checked")
        elif self.status in ("queued", "running"):
            parts.append("transcribing…")
        elif self.status == "failed":
            parts.append("failed")
        elif self.status == "cancelled":
            parts.append("cancelled")
        elif self.status == "none":
            parts.append("not transcribed")
        return " · ".join(parts)


def library_rows(entries: Iterable[Any]) -> list[LibraryRow]:
    """Rows from ``retrain.store`` ``LibraryEntry`` values (newest first, as given)."""
    rows = []
    for entry in entries:
        recording = entry.recording
        latest = entry.latest
        rows.append(
            LibraryRow(
                recording_id=recording.id,
                transcript_id=latest.id if latest else None,
                name=recording.name or Path(recording.path).name,
                path=recording.path,
                duration=recording.duration,
                status=latest.status if latest else "none",
                created_at=recording.created_at or "",
                segment_count=latest.segment_count if latest else 0,
                reviewed_count=latest.reviewed_count if latest else 0,
                error=latest.error if latest else None,
                match=entry.match,
            )
        )
    return rows
