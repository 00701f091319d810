"""What the app's Model health panel shows, read in one go (off the UI thread).

``model_health(store)``: the latest monitor report, a short history of reports, the job
history, the model in use, and whether learning is on.
"""

from __future__ import annotations

from dataclasses import dataclass

from retrain.monitor import MonitorReport, latest_report
from retrain.registry import Registry
from retrain.scheduler.jobruns import JobRun, job_history
from retrain.store import Store


@dataclass(frozen=True)
class ModelHealth:
    champion: str
    learning_enabled: bool
    report: MonitorReport | None
    jobs: tuple[JobRun, ...]

    @property
    def rollbacks(self) -> tuple[JobRun, ...]:
        return tuple(j for j in self.jobs if j.outcome == "rolled_back")


def model_health(store: Store, jobs: int = 50) -> ModelHealth:
    return ModelHealth(
        champion=Registry(store).champion(),
        learning_enabled=bool(store.consent().enabled),
        report=latest_report(store),
        jobs=tuple(job_history(store, jobs)),
    )
