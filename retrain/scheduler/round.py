"""One scheduler round: the monitor job, then the pipeline job if it may and should run.

``run_once`` is what ``tiro scheduler run-once`` runs and what the app's scheduler runs
every few minutes (as two jobs, ``monitor_step`` and ``pipeline_step``).

The monitor job runs in this process (it reads the store and, for a canary, decodes a
few snippets): ``run_monitor`` computes and saves the report, and acts on the canary
(``check_canary``, which rolls a harmful model back) and on dependency changes; then
``decide_retraining`` says whether training pays. The pipeline job runs in its own
process (``retrain.scheduler.pipeline_job``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.errors import TranscriptionCancelled
from retrain.monitor import TriggerDecision, decide_retraining, run_monitor
from retrain.pipeline.decode import cancelled_by
from retrain.scheduler import jobruns
from retrain.scheduler.busy import BusySignal
from retrain.scheduler.config import SchedulerConfig
from retrain.scheduler.gating import PipelineGate, pipeline_gate
from retrain.scheduler.pipeline_job import PipelineOutcome, run_pipeline_job
from retrain.store import Store

log = logging.getLogger("tiro.scheduler")


@dataclass(frozen=True)
class MonitorStep:
    job_run_id: int
    outcome: str  # ok | failed | cancelled
    message: str
    report_id: int | None = None
    headline: str = ""
    flags: tuple[str, ...] = ()
    rollbacks: tuple[str, ...] = ()  # what the monitor rolled back, and why (tell the user)
    trigger: TriggerDecision | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "job_run_id": self.job_run_id,
            "outcome": self.outcome,
            "message": self.message,
            "report_id": self.report_id,
            "headline": self.headline,
            "flags": list(self.flags),
            "rollbacks": list(self.rollbacks),
            "trigger": None
            if self.trigger is None
            else {
                "retrain": self.trigger.retrain,
                "reasons": list(self.trigger.reasons),
                "new_examples": self.trigger.new_examples,
            },
        }


@dataclass(frozen=True)
class RoundResult:
    monitor: MonitorStep
    gate: PipelineGate
    pipeline: PipelineOutcome | None = None

    @property
    def promoted(self) -> bool:
        return self.pipeline is not None and self.pipeline.promoted

    def to_json(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor.to_json(),
            "pipeline_gate": self.gate.to_json(),
            "pipeline": None if self.pipeline is None else self.pipeline.to_json(),
        }


def monitor_step(
    store: Store,
    config: SchedulerConfig | None = None,
    *,
    now: datetime | None = None,
    cancel: threading.Event | None = None,
) -> MonitorStep:
    """Run the monitor once, recorded as a ``monitor`` job run; never raises.

    ``cancel`` (the app quitting) stops a canary or re-evaluation decode in progress
    within about a second; the round is then recorded as cancelled and changes nothing.
    """
    config = config or SchedulerConfig()
    run_id = jobruns.start(store, jobruns.MONITOR_JOB)
    try:
        with cancelled_by(cancel):
            report = run_monitor(store, now=now, config=config.monitor)
        trigger = decide_retraining(store, report, config.trigger)
    except TranscriptionCancelled:
        message = "the monitor was stopped before it finished; nothing was changed"
        jobruns.finish(store, run_id, "cancelled", message)
        return MonitorStep(run_id, "cancelled", message)
    except Exception as exc:
        log.exception("the monitor job failed")
        message = f"the monitor failed ({type(exc).__name__}: {exc})"
        jobruns.finish(store, run_id, "failed", message)
        return MonitorStep(run_id, "failed", message)
    rollbacks = tuple(e.message for e in report.events if e.kind == "rollback")
    verdict = "Retraining is due" if trigger.retrain else "No retraining needed"
    message = f"{report.headline} {verdict}: {'; '.join(trigger.reasons)}".strip()
    jobruns.finish(store, run_id, "ok", message)
    return MonitorStep(
        run_id,
        "ok",
        message,
        report.report_id,
        report.headline,
        tuple(report.flags),
        rollbacks,
        trigger,
    )


def pipeline_step(
    store: Store,
    trigger: TriggerDecision | None,
    config: SchedulerConfig | None = None,
    *,
    busy: BusySignal | None = None,
    force: bool = False,
    opted_in_only: bool = True,
    cancel: threading.Event | None = None,
) -> tuple[PipelineGate, PipelineOutcome | None]:
    """Run the pipeline job if the gate lets it; returns the gate and the outcome."""
    config = config or SchedulerConfig()
    gate = pipeline_gate(
        store, trigger, config, busy=busy, force=force, opted_in_only=opted_in_only
    )
    if not gate.run or (cancel is not None and cancel.is_set()):
        return gate, None
    return gate, run_pipeline_job(store, config, cancel=cancel)


def run_once(
    store: Store,
    *,
    opted_in_only: bool = True,
    cancel: threading.Event | None = None,
    config: SchedulerConfig | None = None,
    busy: BusySignal | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> RoundResult:
    """One round headless: the monitor, then the pipeline if it may and should run.

    Without ``busy`` the gate consults a new ``BusySignal()``, which sees a transcription
    running in any Tiro process (``tiro import``, ``tiro transcribe``, the app)."""
    config = config or SchedulerConfig()
    monitor = monitor_step(store, config, now=now)
    gate, outcome = pipeline_step(
        store,
        monitor.trigger,
        config,
        busy=busy,
        force=force,
        opted_in_only=opted_in_only,
        cancel=cancel,
    )
    return RoundResult(monitor, gate, outcome)
