"""The Model health panel (a dock): at a glance, whether Tiro is getting better for you.

It shows one ``retrain.scheduler.ModelHealth`` (loaded off the UI thread by the main
window): the monitor's headline; the edit rate over time per model version; what the
last training changed (held-out WER before and after, and the gate's reasons); drift and
health flags; the job history; and a "Retrain now" button.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui.health.charts import EditRateChart, TrainingChart

JOB_COLUMNS = ("Job", "Started", "Finished", "Outcome", "Message")
OUTCOME_TEXT = {
    "running": "running",
    "ok": "done",
    "failed": "failed",
    "timed_out": "timed out",
    "cancelled": "cancelled",
    "rolled_back": "rolled back",
}


def short_time(text: str | None) -> str:
    return "" if not text else text[:16].replace("T", " ")


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def training_summary(last: Any) -> tuple[str, list[str]]:
    """One line for the last training run, and the gate's reasons."""
    if last is None:
        return "No training yet.", []
    when = short_time(last.finished_at or last.started_at)
    if last.decision == "promoted":
        head = f"{when}: promoted {last.champion_after} ({last.promoted_candidate})."
    else:
        head = f"{when}: {last.decision}; the model in use stayed {last.champion_after}."
    figures = (
        f" Held-out WER: {percent(last.heldout_before_wer)} before, "
        f"{percent(last.heldout_after_wer)} after (factory {percent(last.heldout_factory_wer)}"
        + (f", {last.heldout_words} words)." if last.heldout_words else ").")
    )
    return head + figures, list(last.reasons)


def attention_lines(report: Any) -> list[str]:
    """Drift and health: every flag, then each drift test's result."""
    lines = list(report.flags)
    for d in report.drift:
        if d.p_value is None:
            continue
        state = "DRIFT" if d.drifted else "ok"
        lines.append(
            f"{d.feature}: {state} ({d.test}, p = {d.p_value:.3g}, "
            f"{d.current_n} recent vs {d.reference_n})"
        )
    h = report.health
    if h.segments:
        lines.append(
            f"output health over {h.segments} segments: {h.non_finite_logprob} NaN/inf, "
            f"{h.empty_output} empty, {h.high_compression} compression > 2.4, "
            f"{h.repeated_ngrams} repeated n-grams, {h.text_over_silence} text over silence"
        )
    return lines


class ModelHealthPanel(QWidget):
    retrainRequested = Signal()
    refreshRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelHealthPanel")
        self.setAccessibleName("Model health")
        self.setMinimumWidth(420)
        self.health: Any = None

        self.headline = QLabel("The monitor has not run yet.", self)
        self.headline.setObjectName("healthHeadline")
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model_label = QLabel(self)
        self.model_label.setObjectName("healthModel")
        self.model_label.setWordWrap(True)
        self.status_label = QLabel(self)
        self.status_label.setObjectName("healthStatus")
        self.status_label.setWordWrap(True)
        self.retrain_button = QPushButton("Retrain Now", self)
        self.retrain_button.setObjectName("retrainNow")
        self.retrain_button.setAccessibleName("Retrain now")
        self.retrain_button.setToolTip(
            "Learn from your reviewed corrections now; the result is used only if it is "
            "measurably better"
        )
        self.retrain_button.clicked.connect(self.retrainRequested)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.setAccessibleName("Refresh model health")
        self.refresh_button.clicked.connect(self.refreshRequested)

        self.edit_rate_chart = EditRateChart(self)
        self.training_text = QLabel(self)
        self.training_text.setObjectName("trainingSummary")
        self.training_text.setWordWrap(True)
        self.training_reasons = QListWidget(self)
        self.training_reasons.setObjectName("gateReasons")
        self.training_reasons.setAccessibleName("The gate's reasons")
        self.training_reasons.setMaximumHeight(90)
        self.training_chart = TrainingChart(self)
        self.attention = QListWidget(self)
        self.attention.setObjectName("healthFlags")
        self.attention.setAccessibleName("Drift and health flags")
        self.attention.setMaximumHeight(120)
        self.attention.setWordWrap(True)
        self.jobs = QTableWidget(0, len(JOB_COLUMNS), self)
        self.jobs.setObjectName("jobHistory")
        self.jobs.setAccessibleName("Job history")
        self.jobs.setHorizontalHeaderLabels(JOB_COLUMNS)
        self.jobs.verticalHeader().hide()
        self.jobs.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.jobs.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.jobs.horizontalHeader().setStretchLastSection(True)
        self.jobs.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.jobs.setMinimumHeight(150)

        content = QWidget(self)
        layout = QVBoxLayout(content)
        layout.addWidget(self.headline)
        row = QHBoxLayout()
        row.addWidget(self.model_label, 1)
        row.addWidget(self.refresh_button)
        row.addWidget(self.retrain_button)
        layout.addLayout(row)
        layout.addWidget(self.status_label)
        layout.addWidget(self._group("Edit rate over time", self.edit_rate_chart))
        layout.addWidget(
            self._group(
                "What the last training changed",
                self.training_text,
                self.training_chart,
                self.training_reasons,
            )
        )
        layout.addWidget(self._group("Drift and health", self.attention))
        layout.addWidget(self._group("Job history", self.jobs))
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def _group(self, title: str, *widgets: QWidget) -> QGroupBox:
        box = QGroupBox(title, self)
        layout = QVBoxLayout(box)
        for widget in widgets:
            layout.addWidget(widget)
        return box

    # -- showing ---------------------------------------------------------------------------
    def show_health(self, health: Any) -> None:
        """Show a ``retrain.scheduler.ModelHealth``."""
        self.health = health
        learning = "on" if health.learning_enabled else "off (turn it on in the Learning menu)"
        self.model_label.setText(f"Model in use: {health.champion}. Learning: {learning}.")
        self.retrain_button.setEnabled(health.learning_enabled)
        report = health.report
        if report is None:
            self.headline.setText("The monitor has not run yet.")
            self.edit_rate_chart.show_points(())
            self.training_chart.show_training(None, None, None)
            self.training_text.setText("No training yet.")
            self.training_reasons.clear()
            self.attention.clear()
        else:
            self.headline.setText(report.headline or "")
            self.edit_rate_chart.show_points(report.edit_rates)
            summary, reasons = training_summary(report.last_training)
            self.training_text.setText(summary)
            self.training_reasons.clear()
            self.training_reasons.addItems(reasons)
            last = report.last_training
            self.training_chart.show_training(
                last.heldout_factory_wer if last else None,
                last.heldout_before_wer if last else None,
                last.heldout_after_wer if last else None,
            )
            self.attention.clear()
            self.attention.addItems(attention_lines(report) or ["Nothing needs attention."])
        self._show_jobs(health.jobs)

    def _show_jobs(self, jobs: Any) -> None:
        self.jobs.setRowCount(len(jobs))
        for row, job in enumerate(jobs):
            values = (
                job.job,
                short_time(job.started_at),
                short_time(job.finished_at),
                OUTCOME_TEXT.get(job.outcome, job.outcome),
                job.message or "",
            )
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                if column == len(values) - 1:
                    item.setToolTip(value)
                self.jobs.setItem(row, column, item)

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)
