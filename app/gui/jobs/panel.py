"""The queue panel: each job with its status, a progress bar and a cancel button."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QModelIndex, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QKeyEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QVBoxLayout,
    QWidget,
)

from app.gui.jobs.queue import ItemRole, QueueItem, TranscriptionQueue
from app.gui.theme import Colors

PAD = 10
ROW_HEIGHT = 54
CANCEL_SIZE = 18


class QueueDelegate(QStyledItemDelegate):
    cancelClicked = Signal(object)  # QueueItem

    def sizeHint(self, option, index) -> QSize:
        return QSize(200, ROW_HEIGHT)

    def _cancel_rect(self, rect: QRect) -> QRect:
        return QRect(rect.right() - PAD - CANCEL_SIZE, rect.y() + PAD, CANCEL_SIZE, CANCEL_SIZE)

    def paint(self, painter: QPainter, option, index: QModelIndex) -> None:
        item: QueueItem = index.data(ItemRole)
        rect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.fillRect(rect, Colors.selection if selected else Colors.base)
        painter.setPen(QPen(Colors.border, 1))
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        name_font = QFont(option.font)
        name_font.setWeight(QFont.Weight.DemiBold)
        metrics = QFontMetrics(name_font)
        text_right = rect.right() - PAD - (CANCEL_SIZE + 6 if item.active else 0)
        name = metrics.elidedText(
            item.name, Qt.TextElideMode.ElideMiddle, text_right - rect.x() - PAD
        )
        painter.setFont(name_font)
        painter.setPen(Colors.text)
        painter.drawText(
            QRect(rect.x() + PAD, rect.y() + 6, text_right - rect.x() - PAD, metrics.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            name,
        )
        painter.setFont(option.font)
        color = {"failed": Colors.error, "done": Colors.verified}.get(item.status, Colors.muted)
        painter.setPen(color)
        small = QFontMetrics(option.font)
        status = small.elidedText(
            item.status_text(), Qt.TextElideMode.ElideRight, text_right - rect.x() - PAD
        )
        painter.drawText(
            QRect(
                rect.x() + PAD,
                rect.y() + 8 + metrics.height(),
                text_right - rect.x() - PAD,
                small.height(),
            ),
            Qt.AlignmentFlag.AlignLeft,
            status,
        )
        if item.status == "running":
            bar = QRectF(rect.x() + PAD, rect.bottom() - 9, rect.width() - 2 * PAD, 4)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(Colors.border)
            painter.drawRoundedRect(bar, 2, 2)
            painter.setBrush(Colors.accent)
            painter.drawRoundedRect(
                QRectF(bar.x(), bar.y(), bar.width() * item.progress, bar.height()), 2, 2
            )
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        if item.active:
            cancel = self._cancel_rect(rect)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(Colors.muted, 1.6, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            c = QRectF(cancel).adjusted(5, 5, -5, -5)
            painter.drawLine(c.topLeft(), c.bottomRight())
            painter.drawLine(c.topRight(), c.bottomLeft())
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def editorEvent(self, event, model, option, index) -> bool:
        if event.type() == QEvent.Type.MouseButtonRelease:
            item: QueueItem = index.data(ItemRole)
            if item.active and self._cancel_rect(option.rect).contains(event.position().toPoint()):
                self.cancelClicked.emit(item)
                return True
        return super().editorEvent(event, model, option, index)


class QueueList(QListView):
    cancelRequested = Signal(object)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            index = self.currentIndex()
            if index.isValid():
                self.cancelRequested.emit(index.data(ItemRole))
                return
        super().keyPressEvent(event)


class QueuePanel(QFrame):
    openRequested = Signal(int)  # transcript id

    def __init__(self, queue: TranscriptionQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pane")
        self.queue = queue
        title = QLabel("Queue", self)
        title.setObjectName("paneTitle")
        self.clear_button = QPushButton("Clear Finished", self)
        self.clear_button.setFlat(True)
        self.clear_button.setAccessibleName("Clear finished jobs")
        self.clear_button.clicked.connect(queue.clear_finished)
        self.list = QueueList(self)
        self.list.setObjectName("queueList")
        self.list.setAccessibleName("Transcription queue")
        self.list.setAccessibleDescription(
            "Press Delete to cancel the selected job; Enter opens it."
        )
        self.list.setModel(queue)
        self.delegate = QueueDelegate(self.list)
        self.list.setItemDelegate(self.delegate)
        self.list.setMouseTracking(True)
        self.delegate.cancelClicked.connect(queue.cancel)
        self.list.cancelRequested.connect(lambda item: item and queue.cancel(item))
        self.list.activated.connect(self._activated)
        self.empty = QLabel("Nothing to transcribe. Import a file or record.", self)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #9ca3af; padding: 4px 10px 10px 10px")
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 6, 0)
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.empty)
        layout.addWidget(self.list, 1)
        self.filler = QWidget(self)
        layout.addWidget(self.filler, 1)
        queue.rowsInserted.connect(self._update_empty)
        queue.modelReset.connect(self._update_empty)
        self._update_empty()

    def _update_empty(self, *_args) -> None:
        has = self.queue.rowCount() > 0
        self.empty.setVisible(not has)
        self.filler.setVisible(not has)
        self.list.setVisible(has)
        self.clear_button.setVisible(has)

    def _activated(self, index: QModelIndex) -> None:
        item: QueueItem = index.data(ItemRole)
        if item.transcript_id is not None:
            self.openRequested.emit(item.transcript_id)
