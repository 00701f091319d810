"""pyqtgraph charts of the Model health panel: edit rate over time per model version, and
held-out WER before and after the last training."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

COLORS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")


def week_timestamp(week: str) -> float:
    return datetime.fromisoformat(week[:10]).replace(tzinfo=UTC).timestamp()


class EditRateChart(pg.PlotWidget):
    """Field edit rate (% of words edited) per ISO week, one line per model version."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        self.setObjectName("editRateChart")
        self.setAccessibleName("Edit rate over time per model version")
        self.setBackground("w")
        self.setMinimumHeight(170)
        self.setLabel("left", "words edited", units="%")
        self.showGrid(x=True, y=True, alpha=0.2)
        self.setMouseEnabled(x=False, y=False)
        self.legend = self.addLegend(offset=(8, 8))
        self.series: dict[str, tuple[list[float], list[float]]] = {}

    def show_points(self, points: Sequence[Any]) -> None:
        """``points``: ``EditRatePoint`` values (version, week, rate)."""
        self.clear()
        self.legend.clear()
        series: dict[str, tuple[list[float], list[float]]] = {}
        for p in sorted(points, key=lambda p: (p.version, p.week)):
            if p.rate is None:
                continue
            xs, ys = series.setdefault(p.version, ([], []))
            xs.append(week_timestamp(p.week))
            ys.append(100.0 * p.rate)
        for i, (version, (xs, ys)) in enumerate(series.items()):
            color = COLORS[i % len(COLORS)]
            self.plot(
                xs,
                ys,
                pen=pg.mkPen(color, width=2),
                symbol="o",
                symbolSize=7,
                symbolBrush=color,
                name=version,
            )
        self.series = series
        self.enableAutoRange()


class TrainingChart(pg.PlotWidget):
    """Held-out WER (%) of the factory model, the model in use before, and the candidate."""

    LABELS = ("factory", "before", "after")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trainingChart")
        self.setAccessibleName("Held-out word error rate before and after the last training")
        self.setBackground("w")
        self.setMinimumHeight(140)
        self.setLabel("left", "held-out WER", units="%")
        self.setMouseEnabled(x=False, y=False)
        self.getAxis("bottom").setTicks([list(enumerate(self.LABELS))])
        self.heights: tuple[float | None, ...] = (None, None, None)

    def show_training(self, factory: float | None, before: float | None, after: float | None):
        self.clear()
        self.heights = (factory, before, after)
        xs = [i for i, v in enumerate(self.heights) if v is not None]
        heights = [100.0 * v for v in self.heights if v is not None]
        if xs:
            brushes = [("#9ca3af", "#60a5fa", "#34d399")[x] for x in xs]
            self.addItem(pg.BarGraphItem(x=xs, height=heights, width=0.6, brushes=brushes))
        self.setXRange(-0.6, 2.6, padding=0)
        self.enableAutoRange(axis="y")
