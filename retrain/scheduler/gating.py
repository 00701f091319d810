"""Whether the pipeline may run now: the user opted in, no transcription is running, the
last run was long enough ago, and the monitor's trigger says retraining pays.

"Retrain now" (``force``) skips the trigger and the interval, never the opt-in or the
busy check. The busy check sees transcriptions in every Tiro process (``BusySignal``'s
lock files): without a ``busy`` argument the gate makes its own ``BusySignal()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from retrain.monitor import TriggerDecision
from retrain.scheduler import jobruns
from retrain.scheduler.busy import BusySignal
from retrain.scheduler.config import SchedulerConfig
from retrain.store import Store


@dataclass(frozen=True)
class PipelineGate:
    run: bool
    reasons: tuple[str, ...]
    busy: bool = False  # held back only by a running transcription: try again soon

    def to_json(self) -> dict:
        return {"run": self.run, "reasons": list(self.reasons), "busy": self.busy}


def pipeline_gate(
    store: Store,
    trigger: TriggerDecision | None,
    config: SchedulerConfig,
    *,
    busy: BusySignal | None = None,
    force: bool = False,
    opted_in_only: bool = True,
    now: datetime | None = None,
) -> PipelineGate:
    """Check every condition in order; the first that fails is the reason not to run.

    ``busy``: the signal to consult (default: a new cross-process ``BusySignal``)."""
    if opted_in_only and not store.consent().enabled:
        return PipelineGate(False, ("learning is off: the user has not opted in",))
    held = (busy if busy is not None else BusySignal()).reasons  # one look: busy iff any
    if held:
        return PipelineGate(
            False,
            (f"Tiro is busy ({', '.join(held)}); the run waits until it is done",),
            busy=True,
        )
    running = jobruns.job_history(store, 1, jobruns.PIPELINE_JOB)
    if running and running[0].outcome == "running":
        return PipelineGate(False, ("a learning run is already in progress",))
    if force:
        return PipelineGate(True, ("requested now by the user",))
    last = running[0] if running else None
    if last is not None and config.pipeline_interval_hours > 0:
        hours = ((now or datetime.now(UTC)) - jobruns.parse_utc(last.started_at)).total_seconds()
        hours /= 3600
        if hours < config.pipeline_interval_hours:
            return PipelineGate(
                False,
                (
                    f"the last learning run started {hours:.1f} h ago (at most one every "
                    f"{config.pipeline_interval_hours:g} h)",
                ),
            )
    if trigger is None:
        return PipelineGate(False, ("the monitor did not run",))
    if not trigger.retrain:
        return PipelineGate(False, trigger.reasons)
    return PipelineGate(True, trigger.reasons)
