"""The transport bar under the transcript: play, skip, position, speed, loop, volume."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QFontDatabase
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSlider,
    QToolButton,
    QWidget,
)

from app.audio.player import SPEED_STEPS
from app.editing.timefmt import format_time
from app.gui.icons import icon
from app.gui.player.controller import PlaybackController
from app.gui.player.waveform import WaveformSlider

SLIDER_STEPS_PER_SECOND = 10


def _button(action: QAction | None, name: str, parent: QWidget) -> QToolButton:
    button = QToolButton(parent)
    if action is not None:
        button.setDefaultAction(action)
    button.setAutoRaise(True)
    button.setIconSize(QSize(20, 20))
    button.setAccessibleName(name)
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    return button


class PlayerBar(QFrame):
    def __init__(self, controller: PlaybackController, actions, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("playerBar")
        self.setAccessibleName("Playback")
        self.controller = controller
        self.actions = actions
        self._dragging = False
        self._duration = 0.0

        actions["play_pause"].setIcon(icon("play"))
        actions["rewind"].setIcon(icon("rewind"))
        actions["forward"].setIcon(icon("forward"))
        actions["loop"].setIcon(icon("loop"))

        self.play_button = _button(actions["play_pause"], "Play or pause", self)
        self.play_button.setIconSize(QSize(24, 24))
        self.play_button.setObjectName("playButton")
        self.rewind_button = _button(actions["rewind"], "Rewind", self)
        self.forward_button = _button(actions["forward"], "Forward", self)
        self.loop_button = _button(actions["loop"], "Loop current segment", self)

        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.position_label = QLabel("0:00.0", self)
        self.position_label.setAccessibleName("Playback position")
        self.position_label.setFont(mono)
        self.position_label.setMinimumWidth(70)
        self.position_label.setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        self.duration_label = QLabel("0:00.0", self)
        self.duration_label.setAccessibleName("Duration")
        self.duration_label.setFont(mono)
        self.duration_label.setStyleSheet("color: #6b7280")

        self.slider = WaveformSlider(self)
        self.slider.setAccessibleName("Seek")
        self.slider.setRange(0, 0)
        self.slider.setPageStep(5 * SLIDER_STEPS_PER_SECOND)
        self.slider.setSingleStep(SLIDER_STEPS_PER_SECOND)
        self.slider.sliderPressed.connect(self._drag_started)
        self.slider.sliderReleased.connect(self._drag_finished)
        self.slider.valueChanged.connect(self._slider_moved)

        self.speed_button = QToolButton(self)
        self.speed_button.setObjectName("speedButton")
        self.speed_button.setAccessibleName("Playback speed")
        self.speed_button.setAutoRaise(True)
        self.speed_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.speed_button.setToolTip("Playback speed (Alt+Up / Alt+Down); pitch is preserved")
        menu = QMenu(self.speed_button)
        group = QActionGroup(menu)
        self._speed_actions: dict[float, QAction] = {}
        for speed in SPEED_STEPS:
            action = menu.addAction(f"{speed:g}×")
            action.setCheckable(True)
            group.addAction(action)
            action.triggered.connect(lambda _=False, s=speed: controller.set_speed(s))
            self._speed_actions[speed] = action
        self.speed_button.setMenu(menu)

        self.volume_icon = QLabel(self)
        self.volume_icon.setPixmap(icon("volume", "#6b7280").pixmap(18, 18))
        self.volume = QSlider(Qt.Orientation.Horizontal, self)
        self.volume.setAccessibleName("Volume")
        self.volume.setRange(0, 100)
        self.volume.setValue(100)
        self.volume.setFixedWidth(84)
        self.volume.valueChanged.connect(lambda v: controller.set_volume(v / 100.0))

        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 14, 6)
        layout.setSpacing(4)
        for widget in (self.rewind_button, self.play_button, self.forward_button):
            layout.addWidget(widget)
        layout.addSpacing(8)
        layout.addWidget(self.position_label)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.duration_label)
        layout.addSpacing(8)
        layout.addWidget(self.speed_button)
        layout.addWidget(self.loop_button)
        layout.addSpacing(6)
        layout.addWidget(self.volume_icon)
        layout.addWidget(self.volume)

        controller.positionChanged.connect(self.show_position)
        controller.playingChanged.connect(self.show_playing)
        controller.speedChanged.connect(self.show_speed)
        controller.loopChanged.connect(self._show_loop)
        controller.loaded.connect(self.set_duration)
        controller.unloaded.connect(lambda: self.set_duration(0.0))
        controller.unloaded.connect(lambda: self.slider.set_envelope(None))
        controller.envelopeReady.connect(self.slider.set_envelope)
        self.show_speed(controller.speed)
        self.show_playing(False)
        self.set_duration(0.0)

    def set_duration(self, duration: float) -> None:
        self._duration = duration
        self.slider.setRange(0, int(duration * SLIDER_STEPS_PER_SECOND))
        self.duration_label.setText(format_time(duration))
        enabled = duration > 0
        for widget in (self.slider, self.speed_button):
            widget.setEnabled(enabled)

    def show_position(self, seconds: float) -> None:
        self.position_label.setText(format_time(seconds, hours=self._duration >= 3600 or None))
        if not self._dragging:
            self.slider.blockSignals(True)
            self.slider.setValue(int(seconds * SLIDER_STEPS_PER_SECOND))
            self.slider.blockSignals(False)

    def show_playing(self, playing: bool) -> None:
        action = self.actions["play_pause"]
        action.setIcon(icon("pause" if playing else "play"))
        action.setText("&Pause" if playing else "&Play")
        self.play_button.setAccessibleName("Pause" if playing else "Play")

    def show_speed(self, speed: float) -> None:
        self.speed_button.setText(f"{speed:g}×")
        closest = min(self._speed_actions, key=lambda s: abs(s - speed))
        self._speed_actions[closest].setChecked(True)

    def _show_loop(self, on: bool) -> None:
        action = self.actions["loop"]
        if action.isChecked() != on:
            action.blockSignals(True)
            action.setChecked(on)
            action.blockSignals(False)

    def _drag_started(self) -> None:
        self._dragging = True

    def _drag_finished(self) -> None:
        self._dragging = False
        self.controller.seek(self.slider.value() / SLIDER_STEPS_PER_SECOND)

    def _slider_moved(self, value: int) -> None:
        seconds = value / SLIDER_STEPS_PER_SECOND
        if self._dragging:
            self.position_label.setText(format_time(seconds))
        else:  # keyboard or a click on the groove
            self.controller.seek(seconds)
