"""The inline editor for one segment's text.

A frameless QPlainTextEdit laid exactly over the painted text, so opening it does
not move a pixel. It behaves like a paragraph of a document: Up on the first line
and Down on the last move to the neighbouring segment, Enter moves to the next,
Backspace at the very start merges with the previous segment and Delete at the
very end with the next. Unsure words stay underlined while typing.

Keys bound to app actions (playback, split, verify...) are let through to the
window instead of being swallowed as text.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import (
    QKeyEvent,
    QKeySequence,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextCursor,
    QTextOption,
)
from PySide6.QtWidgets import QFrame, QPlainTextEdit, QTextEdit, QWidget

from app.editing.words import align
from app.gui.theme import Colors, transcript_font
from engine.types import Word

COMMIT_AFTER_MS = 800  # typing pauses longer than this are committed as one edit


class UnsureHighlighter(QSyntaxHighlighter):
    """Underlines the model's unsure words in the text being edited."""

    def __init__(self, editor: SegmentTextEdit) -> None:
        super().__init__(editor.document())
        self.editor = editor
        self.unsure_format = QTextCharFormat()
        self.unsure_format.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        self.unsure_format.setUnderlineColor(Colors.unsure)
        self.unsure_format.setBackground(Colors.unsure_soft)

    def highlightBlock(self, text: str) -> None:
        editor = self.editor
        if editor.reviewed or not editor.words:
            return
        for token in align(text, editor.words, editor.span[0], editor.span[1]):
            if token.unsure(editor.threshold):
                self.setFormat(token.first, token.last - token.first, self.unsure_format)


class SegmentTextEdit(QPlainTextEdit):
    navigate = Signal(int, int)  # row delta, where to put the cursor (-1: end, 0: start, x px)
    mergePrevious = Signal()
    mergeNext = Signal()
    commitRequested = Signal()
    closeRequested = Signal()
    typing = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("segmentTextEditor")
        self.setAccessibleName("Segment text")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFont(transcript_font())
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setWordWrapMode(QTextOption.WrapMode.WordWrap)
        self.setTabChangesFocus(True)
        self.document().setDocumentMargin(0)
        self.setViewportMargins(0, 0, 0, 0)
        self.setContentsMargins(0, 0, 0, 0)
        self.setCenterOnScroll(False)
        self.words: tuple[Word, ...] = ()
        self.span = (0.0, 0.0)
        self.reviewed = False
        self.threshold = 0.5
        self.segment_id: int | None = None
        self.row_background = Colors.base
        self.app_shortcut: Callable[[QKeySequence], bool] | None = None
        self.highlighter = UnsureHighlighter(self)
        self._commit_timer = QTimer(self)
        self._commit_timer.setSingleShot(True)
        self._commit_timer.setInterval(COMMIT_AFTER_MS)
        self._commit_timer.timeout.connect(self.commitRequested)
        self._loading = False
        self.textChanged.connect(self._on_text_changed)

    # -- content -------------------------------------------------------------------------
    def load(
        self,
        text: str,
        words: tuple[Word, ...],
        span: tuple[float, float],
        reviewed: bool,
        threshold: float,
    ) -> None:
        """Fill the editor for a segment (the caret goes to the end)."""
        self.words, self.span, self.reviewed, self.threshold = words, span, reviewed, threshold
        self._loading = True
        self.setPlainText(text)
        self.place_cursor(-1)
        self._loading = False

    def set_context(
        self, words: tuple[Word, ...], span: tuple[float, float], reviewed: bool, threshold: float
    ) -> None:
        """New timing, review state or threshold for the segment being edited (text untouched)."""
        context = (words, span, reviewed, threshold)
        if context != (self.words, self.span, self.reviewed, self.threshold):
            self.words, self.span, self.reviewed, self.threshold = context
            self.highlighter.rehighlight()

    @property
    def dirty(self) -> bool:
        return self._commit_timer.isActive()

    def mark_committed(self) -> None:
        self._commit_timer.stop()

    def _on_text_changed(self) -> None:
        if not self._loading:
            self._commit_timer.start()

    def place_cursor(self, where: int) -> None:
        cursor = self.textCursor()
        if where < 0:
            cursor.movePosition(QTextCursor.MoveOperation.End)
        elif where == 0:
            cursor.movePosition(QTextCursor.MoveOperation.Start)
        self.setTextCursor(cursor)

    def place_cursor_at_char(self, offset: int) -> None:
        cursor = self.textCursor()
        cursor.setPosition(max(0, min(offset, len(self.toPlainText()))))
        self.setTextCursor(cursor)

    def set_playing_word(self, first: int | None, last: int | None) -> None:
        if first is None or last is None:
            self.setExtraSelections([])
            return
        selection = QTextEdit.ExtraSelection()
        selection.format.setBackground(Colors.playing_word)
        selection.format.setForeground(Colors.playing_word_text)
        cursor = QTextCursor(self.document())
        cursor.setPosition(first)
        cursor.setPosition(min(last, len(self.toPlainText())), QTextCursor.MoveMode.KeepAnchor)
        selection.cursor = cursor
        self.setExtraSelections([selection])

    # -- keys ----------------------------------------------------------------------------
    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            sequence = QKeySequence(event.keyCombination())
            if (
                sequence.matches(QKeySequence(QKeySequence.StandardKey.Undo))
                == (QKeySequence.SequenceMatch.ExactMatch)
                and not self.document().isUndoAvailable()
            ):
                event.ignore()  # nothing typed to undo here: let the transcript's Undo run
                return True
            if (
                sequence.matches(QKeySequence(QKeySequence.StandardKey.Redo))
                == (QKeySequence.SequenceMatch.ExactMatch)
                and not self.document().isRedoAvailable()
            ):
                event.ignore()
                return True
            if self.app_shortcut is not None and self.app_shortcut(sequence):
                event.ignore()
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        plain = mods == Qt.KeyboardModifier.NoModifier
        cursor = self.textCursor()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if plain:
                self.navigate.emit(1, 0)
            elif mods == Qt.KeyboardModifier.ShiftModifier:
                self.navigate.emit(-1, -1)
            return
        if key == Qt.Key.Key_Escape and plain:
            self.closeRequested.emit()
            return
        if key == Qt.Key.Key_Up and plain and self._on_first_line():
            self.navigate.emit(-1, max(1, int(self.cursorRect().center().x())))
            return
        if key == Qt.Key.Key_Down and plain and self._on_last_line():
            self.navigate.emit(1, max(1, int(self.cursorRect().center().x())))
            return
        if (
            key == Qt.Key.Key_Backspace
            and plain
            and cursor.position() == 0
            and not cursor.hasSelection()
        ):
            self.mergePrevious.emit()
            return
        if (
            key == Qt.Key.Key_Delete
            and plain
            and not cursor.hasSelection()
            and cursor.position() == len(self.toPlainText())
        ):
            self.mergeNext.emit()
            return
        if (event.text() and event.text().isprintable()) or key in (
            Qt.Key.Key_Backspace,
            Qt.Key.Key_Delete,
        ):
            self.typing.emit()
        super().keyPressEvent(event)

    def _on_first_line(self) -> bool:
        cursor = self.textCursor()
        layout = cursor.block().layout()
        line = layout.lineForTextPosition(cursor.positionInBlock())
        return cursor.block() == self.document().firstBlock() and line.lineNumber() == 0

    def _on_last_line(self) -> bool:
        cursor = self.textCursor()
        layout = cursor.block().layout()
        line = layout.lineForTextPosition(cursor.positionInBlock())
        return (
            cursor.block() == self.document().lastBlock()
            and line.lineNumber() == layout.lineCount() - 1
        )

    def insertFromMimeData(self, source) -> None:
        """Paste as one line of plain text: a segment has no paragraphs."""
        if source.hasText():
            self.insertPlainText(" ".join(source.text().split()))
