"""Settings: transcription, editor, audio and keyboard shortcuts."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHeaderView,
    QKeySequenceEdit,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.audio.devices import AudioUnavailable, input_devices, output_devices
from app.gui.actions import ACTIONS, ActionRegistry, plain_text
from app.gui.settings import BACKENDS, Settings

BACKEND_LABELS = {
    "auto": "Automatic (fastest available)",
    "ctranslate2": "CTranslate2 (faster-whisper)",
    "whispercpp": "whisper.cpp",
}
RUNNER_LABELS = {
    "process": "In a separate process (smoothest)",
    "thread": "In the app's process",
}


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, registry: ActionRegistry, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.resize(640, 560)
        self.settings = settings
        self.registry = registry
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._transcription_tab(), "&Transcription")
        self.tabs.addTab(self._editor_tab(), "&Editor")
        self.tabs.addTab(self._audio_tab(), "&Audio")
        self.tabs.addTab(self._shortcuts_tab(), "&Shortcuts")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self._save_and_accept)
        buttons.rejected.connect(self.reject)
        self.conflict_label = QLabel("", self)
        self.conflict_label.setStyleSheet("color: #b91c1c")
        self.conflict_label.setWordWrap(True)
        self.conflict_label.hide()
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.conflict_label)
        layout.addWidget(buttons)

    # -- tabs ----------------------------------------------------------------------------
    def _transcription_tab(self) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        self.backend_box = QComboBox(page)
        self.backend_box.setAccessibleName("Backend")
        for name in BACKENDS:
            self.backend_box.addItem(BACKEND_LABELS[name], name)
        self.backend_box.setCurrentIndex(BACKENDS.index(self.settings.backend))
        self.threads_box = QSpinBox(page)
        self.threads_box.setAccessibleName("Threads")
        self.threads_box.setRange(0, 64)
        self.threads_box.setSpecialValueText("Automatic")
        self.threads_box.setValue(self.settings.threads)
        self.runner_box = QComboBox(page)
        self.runner_box.setAccessibleName("Where transcription runs")
        for name, label in RUNNER_LABELS.items():
            self.runner_box.addItem(label, name)
        self.runner_box.setCurrentIndex(self.runner_box.findData(self.settings.runner))
        form.addRow("&Backend:", self.backend_box)
        form.addRow("T&hreads:", self.threads_box)
        form.addRow("&Run:", self.runner_box)
        note = QLabel("Changes apply to the next transcription.", page)
        note.setStyleSheet("color: #6b7280")
        form.addRow("", note)
        return page

    def _editor_tab(self) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        self.threshold_box = QDoubleSpinBox(page)
        self.threshold_box.setAccessibleName("Confidence threshold")
        self.threshold_box.setRange(0.0, 1.0)
        self.threshold_box.setSingleStep(0.05)
        self.threshold_box.setDecimals(2)
        self.threshold_box.setValue(self.settings.unsure_threshold)
        self.threshold_hint = QLabel(page)
        self.threshold_hint.setStyleSheet("color: #6b7280")
        self.threshold_hint.setWordWrap(True)
        self.threshold_box.valueChanged.connect(self._update_threshold_hint)
        self._update_threshold_hint(self.threshold_box.value())
        self.typing_box = QCheckBox("Typing pauses playback (and resumes it a moment later)", page)
        self.typing_box.setChecked(self.settings.typing_pauses_playback)
        self.follow_box = QCheckBox("The transcript follows playback", page)
        self.follow_box.setChecked(self.settings.follow_playback)
        self.skip_box = QDoubleSpinBox(page)
        self.skip_box.setAccessibleName("Rewind and forward step")
        self.skip_box.setRange(0.5, 30.0)
        self.skip_box.setSuffix(" s")
        self.skip_box.setDecimals(1)
        self.skip_box.setValue(self.settings.skip_seconds)
        form.addRow("&Unsure below:", self.threshold_box)
        form.addRow("", self.threshold_hint)
        form.addRow("&Skip step:", self.skip_box)
        form.addRow("", self.typing_box)
        form.addRow("", self.follow_box)
        return page

    def _update_threshold_hint(self, value: float) -> None:
        self.threshold_hint.setText(
            f"Words the model was less than {value:.0%} sure of are underlined for checking."
        )

    def _audio_tab(self) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        self.output_box = QComboBox(page)
        self.output_box.setAccessibleName("Output device")
        self.input_box = QComboBox(page)
        self.input_box.setAccessibleName("Microphone")
        self.output_box.addItem("System default", "")
        self.input_box.addItem("System default", "")
        try:
            for device in output_devices():
                self.output_box.addItem(device.name, device.name)
            for device in input_devices():
                self.input_box.addItem(device.name, device.name)
        except AudioUnavailable as exc:
            message = QLabel(str(exc), page)
            message.setWordWrap(True)
            message.setStyleSheet("color: #b91c1c")
            form.addRow("", message)
        for box, current in (
            (self.output_box, self.settings.output_device),
            (self.input_box, self.settings.input_device),
        ):
            found = box.findData(current)
            box.setCurrentIndex(max(0, found))
        form.addRow("&Playback:", self.output_box)
        form.addRow("&Microphone:", self.input_box)
        return page

    def _shortcuts_tab(self) -> QWidget:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        self.shortcut_table = QTableWidget(len(ACTIONS), 2, page)
        self.shortcut_table.setObjectName("shortcutTable")
        self.shortcut_table.setAccessibleName("Shortcuts")
        self.shortcut_table.setHorizontalHeaderLabels(["Command", "Keys"])
        self.shortcut_table.verticalHeader().hide()
        self.shortcut_table.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.Stretch
        )
        self.shortcut_table.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.Stretch
        )
        self._editors: dict[str, QKeySequenceEdit] = {}
        for row, spec in enumerate(ACTIONS):
            label = QLabel(f"{plain_text(spec.text)}  ", page)
            label.setAlignment(Qt.AlignmentFlag.AlignVCenter)
            self.shortcut_table.setCellWidget(row, 0, label)
            keys = self.registry.keys_for(spec.id)
            editor = QKeySequenceEdit(QKeySequence(keys[0]) if keys else QKeySequence(), page)
            editor.setAccessibleName(f"Keys for {plain_text(spec.text)}")
            editor.setClearButtonEnabled(True)
            self._extra_keys = getattr(self, "_extra_keys", {})
            self._extra_keys[spec.id] = keys[1:]
            self.shortcut_table.setCellWidget(row, 1, editor)
            self._editors[spec.id] = editor
        reset = QPushButton("Restore Defaults", page)
        reset.clicked.connect(self._reset_shortcuts)
        layout.addWidget(self.shortcut_table, 1)
        layout.addWidget(reset, 0, Qt.AlignmentFlag.AlignRight)
        return page

    def _reset_shortcuts(self) -> None:
        for spec in ACTIONS:
            self._editors[spec.id].setKeySequence(
                QKeySequence(spec.keys[0]) if spec.keys else QKeySequence()
            )
            self._extra_keys[spec.id] = spec.keys[1:]

    def chosen_shortcuts(self) -> dict[str, tuple[str, ...]]:
        chosen = {}
        for spec in ACTIONS:
            first = self._editors[spec.id].keySequence().toString()
            keys = tuple(k for k in (first, *self._extra_keys[spec.id]) if k)
            chosen[spec.id] = keys
        return chosen

    # -- saving --------------------------------------------------------------------------
    def _save_and_accept(self) -> None:
        chosen = self.chosen_shortcuts()
        owners: dict[str, str] = {}
        for action_id, keys in chosen.items():
            for key in keys:
                normalized = QKeySequence(key).toString()
                if normalized in owners:
                    names = (
                        plain_text(next(s.text for s in ACTIONS if s.id == owners[normalized])),
                        plain_text(next(s.text for s in ACTIONS if s.id == action_id)),
                    )
                    self.conflict_label.setText(
                        f"{normalized} is given to both “{names[0]}” and “{names[1]}”; "
                        "choose different keys for one of them."
                    )
                    self.conflict_label.show()
                    self.tabs.setCurrentIndex(3)
                    return
                owners[normalized] = action_id
        s = self.settings
        s.backend = self.backend_box.currentData()
        s.threads = self.threads_box.value()
        s.runner = self.runner_box.currentData()
        s.unsure_threshold = self.threshold_box.value()
        s.typing_pauses_playback = self.typing_box.isChecked()
        s.follow_playback = self.follow_box.isChecked()
        s.skip_seconds = self.skip_box.value()
        s.output_device = self.output_box.currentData() or ""
        s.input_device = self.input_box.currentData() or ""
        defaults = {spec.id: spec.keys for spec in ACTIONS}
        for action_id, keys in chosen.items():
            s.set_shortcut(action_id, None if keys == defaults[action_id] else ";".join(keys))
        s.sync()
        self.registry.apply_shortcuts()
        self.accept()
