"""``run_monitor``: one monitor run, from telemetry to a persisted ``MonitorReport``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from retrain.contract import ContractConfig, build_examples
from retrain.monitor.canary import CanaryConfig, check_canary
from retrain.monitor.field import calibration, edit_rates_by_version, edit_rates_by_week
from retrain.monitor.history import save_report
from retrain.monitor.report import DataQuality, MonitorEvent, MonitorReport
from retrain.monitor.telemetry import now_text, reviewed_segments
from retrain.registry import FACTORY, PREVIOUS, Registry
from retrain.store import Store


@dataclass(frozen=True)
class MonitorConfig:
    canary: CanaryConfig = field(default_factory=CanaryConfig)


def run_monitor(
    store: Store, *, now: datetime | None = None, config: MonitorConfig | None = None
) -> MonitorReport:
    """Compute one report, act on the canary, persist the report and return it."""
    config = config or MonitorConfig()
    created_at = now_text(now)
    events: list[MonitorEvent] = []
    reviewed = reviewed_segments(store)
    canary = check_canary(store, now=now, config=config.canary, reviewed=reviewed)
    if canary is not None and canary.rolled_back:
        events.append(MonitorEvent(created_at, "rollback", canary.reason, canary.version))
    registry = Registry(store)
    champion = registry.champion()
    contract = build_examples(store, config=ContractConfig(verify_audio_hash=False))
    report = MonitorReport(
        created_at=created_at,
        champion_version=champion,
        champion_kind="base" if champion == FACTORY else "personal",
        previous_version=registry.alias(PREVIOUS),
        edit_rates=edit_rates_by_week(reviewed),
        version_rates=edit_rates_by_version(reviewed),
        calibration=calibration(reviewed),
        data_quality=DataQuality(
            candidates=contract.candidates,
            examples=len(contract.examples),
            corrections=len(contract.corrections),
            rejections=dict(contract.rejections),
            consent_enabled=contract.consent_enabled,
        ),
        canary=canary,
        events=tuple(events),
    )
    return save_report(store, report)
