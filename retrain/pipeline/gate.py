"""The gate: a candidate is served only when held-out evidence says it is clearly better.

All of these must hold for promotion (thresholds in ``GateConfig``):

1. **Enough evidence.** The held-out (or cross-validated) evaluation covers at least
   ``min_heldout_words`` reference words and ``min_term_occurrences`` occurrences of
   lexicon terms. Otherwise the decision is "insufficient evidence" and nothing changes.
2. **Held-out WER improves** over the champion: the upper end of the paired bootstrap
   95% CI of the WER difference (resampling recordings) is below 0, and the improvement
   is at least ``min_relative_improvement`` of the champion's WER.
3. **No harm elsewhere**, against both the champion and the factory model:
   - the reviewed-but-unchanged segments and the shipped general reference set are no
     more than ``max_harm_points`` WER points worse;
   - no slice (a recording, a speaker label) with at least ``slice_min_words`` reference
     words is more than ``slice_max_relative_worsening`` worse (relative WER, and with
     at least ``slice_min_extra_errors`` more errors, so that 0 -> 0 is never "worse");
   - the insertion rate rises by no more than ``max_insertion_rate_rise``.
4. Extra checks a candidate kind brings (e.g. fine-tuned weights: no repetition loops)
   are passed in as ``extra_checks`` and count like the others.

Every check is recorded with its numbers, passed or not; the reasons of the decision are
the failed checks (or, for a promotion, the passed ones).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from engine.scoring import ErrorCounts
from retrain.pipeline.stats import (
    BootstrapResult,
    PairedUnit,
    group_counts,
    paired_bootstrap,
    sum_counts,
)

Decision = Literal["promoted", "rejected", "insufficient evidence"]


@dataclass(frozen=True, slots=True)
class GateConfig:
    min_heldout_words: int = 200
    min_term_occurrences: int = 20
    confidence: float = 0.95
    bootstrap_resamples: int = 2000
    bootstrap_seed: int = 20240611
    min_relative_improvement: float = 0.05
    max_harm_points: float = 0.005
    slice_min_words: int = 50
    slice_max_relative_worsening: float = 0.10
    slice_min_extra_errors: int = 1
    max_insertion_rate_rise: float = 0.01


@dataclass(frozen=True, slots=True)
class ScoredSegment:
    """One evaluated segment: reference errors of candidate, champion and factory."""

    segment_id: str
    recording_id: str
    speaker: str | None
    candidate: ErrorCounts
    champion: ErrorCounts
    factory: ErrorCounts
    term_occurrences: int = 0


@dataclass(frozen=True)
class GateEvidence:
    """What the gate decides on."""

    heldout: Sequence[ScoredSegment]
    unchanged: Sequence[ScoredSegment] = ()
    reference_set: Sequence[ScoredSegment] = ()


@dataclass(frozen=True, slots=True)
class GateCheck:
    name: str
    passed: bool
    reason: str
    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class GateDecision:
    decision: Decision
    reasons: tuple[str, ...]
    checks: tuple[GateCheck, ...]
    bootstrap: BootstrapResult | None = None

    @property
    def promoted(self) -> bool:
        return self.decision == "promoted"

    def to_json(self) -> dict:
        return {
            "decision": self.decision,
            "reasons": list(self.reasons),
            "checks": [
                {"name": c.name, "passed": c.passed, "reason": c.reason, "values": c.values}
                for c in self.checks
            ],
        }


ExtraCheck = Callable[[GateEvidence], GateCheck]


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _points(value: float) -> str:
    return f"{100 * value:+.2f} points"


def check_evidence(evidence: GateEvidence, config: GateConfig) -> GateCheck:
    words = sum(s.candidate.reference_words for s in evidence.heldout)
    terms = sum(s.term_occurrences for s in evidence.heldout)
    recordings = len({s.recording_id for s in evidence.heldout})
    passed = words >= config.min_heldout_words and terms >= config.min_term_occurrences
    reason = (
        f"held-out evaluation covers {words} reference words (need {config.min_heldout_words}) "
        f"and {terms} lexicon-term occurrences (need {config.min_term_occurrences}) "
        f"in {recordings} recordings"
    )
    return GateCheck(
        "enough evidence",
        passed,
        reason,
        {"words": words, "term_occurrences": terms, "recordings": recordings},
    )


def check_improvement(
    evidence: GateEvidence, config: GateConfig
) -> tuple[GateCheck, BootstrapResult]:
    per_recording_c = group_counts((s.recording_id, s.candidate) for s in evidence.heldout)
    per_recording_b = group_counts((s.recording_id, s.champion) for s in evidence.heldout)
    units = [
        PairedUnit(
            r,
            per_recording_c[r].reference_words,
            per_recording_c[r].errors,
            per_recording_b[r].errors,
        )
        for r in sorted(per_recording_c)
    ]
    boot = paired_bootstrap(
        units,
        resamples=config.bootstrap_resamples,
        confidence=config.confidence,
        seed=config.bootstrap_seed,
    )
    cand = sum_counts(s.candidate for s in evidence.heldout).wer
    champ = sum_counts(s.champion for s in evidence.heldout).wer
    relative = (champ - cand) / champ if champ > 0 else 0.0
    ci_ok = boot.high < 0
    rel_ok = relative >= config.min_relative_improvement
    reason = (
        f"held-out WER {_pct(champ)} -> {_pct(cand)} ({100 * relative:+.1f}% relative, "
        f"need >= {100 * config.min_relative_improvement:.0f}%); "
        f"{100 * config.confidence:.0f}% CI of the difference "
        f"[{_points(boot.low)}, {_points(boot.high)}] over {boot.units} recordings"
        + ("" if ci_ok else " is not entirely below 0")
    )
    return (
        GateCheck(
            "held-out WER improves",
            ci_ok and rel_ok,
            reason,
            {
                "champion_wer": champ,
                "candidate_wer": cand,
                "relative_improvement": relative,
                "ci_low": boot.low,
                "ci_high": boot.high,
            },
        ),
        boot,
    )


def check_no_harm(name: str, segments: Sequence[ScoredSegment], config: GateConfig) -> GateCheck:
    if not segments:
        return GateCheck(f"no harm on {name}", True, f"no {name} to check yet", {"words": 0})
    cand = sum_counts(s.candidate for s in segments)
    champ = sum_counts(s.champion for s in segments)
    fact = sum_counts(s.factory for s in segments)
    worse_champ = cand.wer - champ.wer
    worse_fact = cand.wer - fact.wer
    passed = worse_champ <= config.max_harm_points and worse_fact <= config.max_harm_points
    reason = (
        f"{name}: WER {_pct(cand.wer)} vs champion {_pct(champ.wer)} ({_points(worse_champ)}) "
        f"and factory {_pct(fact.wer)} ({_points(worse_fact)}); "
        f"allowed {_points(config.max_harm_points)}, over {cand.reference_words} words"
    )
    return GateCheck(
        f"no harm on {name}",
        passed,
        reason,
        {
            "words": cand.reference_words,
            "candidate_wer": cand.wer,
            "champion_wer": champ.wer,
            "factory_wer": fact.wer,
        },
    )


def check_slices(segments: Sequence[ScoredSegment], config: GateConfig) -> GateCheck:
    worst: list[str] = []
    checked = 0
    details = []
    for kind, key_of in (
        ("recording", lambda s: s.recording_id),
        ("speaker", lambda s: s.speaker),
    ):
        cand = group_counts((key_of(s), s.candidate) for s in segments if key_of(s) is not None)
        champ = group_counts((key_of(s), s.champion) for s in segments if key_of(s) is not None)
        if kind == "speaker" and len(cand) < 2:
            continue  # one speaker is the whole set, already judged
        for key in sorted(cand):
            c, b = cand[key], champ[key]
            if c.reference_words < config.slice_min_words:
                continue
            checked += 1
            extra = c.errors - b.errors
            worse = extra >= config.slice_min_extra_errors and c.wer > b.wer * (
                1 + config.slice_max_relative_worsening
            )
            details.append(
                {
                    "slice": f"{kind} {key}",
                    "words": c.reference_words,
                    "candidate_wer": c.wer,
                    "champion_wer": b.wer,
                }
            )
            if worse:
                worst.append(
                    f"{kind} {key} ({c.reference_words} words): {_pct(b.wer)} -> {_pct(c.wer)}"
                )
    if worst:
        reason = "slices more than {:.0f}% worse: {}".format(
            100 * config.slice_max_relative_worsening, "; ".join(worst)
        )
    elif checked:
        reason = (
            f"no slice of {checked} with >= {config.slice_min_words} words is more than "
            f"{100 * config.slice_max_relative_worsening:.0f}% worse"
        )
    else:
        reason = f"no slice has >= {config.slice_min_words} words yet"
    return GateCheck(
        "no slice much worse", not worst, reason, {"checked": checked, "slices": details}
    )


def check_insertions(segments: Sequence[ScoredSegment], config: GateConfig) -> GateCheck:
    cand = sum_counts(s.candidate for s in segments)
    champ = sum_counts(s.champion for s in segments)
    rise = cand.insertion_rate - champ.insertion_rate
    passed = rise <= config.max_insertion_rate_rise
    reason = (
        f"insertion rate {_pct(champ.insertion_rate)} -> {_pct(cand.insertion_rate)} "
        f"({_points(rise)}, allowed {_points(config.max_insertion_rate_rise)})"
    )
    return GateCheck(
        "insertion rate",
        passed,
        reason,
        {"champion": champ.insertion_rate, "candidate": cand.insertion_rate},
    )


def decide(
    evidence: GateEvidence,
    config: GateConfig = GateConfig(),
    extra_checks: Sequence[ExtraCheck] = (),
) -> GateDecision:
    """Run every check, and decide."""
    enough = check_evidence(evidence, config)
    improvement, boot = check_improvement(evidence, config)
    user_data = [*evidence.heldout, *evidence.unchanged]
    checks = [
        enough,
        improvement,
        check_no_harm("reviewed-unchanged segments", evidence.unchanged, config),
        check_no_harm("general reference set", evidence.reference_set, config),
        check_slices(user_data, config),
        check_insertions(user_data, config),
        *(extra(evidence) for extra in extra_checks),
    ]
    if not enough.passed:
        return GateDecision("insufficient evidence", (enough.reason,), tuple(checks), boot)
    failed = [c for c in checks if not c.passed]
    if failed:
        return GateDecision("rejected", tuple(c.reason for c in failed), tuple(checks), boot)
    return GateDecision("promoted", tuple(c.reason for c in checks), tuple(checks), boot)
