"""``LibraryModel``: rows of the library list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt

from app.editing.timefmt import format_time

RowRole = Qt.ItemDataRole.UserRole + 1


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
            parts.append("verified" if share >= 1 else f"{share:.0%} checked")
        elif self.status in ("queued", "running"):
            parts.append("transcribing…")
        elif self.status == "failed":
            parts.append("failed")
        elif self.status == "cancelled":
            parts.append("cancelled")
        return " · ".join(parts)


class LibraryModel(QAbstractListModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[LibraryRow] = []

    def set_rows(self, rows: Sequence[LibraryRow]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def row_of_transcript(self, transcript_id: int) -> int | None:
        return next((i for i, r in enumerate(self.rows) if r.transcript_id == transcript_id), None)

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.name
        if role == RowRole:
            return row
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            extra = f" — {row.match.replace('[', '').replace(']', '')}" if row.match else ""
            return f"{row.name}, {row.facts()}{extra}"
        return None
