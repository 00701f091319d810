"""Scheduler isolation: a pipeline process that crashes, hangs or is cancelled is recorded
as failed, timed out or cancelled, and the scheduler (and the app around it) keeps working.

The pipeline process here runs stand-in targets (``tests/scheduler_targets.py``): a
segfault, an exception, a loop that ignores SIGTERM. They test the process boundary, not
learning; the real pipeline runs in ``test_scheduler_run_once.py``.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from scheduler_targets import STARTED

from retrain.monitor import TriggerDecision
from retrain.scheduler import (
    BusySignal,
    Scheduler,
    SchedulerConfig,
    SchedulerEvent,
    job_history,
    run_once,
    run_pipeline_job,
)
from retrain.store import Store

FAST = SchedulerConfig(pipeline_timeout_seconds=60, grace_seconds=1.0, first_monitor_seconds=3600)


def target(name: str) -> SchedulerConfig:
    return replace(FAST, pipeline_target=f"scheduler_targets:{name}")


def pipeline_rows(store: Store) -> list[tuple]:
    return store.read(
        lambda c: c.execute(
            "SELECT outcome, message, finished_at IS NOT NULL, pid FROM job_runs "
            "WHERE job = 'pipeline' ORDER BY id"
        ).fetchall()
    )


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_crashing_pipeline_is_recorded_failed_and_the_next_round_works(opted_in: Store) -> None:
    result = run_once(opted_in, config=target("crashes"), force=True)
    assert result.monitor.outcome == "ok", result.monitor.message
    assert result.pipeline is not None
    assert result.pipeline.outcome == "failed"
    assert "signal 11" in result.pipeline.message
    assert "model in use is unchanged" in result.pipeline.message
    assert result.pipeline.champion_after == result.pipeline.champion_before == "factory"
    [(outcome, message, finished, pid)] = pipeline_rows(opted_in)
    assert (outcome, finished) == ("failed", 1) and message == result.pipeline.message
    assert pid and gone(pid)

    # the scheduler keeps working: the next round runs, and its failure has its own reason
    again = run_once(opted_in, config=target("raises"), force=True)
    assert again.monitor.outcome == "ok"
    assert again.pipeline is not None and again.pipeline.outcome == "failed"
    assert "the disk is full" in again.pipeline.message
    assert [r[0] for r in pipeline_rows(opted_in)] == ["failed", "failed"]
    # and the store the app uses still takes writes
    opted_in.add_recording("/media/after-crash.wav", sha256="0" * 64).result()


def test_a_hanging_pipeline_is_killed_after_the_timeout_and_recorded_timed_out(
    opted_in: Store,
) -> None:
    config = replace(target("half_written_run"), pipeline_timeout_seconds=3.0)
    started = time.monotonic()
    outcome = run_pipeline_job(opted_in, config)
    took = time.monotonic() - started
    assert outcome.outcome == "timed_out", outcome.message
    assert "longer than 3 s" in outcome.message
    # SIGTERM was ignored: SIGKILL after the grace period ended it
    assert took < 3.0 + FAST.grace_seconds + 10
    [(state, _message, finished, pid)] = pipeline_rows(opted_in)
    assert (state, finished) == ("timed_out", 1) and gone(pid)
    # the training run it had started does not stay "running" (that would hold back the
    # monitor's trigger for hours)
    runs = opted_in.read(
        lambda c: c.execute("SELECT status, finished_at IS NOT NULL FROM training_runs").fetchall()
    )
    assert runs == [("failed", 1)]


@pytest.mark.parametrize(
    ("name", "killed"), [("hangs_until_cancelled", False), ("hangs", True)], ids=["clean", "kill"]
)
def test_quitting_stops_a_running_pipeline(
    opted_in: Store, name: str, killed: bool, tiro_home: Path
) -> None:
    events: list[SchedulerEvent] = []
    scheduler = Scheduler(opted_in, target(name), on_event=events.append)
    scheduler.start()
    try:
        scheduler.retrain_now()
        deadline = time.monotonic() + 30
        while not (tiro_home / STARTED).exists():
            assert time.monotonic() < deadline, "the pipeline process did not start"
            time.sleep(0.05)
        pid = pipeline_rows(opted_in)[0][3]
    finally:
        started = time.monotonic()
        assert scheduler.stop(wait_seconds=30)
        took = time.monotonic() - started
    [(state, message, finished, _)] = pipeline_rows(opted_in)
    assert (state, finished) == ("cancelled", 1), message
    assert "model in use is unchanged" in message
    assert gone(pid)
    if killed:
        assert took >= FAST.grace_seconds  # waited for the grace period, then killed it
    assert any(e.kind == "pipeline_finished" for e in events)


def test_the_background_scheduler_keeps_working_after_a_crash(opted_in: Store) -> None:
    finished = threading.Event()
    events: list[SchedulerEvent] = []

    def listen(event: SchedulerEvent) -> None:
        events.append(event)
        if event.kind == "monitor_finished":
            finished.set()

    scheduler = Scheduler(opted_in, target("crashes"), busy=BusySignal(), on_event=listen)
    scheduler.start()
    try:
        scheduler.retrain_now()
        deadline = time.monotonic() + 60
        while not any(e.kind == "pipeline_finished" for e in events):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        crashed = next(e for e in events if e.kind == "pipeline_finished")
        assert crashed.pipeline is not None and crashed.pipeline.outcome == "failed"
        scheduler.monitor_now()
        assert finished.wait(60), "the monitor job did not run after the crash"
    finally:
        assert scheduler.stop()
    jobs = {(j.job, j.outcome) for j in job_history(opted_in)}
    assert ("pipeline", "failed") in jobs and ("monitor", "ok") in jobs


def test_a_job_left_running_by_a_crashed_app_is_closed_at_the_next_start(
    opted_in: Store,
) -> None:
    from retrain.scheduler import jobruns

    jobruns.start(opted_in, "pipeline", pid=999999)
    scheduler = Scheduler(opted_in, FAST)
    scheduler.start()
    assert scheduler.stop()
    [(state, message, finished, _)] = pipeline_rows(opted_in)
    assert (state, finished) == ("failed", 1) and "Tiro ended" in message


def test_the_trigger_decides_unless_forced(opted_in: Store) -> None:
    from retrain.scheduler.round import pipeline_step

    not_due = TriggerDecision(False, ("12 new validated examples (threshold 50)",))
    gate, outcome = pipeline_step(opted_in, not_due, target("raises"))
    assert not gate.run and outcome is None and gate.reasons == not_due.reasons
    assert pipeline_rows(opted_in) == []
