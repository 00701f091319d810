"""The learning opt-in: says exactly what is stored, where, and how to delete it."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)


class ConsentDialog(QDialog):
    def __init__(self, text: str, version: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Learn from My Corrections")
        self.setObjectName("consentDialog")
        self.version = version
        self.resize(620, 460)
        lines = text.strip().splitlines()
        title = QLabel(lines[0] if lines else "", self)
        title.setObjectName("transcriptTitle")
        title.setWordWrap(True)
        body = QPlainTextEdit(self)
        body.setObjectName("consentText")
        body.setAccessibleName("What Tiro stores when learning is on")
        body.setReadOnly(True)
        body.setPlainText("\n".join(lines[1:]).strip())
        note = QLabel(
            "In the app: Learning → Learning Data shows the counts and lets you export or "
            "delete everything. Turning learning off deletes the audio clips at once.",
            self,
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #6b7280")
        version_label = QLabel(f"Consent text version {version}", self)
        version_label.setStyleSheet("color: #9ca3af")
        buttons = QDialogButtonBox(self)
        self.accept_button = buttons.addButton(
            "Turn On Learning", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.decline_button = buttons.addButton("Not Now", QDialogButtonBox.ButtonRole.RejectRole)
        self.accept_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(body, 1)
        layout.addWidget(note)
        layout.addWidget(version_label)
        layout.addWidget(buttons)
