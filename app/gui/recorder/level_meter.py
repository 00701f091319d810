"""A horizontal level meter in dBFS with a falling peak marker."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.gui.theme import Colors

FLOOR_DB = -60.0


class LevelMeter(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Input level")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.level_db = FLOOR_DB
        self.peak_db = FLOOR_DB

    def sizeHint(self) -> QSize:
        return QSize(280, 14)

    def set_level(self, db: float) -> None:
        db = max(FLOOR_DB, min(0.0, db))
        # A meter rises at once and falls gently, so speech reads as a steady bar.
        self.level_db = db if db > self.level_db else max(db, self.level_db - 1.5)
        self.peak_db = db if db > self.peak_db else max(FLOOR_DB, self.peak_db - 0.4)
        self.setAccessibleDescription(f"{self.level_db:.0f} dB")
        self.update()

    def _x(self, db: float, width: float) -> float:
        return (db - FLOOR_DB) / -FLOOR_DB * width

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(Colors.border)
        painter.drawRoundedRect(rect, 4, 4)
        gradient = QLinearGradient(rect.topLeft(), rect.topRight())
        gradient.setColorAt(0.0, QColor("#22c55e"))
        gradient.setColorAt(0.75, QColor("#22c55e"))
        gradient.setColorAt(0.88, QColor("#f59e0b"))
        gradient.setColorAt(1.0, QColor("#dc2626"))
        filled = QRectF(rect.x(), rect.y(), self._x(self.level_db, rect.width()), rect.height())
        painter.setBrush(gradient)
        painter.drawRoundedRect(filled, 4, 4)
        if self.peak_db > FLOOR_DB:
            x = rect.x() + self._x(self.peak_db, rect.width())
            painter.fillRect(QRectF(x - 1, rect.y(), 2, rect.height()), Colors.text)
        painter.end()
