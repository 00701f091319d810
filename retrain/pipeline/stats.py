"""Statistics for the gate: per-unit error tallies and the paired bootstrap by recording.

Word errors within one recording are not independent (one speaker, one topic, one
microphone), so the bootstrap resamples *recordings* with replacement, never words or
segments. For each resample the WER difference (candidate minus baseline) is recomputed
from the summed errors and reference words of the drawn recordings; the percentile
interval of those differences is the confidence interval. Seeded: the same evidence gives
the same interval.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from engine.scoring import ZERO, ErrorCounts


@dataclass(frozen=True, slots=True)
class PairedUnit:
    """One resampling unit (a recording): errors of the candidate and of a baseline."""

    unit: str
    reference_words: int
    candidate_errors: int
    baseline_errors: int


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    difference: float  # candidate WER - baseline WER on the full sample
    low: float
    high: float
    confidence: float
    resamples: int
    units: int


def paired_bootstrap(
    units: Sequence[PairedUnit],
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 20240611,
) -> BootstrapResult:
    """Percentile CI of the corpus-WER difference, resampling units with replacement."""
    if not units:
        return BootstrapResult(0.0, 0.0, 0.0, confidence, 0, 0)
    words = np.array([u.reference_words for u in units], dtype=np.int64)
    delta = np.array([u.candidate_errors - u.baseline_errors for u in units], dtype=np.int64)
    total_words = int(words.sum())
    point = float(delta.sum() / total_words) if total_words else 0.0
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(units), size=(resamples, len(units)))
    sampled_words = words[draws].sum(axis=1)
    sampled_delta = delta[draws].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        diffs = np.where(sampled_words > 0, sampled_delta / np.maximum(sampled_words, 1), 0.0)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(diffs, [alpha, 1.0 - alpha])
    return BootstrapResult(point, float(low), float(high), confidence, resamples, len(units))


def sum_counts(counts: Iterable[ErrorCounts]) -> ErrorCounts:
    total = ZERO
    for c in counts:
        total = total + c
    return total


def group_counts(
    keyed: Iterable[tuple[str, ErrorCounts]],
) -> dict[str, ErrorCounts]:
    out: dict[str, ErrorCounts] = defaultdict(lambda: ZERO)
    for key, counts in keyed:
        out[key] = out[key] + counts
    return dict(out)
