"""``TranscriptView``: the segment list. Click a word to seek and type there; the
keyboard moves between segments like lines of a document."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QMouseEvent, QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeView

from app.gui.editor.delegate import H_PAD, SegmentDelegate
from app.gui.editor.model import COL_TEXT, TranscriptModel
from app.gui.editor.text_editor import SegmentTextEdit


class TranscriptView(QTreeView):
    seekRequested = Signal(float)  # a click on a word or a time
    typingStarted = Signal()
    mergeRequested = Signal(int, int)  # segment id, direction (-1 previous, +1 next)
    editorOpened = Signal(object)  # SegmentTextEdit

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("transcriptView")
        self.setAccessibleName("Transcript")
        self.setAccessibleDescription(
            "One row per segment: time, speaker and text. Type to correct the text; "
            "Enter moves to the next segment."
        )
        self.setRootIsDecorated(False)
        self.setItemsExpandable(False)
        self.setUniformRowHeights(False)
        self.setAllColumnsShowFocus(True)
        self.setWordWrap(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(
            QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
            | QAbstractItemView.EditTrigger.DoubleClicked
        )
        self.delegate = SegmentDelegate(self)
        self.setItemDelegate(self.delegate)
        self.verticalScrollBar().setSingleStep(24)
        self.setMouseTracking(True)  # hover tint on the row under the pointer
        self.app_shortcut = None  # callable(QKeySequence) -> bool, set by the window
        self._editor: SegmentTextEdit | None = None
        self._editor_lines = 0
        self._pending_cursor: tuple[int, int] | None = None  # (row, char offset or -1/0/x)
        self._user_scrolled_at = 0.0
        self._relayout = QTimer(self)
        self._relayout.setSingleShot(True)
        self._relayout.setInterval(60)
        self._relayout.timeout.connect(self._width_changed)
        self._last_width = -1

    def setModel(self, model: TranscriptModel) -> None:
        super().setModel(model)
        header = self.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(COL_TEXT, QHeaderView.ResizeMode.Stretch)
        header.hide()
        model.layoutInvalidated.connect(self.relayout)
        model.modelReset.connect(self.delegate.invalidate)

    def transcript_model(self) -> TranscriptModel:
        return self.model()  # type: ignore[return-value]

    # -- layout --------------------------------------------------------------------------
    def relayout(self) -> None:
        self.delegate.invalidate()
        self.scheduleDelayedItemsLayout()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._width_maybe_changed()

    def _width_maybe_changed(self) -> None:
        """Wrapped rows change height with the text column's width. Small transcripts
        re-lay out at once; long ones wait until the resizing pauses."""
        if self.viewport().width() == self._last_width:
            return
        if self.model() is not None and self.model().rowCount() < 1000:
            self._width_changed()
        else:
            self._relayout.start()

    def _width_changed(self) -> None:
        width = self.viewport().width()
        if width != self._last_width:
            self._last_width = width
            self.scheduleDelayedItemsLayout()

    def set_speaker_column_visible(self, visible: bool) -> None:
        self.transcript_model().set_show_speakers(visible)

    # -- the inline editor ---------------------------------------------------------------
    def attach_editor(self, editor: SegmentTextEdit, index: QModelIndex) -> None:
        self._editor = editor
        editor.app_shortcut = self.app_shortcut
        editor.navigate.connect(self._editor_navigate)
        editor.closeRequested.connect(self.close_editor)
        editor.commitRequested.connect(lambda: self._commit_if_current(editor))
        editor.typing.connect(self.typingStarted)
        editor.mergePrevious.connect(lambda: self._merge_from_editor(editor, -1))
        editor.mergeNext.connect(lambda: self._merge_from_editor(editor, +1))
        editor.document().documentLayout().documentSizeChanged.connect(
            lambda _size: self._editor_resized(editor)
        )
        self._editor_lines = 0
        QTimer.singleShot(0, lambda: self._after_editor_opened(editor))

    def _after_editor_opened(self, editor: SegmentTextEdit) -> None:
        pending, self._pending_cursor = self._pending_cursor, None
        index = self.currentIndex()
        if pending is not None and pending[0] == index.row():
            self._place_cursor(editor, pending[1])
        self.editorOpened.emit(editor)

    @staticmethod
    def _place_cursor(editor: SegmentTextEdit, where: int) -> None:
        if where in (0, -1):
            editor.place_cursor(where)
        elif where >= 1_000_000:
            editor.place_cursor_at_char(where - 1_000_000)
        else:
            editor.setTextCursor(editor.cursorForPosition(QPoint(where, 2)))

    def _commit_if_current(self, editor: SegmentTextEdit) -> None:
        if editor is self.current_editor():
            self.commitData(editor)

    def current_editor(self) -> SegmentTextEdit | None:
        editor = self._editor
        if editor is None:
            return None
        try:
            editor.isVisible()
        except RuntimeError:  # deleted by Qt
            self._editor = None
            return None
        return editor if self.state() == QAbstractItemView.State.EditingState else None

    def _editor_resized(self, editor: SegmentTextEdit) -> None:
        lines = editor.document().documentLayout().documentSize().height()
        if lines == self._editor_lines:
            return
        self._editor_lines = lines
        index = self.currentIndex().siblingAtColumn(COL_TEXT)
        if not index.isValid() or editor.segment_id is None:
            return
        model = self.transcript_model()
        model.drafts[editor.segment_id] = editor.toPlainText()
        # dataChanged on one row makes QTreeView re-measure only that row; sizeHintChanged
        # would re-measure all of them (100 ms for a 3-hour transcript).
        model.row_changed(index.row())

    def commit_editor(self) -> None:
        editor = self.current_editor()
        if editor is not None:
            self.commitData(editor)

    def close_editor(self) -> None:
        editor = self.current_editor()
        if editor is not None:
            self.commitData(editor)
            self.closeEditor(editor, SegmentDelegate.EndEditHint.NoHint)
            self._editor = None
        self.setFocus()

    def discard_editor(self) -> None:
        """Close the editor without saving its text (the segment changed underneath it)."""
        editor = self.current_editor()
        if editor is not None:
            editor.mark_committed()
            self.closeEditor(editor, SegmentDelegate.EndEditHint.RevertModelCache)
            self._editor = None

    def _editor_navigate(self, delta: int, where: int) -> None:
        row = self.currentIndex().row()
        self.close_editor()
        target = row + delta
        if 0 <= target < self.model().rowCount():
            self.edit_row(target, where)

    def _merge_from_editor(self, editor: SegmentTextEdit, direction: int) -> None:
        segment_id = editor.segment_id
        self.close_editor()
        if segment_id is not None:
            self.mergeRequested.emit(segment_id, direction)

    def edit_row(self, row: int, where: int = 0) -> None:
        """Open the editor on ``row``; ``where``: 0 start, -1 end, x>0 pixel column,
        1_000_000 + n for character n."""
        index = self.model().index(row, COL_TEXT)
        self.setCurrentIndex(index)
        self.scrollTo(index)
        self._pending_cursor = (row, where)
        self.edit(index)
        editor = self.current_editor()
        if editor is not None and self._pending_cursor is not None:
            self._pending_cursor = None
            self._place_cursor(editor, where)  # at once: the next key may already be queued

    def edit_at_char(self, row: int, offset: int) -> None:
        self.edit_row(row, 1_000_000 + offset)

    # -- selection helpers ---------------------------------------------------------------
    def current_row(self) -> int | None:
        index = self.currentIndex()
        return index.row() if index.isValid() else None

    def selected_rows(self) -> list[int]:
        rows = sorted({i.row() for i in self.selectionModel().selectedRows()})
        current = self.current_row()
        if not rows and current is not None:
            rows = [current]
        return rows

    def select_row(self, row: int, scroll: bool = True) -> None:
        index = self.model().index(row, COL_TEXT)
        self.selectionModel().setCurrentIndex(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        if scroll:
            self.scrollTo(index)

    def follow(self, row: int) -> None:
        """Keep the playing row in view without fighting a user who is scrolling or typing."""
        if self.state() == QAbstractItemView.State.EditingState:
            return
        rect = self.visualRect(self.model().index(row, COL_TEXT))
        viewport = self.viewport().rect()
        margin = viewport.height() // 6
        if rect.top() < margin or rect.bottom() > viewport.height() - margin:
            self.scrollTo(
                self.model().index(row, COL_TEXT), QAbstractItemView.ScrollHint.PositionAtCenter
            )

    # -- mouse and keys ------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        index = self.indexAt(event.position().toPoint())
        super().mousePressEvent(event)
        if not index.isValid() or event.button() != Qt.MouseButton.LeftButton:
            return
        if event.modifiers() & (
            Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier
        ):
            return  # extending the selection
        model = self.transcript_model()
        row = index.row()
        rect = self.visualRect(index)
        if not self.delegate.in_gutter(rect, event.position()):
            offset = self.delegate.char_at(row, rect, event.position())
            tokens = model.tokens(row)
            hit = next((t for t in tokens if t.first <= offset <= t.last), None)
            if hit is not None:
                self.seekRequested.emit(hit.start)
            self.edit_at_char(row, offset)
        else:
            self.seekRequested.emit(model.segment(row).start)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if (
            key in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and event.modifiers() == Qt.KeyboardModifier.NoModifier
        ):
            row = self.current_row()
            if row is not None:
                self.edit_row(row, -1)
                return
        if self.app_shortcut is not None and self.app_shortcut(
            QKeySequence(event.keyCombination())
        ):
            event.ignore()
            return
        super().keyPressEvent(event)

    def edit(self, index, trigger=None, event=None):  # type: ignore[override]
        if trigger is None:
            return super().edit(index)
        if index.isValid() and index.column() != COL_TEXT:
            index = index.siblingAtColumn(COL_TEXT)
        return super().edit(index, trigger, event)

    def text_rect(self, row: int):
        rect = self.visualRect(self.model().index(row, COL_TEXT))
        return rect.adjusted(H_PAD, 0, -H_PAD, 0)
