"""The scheduler: runs the monitor every few minutes and the learning pipeline when it
pays, in the background, without the user noticing except for what they look at.

Public interface:

- ``Scheduler(store, config, busy=, on_event=)``: the app's APScheduler
  ``BackgroundScheduler`` (``start``, ``stop``, ``retrain_now``, ``monitor_now``).
- ``run_once(store, *, opted_in_only=True, cancel=None, ...) -> RoundResult``: one round
  headless (``tiro scheduler run-once``).
- ``BusySignal``: held while Tiro transcribes (the app, ``tiro import``, ``tiro transcribe``);
  seen across processes through lock files under ``TIRO_HOME/locks``; the pipeline never
  starts then.
- ``run_pipeline_job(store, config, cancel=)``: one learning run in an isolated, niced
  process (crash -> ``failed``, hang -> ``timed_out``, quit -> ``cancelled``).
- ``job_history(store, limit)``: ``job_runs`` (start, end, outcome, message).
- ``model_health(store)``: what the Model health panel shows.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use: the app imports this package at startup (``BusySignal``), and the
# monitor and APScheduler take seconds to import.
_WHERE = {
    "BusySignal": "busy",
    "JobRun": "jobruns",
    "ModelHealth": "health",
    "MonitorStep": "round",
    "PipelineGate": "gating",
    "PipelineOutcome": "pipeline_job",
    "RoundResult": "round",
    "Scheduler": "service",
    "SchedulerConfig": "config",
    "SchedulerEvent": "service",
    "job_history": "jobruns",
    "model_health": "health",
    "monitor_step": "round",
    "pipeline_gate": "gating",
    "run_once": "round",
    "run_pipeline_job": "pipeline_job",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)


__all__ = [
    "BusySignal",
    "JobRun",
    "ModelHealth",
    "MonitorStep",
    "PipelineGate",
    "PipelineOutcome",
    "RoundResult",
    "Scheduler",
    "SchedulerConfig",
    "SchedulerEvent",
    "job_history",
    "model_health",
    "monitor_step",
    "pipeline_gate",
    "run_once",
    "run_pipeline_job",
]
