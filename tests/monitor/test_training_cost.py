"""Monitor 6 for training: a slower or hungrier training run is flagged (crafted telemetry)."""

from __future__ import annotations

import pytest
from monitorkit import add_training_run

from retrain.monitor import MonitorReport, run_monitor
from retrain.monitor.render import render_html, render_text
from retrain.store import Store


@pytest.fixture
def store(tiro_home):
    with Store.open(auto_snippets=False) as s:
        yield s


def _run(store: Store, day: int, seconds: float, peak: float, finetune_peak: float) -> None:
    at = f"2026-11-{day:02d}T10:00:00.000000Z"
    # the fine-tuned candidate's worker figures sit in its details
    finetuned = {"details": {"training_seconds": seconds / 2, "worker_peak_rss_mb": finetune_peak}}
    add_training_run(
        store,
        started_at=at,
        finished_at=at,
        status="rejected",
        cost={"seconds": seconds, "peak_rss_mb": peak, "corrections": 36, "unchanged": 4},
        other_candidates={"finetuned": finetuned} if finetune_peak else None,
    )


def test_steady_training_runs_raise_no_flag(store: Store) -> None:
    for day, seconds in zip(range(1, 6), (40.0, 44.0, 38.0, 41.0, 45.0), strict=True):
        _run(store, day, seconds, 400.0, 1800.0)
    report = run_monitor(store)
    cost = report.training_performance
    assert len(cost.runs) == 5
    assert cost.runs[-1].seconds_per_example == pytest.approx(45.0 / 40)
    assert cost.baseline_seconds_per_example == pytest.approx(40.5 / 40)
    assert cost.flags == ()
    assert MonitorReport.from_dict(report.to_dict()) == report


def test_a_slower_or_hungrier_training_run_is_flagged(store: Store) -> None:
    for day in range(1, 5):
        _run(store, day, 40.0, 400.0, 1800.0)
    _run(store, 5, 100.0, 410.0, 4000.0)  # 2.5x slower per example, fine-tuning 2.2x the memory
    report = run_monitor(store)
    flags = report.training_performance.flags
    assert any("training time per example is 2.5x" in f for f in flags)
    assert any("fine-tuning peak memory is 2.2x" in f for f in flags)
    assert not any("pipeline peak memory" in f for f in flags)
    assert set(flags) <= set(report.flags)
    assert "Training cost (5 runs)" in render_text(report)
    assert "training s per example" in render_html(report)


def test_too_few_runs_are_not_judged(store: Store) -> None:
    _run(store, 1, 40.0, 400.0, 0.0)
    _run(store, 2, 400.0, 4000.0, 0.0)
    report = run_monitor(store)
    assert len(report.training_performance.runs) == 2
    assert report.training_performance.flags == ()
    assert report.training_performance.runs[-1].finetune_peak_rss_mb is None
