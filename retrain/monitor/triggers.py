"""When to retrain: enough new validated examples, or a significant rise in the edit rate.

``decide_retraining`` reads the latest ``MonitorReport`` and the store:

- **new examples**: at least ``min_new_examples`` (default 50) examples that passed the
  data contract and were not used by the last training run;
- **edit-rate rise**: the champion's field edit rate in the most recent ISO week with
  at least ``min_words`` reviewed words is significantly higher (one-sided exact
  conditional test for two Poisson rates, p < ``alpha``) than over the weeks before it,
  and higher by at least ``min_rise`` (absolute).

A training run that is still going, or one that finished less than ``min_interval_hours``
ago, holds the trigger back (the scheduler also enforces its own interval).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from retrain.monitor.report import MonitorReport
from retrain.monitor.statistics import poisson_rate_test
from retrain.store import Store


@dataclass(frozen=True)
class TriggerConfig:
    min_new_examples: int = 50
    alpha: float = 0.05
    min_words: int = 200
    min_rise: float = 0.02
    min_interval_hours: float = 0.0


@dataclass(frozen=True)
class TriggerDecision:
    retrain: bool
    reasons: tuple[str, ...]
    new_examples: int = 0
    edit_rate_p_value: float | None = None


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def edit_rate_rise(
    report: MonitorReport, config: TriggerConfig
) -> tuple[bool, str | None, float | None]:
    """Is the champion's latest full week significantly worse than its earlier weeks?"""
    points = [p for p in report.edit_rates if p.version == report.champion_version and p.words >= 1]
    points.sort(key=lambda p: p.week)
    recent = next((p for p in reversed(points) if p.words >= config.min_words), None)
    if recent is None:
        return False, None, None
    before = [p for p in points if p.week < recent.week]
    words = sum(p.words for p in before)
    errors = sum(p.errors for p in before)
    if words < config.min_words:
        return False, None, None
    p_value = poisson_rate_test(recent.errors, recent.words, errors, words)
    old_rate, new_rate = errors / words, recent.errors / recent.words
    if p_value < config.alpha and new_rate - old_rate >= config.min_rise:
        return (
            True,
            f"the field edit rate rose from {old_rate:.1%} to {new_rate:.1%} in the week of "
            f"{recent.week} (exact Poisson rate test, p = {p_value:.3g} < {config.alpha})",
            p_value,
        )
    return False, None, p_value


def decide_retraining(
    store: Store, report: MonitorReport, config: TriggerConfig | None = None
) -> TriggerDecision:
    """Whether the scheduler should run the pipeline now, and why (or why not)."""
    config = config or TriggerConfig()
    new = report.staleness.new_examples_since_training
    reasons: list[str] = []
    running, last_finished = _training_state(store)
    if running:
        return TriggerDecision(False, ("a training run is already in progress",), new)
    if last_finished is not None and config.min_interval_hours > 0:
        hours = (_parse(report.created_at) - _parse(last_finished)).total_seconds() / 3600
        if hours < config.min_interval_hours:
            return TriggerDecision(
                False,
                (
                    f"the last training finished {hours:.1f} h ago "
                    f"(minimum interval {config.min_interval_hours:g} h)",
                ),
                new,
            )
    if new >= config.min_new_examples:
        reasons.append(
            f"{new} new validated examples since the last training "
            f"(threshold {config.min_new_examples})"
        )
    rose, why, p_value = edit_rate_rise(report, config)
    if rose and why:
        reasons.append(why)
    if reasons:
        return TriggerDecision(True, tuple(reasons), new, p_value)
    return TriggerDecision(
        False,
        (
            f"{new} new validated examples since the last training "
            f"(threshold {config.min_new_examples}) and no significant rise in the "
            "field edit rate",
        ),
        new,
        p_value,
    )


def _training_state(store: Store) -> tuple[bool, str | None]:
    def query(conn):  # type: ignore[no-untyped-def]
        running = conn.execute(
            "SELECT COUNT(*) FROM training_runs WHERE status = 'running' AND finished_at IS NULL "
            "AND started_at > ?",
            (_hours_ago(6),),
        ).fetchone()[0]
        last = conn.execute("SELECT MAX(finished_at) FROM training_runs").fetchone()[0]
        return bool(running), last

    return store.read(query)


def _hours_ago(hours: float) -> str:
    from datetime import timedelta

    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
