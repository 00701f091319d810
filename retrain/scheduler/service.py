"""``Scheduler``: the app's background jobs on APScheduler's ``BackgroundScheduler``.

- ``monitor`` every ``monitor_minutes``: ``monitor_step``; if the gate lets the pipeline
  run, it queues the ``pipeline`` job at once.
- ``pipeline`` when queued (by the monitor, or by ``retrain_now``): checks the gate again
  (opt-in, busy, interval, trigger) and runs the pipeline process. Held back only by a
  running transcription, it queues itself again ``busy_retry_seconds`` later.

Both jobs coalesce and run at most one instance at a time. ``stop`` cancels a running
pipeline process (SIGTERM, killed after the grace period) and waits for the jobs to end.
What happens is told to ``on_event`` (from the scheduler's threads: the app posts it to
the UI thread).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from retrain.monitor import decide_retraining, latest_report
from retrain.scheduler import jobruns
from retrain.scheduler.busy import BusySignal
from retrain.scheduler.config import SchedulerConfig
from retrain.scheduler.gating import pipeline_gate
from retrain.scheduler.pipeline_job import PipelineOutcome, run_pipeline_job
from retrain.scheduler.round import MonitorStep, monitor_step
from retrain.store import Store

log = logging.getLogger("tiro.scheduler")

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}


@dataclass(frozen=True)
class SchedulerEvent:
    kind: str  # job_started | monitor_finished | pipeline_finished | pipeline_skipped | rollback
    job: str
    message: str
    monitor: MonitorStep | None = None
    pipeline: PipelineOutcome | None = None


class Scheduler:
    def __init__(
        self,
        store: Store,
        config: SchedulerConfig | None = None,
        *,
        busy: BusySignal | None = None,
        on_event: Callable[[SchedulerEvent], None] | None = None,
    ) -> None:
        self.store = store
        self.config = config or SchedulerConfig()
        self.busy = busy or BusySignal()
        self.on_event = on_event or (lambda _e: None)
        self.cancel = threading.Event()
        self._scheduler = BackgroundScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
        self._running_lock = threading.Lock()
        self._running: set[str] = set()
        self._idle = threading.Condition(self._running_lock)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        closed = jobruns.close_abandoned(
            self.store, "Tiro ended while this job was running; it did not finish."
        )
        if closed:
            log.info("closed %d job run(s) left running by a previous session", closed)
        first = datetime.now().astimezone() + timedelta(seconds=self.config.first_monitor_seconds)
        self._scheduler.add_job(
            self._monitor_job,
            "interval",
            minutes=self.config.monitor_minutes,
            id=jobruns.MONITOR_JOB,
            next_run_time=first,
        )
        self._scheduler.start()

    @property
    def running(self) -> bool:
        return self._scheduler.running

    def active_jobs(self) -> tuple[str, ...]:
        with self._running_lock:
            return tuple(sorted(self._running))

    def stop(self, wait_seconds: float | None = None) -> bool:
        """Cancel what runs, stop the scheduler, wait for the jobs; True if all ended."""
        self.cancel.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        limit = wait_seconds if wait_seconds is not None else self.config.grace_seconds + 5
        with self._idle:
            return self._idle.wait_for(lambda: not self._running, timeout=limit)

    # -- requests ----------------------------------------------------------------------
    def monitor_now(self) -> None:
        self._scheduler.modify_job(jobruns.MONITOR_JOB, next_run_time=_now())

    def retrain_now(self) -> None:
        """Queue a pipeline run now ("Retrain now"): skips the trigger and the interval,
        still waits for opt-in and for transcriptions to finish."""
        self._queue_pipeline(force=True)

    def _queue_pipeline(self, force: bool, delay: float = 0.0) -> None:
        if self.cancel.is_set():
            return
        self._scheduler.add_job(
            self._pipeline_job,
            "date",
            run_date=_now() + timedelta(seconds=delay),
            kwargs={"force": force},
            id=jobruns.PIPELINE_JOB,
            replace_existing=True,
        )

    # -- jobs (on the scheduler's threads) ----------------------------------------------
    def _tracked(self, name: str) -> bool:
        with self._running_lock:
            if self.cancel.is_set() or name in self._running:
                return False
            self._running.add(name)
            return True

    def _done(self, name: str) -> None:
        with self._idle:
            self._running.discard(name)
            self._idle.notify_all()

    def _monitor_job(self) -> None:
        if not self._tracked(jobruns.MONITOR_JOB):
            return
        try:
            self._emit(SchedulerEvent("job_started", jobruns.MONITOR_JOB, "checking the model"))
            step = monitor_step(self.store, self.config, cancel=self.cancel)
            for message in step.rollbacks:
                self._emit(SchedulerEvent("rollback", jobruns.MONITOR_JOB, message, monitor=step))
            self._emit(SchedulerEvent("monitor_finished", jobruns.MONITOR_JOB, step.message, step))
            if step.trigger is not None and step.trigger.retrain and not self.cancel.is_set():
                self._queue_pipeline(force=False)
        except Exception:  # the app must keep working whatever a job does
            log.exception("the monitor job failed")
        finally:
            self._done(jobruns.MONITOR_JOB)

    def _pipeline_job(self, force: bool = False) -> None:
        if not self._tracked(jobruns.PIPELINE_JOB):
            if not self.cancel.is_set():
                message = "a learning run is already in progress"
                self._emit(SchedulerEvent("pipeline_skipped", jobruns.PIPELINE_JOB, message))
            return
        try:
            trigger = None
            if not force:  # queued by the monitor: its latest decision still has to hold
                report = latest_report(self.store)
                if report is not None:
                    trigger = decide_retraining(self.store, report, self.config.trigger)
            gate = pipeline_gate(self.store, trigger, self.config, busy=self.busy, force=force)
            if gate.busy and not self.cancel.is_set():
                self._queue_pipeline(force, delay=self.config.busy_retry_seconds)
                return
            if not gate.run or self.cancel.is_set():
                message = "; ".join(gate.reasons)
                self._emit(SchedulerEvent("pipeline_skipped", jobruns.PIPELINE_JOB, message))
                return
            self._emit(
                SchedulerEvent("job_started", jobruns.PIPELINE_JOB, "learning from your edits")
            )
            outcome = run_pipeline_job(self.store, self.config, cancel=self.cancel)
            self._emit(
                SchedulerEvent(
                    "pipeline_finished", jobruns.PIPELINE_JOB, outcome.message, pipeline=outcome
                )
            )
        except Exception:  # the app must keep working whatever a job does
            log.exception("the pipeline job failed")
        finally:
            self._done(jobruns.PIPELINE_JOB)

    def _emit(self, event: SchedulerEvent) -> None:
        try:
            self.on_event(event)
        except Exception:
            log.exception("a scheduler listener failed")


def _now() -> datetime:
    return datetime.now().astimezone()
