"""The seek slider drawn as the recording's waveform: played part in the accent colour,
a playhead line, a click jumps straight there. It stays a QSlider, so the keyboard and
screen readers treat it as one."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSlider, QStyle, QWidget

from app.gui.theme import Colors

BAR = 2.0  # bar width in pixels
GAP = 1.0


class WaveformSlider(QSlider):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.envelope: np.ndarray | None = None
        self.setMinimumHeight(34)

    def sizeHint(self) -> QSize:
        return QSize(400, 34)

    def set_envelope(self, envelope: np.ndarray | None) -> None:
        self.envelope = envelope
        self.update()

    def _value_at(self, x: float) -> int:
        span = max(1, self.width())
        return QStyle.sliderValueFromPosition(
            self.minimum(), self.maximum(), int(max(0, min(x, span))), span
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.maximum() > self.minimum():
            self.setSliderDown(True)
            self.setValue(self._value_at(event.position().x()))
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self.isSliderDown():
            self.setValue(self._value_at(event.position().x()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.isSliderDown():
            self.setSliderDown(False)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.envelope is None or not len(self.envelope):
            super().paintEvent(event)
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        width, height = self.width(), self.height()
        middle = height / 2
        span = max(1, self.maximum() - self.minimum())
        played_x = (self.value() - self.minimum()) / span * width
        painter.setPen(Qt.PenStyle.NoPen)
        count = len(self.envelope)
        x = 0.0
        while x < width:
            level = float(self.envelope[min(count - 1, int(x / width * count))])
            bar = max(1.5, level**0.5 * (height - 6))  # square root: quiet speech still shows
            painter.setBrush(Colors.accent if x < played_x else Colors.faint)
            painter.drawRoundedRect(QRectF(x, middle - bar / 2, BAR, bar), 1, 1)
            x += BAR + GAP
        painter.fillRect(QRectF(played_x - 1, 2, 2, height - 4), Colors.text)
        if self.hasFocus():
            painter.setPen(Colors.accent)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(0.5, 0.5, width - 1, height - 1), 4, 4)
        painter.end()
