"""A slim bar at the top of the window that shows one sentence: an error, a warning or news.

Errors stay until dismissed; information fades after a few seconds. It never
steals focus from the transcript, unlike a modal dialog.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from app.gui.icons import icon

INFO_MS = 6000


class MessageBar(QFrame):
    actionTriggered = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setAccessibleName("Message")
        self.label = QLabel(self)
        self.label.setObjectName("messageText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action_button = QPushButton(self)
        self.action_button.hide()
        self.action_button.clicked.connect(self.actionTriggered)
        self.close_button = QToolButton(self)
        self.close_button.setIcon(icon("cancel", "#6b7280"))
        self.close_button.setAutoRaise(True)
        self.close_button.setAccessibleName("Dismiss message")
        self.close_button.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 6, 8, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action_button)
        layout.addWidget(self.close_button)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        self.kind = ""
        self.history: list[tuple[str, str]] = []  # (kind, text), for tests and the log view
        self.hide()

    def show_message(self, text: str, kind: str = "info", action: str | None = None) -> None:
        self.kind = kind
        self.history.append((kind, text))
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)
        self.label.setText(text)
        self.setAccessibleDescription(text)
        self.action_button.setVisible(action is not None)
        if action:
            self.action_button.setText(action)
        self.show()
        if kind == "info":
            self._timer.start(INFO_MS)
        else:
            self._timer.stop()

    def error(self, text: str, action: str | None = None) -> None:
        self.show_message(text, "error", action)

    def warning(self, text: str, action: str | None = None) -> None:
        self.show_message(text, "warning", action)

    def info(self, text: str, action: str | None = None) -> None:
        self.show_message(text, "info", action)

    def dismiss(self) -> None:
        self._timer.stop()
        self.hide()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""
