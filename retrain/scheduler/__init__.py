"""The scheduler: runs the monitor every few minutes and the learning pipeline when it
pays, in the background, without the user noticing except for what they look at.

Public interface:

- ``Scheduler(store, config, busy=, on_event=)``: the app's APScheduler
  ``BackgroundScheduler`` (``start``, ``stop``, ``retrain_now``, ``monitor_now``).
- ``run_once(store, *, opted_in_only=True, cancel=None, ...) -> RoundResult``: one round
  headless (``tiro scheduler run-once``).
- ``BusySignal``: the app holds it while it transcribes; the pipeline never starts then.
- ``run_pipeline_job(store, config, cancel=)``: one learning run in an isolated, niced
  process (crash -> ``failed``, hang -> ``timed_out``, quit -> ``cancelled``).
- ``job_history(store, limit)``: ``job_runs`` (start, end, outcome, message).
- ``model_health(store)``: what the Model health panel shows.
"""

from retrain.scheduler.busy import BusySignal
from retrain.scheduler.config import SchedulerConfig
from retrain.scheduler.gating import PipelineGate, pipeline_gate
from retrain.scheduler.health import ModelHealth, model_health
from retrain.scheduler.jobruns import JobRun, job_history
from retrain.scheduler.pipeline_job import PipelineOutcome, run_pipeline_job
from retrain.scheduler.round import MonitorStep, RoundResult, monitor_step, run_once
from retrain.scheduler.service import Scheduler, SchedulerEvent

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
