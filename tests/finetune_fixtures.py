"""Helpers shared by the fine-tuning tests and their fixtures (``tests/finetune/conftest.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from engine import audio
from engine.corpus import CorpusItem
from retrain.finetune.config import FinetuneConfig
from retrain.finetune.examples import Role, TrainingExample

# 5 clips in batches of 4, two epochs: four optimizer steps.
SHORT = FinetuneConfig(max_epochs=2, min_epochs=2)


@dataclass(frozen=True)
class Run:
    """One training and its exported bundle."""

    examples: tuple[TrainingExample, ...]
    config: FinetuneConfig
    result: Any  # retrain.finetune.trainer.TrainingResult
    bundle: Any  # engine.bundle.ModelBundle
    progress: tuple[Any, ...]


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield


def example(item: CorpusItem, role: Role = "correction", prefix: str = "") -> TrainingExample:
    return TrainingExample(prefix + item.path.name, audio.decode(item.path), item.text, role)


def decoded_encoder_outputs(examples, bundle_dir) -> dict[str, Any]:
    """What a learning pipeline run holds after decoding ``examples`` with the engine."""
    from engine import transcribe
    from engine.backends.ctranslate2 import memoized_encoder, memoized_output
    from retrain.finetune.features import encoder_input

    with memoized_encoder():
        for ex in examples:
            segments, _ = transcribe(ex.audio, bundle=bundle_dir)
            list(segments)
        outputs = {ex.example_id: memoized_output(encoder_input(ex.audio)) for ex in examples}
    assert all(output is not None for output in outputs.values())
    return outputs
