"""Small line icons drawn with QPainter, so the app looks the same on every platform
without shipping image files. Each icon is drawn on a 24x24 grid."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

from app.gui.theme import Colors

Draw = Callable[[QPainter], None]
_DRAWINGS: dict[str, Draw] = {}


def _icon(name: str) -> Callable[[Draw], Draw]:
    def register(draw: Draw) -> Draw:
        _DRAWINGS[name] = draw
        return draw

    return register


def _poly(p: QPainter, *points: tuple[float, float], close: bool = False) -> None:
    path = QPainterPath(QPointF(*points[0]))
    for point in points[1:]:
        path.lineTo(QPointF(*point))
    if close:
        path.closeSubpath()
    p.drawPath(path)


@_icon("play")
def _play(p: QPainter) -> None:
    p.setBrush(p.pen().color())
    _poly(p, (8, 5), (19, 12), (8, 19), close=True)


@_icon("pause")
def _pause(p: QPainter) -> None:
    p.setBrush(p.pen().color())
    p.drawRoundedRect(QRectF(6.5, 5, 3.5, 14), 1, 1)
    p.drawRoundedRect(QRectF(14, 5, 3.5, 14), 1, 1)


@_icon("rewind")
def _rewind(p: QPainter) -> None:
    p.drawArc(QRectF(5, 5, 14, 14), 100 * 16, 280 * 16)
    _poly(p, (9, 3.5), (11.5, 5.8), (9, 8.2))
    p.setPen(QPen(p.pen().color(), 1.2))


@_icon("forward")
def _forward(p: QPainter) -> None:
    p.drawArc(QRectF(5, 5, 14, 14), 80 * 16, -280 * 16)
    _poly(p, (15, 3.5), (12.5, 5.8), (15, 8.2))


@_icon("loop")
def _loop(p: QPainter) -> None:
    _poly(p, (5, 11), (5, 9), (7, 7), (18, 7))
    _poly(p, (15.5, 4.5), (18, 7), (15.5, 9.5))
    _poly(p, (19, 13), (19, 15), (17, 17), (6, 17))
    _poly(p, (8.5, 14.5), (6, 17), (8.5, 19.5))


@_icon("record")
def _record(p: QPainter) -> None:
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(Colors.record)
    p.drawEllipse(QRectF(6, 6, 12, 12))


@_icon("stop")
def _stop(p: QPainter) -> None:
    p.setBrush(p.pen().color())
    p.drawRoundedRect(QRectF(6.5, 6.5, 11, 11), 2, 2)


@_icon("import")
def _import(p: QPainter) -> None:
    _poly(p, (12, 4), (12, 15))
    _poly(p, (7.5, 10.5), (12, 15), (16.5, 10.5))
    _poly(p, (5, 15), (5, 19), (19, 19), (19, 15))


@_icon("export")
def _export(p: QPainter) -> None:
    _poly(p, (12, 15), (12, 4))
    _poly(p, (7.5, 8.5), (12, 4), (16.5, 8.5))
    _poly(p, (5, 15), (5, 19), (19, 19), (19, 15))


@_icon("undo")
def _undo(p: QPainter) -> None:
    path = QPainterPath(QPointF(6, 10))
    path.lineTo(14, 10)
    path.cubicTo(QPointF(20, 10), QPointF(20, 19), QPointF(14, 19))
    path.lineTo(9, 19)
    p.drawPath(path)
    _poly(p, (9.5, 6.5), (6, 10), (9.5, 13.5))


@_icon("redo")
def _redo(p: QPainter) -> None:
    path = QPainterPath(QPointF(18, 10))
    path.lineTo(10, 10)
    path.cubicTo(QPointF(4, 10), QPointF(4, 19), QPointF(10, 19))
    path.lineTo(15, 19)
    p.drawPath(path)
    _poly(p, (14.5, 6.5), (18, 10), (14.5, 13.5))


@_icon("split")
def _split(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(4, 5, 16, 5), 1.5, 1.5)
    p.drawRoundedRect(QRectF(4, 14, 16, 5), 1.5, 1.5)
    pen = QPen(p.pen())
    pen.setStyle(Qt.PenStyle.DotLine)
    p.setPen(pen)
    _poly(p, (2, 12), (22, 12))


@_icon("merge")
def _merge(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(4, 8, 16, 8), 1.5, 1.5)
    _poly(p, (12, 2.5), (12, 6))
    _poly(p, (10, 4.5), (12, 6.5), (14, 4.5))
    _poly(p, (12, 21.5), (12, 18))
    _poly(p, (10, 19.5), (12, 17.5), (14, 19.5))


@_icon("insert")
def _insert(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(4, 4, 16, 5), 1.5, 1.5)
    _poly(p, (12, 12), (12, 20))
    _poly(p, (8, 16), (16, 16))


@_icon("delete")
def _delete(p: QPainter) -> None:
    _poly(p, (5, 7), (19, 7))
    _poly(p, (10, 7), (10, 4.5), (14, 4.5), (14, 7))
    _poly(p, (6.5, 7), (7.5, 19.5), (16.5, 19.5), (17.5, 7))
    _poly(p, (10.5, 10.5), (10.5, 16))
    _poly(p, (13.5, 10.5), (13.5, 16))


@_icon("check")
def _check(p: QPainter) -> None:
    _poly(p, (5, 12.5), (10, 17.5), (19, 7))


@_icon("check_all")
def _check_all(p: QPainter) -> None:
    _poly(p, (2.5, 12.5), (7, 17), (15.5, 7))
    _poly(p, (11, 16), (12, 17), (21, 7))


@_icon("search")
def _search(p: QPainter) -> None:
    p.drawEllipse(QRectF(4.5, 4.5, 11, 11))
    _poly(p, (14, 14), (19.5, 19.5))


@_icon("changes")
def _changes(p: QPainter) -> None:
    _poly(p, (4, 8), (11, 8))
    _poly(p, (4, 16), (11, 16))
    pen = QPen(p.pen())
    pen.setColor(Colors.added)
    p.setPen(pen)
    _poly(p, (14, 16), (20, 16))
    _poly(p, (17, 13), (17, 19))
    pen.setColor(Colors.removed)
    p.setPen(pen)
    _poly(p, (14, 8), (20, 8))


@_icon("retranscribe")
def _retranscribe(p: QPainter) -> None:
    p.drawArc(QRectF(5, 5, 14, 14), 30 * 16, 300 * 16)
    _poly(p, (19.5, 4.5), (18.5, 9), (14, 8))
    p.setBrush(p.pen().color())
    p.drawEllipse(QRectF(10.5, 10.5, 3, 3))


@_icon("clock")
def _clock(p: QPainter) -> None:
    p.drawEllipse(QRectF(4.5, 4.5, 15, 15))
    _poly(p, (12, 8), (12, 12), (15, 14))


@_icon("mic")
def _mic(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(9, 3.5, 6, 11), 3, 3)
    p.drawArc(QRectF(6, 7, 12, 11), 180 * 16, 180 * 16)
    _poly(p, (12, 18), (12, 21))


@_icon("cancel")
def _cancel(p: QPainter) -> None:
    _poly(p, (7, 7), (17, 17))
    _poly(p, (17, 7), (7, 17))


@_icon("volume")
def _volume(p: QPainter) -> None:
    p.setBrush(p.pen().color())
    _poly(p, (4, 9.5), (8, 9.5), (12.5, 5.5), (12.5, 18.5), (8, 14.5), (4, 14.5), close=True)
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawArc(QRectF(10, 8, 7, 8), -60 * 16, 120 * 16)
    p.drawArc(QRectF(10, 5, 10, 14), -60 * 16, 120 * 16)


@_icon("help")
def _help(p: QPainter) -> None:
    p.drawEllipse(QRectF(3.5, 3.5, 17, 17))
    path = QPainterPath(QPointF(9.5, 10))
    path.cubicTo(QPointF(9.5, 6.5), QPointF(14.5, 6.5), QPointF(14.5, 9.5))
    path.cubicTo(QPointF(14.5, 11.5), QPointF(12, 11.5), QPointF(12, 14))
    p.drawPath(path)
    p.setBrush(p.pen().color())
    p.drawEllipse(QRectF(11.2, 16, 1.6, 1.6))


def _render(name: str, color: QColor, size: int) -> QPixmap:
    scale = 2
    pixmap = QPixmap(size * scale, size * scale)
    pixmap.fill(Qt.GlobalColor.transparent)
    pixmap.setDevicePixelRatio(scale)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.scale(size / 24.0, size / 24.0)
    pen = QPen(
        color, 1.8, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin
    )
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    _DRAWINGS[name](painter)
    painter.end()
    return pixmap


@cache
def icon(name: str, color: str | None = None) -> QIcon:
    """A QIcon with normal and disabled looks, drawn at 16, 20 and 24 px."""
    result = QIcon()
    normal = QColor(color) if color else Colors.text
    for size in (16, 20, 24):
        result.addPixmap(_render(name, normal, size), QIcon.Mode.Normal)
        result.addPixmap(_render(name, Colors.faint, size), QIcon.Mode.Disabled)
    return result


def names() -> list[str]:
    return sorted(_DRAWINGS)
