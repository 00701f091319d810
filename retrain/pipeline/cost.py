"""Decoding cost: the real-time factor of each way of serving, measured side by side.

``measure_rtf`` decodes the same clips with every ``ServingSpec`` (weights, prompt,
rules) through the serving path, uncached and with the encoder running every time (as
serving does), and returns each spec's real-time factor: decoding seconds per second
of audio. Specs are measured in interleaved rounds, in a rotated order, and each keeps
its fastest round: on a machine shared with other work, the minimum is the estimate
least disturbed by it, and every spec gets the same chances. The ratios between specs
measured in one call are what the gate compares, never absolute times.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.bundle import CorrectionRule, ModelBundle
from retrain.pipeline.decode import SAMPLE_RATE, Clip, EngineDecoder, clip_audio, with_rules


@dataclass(frozen=True)
class ServingSpec:
    """How a model serves: its weights (``None``: the factory's), prompt and rules."""

    weights: ModelBundle | None = None
    prompt: str | None = None
    rules: tuple[CorrectionRule, ...] = ()

    @property
    def weights_key(self) -> str:
        if self.weights is None or not self.weights.has_own_weights:
            return "factory"
        return self.weights.files.get("weights/ct2/model.bin") or self.weights.version


@dataclass(frozen=True)
class CostMeasurement:
    rtf: Mapping[str, float]
    audio_seconds: float
    clips: int
    rounds: int


def measure_rtf(
    specs: Mapping[str, ServingSpec], clips: Sequence[Clip], rounds: int = 3
) -> CostMeasurement:
    from engine.backends.ctranslate2 import unmemoized_encoder

    if not clips or not specs:
        return CostMeasurement({}, 0.0, 0, 0)
    audio_seconds = sum(len(clip_audio(c)) for c in clips) / SAMPLE_RATE
    decoders: dict[str, EngineDecoder] = {}
    for spec in specs.values():
        if spec.weights_key not in decoders:
            weights = spec.weights if spec.weights_key != "factory" else None
            decoders[spec.weights_key] = EngineDecoder(weights=weights)
    names = list(specs)
    best: dict[str, float] = {}
    with unmemoized_encoder():
        for spec in specs.values():  # warm-up: load every model once, untimed
            decoders[spec.weights_key].decode_segments(clips[0], spec.prompt)
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                spec = specs[name]
                decoder = decoders[spec.weights_key]
                started = time.perf_counter()
                for clip in clips:
                    with_rules(decoder.decode_segments(clip, spec.prompt), spec.rules)
                elapsed = time.perf_counter() - started
                best[name] = min(best.get(name, elapsed), elapsed)
    return CostMeasurement(
        {name: best[name] / audio_seconds for name in names}, audio_seconds, len(clips), rounds
    )
