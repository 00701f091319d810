"""The scheduler's settings: how often the monitor runs, how often the pipeline may run,
and how long a pipeline run may take before it is stopped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the monitor is imported when a config is made, not with this module
    from retrain.monitor import MonitorConfig, TriggerConfig

PIPELINE_TARGET = "retrain.pipeline.run:run_pipeline"


@dataclass(frozen=True)
class SchedulerConfig:
    monitor_minutes: float = 5.0  # the monitor job's interval
    first_monitor_seconds: float = 60.0  # after the app starts, so that opening stays quick
    pipeline_interval_hours: float = 6.0  # at most one pipeline run per interval
    pipeline_timeout_seconds: float = 3 * 3600.0  # a run still going then is stopped
    busy_retry_seconds: float = 30.0  # a run held back by a transcription tries again then
    grace_seconds: float = 10.0  # SIGTERM first; killed if still there after this
    niceness: int = 10  # the pipeline process's priority is lowered by this much
    trigger: TriggerConfig = field(default_factory=lambda: _monitor().TriggerConfig())
    monitor: MonitorConfig = field(default_factory=lambda: _monitor().MonitorConfig())
    #: ``module:function`` the pipeline process calls with ``(store, cancel=event)``.
    #: Always the real pipeline, except in the isolation tests (a crashing/hanging target).
    pipeline_target: str = PIPELINE_TARGET


def _monitor():  # type: ignore[no-untyped-def]
    import retrain.monitor

    return retrain.monitor
