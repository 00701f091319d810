"""The retraining trigger and the canary's decision logic, on crafted telemetry."""

from __future__ import annotations

import pytest
from monitorkit import add_reviewed, add_training_run, add_version, set_champion, ten_words

from retrain.monitor import (
    CanaryConfig,
    MonitorReport,
    TriggerConfig,
    check_canary,
    decide_retraining,
    run_monitor,
)
from retrain.monitor.report import EditRatePoint, Staleness
from retrain.registry import FACTORY, Registry
from retrain.store import Store

NOW = "2026-11-20T10:00:00.000000Z"


@pytest.fixture
def store(tiro_home):
    with Store.open(auto_snippets=False) as s:
        yield s


def report_with(
    new_examples: int = 0, weeks: tuple[tuple[str, int, int], ...] = ()
) -> MonitorReport:
    return MonitorReport(
        created_at=NOW,
        champion_version=FACTORY,
        champion_kind="base",
        staleness=Staleness(new_examples_since_training=new_examples),
        edit_rates=tuple(
            EditRatePoint(FACTORY, week, 10, words, errors, errors / words)
            for week, words, errors in weeks
        ),
    )


def test_enough_new_examples_trigger_retraining(store: Store) -> None:
    decision = decide_retraining(store, report_with(new_examples=50))
    assert decision.retrain and "50 new validated examples" in decision.reasons[0]
    decision = decide_retraining(store, report_with(new_examples=49))
    assert not decision.retrain and "49 new validated examples" in decision.reasons[0]
    assert decide_retraining(store, report_with(12), TriggerConfig(min_new_examples=10)).retrain


def test_a_significant_rise_in_the_edit_rate_triggers_retraining(store: Store) -> None:
    history = (("2026-11-02", 1000, 50), ("2026-11-09", 800, 40))
    risen = decide_retraining(store, report_with(weeks=(*history, ("2026-11-16", 300, 45))))
    assert risen.retrain
    assert "rose from 5.0% to 15.0%" in risen.reasons[0] and risen.edit_rate_p_value < 0.05
    # a small rise is noise, not a trigger
    noise = decide_retraining(store, report_with(weeks=(*history, ("2026-11-16", 300, 18))))
    assert not noise.retrain and noise.edit_rate_p_value > 0.05
    # too few words in the recent week (40 < 200): it is not judged on its own
    thin = decide_retraining(store, report_with(weeks=(*history, ("2026-11-16", 40, 20))))
    assert not thin.retrain


def test_a_running_training_holds_the_trigger_back(store: Store) -> None:
    from retrain.registry import utc_now

    store.write(
        lambda c: c.execute(
            "INSERT INTO training_runs (started_at, status) VALUES (?, 'running')", (utc_now(),)
        )
    ).result()
    decision = decide_retraining(store, report_with(new_examples=500))
    assert not decision.retrain and "in progress" in decision.reasons[0]


def promote(store: Store, version: str, parent: str = FACTORY) -> None:
    run = add_training_run(
        store,
        started_at="2026-11-10T00:00:00.000000Z",
        finished_at="2026-11-10T01:00:00.000000Z",
        before=parent,
        after=version,
    )
    add_version(
        store, version, parent=parent, created_at="2026-11-10T01:00:00.000000Z", training_run_id=run
    )
    set_champion(store, version, parent)


def test_canary_waits_passes_or_rolls_back(store: Store) -> None:
    config = CanaryConfig(segments=10)
    # the factory model before the promotion: 10 % field edit rate over 100 words
    add_reviewed(
        store, "base", [ten_words(1, i) for i in range(10)], at="2026-11-09T10:00:00.000000Z"
    )
    assert check_canary(store, config=config) is None  # the factory model serves
    promote(store, "p-bad")
    add_reviewed(
        store, "p-bad", [ten_words(4, i) for i in range(6)], at="2026-11-11T10:00:00.000000Z"
    )
    pending = check_canary(store, config=config)
    assert pending is not None and pending.state == "pending" and not pending.rolled_back
    assert (pending.segments, pending.needed) == (6, 10)
    assert Registry(store).champion() == "p-bad"
    add_reviewed(
        store, "p-bad", [ten_words(4, i) for i in range(6)], at="2026-11-12T10:00:00.000000Z"
    )
    outcome = check_canary(store, config=config)
    assert outcome is not None and outcome.rolled_back and outcome.state == "failed"
    assert outcome.version_rate == pytest.approx(0.4) and outcome.predecessor_rate == pytest.approx(
        0.1
    )
    assert outcome.p_value < 0.05
    registry = Registry(store)
    assert registry.champion() == FACTORY
    assert registry.version("p-bad").status == "rolled_back"
    assert "canary failed" in registry.version("p-bad").status_reason
    job = store.read(lambda c: c.execute("SELECT job, outcome, message FROM job_runs").fetchall())
    assert job == [("canary", "rolled_back", outcome.reason)]
    assert "p-bad" in outcome.reason and "40.0%" in outcome.reason
    # once rolled back, nothing more happens
    assert check_canary(store, config=config) is None


def test_canary_keeps_a_champion_that_is_not_worse(store: Store) -> None:
    config = CanaryConfig(segments=10)
    add_reviewed(
        store, "base", [ten_words(2, i) for i in range(10)], at="2026-11-09T10:00:00.000000Z"
    )
    promote(store, "p-good")
    # slightly worse by chance (22 % against 20 %): not significant
    pairs = [ten_words(2, i) for i in range(8)] + [ten_words(3, i) for i in range(2)]
    add_reviewed(store, "p-good", pairs, at="2026-11-11T10:00:00.000000Z")
    outcome = check_canary(store, config=config)
    assert outcome is not None and outcome.state == "passed" and not outcome.rolled_back
    assert outcome.p_value > 0.05
    assert Registry(store).champion() == "p-good"


def test_monitor_run_records_the_rollback_for_the_app(store: Store) -> None:
    from retrain.monitor.run import MonitorConfig

    add_reviewed(
        store, "base", [ten_words(1, i) for i in range(10)], at="2026-11-09T10:00:00.000000Z"
    )
    promote(store, "p-bad")
    add_reviewed(
        store, "p-bad", [ten_words(5, i) for i in range(10)], at="2026-11-11T10:00:00.000000Z"
    )
    report = run_monitor(store, config=MonitorConfig(canary=CanaryConfig(segments=10)))
    assert report.champion_version == FACTORY
    assert report.canary is not None and report.canary.rolled_back
    assert [e.kind for e in report.events] == ["rollback"]
    assert "Rolled back p-bad to factory" in report.events[0].message
    assert any("Rolled back" in f for f in report.flags)
