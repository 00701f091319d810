"""The library panel: a search field and the list of recordings."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics, QKeyEvent, QPainter, QPen
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QLineEdit,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QVBoxLayout,
    QWidget,
)

from app.gui.icons import icon
from app.gui.library.model import LibraryModel, RowRole
from app.gui.theme import Colors
from app.library import LibraryRow

PAD = 10


class LibraryDelegate(QStyledItemDelegate):
    def sizeHint(self, option, index) -> QSize:
        row: LibraryRow = index.data(RowRole)
        lines = 3 if row.match else 2
        return QSize(200, PAD * 2 + lines * QFontMetrics(option.font).height() + 4)

    def paint(self, painter: QPainter, option, index: QModelIndex) -> None:
        row: LibraryRow = index.data(RowRole)
        rect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.fillRect(rect, Colors.selection if selected else Colors.base)
        if selected:
            painter.fillRect(QRect(rect.x(), rect.y(), 3, rect.height()), Colors.accent)
        painter.setPen(QPen(Colors.border, 1))
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        name_font = QFont(option.font)
        name_font.setWeight(QFont.Weight.DemiBold)
        name_metrics = QFontMetrics(name_font)
        metrics = QFontMetrics(option.font)
        width = rect.width() - 2 * PAD
        y = rect.y() + PAD
        painter.setFont(name_font)
        painter.setPen(Colors.text)
        painter.drawText(
            QRect(rect.x() + PAD, y, width, name_metrics.height()),
            Qt.AlignmentFlag.AlignLeft,
            name_metrics.elidedText(row.name, Qt.TextElideMode.ElideMiddle, width),
        )
        y += name_metrics.height() + 2
        painter.setFont(option.font)
        painter.setPen(Colors.error if row.status == "failed" else Colors.muted)
        painter.drawText(
            QRect(rect.x() + PAD, y, width, metrics.height()),
            Qt.AlignmentFlag.AlignLeft,
            metrics.elidedText(row.facts(), Qt.TextElideMode.ElideRight, width),
        )
        if row.match:
            y += metrics.height() + 2
            self._paint_match(
                painter, QRect(rect.x() + PAD, y, width, metrics.height()), row.match, metrics
            )

    def _paint_match(
        self, painter: QPainter, rect: QRect, excerpt: str, metrics: QFontMetrics
    ) -> None:
        x = rect.x()
        bold = QFont(painter.font())
        bold.setWeight(QFont.Weight.DemiBold)
        normal = QFont(painter.font())
        parts = excerpt.replace("]", "[").split("[")
        for i, part in enumerate(parts):
            if not part:
                continue
            hit = i % 2 == 1
            font = bold if hit else normal
            fm = QFontMetrics(font)
            room = rect.right() - x
            if room <= 8:
                break
            text = fm.elidedText(part, Qt.TextElideMode.ElideRight, room)
            advance = fm.horizontalAdvance(text)
            if hit:
                painter.fillRect(QRect(x - 1, rect.y(), advance + 2, rect.height()), Colors.match)
            painter.setFont(font)
            painter.setPen(Colors.text)
            painter.drawText(
                QRect(x, rect.y(), advance + 2, rect.height()), Qt.AlignmentFlag.AlignLeft, text
            )
            x += advance
        painter.setFont(normal)


class LibraryList(QListView):
    deleteRequested = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Delete:
            self.deleteRequested.emit()
            return
        super().keyPressEvent(event)


class LibraryPanel(QFrame):
    searchChanged = Signal(str)
    openRequested = Signal(object)  # LibraryRow
    deleteRequested = Signal(object)  # LibraryRow

    def __init__(self, model: LibraryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pane")
        self.model = model
        title = QLabel("Library", self)
        title.setObjectName("paneTitle")
        self.search = QLineEdit(self)
        self.search.setObjectName("librarySearch")
        self.search.setPlaceholderText("Search names and text")
        self.search.setAccessibleName("Search library")
        self.search.setClearButtonEnabled(True)
        self.search.addAction(
            icon("search", "#9ca3af"), QLineEdit.ActionPosition.LeadingPosition
        ).setText("Search")
        self.list = LibraryList(self)
        self.list.setObjectName("libraryList")
        self.list.setAccessibleName("Recordings")
        self.list.setAccessibleDescription(
            "Enter opens the transcript; Delete removes the recording."
        )
        self.list.setModel(model)
        self.list.setItemDelegate(LibraryDelegate(self.list))
        self.list.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.empty = QLabel(
            "No recordings yet.\n\nDrop audio or video files here, or use Import (Ctrl+O) "
            "or Record (Ctrl+R).",
            self,
        )
        self.empty.setObjectName("libraryEmpty")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.empty.setStyleSheet("color: #9ca3af; padding: 10px")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(title)
        search_box = QVBoxLayout()
        search_box.setContentsMargins(8, 0, 8, 8)
        search_box.addWidget(self.search)
        layout.addLayout(search_box)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty, 1)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(200)
        self._debounce.timeout.connect(lambda: self.searchChanged.emit(self.search.text().strip()))
        self.search.textChanged.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self._focus_list)
        self.list.activated.connect(lambda index: self.openRequested.emit(index.data(RowRole)))
        self.list.deleteRequested.connect(self._delete_current)
        model.modelReset.connect(self._update_empty)
        self._update_empty()

    def _focus_list(self) -> None:
        if self.model.rowCount():
            self.list.setFocus()
            if not self.list.currentIndex().isValid():
                self.list.setCurrentIndex(self.model.index(0))

    def _delete_current(self) -> None:
        index = self.list.currentIndex()
        if index.isValid():
            self.deleteRequested.emit(index.data(RowRole))

    def current_row(self) -> LibraryRow | None:
        index = self.list.currentIndex()
        return index.data(RowRole) if index.isValid() else None

    def select_transcript(self, transcript_id: int) -> None:
        row = self.model.row_of_transcript(transcript_id)
        if row is not None:
            self.list.setCurrentIndex(self.model.index(row))

    def _update_empty(self) -> None:
        has = self.model.rowCount() > 0
        searching = bool(self.search.text().strip())
        self.list.setVisible(has)
        self.empty.setVisible(not has)
        if searching:
            self.empty.setText("Nothing matches your search.")
        else:
            self.empty.setText(
                "No recordings yet.\n\nDrop audio or video files here, or use Import (Ctrl+O) "
                "or Record (Ctrl+R)."
            )
