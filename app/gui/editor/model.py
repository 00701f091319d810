"""``TranscriptModel``: the document as a Qt list model (one row per segment), plus the
view state the painter needs (unsure threshold, "show changes", speakers, the playing
word, find matches). It never touches the store: committed text goes out as
``textCommitted``.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from app.editing.diff import word_diff
from app.editing.document import RowChange, TranscriptDocument
from app.editing.segments import SegmentState
from app.editing.timefmt import format_time
from app.editing.words import Token, align, unsure_count

COL_TEXT = 0  # one column: the delegate paints time, speaker and text of a row
HEADERS = ("Segments",)
ROW_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEditable
REVIEW_STATES = {
    "verified": "verified",
    "played": "heard to the end without a change",
    "edited": "corrected",
}

Index = QModelIndex | QPersistentModelIndex


class TranscriptModel(QAbstractTableModel):
    textCommitted = Signal(int, str)  # segment id, new text
    layoutInvalidated = Signal()  # something that changes row heights for every row

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.document = TranscriptDocument()
        self.threshold = 0.5
        self.show_changes = False
        self.show_speakers = False
        self.playing: tuple[int, int | None] | None = None  # (row, token index)
        self.matches: dict[int, list[tuple[int, int]]] = {}  # row -> [(first, last)]
        self.current_match: tuple[int, int, int] | None = None  # (row, first, last)
        self.drafts: dict[int, str] = {}  # segment id -> text being typed, not yet committed

    # -- the document --------------------------------------------------------------------
    def set_document(self, document: TranscriptDocument) -> None:
        self.beginResetModel()
        self.document = document
        self.playing = None
        self.matches = {}
        self.current_match = None
        self.drafts = {}
        self.endResetModel()

    def segment(self, row: int) -> SegmentState:
        return self.document[row]

    def tokens(self, row: int) -> tuple[Token, ...]:
        s = self.document[row]
        return align(s.text, s.words, s.start, s.end)

    def unsure_tokens(self, row: int) -> list[Token]:
        s = self.document[row]
        if s.reviewed:
            return []
        return [t for t in self.tokens(row) if t.unsure(self.threshold)]

    def unsure_total(self) -> int:
        return sum(
            unsure_count(align(s.text, s.words, s.start, s.end), self.threshold)
            for s in self.document
            if not s.reviewed
        )

    def display_pieces(self, row: int):
        s = self.document[row]
        return word_diff(s.original_text, s.text)

    def reconcile(self, fresh: Sequence[SegmentState]) -> RowChange:
        """Make the document equal to ``fresh``, announcing the smallest change to views."""
        change = self.document.plan(fresh)
        if change.removed:
            self.beginRemoveRows(QModelIndex(), change.first, change.first + change.removed - 1)
            self.document.replace_rows(change.first, change.removed, ())
            self.endRemoveRows()
        if change.inserted:
            self.beginInsertRows(QModelIndex(), change.first, change.first + change.inserted - 1)
            self.document.replace_rows(
                change.first, 0, fresh[change.first : change.first + change.inserted]
            )
            self.endInsertRows()
        if change.structural:
            self.playing = None
            self.matches = {}
            self.current_match = None
        for row in change.updated:
            self.document.set(row, fresh[row])
            self.row_changed(row)
        return change

    def update_segment(self, segment: SegmentState) -> None:
        row = self.document.row_of(segment.id)
        if row is not None and self.document[row] != segment:
            self.document.set(row, segment)
            self.row_changed(row)

    def append_segments(self, segments: Sequence[SegmentState]) -> None:
        if not segments:
            return
        first = len(self.document)
        self.beginInsertRows(QModelIndex(), first, first + len(segments) - 1)
        for segment in segments:
            self.document.append(segment)
        self.endInsertRows()

    def row_changed(self, row: int) -> None:
        if 0 <= row < len(self.document):
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(HEADERS) - 1))

    # -- view state ----------------------------------------------------------------------
    def set_threshold(self, threshold: float) -> None:
        self.threshold = threshold
        self._all_text_changed()

    def set_show_speakers(self, on: bool) -> None:
        if on != self.show_speakers:
            self.show_speakers = on
            self.layoutInvalidated.emit()

    def set_show_changes(self, on: bool) -> None:
        self.show_changes = on
        self.layoutInvalidated.emit()
        self._all_text_changed()

    def set_playing(self, row: int | None, token: int | None) -> None:
        new = None if row is None else (row, token)
        if new == self.playing:
            return
        old, self.playing = self.playing, new
        if old is not None:
            self._text_changed(old[0])
        if (new is not None and (old is None or old[0] != new[0])) or new is not None:
            self._text_changed(new[0])

    def set_matches(self, matches: dict[int, list[tuple[int, int]]]) -> None:
        rows = set(self.matches) | set(matches)
        self.matches = matches
        for row in rows:
            self._text_changed(row)

    def set_current_match(self, match: tuple[int, int, int] | None) -> None:
        old, self.current_match = self.current_match, match
        for m in (old, match):
            if m is not None:
                self._text_changed(m[0])

    def _text_changed(self, row: int) -> None:
        if 0 <= row < len(self.document):
            index = self.index(row, COL_TEXT)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DisplayRole])

    def _all_text_changed(self) -> None:
        if len(self.document):
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self.document) - 1, len(HEADERS) - 1)
            )

    # -- Qt API --------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.document)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 1

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None

    def flags(self, index: Index):
        return ROW_FLAGS  # Qt asks for every row while laying out: no work here

    def data(self, index: Index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self.document):
            return None
        s = self.document[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return s.text
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return self.describe(index.row())
        if role == Qt.ItemDataRole.ToolTipRole:
            state = (
                REVIEW_STATES.get(s.review_source or "", "verified")
                if s.reviewed
                else ("edited" if s.changed else "not checked yet")
            )
            return f"{format_time(s.start)} – {format_time(s.end)} · {state}"
        return None

    def describe(self, row: int) -> str:
        s = self.document[row]
        parts = [f"Segment {row + 1}", f"{format_time(s.start)} to {format_time(s.end)}"]
        if s.speaker:
            parts.append(f"speaker {s.speaker}")
        if s.reviewed:
            parts.append(REVIEW_STATES.get(s.review_source or "", "verified"))
        elif s.changed:
            parts.append("edited")
        unsure = len(self.unsure_tokens(row))
        if unsure:
            parts.append(f"{unsure} unsure word{'s' if unsure > 1 else ''}")
        return ", ".join(parts) + ": " + s.text

    def setData(self, index: Index, value, role=Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or index.column() != COL_TEXT or role != Qt.ItemDataRole.EditRole:
            return False
        s = self.document[index.row()]
        text = " ".join(str(value).split())
        self.drafts.pop(s.id, None)
        if text == s.text:
            return False
        self.textCommitted.emit(s.id, text)
        return True
