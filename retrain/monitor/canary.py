"""The canary: after a promotion, the first K reviewed segments decide whether it stays.

The canary is the first ``segments`` (default 30) segments the new champion transcribed
that a person reviewed. Its field edit rate is compared with its predecessor's on
comparable data, preferably the *same audio*:

- **paired** (when the canary segments' learning snippets exist, i.e. the user opted
  in): each canary snippet is decoded again by the predecessor (the serving path:
  ``retrain.pipeline.run.served_by``) and scored against the same kept text. Both
  sides then have the same words; the test is the exact conditional Poisson rate test
  with equal exposure (a binomial sign test on the errors). The kept text was edited
  from the champion's output, which if anything favours the champion: a rollback is
  conservative. Snippets exist only for segments that pass the data contract's text
  rules, so a segment the person rewrote entirely has none: the paired test needs audio
  for at least ``min_paired_share`` (80 %) of the canary, else the unpaired one runs
  (the e2e test shows both: a model that garbles every sentence is caught unpaired).
- **unpaired** (otherwise): the predecessor's most recent reviewed segments transcribed
  before the promotion (up to ``predecessor_window``; at least
  ``min_predecessor_words`` words), with the same test on the two rates.

If the new champion is significantly worse (one-sided, p < ``alpha``) and worse by at
least ``min_worsening`` (absolute), the registry rolls back to the predecessor, the
version's status says why, and a ``job_runs`` row (job ``canary``, outcome
``rolled_back``) carries the message for the app.

A decided canary does not change: the segments are always the first K, and a paired
result that passed is taken from the latest report instead of decoding again. Once
rolled back, the version is no longer the champion and is not checked.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from engine.errors import TranscriptionCancelled
from engine.paths import snippets_dir
from retrain.monitor.report import CanaryOutcome
from retrain.monitor.statistics import poisson_rate_test
from retrain.monitor.telemetry import (
    ReviewedSegment,
    field_counts,
    now_text,
    reviewed_segments,
)
from retrain.registry import FACTORY, Registry
from retrain.store import Store

log = logging.getLogger("tiro.monitor")

TEST_NAME = "one-sided exact conditional Poisson rate test"
PAIRED = f"paired (same audio re-decoded by the predecessor), {TEST_NAME}"
UNPAIRED = f"unpaired (predecessor's recent segments), {TEST_NAME}"
CANARY_JOB = "canary"

#: (store, predecessor version, snippet files) -> the predecessor's text for each file.
Redecode = Callable[[Store, str, Sequence[tuple[Path, str]]], list[str] | None]


def redecode(store: Store, version: str, clips: Sequence[tuple[Path, str]]) -> list[str] | None:
    """Decode snippet files with ``version`` (``"factory"``: the base model) as it serves."""
    from engine.backends.ctranslate2 import memoized_encoder
    from engine.errors import ModelError
    from retrain.pipeline.decode import CachedDecoder, Clip, EngineDecoder
    from retrain.pipeline.run import served_by

    try:
        bundle = None if version == FACTORY else Registry(store).bundle_of(version)
    except ModelError as exc:
        log.info("canary: %s cannot decode (%s); comparing unpaired", version, exc)
        return None
    served = served_by(bundle, CachedDecoder(EngineDecoder(), None), version)
    with memoized_encoder():
        return [served.transcribe(Clip(path, sha)) for path, sha in clips]


@dataclass(frozen=True)
class CanaryConfig:
    segments: int = 30
    alpha: float = 0.05
    min_worsening: float = 0.02
    predecessor_window: int = 100
    min_predecessor_words: int = 50
    #: Paired comparison when at least this share of the canary has audio.
    min_paired_share: float = 0.8
    redecode: Redecode | None = redecode  # None: unpaired only


def _snippets(store: Store, segments: Sequence[ReviewedSegment]) -> dict[int, tuple[Path, str]]:
    ids = [s.segment_id for s in segments]
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = store.read(
        lambda c: c.execute(
            f"SELECT sn.segment_id, sn.path, sn.sha256 FROM snippets AS sn "
            f"JOIN segments AS s ON s.id = sn.segment_id "
            f"WHERE sn.segment_id IN ({marks}) AND ABS(sn.start_sec - s.start_sec) < 0.001 "
            f"AND ABS(sn.end_sec - s.end_sec) < 0.001",
            ids,
        ).fetchall()
    )
    out = {}
    for segment_id, path, sha in rows:
        full = snippets_dir() / path
        if full.is_file():
            out[segment_id] = (full, sha)
    return out


def _previous_decision(store: Store, version: str) -> CanaryOutcome | None:
    from retrain.monitor.history import latest_report

    report = latest_report(store)
    canary = report.canary if report is not None else None
    if canary is not None and canary.version == version and canary.state == "passed":
        return canary
    return None


def _paired(
    store: Store, mine: list[ReviewedSegment], predecessor: str, config: CanaryConfig
) -> tuple[int, int, int, int] | None:
    """(version words, version errors, predecessor words, predecessor errors) on the same
    audio, or ``None`` when too little of the canary has audio or decoding failed."""
    if config.redecode is None:
        return None
    audio = _snippets(store, mine)
    paired = [s for s in mine if s.segment_id in audio]
    if not paired or len(paired) < config.min_paired_share * len(mine):
        return None
    try:
        texts = config.redecode(store, predecessor, [audio[s.segment_id] for s in paired])
    except TranscriptionCancelled:  # the round was stopped: decide nothing
        raise
    except Exception:  # fall back to the unpaired comparison
        log.warning("canary: re-decoding with %s failed", predecessor, exc_info=True)
        return None
    if texts is None or len(texts) != len(paired):
        return None
    v_words = sum(s.counts.reference_words for s in paired)
    v_errors = sum(s.counts.errors for s in paired)
    p_errors = sum(
        field_counts(s.final, text).errors for s, text in zip(paired, texts, strict=True)
    )
    return v_words, v_errors, v_words, p_errors


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
    checked_at = now_text(now)
    base = CanaryOutcome(
        rolled_back=False,
        reason="",
        version=champion,
        predecessor=predecessor,
        segments=len(mine),
        needed=config.segments,
        checked_at=checked_at,
    )
    if len(mine) < config.segments:
        return replace(
            base,
            state="pending",
            reason=f"{len(mine)} of {config.segments} reviewed segments from {champion} so far",
        )
    decided = _previous_decision(store, champion)
    if decided is not None:
        return replace(decided, checked_at=checked_at, rolled_back=False)
    paired = _paired(store, mine, predecessor, config)
    if paired is not None:
        v_words, v_errors, p_words, p_errors = paired
        test, where = PAIRED, "the same audio"
    else:
        before = [s for s in reviewed if s.version == predecessor and s.transcribed_at <= published]
        before.sort(key=lambda s: (s.transcribed_at, s.segment_id))
        before = before[-config.predecessor_window :]
        v_words = sum(s.counts.reference_words for s in mine)
        v_errors = sum(s.counts.errors for s in mine)
        p_words = sum(s.counts.reference_words for s in before)
        p_errors = sum(s.counts.errors for s in before)
        test, where = UNPAIRED, "its segments before the promotion"
    v_rate = v_errors / v_words if v_words else None
    p_rate = p_errors / p_words if p_words else None
    base = replace(
        base,
        test=test,
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
                f"was {v_rate:.1%}, against {p_rate:.1%} for {predecessor} on {where} "
                f"({test}, p = {p_value:.3g} < {config.alpha})"
            ),
        )
    return replace(
        base,
        state="passed",
        reason=(
            f"the field edit rate of {champion} on its first {len(mine)} reviewed segments was "
            f"{v_rate:.1%}, against {p_rate:.1%} for {predecessor} on {where} "
            f"(p = {p_value:.3g}): not significantly worse"
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
