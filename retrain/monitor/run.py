"""``run_monitor``: one monitor run, from telemetry to a persisted ``MonitorReport``.

Order: the dependency check (Monitoring 1; may roll back to the factory model), then the
canary (may roll back to the predecessor), then every statistic on the champion that
serves after both. What the monitor did is in ``report.events``; what needs attention in
``report.flags`` (one sentence each).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from retrain.contract import ContractConfig, build_examples
from retrain.monitor.canary import CanaryConfig, check_canary, record_job
from retrain.monitor.dependencies import Evaluate, check_dependencies, reevaluate
from retrain.monitor.drift import DriftConfig, compare, split_samples
from retrain.monitor.field import calibration, edit_rates_by_version, edit_rates_by_week
from retrain.monitor.health import HealthConfig, health, performance
from retrain.monitor.history import latest_report, save_report
from retrain.monitor.report import DataQuality, MonitorEvent, MonitorReport, VersionEditRate
from retrain.monitor.staleness import staleness, staleness_series
from retrain.monitor.telemetry import (
    asr_outputs,
    deleted_segments,
    field_segments,
    now_text,
    reviewed_segments,
    training_runs,
    transcription_runs,
)
from retrain.monitor.training import last_training, offline_online
from retrain.monitor.training_cost import training_performance
from retrain.registry import FACTORY, PREVIOUS, Registry
from retrain.store import Store

MONITOR_JOB = "monitor"
HEADLINE_MIN_WORDS = 100


@dataclass(frozen=True)
class MonitorConfig:
    canary: CanaryConfig = field(default_factory=CanaryConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    #: Monitoring 1: re-runs the champion's held-out evaluation (tests may substitute).
    evaluate: Evaluate = reevaluate
    environment: dict[str, str] | None = None  # None: the running one


def _first_transcript(store: Store) -> str | None:
    return store.read(lambda c: c.execute("SELECT MIN(created_at) FROM transcripts").fetchone()[0])


def _last_trained_examples(store: Store) -> set[str] | None:
    def query(conn):  # type: ignore[no-untyped-def]
        row = conn.execute("SELECT MAX(training_run_id) FROM training_examples").fetchone()
        if row[0] is None:
            return None
        return {
            e
            for (e,) in conn.execute(
                "SELECT example_id FROM training_examples WHERE training_run_id = ?", (row[0],)
            )
        }

    return store.read(query)


def _reference_asr_ids(store: Store, training_run_id: int | None) -> set[int] | None:
    if training_run_id is None:
        return None
    rows = store.read(
        lambda c: c.execute(
            "SELECT s.asr_segment_id FROM training_examples AS te "
            "JOIN segments AS s ON s.id = te.segment_id "
            "WHERE te.training_run_id = ? AND s.asr_segment_id IS NOT NULL",
            (training_run_id,),
        ).fetchall()
    )
    return {r[0] for r in rows} or None


def headline(champion: str, rates: Sequence[VersionEditRate], flags: Sequence[str]) -> str:
    """One sentence for the Model health panel: how the model in use compares."""
    by_version = {r.version: r for r in rates}
    mine, factory = by_version.get(champion), by_version.get(FACTORY)
    if mine is None or mine.rate is None or mine.words < HEADLINE_MIN_WORDS:
        words = mine.words if mine else 0
        text = (
            f"Not enough reviewed text from the model in use ({champion}) to judge it yet: "
            f"{words} words (at least {HEADLINE_MIN_WORDS})."
        )
    elif champion == FACTORY:
        text = (
            f"The factory model is in use: you edited {mine.rate:.1%} of its words "
            f"({mine.words} reviewed words)."
        )
    elif factory is None or factory.rate is None or factory.words < HEADLINE_MIN_WORDS:
        text = f"Your personalized model {champion}: you edited {mine.rate:.1%} of its words."
    else:
        trend = "fewer" if mine.rate < factory.rate else "more"
        text = (
            f"Your personalized model {champion}: you edited {mine.rate:.1%} of its words, "
            f"against {factory.rate:.1%} with the factory model ({trend} edits)."
        )
    if flags:
        text += (
            " 1 thing needs attention."
            if len(flags) == 1
            else f" {len(flags)} things need attention."
        )
    return text


def run_monitor(
    store: Store, *, now: datetime | None = None, config: MonitorConfig | None = None
) -> MonitorReport:
    """Compute one report, act on dependency changes and the canary, persist and return it."""
    config = config or MonitorConfig()
    created_at = now_text(now)
    events: list[MonitorEvent] = []
    flags: list[str] = []
    previous = latest_report(store)

    serving = Registry(store).champion()
    dependencies = check_dependencies(
        store, previous, current=config.environment, evaluate=config.evaluate
    )
    if dependencies.changed and dependencies.action != "none":
        flags.append(
            "libraries or model files changed since the champion was trained: "
            + "; ".join(dependencies.changed)
        )
    if dependencies.action == "rolled_back":
        events.append(MonitorEvent(created_at, "rollback", dependencies.detail, serving))
        record_job(store, MONITOR_JOB, "rolled_back", dependencies.detail, created_at)
    elif dependencies.action == "unverifiable":
        flags.append(dependencies.detail)
    elif dependencies.changed and (
        previous is None or previous.dependencies.action != dependencies.action
    ):
        events.append(MonitorEvent(created_at, "dependency_change", dependencies.detail, serving))

    reviewed = reviewed_segments(store)
    canary = check_canary(store, now=now, config=config.canary, reviewed=reviewed)
    if canary is not None and canary.rolled_back:
        events.append(MonitorEvent(created_at, "rollback", canary.reason, canary.version))
        flags.append(canary.reason)

    registry = Registry(store)
    champion = registry.champion()
    versions = {v.version: v for v in registry.versions()}
    runs = training_runs(store)
    runs_by_id = {r.id: r for r in runs}
    first_transcript = _first_transcript(store)

    contract = build_examples(store, config=ContractConfig(verify_audio_hash=False))
    trained = _last_trained_examples(store)
    new_examples = sum(
        1 for e in contract.examples if trained is None or e.example_id not in trained
    )

    info = versions.get(champion)
    reference_ids = _reference_asr_ids(store, info.training_run_id if info else None)
    champion_since = info.created_at if info else None
    reference, current = split_samples(
        asr_outputs(store), reference_ids, champion_since, config.drift
    )
    drift = compare(reference, current, config.drift)
    for d in drift:
        if d.drifted:
            flags.append(
                f"input drift in {d.feature}: {d.test} D = {d.statistic}, p = {d.p_value:.3g} "
                f"({d.current_n} recent against {d.reference_n})"
            )
    health_summary = health(current or reference, config.health)
    performance_summary = performance(transcription_runs(store), config.health)
    flags.extend(health_summary.flags)
    flags.extend(performance_summary.flags)
    training_cost = training_performance(runs)
    flags.extend(training_cost.flags)

    # the field edit rate and calibration also count model segments the person deleted
    field_use = field_segments(reviewed, deleted_segments(store))
    version_rates = edit_rates_by_version(field_use)
    report = MonitorReport(
        created_at=created_at,
        champion_version=champion,
        champion_kind="base" if champion == FACTORY else "personal",
        previous_version=registry.alias(PREVIOUS),
        edit_rates=edit_rates_by_week(field_use),
        version_rates=version_rates,
        headline=headline(champion, version_rates, flags),
        calibration=calibration(field_use),
        calibration_by_version={
            v.version: calibration([s for s in field_use if s.version == v.version])
            for v in version_rates
        },
        drift=drift,
        health=health_summary,
        performance=performance_summary,
        training_performance=training_cost,
        data_quality=DataQuality(
            candidates=contract.candidates,
            examples=len(contract.examples),
            corrections=len(contract.corrections),
            rejections=dict(contract.rejections),
            consent_enabled=contract.consent_enabled,
        ),
        staleness=staleness(
            champion, created_at, versions, runs_by_id, first_transcript, reviewed, new_examples
        ),
        staleness_series=staleness_series(versions, runs_by_id, first_transcript, reviewed),
        last_training=last_training(runs),
        offline_online=offline_online(runs, versions, field_use),
        canary=canary,
        dependencies=dependencies,
        flags=tuple(flags),
        events=tuple(events),
    )
    return save_report(store, report)
