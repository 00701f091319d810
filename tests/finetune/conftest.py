"""Fine-tuning fixtures: real clips, the prepared base model, trainings shared per session.

Two trainings run once per test session:

- ``short_run``: 5 user-sim clips, 2 epochs (4 optimizer steps): for the loss, export
  and cancel tests;
- ``full_run``: the 40 user-sim ``train`` clips with the shipped reference set as
  replay, default settings, exported as a bundle: for the no-harm and serving tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from finetune_fixtures import SHORT, Run, environment, example

from engine.corpus import REPLAY, CorpusItem, read_manifest, reference_set
from retrain.finetune.config import FinetuneConfig
from retrain.finetune.examples import TrainingExample


@pytest.fixture(scope="session")
def finetune_env(
    prepared_models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return {
        "TIRO_HOME": str(tmp_path_factory.mktemp("finetune_home")),
        "TIRO_PREPARED_MODELS": str(prepared_models_dir),
    }


@pytest.fixture(scope="session")
def base_bundle(finetune_env):
    """The prepared base (factory) bundle, for session-scoped fixtures."""
    from engine.prepare import ensure_base_model

    with environment(finetune_env):
        return ensure_base_model()


@pytest.fixture(scope="session")
def user_sim_items(user_sim_corpus: Path) -> list[CorpusItem]:
    return read_manifest(user_sim_corpus)


@pytest.fixture(scope="session")
def train_examples(user_sim_items) -> tuple[TrainingExample, ...]:
    return tuple(example(i) for i in user_sim_items if i.split == "train")


@pytest.fixture(scope="session")
def replay_examples() -> tuple[TrainingExample, ...]:
    return tuple(example(i, "replay", "reference:") for i in reference_set(REPLAY))


def _train(examples, config, env, directory: Path, version: str) -> Run:
    from engine.prepare import ensure_base_model
    from retrain.finetune.export import export_bundle
    from retrain.finetune.trainer import train_decoder

    seen = []
    with environment(env):
        base = ensure_base_model()
        result = train_decoder(
            examples, base.ct2_dir, config, base_version=base.version, progress=seen.append
        )
        bundle = export_bundle(
            result.weights, base, directory / version, version=version, lineage=result.lineage
        )
    return Run(tuple(examples), config, result, bundle, tuple(seen))


@pytest.fixture(scope="session")
def short_run(train_examples, finetune_env, tmp_path_factory) -> Run:
    directory = tmp_path_factory.mktemp("short_run")
    return _train(train_examples[:5], SHORT, finetune_env, directory, "ft-short")


@pytest.fixture(scope="session")
def full_run(train_examples, replay_examples, finetune_env, tmp_path_factory) -> Run:
    directory = tmp_path_factory.mktemp("full_run")
    examples = (*train_examples, *replay_examples)
    return _train(examples, FinetuneConfig(), finetune_env, directory, "ft-full")
