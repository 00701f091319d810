"""``RecordDialog``: choose a microphone, watch the level, record, stop.

Stopping saves the recording as FLAC under TIRO_HOME/recordings and emits
``recorded(path)``; the window then queues it for transcription.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.audio.devices import AudioDevice, AudioUnavailable, input_devices
from app.audio.recorder import Recorder
from app.editing.timefmt import format_time
from app.gui.icons import icon
from app.gui.recorder.level_meter import LevelMeter

log = logging.getLogger(__name__)

RecorderFactory = Callable[[int | None], Recorder]


class RecordDialog(QDialog):
    recorded = Signal(object)  # Path

    def __init__(
        self,
        parent: QWidget | None = None,
        preferred_device: str = "",
        recorder_factory: RecorderFactory | None = None,
        devices: list[AudioDevice] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Record")
        self.setObjectName("recordDialog")
        self.setMinimumWidth(440)
        self._factory = recorder_factory or (lambda device: Recorder(device=device))
        self.recorder: Recorder | None = None
        self.saved_path: Path | None = None

        self.device_box = QComboBox(self)
        self.device_box.setAccessibleName("Microphone")
        self.meter = LevelMeter(self)
        self.elapsed = QLabel("0:00.0", self)
        self.elapsed.setAccessibleName("Elapsed time")
        big = QFont(self.elapsed.font())
        big.setPointSizeF(big.pointSizeF() * 1.8)
        big.setWeight(QFont.Weight.DemiBold)
        self.elapsed.setFont(big)
        self.elapsed.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message = QLabel("", self)
        self.message.setWordWrap(True)
        self.message.setObjectName("recordMessage")
        self.message.setStyleSheet("color: #b91c1c")
        self.message.hide()

        self.record_button = QPushButton(icon("record"), "Start Recording", self)
        self.record_button.setObjectName("recordButton")
        self.record_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel", self)

        form = QFormLayout()
        form.addRow("Microphone:", self.device_box)
        form.addRow("Level:", self.meter)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.record_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(12)
        layout.addLayout(form)
        layout.addWidget(self.elapsed)
        layout.addWidget(self.message)
        layout.addLayout(buttons)

        self.record_button.clicked.connect(self.toggle_recording)
        self.cancel_button.clicked.connect(self.reject)
        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._refresh)
        self._fill_devices(preferred_device, devices)

    def _fill_devices(self, preferred: str, devices: list[AudioDevice] | None) -> None:
        try:
            found = input_devices() if devices is None else devices
        except AudioUnavailable as exc:
            self.show_message(str(exc))
            self.record_button.setEnabled(False)
            self.device_box.setEnabled(False)
            return
        if not found:
            self.device_box.addItem("No microphone found", None)
            self.device_box.setEnabled(False)
            self.record_button.setEnabled(False)
            self.show_message(
                "No microphone was found; connect one (or allow Tiro to use it in your "
                "system's privacy settings) and open this window again."
            )
            return
        for device in found:
            label = f"{device.name} ({device.host_api})" + (
                " — default" if device.is_default_input else ""
            )
            self.device_box.addItem(label, device.index)
        chosen = next((i for i, d in enumerate(found) if d.name == preferred), None)
        if chosen is None:
            chosen = next((i for i, d in enumerate(found) if d.is_default_input), 0)
        self.device_box.setCurrentIndex(chosen)

    def selected_device_name(self) -> str:
        text = self.device_box.currentText()
        return text.split(" (")[0]

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    @property
    def is_recording(self) -> bool:
        return self.recorder is not None and self.recorder.recording

    def toggle_recording(self) -> None:
        if self.is_recording:
            self.stop()
        else:
            self.start()

    def start(self) -> None:
        self.show_message("")
        recorder = self._factory(self.device_box.currentData())
        try:
            recorder.start()
        except AudioUnavailable as exc:
            self.show_message(str(exc))
            return
        self.recorder = recorder
        self.device_box.setEnabled(False)
        self.record_button.setText("Stop and Transcribe")
        self.record_button.setIcon(icon("stop"))
        self._timer.start()

    def stop(self) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        self._timer.stop()
        try:
            path = recorder.stop()
        except OSError as exc:
            log.exception("saving the recording failed")
            from app.gui.errors import user_message

            self.show_message(user_message(exc))
            self.recorder = None
            return
        self.recorder = None
        self.saved_path = path
        self.recorded.emit(path)
        self.accept()

    def _refresh(self) -> None:
        if self.recorder is None:
            return
        self.elapsed.setText(format_time(self.recorder.elapsed))
        self.meter.set_level(self.recorder.take_peak_db())

    def reject(self) -> None:
        if self.recorder is not None:
            self._timer.stop()
            self.recorder.cancel()
            self.recorder = None
        super().reject()
