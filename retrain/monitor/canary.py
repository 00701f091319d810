"""The canary: after a promotion, the first K reviewed segments decide whether it stays.

The new champion's field edit rate on the first ``segments`` (default 30) segments it
transcribed that a person reviewed is compared with its predecessor's on comparable
data: the predecessor's most recent reviewed segments transcribed before the promotion
(same user, same kind of recordings, up to ``predecessor_window`` segments). If the new
champion is significantly worse — one-sided exact conditional test for two Poisson
rates, p < ``alpha``, and worse by at least ``min_worsening`` (absolute) — the registry
rolls back to the predecessor, the version's status says why, and a ``job_runs`` row
(job ``canary``, outcome ``rolled_back``) carries the message for the app.

The check is deterministic (always the first K segments), so running it again gives the
same answer; once rolled back, the version is no longer the champion and is not checked.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime

from retrain.monitor.report import CanaryOutcome
from retrain.monitor.statistics import poisson_rate_test
from retrain.monitor.telemetry import ReviewedSegment, now_text, reviewed_segments
from retrain.registry import FACTORY, Registry
from retrain.store import Store

TEST_NAME = "one-sided exact conditional Poisson rate test"
CANARY_JOB = "canary"


@dataclass(frozen=True)
class CanaryConfig:
    segments: int = 30
    alpha: float = 0.05
    min_worsening: float = 0.02
    predecessor_window: int = 100
    min_predecessor_words: int = 50


def canary_state(
    store: Store,
    *,
    now: datetime | None = None,
    config: CanaryConfig | None = None,
    reviewed: list[ReviewedSegment] | None = None,
) -> CanaryOutcome | None:
    """The canary of the current champion, without acting on it (``None``: factory)."""
    config = config or CanaryConfig()
    registry = Registry(store)
    champion = registry.champion()
    if champion == FACTORY:
        return None
    info = registry.version(champion)
    if info is None:
        return None
    predecessor = info.parent_version or FACTORY
    published = info.created_at
    reviewed = reviewed if reviewed is not None else reviewed_segments(store)
    mine = [s for s in reviewed if s.version == champion][: config.segments]
    before = [s for s in reviewed if s.version == predecessor and s.transcribed_at <= published]
    before.sort(key=lambda s: (s.transcribed_at, s.segment_id))
    before = before[-config.predecessor_window :]
    checked_at = now_text(now)
    base = CanaryOutcome(
        rolled_back=False,
        reason="",
        version=champion,
        predecessor=predecessor,
        segments=len(mine),
        needed=config.segments,
        test=TEST_NAME,
        checked_at=checked_at,
    )
    if len(mine) < config.segments:
        return replace(
            base,
            state="pending",
            reason=f"{len(mine)} of {config.segments} reviewed segments from {champion} so far",
        )
    v_words = sum(s.counts.reference_words for s in mine)
    v_errors = sum(s.counts.errors for s in mine)
    p_words = sum(s.counts.reference_words for s in before)
    p_errors = sum(s.counts.errors for s in before)
    v_rate = v_errors / v_words if v_words else None
    p_rate = p_errors / p_words if p_words else None
    base = replace(
        base,
        version_words=v_words,
        version_errors=v_errors,
        predecessor_words=p_words,
        predecessor_errors=p_errors,
        version_rate=v_rate,
        predecessor_rate=p_rate,
    )
    if p_words < config.min_predecessor_words or v_rate is None or p_rate is None:
        return replace(
            base,
            state="passed",
            reason=(
                f"no comparable data: {p_words} reviewed words from {predecessor} before the "
                f"promotion (at least {config.min_predecessor_words} needed)"
            ),
        )
    p_value = poisson_rate_test(v_errors, v_words, p_errors, p_words)
    base = replace(base, p_value=p_value)
    if p_value < config.alpha and v_rate - p_rate >= config.min_worsening:
        return replace(
            base,
            state="failed",
            reason=(
                f"the field edit rate of {champion} on its first {len(mine)} reviewed segments "
                f"was {v_rate:.1%}, against {p_rate:.1%} for {predecessor} before it "
                f"({TEST_NAME}, p = {p_value:.3g} < {config.alpha})"
            ),
        )
    return replace(
        base,
        state="passed",
        reason=(
            f"the field edit rate of {champion} on its first {len(mine)} reviewed segments was "
            f"{v_rate:.1%}, against {p_rate:.1%} for {predecessor} (p = {p_value:.3g}): "
            "not significantly worse"
        ),
    )


def check_canary(
    store: Store,
    *,
    now: datetime | None = None,
    config: CanaryConfig | None = None,
    reviewed: list[ReviewedSegment] | None = None,
) -> CanaryOutcome | None:
    """Evaluate the champion's canary and roll back if it failed. ``None``: factory serves."""
    outcome = canary_state(store, now=now, config=config, reviewed=reviewed)
    if outcome is None or outcome.state != "failed":
        return outcome
    registry = Registry(store)
    if registry.champion() != outcome.version:  # moved meanwhile
        return outcome
    restored = registry.rollback(f"canary failed: {outcome.reason}")
    message = f"Rolled back {outcome.version} to {restored}: {outcome.reason}."
    record_job(store, CANARY_JOB, "rolled_back", message, outcome.checked_at)
    return replace(outcome, rolled_back=True, reason=message)


def record_job(store: Store, job: str, outcome: str, message: str, at: str) -> None:
    """A finished ``job_runs`` row (what the app's job history shows)."""

    def write(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO job_runs (job, started_at, finished_at, outcome, message) "
            "VALUES (?, ?, ?, ?, ?)",
            (job, at, at, outcome, message),
        )

    store.write(write).result()
