"""The editor's widgets: the transcript header, the find bar, the segment view and
an empty state for when nothing is open."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from app.gui.editor.find_bar import FindBar
from app.gui.editor.model import TranscriptModel
from app.gui.editor.view import TranscriptView


class EditorHeader(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("editorHeader")
        self.title = QLabel("", self)
        self.title.setObjectName("transcriptTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts = QLabel("", self)
        self.facts.setObjectName("transcriptFacts")
        self.facts.setAccessibleName("Transcript summary")
        self.progress = QLabel("", self)
        self.progress.setObjectName("transcriptFacts")
        self.progress.setAccessibleName("Review progress")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 10)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        row = QHBoxLayout()
        row.addWidget(self.facts)
        row.addStretch(1)
        row.addWidget(self.progress)
        layout.addLayout(row)


class EditorPanel(QWidget):
    def __init__(self, model: TranscriptModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.header = EditorHeader(self)
        self.find_bar = FindBar(self)
        self.find_bar.hide()
        self.view = TranscriptView(self)
        self.view.setModel(model)
        self.empty = QLabel(self)
        self.empty.setObjectName("editorEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #9ca3af; font-size: 12pt; padding: 40px")
        self.empty.setText(
            "Open a recording from the library, or drop audio or video files here.\n\n"
            "Import: Ctrl+O    Record: Ctrl+R    Shortcuts: F1"
        )
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.empty)
        body = QWidget(self)
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.setSpacing(0)
        body_layout.addWidget(self.header)
        body_layout.addWidget(self.find_bar)
        body_layout.addWidget(self.view, 1)
        self.stack.addWidget(body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.stack, 1)

    def show_transcript(self, shown: bool) -> None:
        self.stack.setCurrentIndex(1 if shown else 0)
