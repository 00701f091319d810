"""The "Learning data" page: what Tiro would learn from, why some of it is refused,
and the buttons to export or delete it."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

REASON_TEXT = {  # the data contract's reasons (retrain.contract.REASONS), for people
    "unreviewed": "Not reviewed yet (the model's own output never teaches the model)",
    "consent_off": "Learning was off",
    "no_hypothesis": "Typed in by you: no model output to learn a correction from",
    "empty_reference": "The reviewed text is empty",
    "too_short": "Shorter than 0.3 s",
    "too_long": "Longer than 30 s",
    "timing_moved": "Its timing moved too far from what the model heard",
    "note_in_text": "Has a note in it (brackets, TODO:, a link…)",
    "rewrite": "Rewritten rather than corrected",
    "text_added": "Text added that was never spoken",
    "too_many_tokens": "Longer than the model can learn from at once",
    "audio_missing": "Its audio clip is missing",
    "audio_outdated": "Its audio clip is older than its timing (renewed soon)",
    "audio_changed": "Its audio clip changed on disk",
    "duplicate": "Duplicate of another example",
}


def learning_scope_text() -> str:
    """What learning can do in this installation (fine-tuning is an optional extra)."""
    from retrain.finetune.availability import availability

    state = availability()
    if state.available:
        return (
            "Tiro learns your vocabulary and correction rules, and can fine-tune the "
            "speech model on your corrections."
        )
    return state.reason[:1].upper() + state.reason[1:]


def reason_text(reason: str) -> str:
    return REASON_TEXT.get(reason, reason.replace("_", " ").capitalize())


@dataclass(frozen=True)
class LearningFigures:
    """What the page shows (filled from retrain.privacy.data_stats)."""

    consent_enabled: bool
    consent_changed_at: str | None
    recordings: int
    reviewed_segments: int
    examples: int
    corrections: int
    unchanged: int
    snippets: int
    snippet_bytes: int
    rejections: dict[str, int] = field(default_factory=dict)
    contract_version: int | str = ""


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


class LearningDataDialog(QDialog):
    exportRequested = Signal()
    deleteAllRequested = Signal()
    consentToggleRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Learning Data")
        self.setObjectName("learningDataDialog")
        self.resize(600, 560)
        self.status = QLabel("Loading…", self)
        self.status.setObjectName("learningStatus")
        self.status.setWordWrap(True)
        self.scope = QLabel(learning_scope_text(), self)
        self.scope.setObjectName("learningScope")
        self.scope.setWordWrap(True)
        self.scope.setStyleSheet("color: #9ca3af")
        self.toggle_button = QPushButton("Turn On Learning…", self)
        self.toggle_button.clicked.connect(self.consentToggleRequested)
        counts = QGroupBox("What Tiro has", self)
        self.form = QFormLayout(counts)
        self.count_labels: dict[str, QLabel] = {}
        for key, label in (
            ("recordings", "Recordings"),
            ("reviewed_segments", "Reviewed segments"),
            ("examples", "Learning examples"),
            ("corrections", "  of which corrections"),
            ("unchanged", "  of which confirmed unchanged"),
            ("snippets", "Audio clips kept"),
        ):
            value = QLabel("—", counts)
            value.setAccessibleName(label.strip())
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.count_labels[key] = value
            self.form.addRow(f"{label}:", value)
        refused = QGroupBox("Not used for learning, and why", self)
        refused_layout = QVBoxLayout(refused)
        self.rejections = QTableWidget(0, 2, refused)
        self.rejections.setObjectName("rejectionTable")
        self.rejections.setAccessibleName("Rejection reasons")
        self.rejections.setHorizontalHeaderLabels(["Reason", "Segments"])
        self.rejections.verticalHeader().hide()
        self.rejections.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.rejections.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.ResizeToContents
        )
        self.rejections.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        refused_layout.addWidget(self.rejections)
        self.contract_label = QLabel("", refused)
        self.contract_label.setStyleSheet("color: #9ca3af")
        refused_layout.addWidget(self.contract_label)
        self.export_button = QPushButton("Export…", self)
        self.export_button.setAccessibleName("Export learning data")
        self.export_button.clicked.connect(self.exportRequested)
        self.delete_button = QPushButton("Delete Everything…", self)
        self.delete_button.setAccessibleName("Delete all recordings and learning data")
        self.delete_button.clicked.connect(self.deleteAllRequested)
        actions = QHBoxLayout()
        actions.addWidget(self.export_button)
        actions.addWidget(self.delete_button)
        actions.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.toggle_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 14)
        layout.addLayout(top)
        layout.addWidget(self.scope)
        layout.addWidget(counts)
        layout.addWidget(refused, 1)
        layout.addLayout(actions)
        layout.addWidget(close)

    def show_figures(self, figures: LearningFigures) -> None:
        if figures.consent_enabled:
            when = f" since {figures.consent_changed_at[:10]}" if figures.consent_changed_at else ""
            self.status.setText(
                f"Learning is on{when}. Tiro learns only from segments you reviewed."
            )
            self.toggle_button.setText("Turn Off Learning")
        else:
            self.status.setText(
                "Learning is off. Nothing is used for learning and no audio clips are kept."
            )
            self.toggle_button.setText("Turn On Learning…")
        for key, label in self.count_labels.items():
            value = getattr(figures, key)
            if key == "snippets":
                label.setText(f"{value} ({_size(figures.snippet_bytes)})")
            else:
                label.setText(str(value))
        rows = sorted(figures.rejections.items(), key=lambda kv: (-kv[1], kv[0]))
        self.rejections.setRowCount(len(rows))
        for i, (reason, count) in enumerate(rows):
            item = QTableWidgetItem(reason_text(reason))
            item.setToolTip(reason)
            self.rejections.setItem(i, 0, item)
            number = QTableWidgetItem(str(count))
            number.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.rejections.setItem(i, 1, number)
        if figures.contract_version != "":
            self.contract_label.setText(
                f"Checked by data contract version {figures.contract_version}."
            )

    def show_error(self, message: str) -> None:
        self.status.setText(message)
