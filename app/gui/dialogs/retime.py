"""Edit a segment's start and end times, with the playback position one click away."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.editing.timefmt import format_precise, parse_time


class RetimeDialog(QDialog):
    def __init__(
        self,
        start: float,
        end: float,
        playhead: float | None,
        limit: float,
        parent: QWidget | None = None,
        *,
        with_text: bool = False,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Insert Segment" if with_text else "Edit Start and End")
        self.setObjectName("insertDialog" if with_text else "retimeDialog")
        self.limit = limit
        self.text_field: QLineEdit | None = None
        if with_text:
            self.text_field = QLineEdit(self)
            self.text_field.setAccessibleName("Text of the new segment")
            self.text_field.setPlaceholderText("What is said in this segment")
            self.text_field.setMinimumWidth(360)
        self.start_field = QLineEdit(format_precise(start), self)
        self.start_field.setAccessibleName("Start time")
        self.end_field = QLineEdit(format_precise(end), self)
        self.end_field.setAccessibleName("End time")
        self.error = QLabel("", self)
        self.error.setStyleSheet("color: #b91c1c")
        self.error.hide()
        form = QFormLayout()
        start_row = QHBoxLayout()
        start_row.addWidget(self.start_field)
        end_row = QHBoxLayout()
        end_row.addWidget(self.end_field)
        if playhead is not None:
            use_start = QPushButton("Use Playback Position", self)
            use_start.setAccessibleName("Use playback position as start")
            use_start.clicked.connect(lambda: self.start_field.setText(format_precise(playhead)))
            use_end = QPushButton("Use Playback Position", self)
            use_end.setAccessibleName("Use playback position as end")
            use_end.clicked.connect(lambda: self.end_field.setText(format_precise(playhead)))
            start_row.addWidget(use_start)
            end_row.addWidget(use_end)
        if self.text_field is not None:
            form.addRow("&Text:", self.text_field)
        form.addRow("&Start:", start_row)
        form.addRow("&End:", end_row)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self._check_and_accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Times as h:mm:ss.mmm, m:ss.s or seconds.", self))
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.result_span: tuple[float, float] | None = None

    def _check_and_accept(self) -> None:
        try:
            start = parse_time(self.start_field.text())
            end = parse_time(self.end_field.text())
        except ValueError:
            self._fail("Type times like 1:23.5 or 0:01:23.500.")
            return
        if end <= start:
            self._fail("The end must come after the start.")
            return
        if self.limit > 0 and end > self.limit + 0.001:
            self._fail(f"The recording ends at {format_precise(self.limit)}.")
            return
        if self.text_field is not None and not self.text_field.text().strip():
            self._fail("Type the words of the new segment.")
            return
        self.result_span = (start, end)
        self.accept()

    @property
    def text(self) -> str:
        return self.text_field.text().strip() if self.text_field is not None else ""

    def _fail(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()
