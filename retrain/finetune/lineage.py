"""Where a fine-tuned model came from: settings, seed, libraries, examples, base weights."""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Sequence
from typing import Any

from retrain.finetune.config import FinetuneConfig
from retrain.finetune.examples import TrainingExample, examples_hash

# Bump when the training procedure changes in a way that changes the weights.
TRAINER_VERSION = 2  # 2: the mean of ``members`` trainings
LIBRARIES = ("torch", "transformers", "numpy", "ctranslate2", "tokenizers", "faster-whisper")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def training_lineage(
    config: FinetuneConfig,
    examples: Sequence[TrainingExample],
    base_version: str,
    base_sha256: str,
) -> dict[str, Any]:
    roles = {role: sum(1 for e in examples if e.role == role) for role in ("correction", "replay")}
    return {
        "trainer": "retrain.finetune",
        "trainer_version": TRAINER_VERSION,
        "hyperparameters": config.to_json(),
        "seed": config.seed,
        "libraries": library_versions(),
        "examples_hash": examples_hash(examples),
        "examples": roles,
        "base_version": base_version,
        "base_model_sha256": base_sha256,
    }
