"""Numerical and output health of recent ASR output, and transcription performance.

Health, over the ASR segments of the newest ``window`` transcripts:

- ``non_finite_logprob``: ``avg_logprob`` or ``no_speech_prob`` is NaN or infinite;
- ``empty_output``: a segment with no text;
- ``high_compression``: gzip compression ratio above 2.4 (Whisper's own threshold for a
  repetitive, likely hallucinated decode);
- ``repeated_ngrams``: a word 3-gram occurring 3 or more times in one segment, or one
  word 5 or more times in a row;
- ``text_over_silence``: text where the model itself judged no speech
  (``no_speech_prob`` > 0.6 with ``avg_logprob`` < -1.0, Whisper's silence rule).

Any non-finite value is flagged; the hallucination signs are flagged when more than
``max_fraction`` (5 %) of the segments show them.

Performance: the median real-time factor and peak memory of the newest ``recent``
transcription runs against the median of the ``baseline`` runs before them; flagged
when the recent median is more than ``slowdown`` (1.5x) the baseline.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from retrain.monitor.report import HealthSummary, PerformanceSummary
from retrain.monitor.statistics import median
from retrain.monitor.telemetry import AsrOutput, TranscriptionRun

COMPRESSION_LIMIT = 2.4
NO_SPEECH_LIMIT = 0.6
LOGPROB_LIMIT = -1.0


@dataclass(frozen=True)
class HealthConfig:
    window: int = 20  # transcripts
    max_fraction: float = 0.05
    recent: int = 5
    baseline: int = 20
    min_baseline: int = 5
    slowdown: float = 1.5


_WORD = re.compile(r"[\w']+")


def has_repeated_ngrams(text: str, n: int = 3, times: int = 3, run: int = 5) -> bool:
    words = _WORD.findall(text.lower())
    streak = 1
    for previous, word in pairwise(words):
        streak = streak + 1 if word == previous else 1
        if streak >= run:
            return True
    grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return any(count >= times for count in grams.values())


def _non_finite(value: float | None) -> bool:
    return value is not None and not math.isfinite(value)


def health(outputs: Sequence[AsrOutput], config: HealthConfig) -> HealthSummary:
    transcripts = sorted({(a.transcribed_at, a.transcript_id) for a in outputs})
    recent_ids = {t for _, t in transcripts[-config.window :]}
    recent = [a for a in outputs if a.transcript_id in recent_ids]
    non_finite = sum(
        1 for a in recent if _non_finite(a.avg_logprob) or _non_finite(a.no_speech_prob)
    )
    empty = sum(1 for a in recent if not a.text.strip())
    compressed = sum(
        1
        for a in recent
        if a.compression_ratio is not None
        and math.isfinite(a.compression_ratio)
        and a.compression_ratio > COMPRESSION_LIMIT
    )
    repeated = sum(1 for a in recent if has_repeated_ngrams(a.text))
    over_silence = sum(
        1
        for a in recent
        if a.text.strip()
        and a.no_speech_prob is not None
        and a.avg_logprob is not None
        and a.no_speech_prob > NO_SPEECH_LIMIT
        and a.avg_logprob < LOGPROB_LIMIT
    )
    flags = []
    n = len(recent)
    if non_finite:
        flags.append(f"{non_finite} of {n} recent segments have NaN or infinite log-probabilities")
    for count, what in (
        (empty, "are empty"),
        (compressed, f"have a compression ratio above {COMPRESSION_LIMIT}"),
        (repeated, "repeat the same words"),
        (over_silence, "have text where the model heard no speech"),
    ):
        if n and count / n > config.max_fraction:
            flags.append(f"{count} of {n} recent segments {what}")
    return HealthSummary(n, non_finite, empty, compressed, repeated, over_silence, tuple(flags))


def performance(runs: Sequence[TranscriptionRun], config: HealthConfig) -> PerformanceSummary:
    recent = runs[-config.recent :]
    baseline = runs[: -config.recent][-config.baseline :] if len(runs) > config.recent else []

    def med(items: Sequence[TranscriptionRun], attr: str) -> float | None:
        values = [
            float(getattr(r, attr))
            for r in items
            if getattr(r, attr) is not None and math.isfinite(getattr(r, attr))
        ]
        return median(values)

    per_version: dict[str, dict[str, float | None]] = {}
    for version in sorted({r.version for r in runs}):
        mine = [r for r in runs if r.version == version]
        per_version[version] = {
            "runs": float(len(mine)),
            "median_rtf": med(mine, "rtf"),
            "median_peak_mb": med(mine, "peak_rss_mb"),
        }
    summary = PerformanceSummary(
        runs=len(runs),
        recent_rtf=med(recent, "rtf"),
        baseline_rtf=med(baseline, "rtf"),
        recent_peak_mb=med(recent, "peak_rss_mb"),
        baseline_peak_mb=med(baseline, "peak_rss_mb"),
        per_version=per_version,
    )
    flags = []
    if len(baseline) >= config.min_baseline:
        for label, now, then in (
            ("real-time factor", summary.recent_rtf, summary.baseline_rtf),
            ("peak memory", summary.recent_peak_mb, summary.baseline_peak_mb),
        ):
            if now is not None and then and now > config.slowdown * then:
                flags.append(
                    f"the median {label} of the last {len(recent)} transcriptions is "
                    f"{now / then:.1f}x the baseline of the {len(baseline)} before"
                )
    return PerformanceSummary(**{**summary.__dict__, "flags": tuple(flags)})
