"""The find / replace bar above the transcript."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QWidget,
)

from app.editing.find import FindQuery
from app.gui.icons import icon


class FindBar(QFrame):
    queryChanged = Signal(object)  # FindQuery
    findNext = Signal()
    findPrevious = Signal()
    replaceOne = Signal(str)
    replaceAll = Signal(str)
    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("findBar")
        self.setAccessibleName("Find and replace")
        self.find_field = QLineEdit(self)
        self.find_field.setObjectName("findField")
        self.find_field.setPlaceholderText("Find in transcript")
        self.find_field.setAccessibleName("Find")
        self.find_field.setClearButtonEnabled(True)
        self.find_field.addAction(
            icon("search", "#9ca3af"), QLineEdit.ActionPosition.LeadingPosition
        ).setText("Search")
        self.replace_field = QLineEdit(self)
        self.replace_field.setObjectName("replaceField")
        self.replace_field.setPlaceholderText("Replace with")
        self.replace_field.setAccessibleName("Replace with")
        self.case_box = QCheckBox("Match case", self)
        self.words_box = QCheckBox("Whole words", self)
        self.regex_box = QCheckBox("Regular expression", self)
        self.count_label = QLabel("", self)
        self.count_label.setAccessibleName("Matches")
        self.count_label.setMinimumWidth(90)
        self.count_label.setStyleSheet("color: #6b7280")
        self.previous_button = QPushButton("Previous", self)
        self.next_button = QPushButton("Next", self)
        self.replace_button = QPushButton("Replace", self)
        self.replace_all_button = QPushButton("Replace All", self)
        self.replace_all_button.setObjectName("replaceAllButton")
        self.close_button = QToolButton(self)
        self.close_button.setIcon(icon("cancel", "#6b7280"))
        self.close_button.setAutoRaise(True)
        self.close_button.setAccessibleName("Close find bar")
        self.close_button.setToolTip("Close (Esc)")

        grid = QGridLayout(self)
        grid.setContentsMargins(12, 8, 12, 8)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(6)
        grid.addWidget(self.find_field, 0, 0)
        grid.addWidget(self.count_label, 0, 1)
        grid.addWidget(self.previous_button, 0, 2)
        grid.addWidget(self.next_button, 0, 3)
        grid.addWidget(self.case_box, 0, 4)
        grid.addWidget(self.words_box, 0, 5)
        grid.addWidget(self.regex_box, 0, 6)
        grid.addWidget(self.close_button, 0, 8)
        grid.addWidget(self.replace_field, 1, 0)
        grid.addWidget(self.replace_button, 1, 2)
        grid.addWidget(self.replace_all_button, 1, 3)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(7, 0)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self._emit_query)
        self.find_field.textChanged.connect(lambda _: self._debounce.start())
        for box in (self.case_box, self.words_box, self.regex_box):
            box.toggled.connect(lambda _: self._emit_query())
        self.find_field.returnPressed.connect(self._on_find_return)
        self.replace_field.returnPressed.connect(
            lambda: self.replaceOne.emit(self.replace_field.text())
        )
        self.next_button.clicked.connect(self.findNext)
        self.previous_button.clicked.connect(self.findPrevious)
        self.replace_button.clicked.connect(lambda: self.replaceOne.emit(self.replace_field.text()))
        self.replace_all_button.clicked.connect(
            lambda: self.replaceAll.emit(self.replace_field.text())
        )
        self.close_button.clicked.connect(self.close_bar)
        self.set_replace_visible(False)

    def query(self) -> FindQuery:
        return FindQuery(
            self.find_field.text(),
            match_case=self.case_box.isChecked(),
            whole_words=self.words_box.isChecked(),
            regex=self.regex_box.isChecked(),
        )

    def _emit_query(self) -> None:
        self._debounce.stop()
        self.queryChanged.emit(self.query())

    def flush(self) -> None:
        """Apply a query still waiting for its debounce (e.g. Enter typed quickly)."""
        if self._debounce.isActive():
            self._emit_query()

    def _on_find_return(self) -> None:
        self.flush()
        self.findNext.emit()

    def set_replace_visible(self, visible: bool) -> None:
        for widget in (self.replace_field, self.replace_button, self.replace_all_button):
            widget.setVisible(visible)

    def open(self, replace: bool, text: str = "") -> None:
        self.set_replace_visible(replace)
        self.show()
        if text:
            self.find_field.setText(text)
        self.find_field.setFocus()
        self.find_field.selectAll()
        self._emit_query()

    def close_bar(self) -> None:
        self.hide()
        self.closed.emit()

    def show_count(self, current: int | None, total: int, error: str | None = None) -> None:
        if error:
            self.count_label.setText(error)
        elif not self.find_field.text():
            self.count_label.setText("")
        elif total == 0:
            self.count_label.setText("No matches")
        elif current is None:
            self.count_label.setText(f"{total} match{'es' if total != 1 else ''}")
        else:
            self.count_label.setText(f"{current + 1} of {total}")

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close_bar()
            return
        super().keyPressEvent(event)
