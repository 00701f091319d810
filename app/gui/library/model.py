"""``LibraryModel``: rows of the library list."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt

from app.library import LibraryRow

RowRole = Qt.ItemDataRole.UserRole + 1


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
