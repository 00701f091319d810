"""Input drift: recent inputs against the data the champion was trained and evaluated on.

Features: per ASR segment ``duration``, ``avg_logprob``, ``no_speech_prob``; per
recording ``sample_rate`` and ``loudness_dbfs``. Each is compared with the two-sample
Kolmogorov-Smirnov test (``statistics.ks_2samp``); a feature drifts when p < ``alpha``
(0.05) and both samples hold at least ``min_samples`` (20) values — below that the
result says "too few" and never flags.

Reference sample: the ASR output behind the champion's training examples (every role:
train, held-out, unchanged); for a champion without recorded examples, the newest
``baseline_size`` ASR segments transcribed before it took over; for the factory model,
the first ``baseline_size`` ASR segments the store holds. Current sample: the newest
``window`` ASR segments transcribed since the champion took over (for the factory model:
after the baseline).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retrain.monitor.report import DriftResult
from retrain.monitor.statistics import ks_2samp
from retrain.monitor.telemetry import AsrOutput

TEST_NAME = "two-sample Kolmogorov-Smirnov"


@dataclass(frozen=True)
class DriftConfig:
    alpha: float = 0.05
    min_samples: int = 20
    baseline_size: int = 200
    window: int = 200


SEGMENT_FEATURES: dict[str, Callable[[AsrOutput], float | None]] = {
    "duration": lambda a: a.duration,
    "avg_logprob": lambda a: a.avg_logprob,
    "no_speech_prob": lambda a: a.no_speech_prob,
}
RECORDING_FEATURES: dict[str, Callable[[AsrOutput], float | None]] = {
    "sample_rate": lambda a: None if a.sample_rate is None else float(a.sample_rate),
    "loudness_dbfs": lambda a: a.loudness_dbfs,
}


def _values(
    outputs: Sequence[AsrOutput], feature: Callable[[AsrOutput], float | None], per_recording: bool
) -> list[float]:
    seen: set[int] = set()
    out = []
    for a in outputs:
        if per_recording:
            if a.recording_id in seen:
                continue
            seen.add(a.recording_id)
        value = feature(a)
        if value is not None and math.isfinite(value):
            out.append(float(value))
    return out


def compare(
    reference: Sequence[AsrOutput], current: Sequence[AsrOutput], config: DriftConfig
) -> tuple[DriftResult, ...]:
    results = []
    for per_recording, features in ((False, SEGMENT_FEATURES), (True, RECORDING_FEATURES)):
        for name, feature in features.items():
            ref = _values(reference, feature, per_recording)
            cur = _values(current, feature, per_recording)
            unit = "recordings" if per_recording else "segments"
            if len(ref) < config.min_samples or len(cur) < config.min_samples:
                results.append(
                    DriftResult(
                        name,
                        TEST_NAME,
                        None,
                        None,
                        len(ref),
                        len(cur),
                        False,
                        f"too few {unit} to test (at least {config.min_samples} on each side)",
                    )
                )
                continue
            d, p = ks_2samp(ref, cur)
            drifted = p < config.alpha
            results.append(
                DriftResult(
                    name,
                    TEST_NAME,
                    round(d, 4),
                    p,
                    len(ref),
                    len(cur),
                    drifted,
                    f"p < {config.alpha}: recent {unit} differ" if drifted else "",
                )
            )
    return tuple(results)


def split_samples(
    outputs: Sequence[AsrOutput],
    reference_ids: set[int] | None,
    champion_since: str | None,
    config: DriftConfig,
) -> tuple[list[AsrOutput], list[AsrOutput]]:
    """(reference, current) from every ASR output (oldest first)."""
    ordered = sorted(outputs, key=lambda a: (a.transcribed_at, a.asr_segment_id))
    if reference_ids:
        reference = [a for a in ordered if a.asr_segment_id in reference_ids]
        current = [
            a
            for a in ordered
            if a.asr_segment_id not in reference_ids
            and (champion_since is None or a.transcribed_at >= champion_since)
        ]
        return reference, current[-config.window :]
    if champion_since is not None:
        before = [a for a in ordered if a.transcribed_at < champion_since]
        since = [a for a in ordered if a.transcribed_at >= champion_since]
        return before[-config.baseline_size :], since[-config.window :]
    reference = ordered[: config.baseline_size]
    return reference, ordered[config.baseline_size :][-config.window :]
