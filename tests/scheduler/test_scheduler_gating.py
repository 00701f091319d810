"""When the pipeline may run: only if the user opted in, never while a transcription runs,
at most once per interval, and only when the monitor's trigger says so (unless the user
asks: "Retrain now"). A gate that says no starts no process and records no pipeline run."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from retrain.monitor import TriggerDecision
from retrain.privacy import CONSENT_TEXT_VERSION
from retrain.scheduler import BusySignal, SchedulerConfig, jobruns, pipeline_gate, run_once
from retrain.store import Store

DUE = TriggerDecision(True, ("60 new validated examples since the last training",), 60)
NOT_DUE = TriggerDecision(False, ("3 new validated examples since the last training",), 3)
CONFIG = SchedulerConfig(pipeline_interval_hours=6.0)


def pipeline_runs(store: Store) -> int:
    return store.read(
        lambda c: c.execute("SELECT COUNT(*) FROM job_runs WHERE job = 'pipeline'").fetchone()[0]
    )


def started_hours_ago(store: Store, hours: float) -> None:
    at = jobruns.utc_text(datetime.now(UTC) - timedelta(hours=hours))
    store.write(
        lambda c: c.execute(
            "INSERT INTO job_runs (job, started_at, finished_at, outcome, message) "
            "VALUES ('pipeline', ?, ?, 'ok', 'rejected')",
            (at, at),
        )
    ).result()


def test_nothing_runs_without_the_opt_in(store: Store) -> None:
    gate = pipeline_gate(store, DUE, CONFIG)
    assert not gate.run and "not opted in" in gate.reasons[0]
    assert not pipeline_gate(store, DUE, CONFIG, force=True).run  # not even "Retrain now"
    result = run_once(store, force=True)
    assert result.pipeline is None and "not opted in" in result.gate.reasons[0]
    assert result.monitor.outcome == "ok"
    assert pipeline_runs(store) == 0
    # and once the user opts in, the same trigger lets it run
    store.set_consent(True, CONSENT_TEXT_VERSION).result()
    assert pipeline_gate(store, DUE, CONFIG).run


def test_nothing_starts_while_a_transcription_runs(opted_in: Store) -> None:
    busy = BusySignal()
    holding, release = threading.Event(), threading.Event()

    def transcription() -> None:
        with busy.hold("transcription"):
            holding.set()
            release.wait(10)

    worker = threading.Thread(target=transcription)
    worker.start()
    try:
        assert holding.wait(10)
        for force in (False, True):
            gate = pipeline_gate(opted_in, DUE, CONFIG, busy=busy, force=force)
            assert not gate.run and "busy (transcription)" in gate.reasons[0]
    finally:
        release.set()
        worker.join()
    assert not busy.busy
    assert pipeline_gate(opted_in, DUE, CONFIG, busy=busy).run


def test_at_most_once_per_interval(opted_in: Store) -> None:
    started_hours_ago(opted_in, 2.0)
    gate = pipeline_gate(opted_in, DUE, CONFIG)
    assert not gate.run and "2.0 h ago" in gate.reasons[0] and "every 6 h" in gate.reasons[0]
    assert pipeline_gate(opted_in, DUE, replace(CONFIG, pipeline_interval_hours=1.5)).run
    assert pipeline_gate(opted_in, DUE, CONFIG, force=True).run  # "Retrain now"


def test_a_crashed_run_counts_for_the_interval_too(opted_in: Store) -> None:
    # otherwise a pipeline that crashes at once would be restarted every few minutes
    run_id = jobruns.start(opted_in, "pipeline")
    jobruns.finish(opted_in, run_id, "failed", "the learning run failed (signal 11)")
    assert not pipeline_gate(opted_in, DUE, CONFIG).run


def test_one_run_at_a_time(opted_in: Store) -> None:
    jobruns.start(opted_in, "pipeline")  # running, e.g. started by `tiro scheduler run-once`
    for force in (False, True):
        gate = pipeline_gate(opted_in, DUE, CONFIG, force=force)
        assert not gate.run and "already in progress" in gate.reasons[0]


def test_the_trigger_decides_when_nothing_else_holds_it_back(opted_in: Store) -> None:
    assert pipeline_gate(opted_in, DUE, CONFIG).reasons == DUE.reasons
    gate = pipeline_gate(opted_in, NOT_DUE, CONFIG)
    assert not gate.run and gate.reasons == NOT_DUE.reasons
    assert not pipeline_gate(opted_in, None, CONFIG).run  # the monitor failed
    assert pipeline_gate(opted_in, NOT_DUE, CONFIG, force=True).run


def test_a_round_on_an_empty_store_records_the_monitor_and_no_pipeline(opted_in: Store) -> None:
    result = run_once(opted_in)
    assert result.monitor.outcome == "ok"
    assert result.monitor.trigger is not None and not result.monitor.trigger.retrain
    assert result.pipeline is None and not result.gate.run
    [run] = jobruns.job_history(opted_in)
    assert (run.job, run.outcome) == ("monitor", "ok") and run.finished_at
    assert "No retraining needed" in (run.message or "")


def test_retrain_now_during_a_transcription_starts_once_it_is_done(opted_in: Store) -> None:
    import time

    from retrain.scheduler import Scheduler

    # the pipeline process runs a stand-in target that fails at once: this test is about
    # when it starts, not about learning
    config = replace(
        SchedulerConfig(first_monitor_seconds=3600, busy_retry_seconds=0.3),
        pipeline_target="scheduler_targets:raises",
    )
    busy = BusySignal()
    scheduler = Scheduler(opted_in, config, busy=busy)
    scheduler.start()
    try:
        with busy.hold("transcription"):
            scheduler.retrain_now()
            time.sleep(2.0)  # several retries, all held back
            assert pipeline_runs(opted_in) == 0
        deadline = time.monotonic() + 60
        while not [j for j in jobruns.job_history(opted_in) if j.finished_at]:
            assert time.monotonic() < deadline, "the run did not start after the transcription"
            time.sleep(0.1)
    finally:
        assert scheduler.stop()
    [run] = jobruns.job_history(opted_in)
    assert (run.job, run.outcome) == ("pipeline", "failed")
