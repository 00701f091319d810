"""Decoding cost: the real-time factor of each way of serving, measured side by side.

``measure_rtf`` decodes the same clips with every ``ServingSpec`` (weights, with the
terms guarding them if any, prompt, rules) through the serving path, uncached and with
the encoder running every time (as serving does), and returns each spec's real-time
factor: decoding CPU seconds per second of audio.

- CPU time of this process (every decoding thread), not wall time: the pipeline runs
  in the background beside other work, and wall time there measures the other work
  as much as the model (measured: two identical specs 20% apart in wall time on a
  loaded machine).
- Specs that decode alike (same weights and prompt) are decoded once per round;
  rules are timed on their texts and added.
- Decodes run in interleaved rounds, in a rotated order, and each keeps its cheapest
  round, so every spec gets the same chances.

The ratios between specs measured in one call are what the gate compares, never
absolute times.
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
        """Identifies the decoding model: the weights, and the terms guarding them (a
        guarded bundle decodes with the factory model too, ``engine.guard``)."""
        if self.weights is None or not self.weights.has_own_weights:
            return "factory"
        key = self.weights.files.get("weights/ct2/model.bin") or self.weights.version
        guard = self.weights.decoding.guard_terms
        return f"{key}+guard:{'|'.join(guard)}" if guard else key

    @property
    def decode_key(self) -> tuple[str, str]:
        return (self.weights_key, self.prompt or "")


@dataclass(frozen=True)
class CostMeasurement:
    rtf: Mapping[str, float]
    audio_seconds: float
    clips: int
    rounds: int


def measure_rtf(
    specs: Mapping[str, ServingSpec], clips: Sequence[Clip], rounds: int = 2
) -> CostMeasurement:
    from engine.backends.ctranslate2 import unmemoized_encoder

    if not clips or not specs:
        return CostMeasurement({}, 0.0, 0, 0)
    audio_seconds = sum(len(clip_audio(c)) for c in clips) / SAMPLE_RATE
    decoders: dict[str, EngineDecoder] = {}
    decodes: dict[tuple[str, str], ServingSpec] = {}
    for spec in specs.values():
        decodes.setdefault(spec.decode_key, spec)
        if spec.weights_key not in decoders:
            weights = spec.weights if spec.weights_key != "factory" else None
            decoders[spec.weights_key] = EngineDecoder(weights=weights)
    keys = list(decodes)
    best: dict[tuple[str, str], float] = {}
    texts: dict[tuple[str, str], list[tuple[str, ...]]] = {}
    with unmemoized_encoder():
        for key in keys:  # warm-up: load every model once, untimed
            spec = decodes[key]
            decoders[spec.weights_key].decode_segments(clips[0], spec.prompt)
        for r in range(max(1, rounds)):
            for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
                spec = decodes[key]
                decoder = decoders[spec.weights_key]
                started = time.process_time()
                out = [decoder.decode_segments(clip, spec.prompt) for clip in clips]
                spent = time.process_time() - started
                best[key] = min(best.get(key, spent), spent)
                texts[key] = out
    rtf = {}
    for name, spec in specs.items():
        rules_cost = 0.0
        if spec.rules:
            runs = []
            for _ in range(3):
                started = time.process_time()
                for segments in texts[spec.decode_key]:
                    with_rules(segments, spec.rules)
                runs.append(time.process_time() - started)
            rules_cost = min(runs)
        rtf[name] = (best[spec.decode_key] + rules_cost) / audio_seconds
    return CostMeasurement(rtf, audio_seconds, len(clips), max(1, rounds))
