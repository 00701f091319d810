"""Training speed and memory, the newest training run against the runs before it.

ML Test Score, Monitor 6, for training: a pipeline run that became much slower per
example, or much hungrier (the pipeline process, or the fine-tuning worker), than the
median of the runs before it is flagged. Figures come from each run's stored report
(``training_runs.report_json``: ``seconds``, ``peak_rss_mb``, the example counts, and the
fine-tuned candidates' ``training_seconds`` and ``worker_peak_rss_mb``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from retrain.monitor.report import TrainingCost, TrainingPerformance
from retrain.monitor.telemetry import TrainingRun


@dataclass(frozen=True)
class TrainingCostConfig:
    min_baseline: int = 3  # finished runs before the newest one
    baseline: int = 10
    slowdown: float = 1.5


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def cost_of(run: TrainingRun) -> TrainingCost | None:
    """One finished run's cost, or ``None`` if its report does not carry one."""
    body: Mapping[str, Any] = run.report or {}
    seconds = _number(body.get("seconds"))
    if run.status == "running" or seconds is None:
        return None
    examples = int(body.get("corrections") or 0) + int(body.get("unchanged") or 0)
    details = [(c.get("details") or {}) for c in (body.get("candidates") or {}).values() if c]
    worker_peaks = [p for d in details if (p := _number(d.get("worker_peak_rss_mb"))) is not None]
    train_seconds = [s for d in details if (s := _number(d.get("training_seconds"))) is not None]
    return TrainingCost(
        run_id=run.id,
        started_at=run.started_at,
        examples=examples,
        seconds=seconds,
        seconds_per_example=seconds / examples if examples else None,
        peak_rss_mb=_number(body.get("peak_rss_mb")),
        finetune_seconds=max(train_seconds) if train_seconds else None,
        finetune_peak_rss_mb=max(worker_peaks) if worker_peaks else None,
    )


def training_performance(
    runs: Sequence[TrainingRun], config: TrainingCostConfig | None = None
) -> TrainingPerformance:
    config = config or TrainingCostConfig()
    costs = [c for c in (cost_of(r) for r in runs) if c is not None]
    if not costs:
        return TrainingPerformance()
    latest, before = costs[-1], costs[:-1][-config.baseline :]
    flags: list[str] = []
    baseline: dict[str, float | None] = {}
    for attr, label in (
        ("seconds_per_example", "training time per example"),
        ("peak_rss_mb", "pipeline peak memory"),
        ("finetune_peak_rss_mb", "fine-tuning peak memory"),
    ):
        values = [v for c in before if (v := getattr(c, attr)) is not None]
        baseline[attr] = median(values) if values else None
        now = getattr(latest, attr)
        if len(values) >= config.min_baseline and now is not None and baseline[attr]:
            ratio = now / baseline[attr]
            if ratio > config.slowdown:
                flags.append(
                    f"the last training run's {label} is {ratio:.1f}x the median of the "
                    f"{len(values)} runs before it"
                )
    return TrainingPerformance(
        runs=tuple(costs),
        baseline_seconds_per_example=baseline["seconds_per_example"],
        baseline_peak_rss_mb=baseline["peak_rss_mb"],
        baseline_finetune_peak_rss_mb=baseline["finetune_peak_rss_mb"],
        flags=tuple(flags),
    )
