"""What training did: the last run's before/after, and the offline proxy against the field.

``last_training``: the newest training run, its gate decision and reasons, and the
held-out WER of the champion at the time (before) and of the promoted candidate — or,
without a promotion, the best candidate — (after), from the run's report.

``offline_online`` (ML Test Score, Model 2): for each promotion, the held-out WER gain
the gate predicted (champion WER - candidate WER) beside the change in field edit rate
measured afterwards (the predecessor's rate on its last ``window`` reviewed segments
transcribed before the promotion, minus the new version's rate on its first ``window``).
A side with fewer than ``min_words`` reviewed words is not measured yet. Pearson's r
over the measured pairs, once there are ``min_pairs``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from retrain.monitor.report import LastTraining, OfflineOnline, PromotionPair
from retrain.monitor.statistics import pearson
from retrain.monitor.telemetry import ReviewedSegment, TrainingRun
from retrain.registry import VersionInfo


def _heldout(candidate: Mapping[str, Any]) -> Mapping[str, Any]:
    figures = candidate.get("figures") or {}
    return figures.get("heldout") or {}


def _best_candidate(report: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any]]:
    candidates = report.get("candidates") or {}
    promoted = report.get("promoted_candidate")
    if promoted and promoted in candidates:
        return promoted, candidates[promoted]
    scored = [
        (name, c) for name, c in candidates.items() if _heldout(c).get("candidate_wer") is not None
    ]
    if not scored:
        return None, {}
    return min(scored, key=lambda kv: _heldout(kv[1])["candidate_wer"])


def last_training(runs: Sequence[TrainingRun]) -> LastTraining | None:
    if not runs:
        return None
    run = runs[-1]
    body = run.report
    name, best = _best_candidate(body)
    heldout = _heldout(best)
    gate = body.get("gate") or {}
    candidates = {
        cname: {
            "decision": (c.get("gate") or {}).get("decision"),
            "reasons": list((c.get("gate") or {}).get("reasons") or []),
            "heldout": dict(_heldout(c)),
        }
        for cname, c in (body.get("candidates") or {}).items()
    }
    return LastTraining(
        run_id=run.id,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        decision=str(gate.get("decision") or run.status),
        reasons=tuple(gate.get("reasons") or run.reasons),
        promoted_candidate=body.get("promoted_candidate") or None,
        champion_before=run.champion_before,
        champion_after=run.champion_after,
        heldout_words=heldout.get("words"),
        heldout_before_wer=heldout.get("champion_wer"),
        heldout_after_wer=heldout.get("candidate_wer") if name else None,
        heldout_factory_wer=heldout.get("factory_wer"),
        candidates=candidates,
    )


def _rate(segments: Sequence[ReviewedSegment]) -> tuple[float | None, int]:
    words = sum(s.counts.reference_words for s in segments)
    errors = sum(s.counts.errors for s in segments)
    return (errors / words if words else None), words


def offline_online(
    runs: Sequence[TrainingRun],
    versions: Mapping[str, VersionInfo],
    reviewed: Sequence[ReviewedSegment],
    *,
    window: int = 100,
    min_words: int = 50,
    min_pairs: int = 3,
) -> OfflineOnline:
    pairs = []
    for run in runs:
        if run.status != "promoted" or not run.champion_after:
            continue
        version = run.champion_after
        info = versions.get(version)
        promoted_at = info.created_at if info else (run.finished_at or run.started_at)
        predecessor = run.champion_before or "factory"
        _, best = _best_candidate(run.report)
        heldout = _heldout(best)
        predicted = None
        if heldout.get("champion_wer") is not None and heldout.get("candidate_wer") is not None:
            predicted = float(heldout["champion_wer"]) - float(heldout["candidate_wer"])
        before = sorted(
            (s for s in reviewed if s.version == predecessor and s.transcribed_at <= promoted_at),
            key=lambda s: (s.transcribed_at, s.segment_id),
        )[-window:]
        after = [s for s in reviewed if s.version == version][:window]
        before_rate, before_words = _rate(before)
        after_rate, after_words = _rate(after)
        measured = None
        if (
            before_rate is not None
            and after_rate is not None
            and before_words >= min_words
            and after_words >= min_words
        ):
            measured = before_rate - after_rate
        pairs.append(
            PromotionPair(
                run.id,
                version,
                predecessor,
                promoted_at,
                predicted,
                measured,
                before_words,
                after_words,
            )
        )
    complete = [p for p in pairs if p.predicted_gain is not None and p.measured_gain is not None]
    correlation = None
    if len(complete) >= min_pairs:
        correlation = pearson(
            [p.predicted_gain for p in complete],  # type: ignore[misc]
            [p.measured_gain for p in complete],  # type: ignore[misc]
        )
    return OfflineOnline(tuple(pairs), correlation, min_pairs)
