"""The pipeline job: one learning run in its own niced process, recorded in ``job_runs``.

``run_pipeline_job`` starts ``retrain.scheduler.pipeline_worker`` through
``run_isolated``, waits for it, and records the run: ``ok`` (with the gate's decision
and the model in use as the message), ``failed`` (the process crashed or reported an
error), ``timed_out`` or ``cancelled``. A run that did not finish cleanly may have left
its ``training_runs`` row ``running``; it is closed with the same outcome, so that the
monitor's trigger does not think a training is still going.

The champion changes only inside the worker, through the registry's atomic publish:
a run stopped before that leaves it untouched; one stopped after it has published.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.paths import cache_dir
from retrain.isolated import ChildOutcome, run_isolated
from retrain.registry import Registry
from retrain.scheduler import jobruns
from retrain.scheduler.config import SchedulerConfig
from retrain.scheduler.pipeline_worker import EXIT_CANCELLED, EXIT_FAILED
from retrain.store import Store

log = logging.getLogger("tiro.scheduler")


@dataclass(frozen=True)
class PipelineOutcome:
    job_run_id: int
    outcome: str  # ok | failed | timed_out | cancelled
    message: str
    seconds: float
    champion_before: str
    champion_after: str
    report: dict[str, Any] = field(default_factory=dict)  # the pipeline's RunReport JSON

    @property
    def promoted(self) -> bool:
        return self.report.get("gate", {}).get("decision") == "promoted"

    def to_json(self) -> dict[str, Any]:
        return {
            "job_run_id": self.job_run_id,
            "outcome": self.outcome,
            "message": self.message,
            "seconds": round(self.seconds, 2),
            "champion_before": self.champion_before,
            "champion_after": self.champion_after,
            "promoted": self.promoted,
            "report": self.report,
        }


def worker_command(result: Path, target: str) -> list[str]:
    return [sys.executable, "-m", "retrain.scheduler.pipeline_worker", str(result), target]


def describe_report(report: dict[str, Any]) -> str:
    gate = report.get("gate") or {}
    decision = gate.get("decision", "?")
    reasons = "; ".join(gate.get("reasons") or [])
    after = report.get("champion_after", "?")
    if decision == "promoted":
        text = f"promoted {after} ({report.get('promoted_candidate')})"
    else:
        text = f"{decision}: the model in use stays {after}"
    return f"{text}: {reasons}" if reasons else text


def run_pipeline_job(
    store: Store,
    config: SchedulerConfig | None = None,
    *,
    cancel: threading.Event | None = None,
) -> PipelineOutcome:
    """Run the learning pipeline once in an isolated process; never raises for what the
    process does (crash, hang, error): that is the outcome."""
    config = config or SchedulerConfig()
    registry = Registry(store)
    before = registry.champion()
    run_id = jobruns.start(store, jobruns.PIPELINE_JOB)
    started_at = store.read(
        lambda c: c.execute("SELECT started_at FROM job_runs WHERE id = ?", (run_id,)).fetchone()
    )[0]
    workdir = cache_dir() / "scheduler" / uuid.uuid4().hex[:12]
    workdir.mkdir(parents=True, exist_ok=True)
    result_path = workdir / "result.json"
    try:
        child = run_isolated(
            worker_command(result_path, config.pipeline_target),
            timeout_seconds=config.pipeline_timeout_seconds,
            cancel=cancel,
            grace_seconds=config.grace_seconds,
            niceness=config.niceness,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            on_started=lambda pid: jobruns.set_pid(store, run_id, pid),
        )
        result = _read_result(result_path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    outcome, message = _classify(child, result, config)
    if outcome != "ok":
        _close_training_runs(store, started_at, outcome, message)
    after = registry.champion()
    if outcome != "ok":
        message += (
            f"; it had already published: the model in use is now {after}."
            if after != before
            else "; the model in use is unchanged."
        )
    jobruns.finish(store, run_id, outcome, message)
    log.info("pipeline job %s: %s", outcome, message)
    return PipelineOutcome(
        run_id, outcome, message, child.seconds, before, after, result.get("report") or {}
    )


def _read_result(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _classify(
    child: ChildOutcome, result: dict[str, Any], config: SchedulerConfig
) -> tuple[str, str]:
    if child.outcome == "timed_out":
        return "timed_out", (
            f"the learning run took longer than {config.pipeline_timeout_seconds:g} s and was "
            "stopped"
        )
    if child.outcome == "cancelled" or child.returncode == EXIT_CANCELLED:
        return "cancelled", "the learning run was stopped before it finished"
    if child.outcome == "ok" and "report" in result:
        return "ok", describe_report(result["report"])
    if child.returncode == EXIT_FAILED and result.get("error"):
        reason = result["error"]
    elif child.returncode is not None and child.returncode < 0:
        reason = f"the learning process was ended by signal {-child.returncode}"
    else:
        reason = child.last_error or f"the learning process exited with status {child.returncode}"
    return "failed", f"the learning run failed ({reason})"


def _close_training_runs(store: Store, since: str, outcome: str, message: str) -> None:
    status = "cancelled" if outcome == "cancelled" else "failed"

    def job(conn) -> None:  # type: ignore[no-untyped-def]
        conn.execute(
            "UPDATE training_runs SET status = ?, finished_at = ?, reasons_json = ? "
            "WHERE status = 'running' AND finished_at IS NULL AND started_at >= ?",
            (status, jobruns.utc_text(), json.dumps([message]), since),
        )

    store.write(job).result()
