"""Painting segments and hosting the inline editor.

A row is one segment, painted whole by this delegate: a gutter with the start and
end times and a review mark, a speaker chip when the transcript has speakers, and
the text. (One painted column rather than three cells: a third of the calls
from Qt into Python per row.)

Row heights for a long transcript come from a word-wrap estimate over cached
word widths (a few microseconds a row, so a 3-hour transcript opens fast); when a
row is painted, its exact layout replaces the estimate and, if they differ, the
row alone is measured again. Text is laid out once per (segment, text, width,
mode) with QTextLayout and cached; decorations (the playing word, find matches,
unsure words) are drawn at paint time as layout selections and underlines, so
the playing word moves without laying anything out again.
"""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QEvent, QModelIndex, QPointF, QRect, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QStaticText,
    QTextCharFormat,
    QTextLayout,
    QTextOption,
)
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from app.editing.timefmt import format_time
from app.gui.editor.model import TranscriptModel
from app.gui.editor.text_editor import SegmentTextEdit
from app.gui.theme import Colors, small_font, speaker_color, transcript_font

H_PAD = 12
V_PAD = 9
TIME_WIDTH = 92  # the gutter: start and end times, and the review mark
SPEAKER_WIDTH = 112
WAVE_PERIOD = 4.0
WAVE_HEIGHT = 4.0
LAYOUT_CACHE_SIZE = 400


def _range(first: int, length: int, fmt: QTextCharFormat) -> QTextLayout.FormatRange:
    r = QTextLayout.FormatRange()
    r.start, r.length, r.format = first, length, fmt
    return r


def _background(color: QColor, foreground: QColor | None = None) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setBackground(color)
    if foreground is not None:
        fmt.setForeground(foreground)
    return fmt


class SegmentDelegate(QStyledItemDelegate):
    def __init__(self, view) -> None:
        super().__init__(view)
        self.view = view
        self.font = transcript_font()
        self.small = small_font()
        self.metrics = QFontMetrics(self.font)
        self.small_metrics = QFontMetrics(self.small)
        self.speaker_font = QFont(self.small)
        self.speaker_font.setWeight(QFont.Weight.DemiBold)
        self.min_height = self.metrics.height() + self.small_metrics.height() + 2 * V_PAD
        self.line_height = float(self.metrics.height())
        self.space_width = float(self.metrics.horizontalAdvance(" "))
        self._word_widths: dict[str, int] = {}
        self._remeasure: set[int] = set()
        self._remeasure_timer = QTimer(self)
        self._remeasure_timer.setSingleShot(True)
        self._remeasure_timer.setInterval(0)
        self._remeasure_timer.timeout.connect(self._remeasure_rows)
        self._layouts: OrderedDict[tuple, tuple[QTextLayout, float]] = OrderedDict()
        self._heights: dict[tuple, float] = {}
        self._option = QTextOption()
        self._option.setWrapMode(QTextOption.WrapMode.WordWrap)
        self._fmt_match = _background(Colors.match)
        self._fmt_match_current = _background(Colors.match_current, QColor("white"))
        self._fmt_playing = _background(Colors.playing_word, Colors.playing_word_text)
        self._fmt_unsure = _background(Colors.unsure_soft)
        self._fmt_removed = QTextCharFormat()
        self._fmt_removed.setForeground(Colors.removed)
        self._fmt_removed.setBackground(Colors.removed_soft)
        self._fmt_removed.setFontStrikeOut(True)
        self._fmt_added = QTextCharFormat()
        self._fmt_added.setForeground(Colors.added)
        self._fmt_added.setBackground(Colors.added_soft)
        self.editing_row: int | None = None
        self._wave_pixmap: QPixmap | None = None
        self._static: dict[tuple[str, int], QStaticText] = {}

    # -- geometry ------------------------------------------------------------------------
    def model(self) -> TranscriptModel:
        return self.view.model()

    def gutter(self) -> int:
        """Where the text starts: after the times and, if any, the speaker chips."""
        return TIME_WIDTH + (SPEAKER_WIDTH if self.model().show_speakers else 0)

    def text_width(self) -> int:
        return max(80, self.view.viewport().width() - self.gutter() - 2 * H_PAD)

    def invalidate(self) -> None:
        self._layouts.clear()
        self._heights.clear()

    def _content(self, row: int) -> tuple[str, list[QTextLayout.FormatRange], tuple]:
        model = self.model()
        s = model.segment(row)
        if model.show_changes and s.original_text and s.changed:
            text_parts: list[str] = []
            formats = []
            at = 0
            for piece in model.display_pieces(row):
                if text_parts:
                    text_parts.append(" ")
                    at += 1
                if piece.kind == "removed":
                    formats.append(_range(at, len(piece.text), self._fmt_removed))
                elif piece.kind == "added":
                    formats.append(_range(at, len(piece.text), self._fmt_added))
                text_parts.append(piece.text)
                at += len(piece.text)
            text = "".join(text_parts)
            return text, formats, (s.id, text, "changes")
        text = model.drafts.get(s.id, s.text)
        return text, [], (s.id, text)

    def _layout(self, row: int, width: int) -> tuple[QTextLayout, float]:
        text, formats, key = self._content(row)
        key = (*key, width)
        cached = self._layouts.get(key)
        if cached is not None:
            self._layouts.move_to_end(key)
            return cached
        layout = QTextLayout(text or " ", self.font)
        layout.setTextOption(self._option)
        if formats:
            layout.setFormats(formats)
        layout.beginLayout()
        height = 0.0
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            line.setPosition(QPointF(0, height))
            height += line.height()
        layout.endLayout()
        self._layouts[key] = (layout, height)
        estimate = self._heights.get(key)
        self._heights[key] = height
        if estimate is not None and abs(estimate - height) > 0.5:
            self._remeasure.add(row)  # the estimate was a line off: measure this row again
            self._remeasure_timer.start()
        if len(self._layouts) > LAYOUT_CACHE_SIZE:
            self._layouts.popitem(last=False)
        return layout, height

    def _remeasure_rows(self) -> None:
        rows, self._remeasure = self._remeasure, set()
        model = self.model()
        for row in rows:
            model.row_changed(row)

    def text_height(self, row: int) -> float:
        width = self.text_width()
        text, _, key = self._content(row)
        key = (*key, width)
        height = self._heights.get(key)
        if height is None:
            height = self._estimate_lines(text, width) * self.line_height
            self._heights[key] = height
        return height

    def _estimate_lines(self, text: str, width: int) -> int:
        """Greedy word wrap over cached word widths (what QTextLayout's WordWrap does)."""
        widths = self._word_widths
        lines, x = 1, 0.0
        for word in text.split():
            w = widths.get(word)
            if w is None:
                w = widths[word] = self.metrics.horizontalAdvance(word)
            if x == 0.0:
                x = w
            elif x + self.space_width + w <= width:
                x += self.space_width + w
            else:
                lines += 1
                x = w
        return lines

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        height = self.text_height(index.row()) + 2 * V_PAD
        return QSize(self.view.viewport().width(), max(self.min_height, int(height + 0.999)))

    def text_origin(self, rect: QRect) -> QPointF:
        return QPointF(rect.x() + self.gutter() + H_PAD, rect.y() + V_PAD)

    def in_gutter(self, rect: QRect, point) -> bool:
        return point.x() < rect.x() + self.gutter()

    def char_at(self, row: int, rect: QRect, point) -> int:
        """The character offset under a point of the text cell (for click-to-seek and caret)."""
        layout, _ = self._layout(row, self.text_width())
        origin = self.text_origin(rect)
        y = point.y() - origin.y()
        for i in range(layout.lineCount()):
            line = layout.lineAt(i)
            if y < line.y() + line.height() or i == layout.lineCount() - 1:
                return line.xToCursor(point.x() - origin.x())
        return 0

    # -- painting ------------------------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        model = self.model()
        row = index.row()
        s = model.segment(row)
        rect = option.rect
        playing_row = model.playing is not None and model.playing[0] == row
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            background = (
                Colors.selection
                if self.view.hasFocus() or self.editing_row is not None
                else Colors.accent_soft
            )
        elif playing_row:
            background = Colors.current_row
        elif option.state & QStyle.StateFlag.State_MouseOver:
            background = Colors.hover
        else:
            background = None  # the view's own base colour is already there
        if background is not None:
            painter.fillRect(rect, background)
        painter.fillRect(rect.x(), rect.bottom(), rect.width(), 1, Colors.border)
        self._paint_time(
            painter, QRect(rect.x(), rect.y(), TIME_WIDTH, rect.height()), s, playing_row
        )
        if model.show_speakers:
            self._paint_speaker(
                painter,
                QRect(rect.x() + TIME_WIDTH, rect.y(), SPEAKER_WIDTH, rect.height()),
                s.speaker,
            )
        if row != self.editing_row:
            self._paint_text(painter, rect, row)

    def _paint_time(self, painter: QPainter, rect: QRect, s, playing_row: bool) -> None:
        if playing_row:
            painter.fillRect(QRect(rect.x(), rect.y(), 3, rect.height() - 1), Colors.accent)
        x = rect.x() + H_PAD + 2
        painter.setFont(self.small)
        painter.setPen(Colors.accent if playing_row else Colors.text)
        start_font = QFont(self.small)
        start_font.setWeight(QFont.Weight.DemiBold if playing_row else QFont.Weight.Normal)
        painter.setFont(start_font)
        top = rect.y() + V_PAD + self.metrics.ascent() - self.small_metrics.ascent()
        painter.drawStaticText(
            QPointF(x, top), self._static_text(format_time(s.start), 1 if playing_row else 0)
        )
        painter.setFont(self.small)
        painter.setPen(Colors.faint)
        painter.drawStaticText(
            QPointF(x, top + self.small_metrics.height() + 2),
            self._static_text(format_time(s.end), 0),
        )
        # status mark at the right edge of the column
        cx = rect.right() - 12
        cy = rect.y() + V_PAD + self.metrics.ascent() - self.small_metrics.ascent() / 2
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        # verified: a green check; heard to the end: a pale check; corrected: a blue dot
        if s.reviewed and s.review_source in ("verified", "played", None):
            colour = Colors.verified if s.review_source != "played" else Colors.played
            painter.setPen(QPen(colour, 1.8, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            path = QPainterPath(QPointF(cx - 4, cy))
            path.lineTo(cx - 1, cy + 3)
            path.lineTo(cx + 4, cy - 3)
            painter.drawPath(path)
        elif s.changed or s.inserted:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(Colors.edited)
            painter.drawEllipse(QPointF(cx, cy), 3, 3)
            painter.setBrush(Qt.BrushStyle.NoBrush)
        if s.pending:
            painter.setPen(QPen(Colors.faint, 1.2))
            painter.drawEllipse(QPointF(cx, cy + 14), 3, 3)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _static_text(self, text: str, variant: int) -> QStaticText:
        key = (text, variant)
        static = self._static.get(key)
        if static is None:
            if len(self._static) > 4000:
                self._static.clear()
            static = QStaticText(text)
            static.setPerformanceHint(QStaticText.PerformanceHint.AggressiveCaching)
            self._static[key] = static
        return static

    def _paint_speaker(self, painter: QPainter, rect: QRect, speaker: str) -> None:
        if not speaker:
            return
        painter.setFont(self.speaker_font)
        metrics = QFontMetrics(self.speaker_font)
        label = metrics.elidedText(speaker, Qt.TextElideMode.ElideRight, rect.width() - 22)
        color = speaker_color(speaker)
        chip = QRectF(
            rect.x() + 4,
            rect.y() + V_PAD - 1,
            metrics.horizontalAdvance(label) + 14,
            metrics.height() + 4,
        )
        soft = QColor(color)
        soft.setAlpha(28)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(soft)
        painter.drawRoundedRect(chip, chip.height() / 2, chip.height() / 2)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(color)
        painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, label)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _paint_text(self, painter: QPainter, rect: QRect, row: int) -> None:
        model = self.model()
        layout, _ = self._layout(row, self.text_width())
        origin = self.text_origin(rect)
        selections = []
        underline: list[tuple[int, int]] = []
        s = model.segment(row)
        as_diff = model.show_changes and s.original_text and s.changed  # see _content
        if not as_diff:
            for token in model.unsure_tokens(row):
                selections.append(_range(token.first, token.last - token.first, self._fmt_unsure))
                underline.append((token.first, token.last))
            for first, last in model.matches.get(row, ()):
                selections.append(_range(first, last - first, self._fmt_match))
            current = model.current_match
            if current is not None and current[0] == row:
                selections.append(
                    _range(current[1], current[2] - current[1], self._fmt_match_current)
                )
            if (
                model.playing is not None
                and model.playing[0] == row
                and model.playing[1] is not None
            ):
                tokens = model.tokens(row)
                if 0 <= model.playing[1] < len(tokens):
                    token = tokens[model.playing[1]]
                    selections.append(
                        _range(token.first, token.last - token.first, self._fmt_playing)
                    )
        painter.setPen(Colors.text)
        layout.draw(painter, origin, selections)
        if underline:
            self._underline(painter, layout, origin, underline)

    def _underline(
        self, painter: QPainter, layout: QTextLayout, origin: QPointF, spans: list[tuple[int, int]]
    ) -> None:
        wave = self._wave()
        for first, last in spans:
            for i in range(layout.lineCount()):
                line = layout.lineAt(i)
                lo, hi = line.textStart(), line.textStart() + line.textLength()
                a, b = max(first, lo), min(last, hi)
                if a >= b:
                    continue
                x0 = origin.x() + line.cursorToX(a)[0]
                x1 = origin.x() + line.cursorToX(b)[0]
                y = origin.y() + line.y() + line.ascent() + 1.5
                painter.drawTiledPixmap(QRectF(x0, y, x1 - x0, WAVE_HEIGHT), wave)

    def _wave(self) -> QPixmap:
        """A short zigzag drawn once and tiled under every unsure word (cheap to paint)."""
        if self._wave_pixmap is None:
            scale = 2
            pixmap = QPixmap(int(WAVE_PERIOD * scale), int(WAVE_HEIGHT * scale))
            pixmap.setDevicePixelRatio(scale)
            pixmap.fill(Qt.GlobalColor.transparent)
            p = QPainter(pixmap)
            p.setRenderHint(QPainter.RenderHint.Antialiasing)
            p.setPen(QPen(Colors.unsure, 1.2, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            mid = WAVE_HEIGHT / 2
            path = QPainterPath(QPointF(0, mid + 1))
            path.lineTo(QPointF(WAVE_PERIOD / 2, mid - 1))
            path.lineTo(QPointF(WAVE_PERIOD, mid + 1))
            p.drawPath(path)
            p.end()
            self._wave_pixmap = pixmap
        return self._wave_pixmap

    # -- the inline editor ---------------------------------------------------------------
    def eventFilter(self, editor, event) -> bool:
        """Qt's delegates close the editor on Escape *reverting* the text; here Escape keeps
        what was typed (no edit is ever lost to a key)."""
        if (
            isinstance(editor, SegmentTextEdit)
            and event.type() == QEvent.Type.KeyPress
            and event.key() == Qt.Key.Key_Escape
        ):
            editor.closeRequested.emit()
            return True
        return super().eventFilter(editor, event)

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: QModelIndex):
        editor = SegmentTextEdit(parent)
        editor.setFont(self.font)
        self.editing_row = index.row()
        self.view.attach_editor(editor, index)
        return editor

    def destroyEditor(self, editor: QWidget, index: QModelIndex) -> None:
        if isinstance(editor, SegmentTextEdit):
            editor.mark_committed()  # its pending commit timer must not fire after this
        if self.editing_row == index.row():
            self.editing_row = None
        super().destroyEditor(editor, index)

    def setEditorData(self, editor: QWidget, index: QModelIndex) -> None:
        """Fill a newly opened editor. An open editor's text is never replaced from here:
        repaints, commits and row-height changes all pass through this method, and the
        person's typing wins. (Changes from elsewhere close the editor first.)"""
        if not isinstance(editor, SegmentTextEdit):
            return
        model = self.model()
        s = model.segment(index.row())
        self.editing_row = index.row()
        if editor.segment_id == s.id:
            editor.set_context(s.words, (s.start, s.end), s.reviewed, model.threshold)
            return
        editor.segment_id = s.id
        editor.load(s.text, s.words, (s.start, s.end), s.reviewed, model.threshold)

    def setModelData(self, editor: QWidget, model, index: QModelIndex) -> None:
        if isinstance(editor, SegmentTextEdit):
            editor.mark_committed()
            model.setData(index, editor.toPlainText(), Qt.ItemDataRole.EditRole)

    def updateEditorGeometry(
        self, editor: QWidget, option: QStyleOptionViewItem, index: QModelIndex
    ) -> None:
        rect = option.rect
        left = rect.x() + self.gutter() + H_PAD
        editor.setGeometry(
            QRect(
                left,
                rect.y() + V_PAD,
                rect.right() - H_PAD - left,
                max(self.metrics.height(), rect.height() - 2 * V_PAD - 1),
            )
        )
