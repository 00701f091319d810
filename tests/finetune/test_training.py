"""Training on real clips: the loss falls, runs are reproducible, cancel leaves nothing behind."""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from finetune_fixtures import SHORT, decoded_encoder_outputs, environment

from engine.bundle import verify_bundle_files
from retrain.finetune.availability import availability
from retrain.finetune.errors import NoTrainingExamples, TrainingCancelled
from retrain.finetune.examples import TrainingExample, examples_hash
from retrain.finetune.export import export_bundle

pytestmark = [
    pytest.mark.finetune,
    pytest.mark.skipif(not availability().available, reason=availability().reason),
]
trainer = pytest.importorskip("retrain.finetune.trainer", exc_type=ImportError)

ONE_EPOCH = replace(SHORT, max_epochs=1, min_epochs=1)


def test_a_few_steps_on_five_clips_lower_the_training_loss(
    short_run, base_bundle, finetune_env
) -> None:
    steps = [p for p in short_run.progress if p.stage == "training"]
    # 5 clips, batch 4, 2 epochs, for each of the 2 members: counted together
    assert [p.step for p in steps] == list(range(1, 9))
    assert all(a.fraction < b.fraction for a, b in itertools.pairwise(steps))
    with environment(finetune_env):
        before = trainer.training_loss(short_run.examples, base_bundle.ct2_dir)
        after = trainer.training_loss(short_run.examples, short_run.bundle.ct2_dir)
    # measured through the exported float16 CTranslate2 bundle: export keeps what was learned
    assert after < 0.8 * before, (before, after)


def test_only_the_decoder_changes(short_run, base_bundle) -> None:
    from engine.weights import ct2_to_whisper, read_model_bin

    base = ct2_to_whisper(read_model_bin(base_bundle.ct2_dir / "model.bin"))
    tuned = short_run.result.weights
    changed = {name for name in base if not np.array_equal(base[name], tuned[name])}
    assert changed and all(name.startswith("decoder.") for name in changed)
    assert "decoder.token_embedding.weight" in changed


@pytest.mark.parametrize("parts", ["cross_attention", "cross_attention_and_tokens"])
def test_cross_attention_modes_change_the_attention_over_the_audio_and_what_they_say(
    parts, train_examples, base_bundle, finetune_env
) -> None:
    from engine.weights import ct2_to_whisper, read_model_bin

    config = replace(ONE_EPOCH, trained_parts=parts, batch_size=2)
    with environment(finetune_env):
        result = trainer.train_decoder(train_examples[:2], base_bundle.ct2_dir, config)
    base = ct2_to_whisper(read_model_bin(base_bundle.ct2_dir / "model.bin"))
    changed = {n for n in base if not np.array_equal(base[n], result.weights[n])}
    tokens = "decoder.token_embedding.weight"
    assert (tokens in changed) == (parts == "cross_attention_and_tokens")
    assert all(".cross_attn" in name for name in changed - {tokens}), sorted(changed)
    assert any(name.endswith("cross_attn.query.weight") for name in changed)


def test_missed_tokens_mode_moves_only_the_rows_of_tokens_the_base_model_missed(
    train_examples, base_bundle, finetune_env
) -> None:
    from engine.weights import ct2_to_whisper, read_model_bin
    from retrain.finetune.model import load_whisper

    examples = train_examples[:2]
    config = replace(ONE_EPOCH, trained_parts="cross_attention_and_missed_tokens", batch_size=2)
    with environment(finetune_env):
        result = trainer.train_decoder(examples, base_bundle.ct2_dir, config)
        loaded = load_whisper(base_bundle.ct2_dir)
        memory = trainer.encoder_outputs(examples, loaded, config)
        sequences = trainer.training_sequences(loaded, examples, memory, config, None)
    pad = loaded.codec.special.end_of_text
    rows = trainer._missed_token_rows(loaded, examples, memory, sequences, pad, config, None)
    missed = set(rows.squeeze(1).nonzero().squeeze(1).tolist())
    learned = {t for s in sequences for t in s.tokens[s.targets_from + 1 :]}
    assert missed and missed < learned  # some of the targets, not all: most were right
    base = ct2_to_whisper(read_model_bin(base_bundle.ct2_dir / "model.bin"))
    name = "decoder.token_embedding.weight"
    moved = set(np.flatnonzero((base[name] != result.weights[name]).any(axis=1)).tolist())
    assert moved and moved <= missed
    changed = {n for n in base if not np.array_equal(base[n], result.weights[n])}
    assert all(".cross_attn" in n for n in changed - {name}), sorted(changed)


def test_same_inputs_and_seed_give_bit_identical_weights(
    train_examples, base_bundle, finetune_env
) -> None:
    examples = train_examples[:5]
    with environment(finetune_env):
        first = trainer.train_decoder(examples, base_bundle.ct2_dir, ONE_EPOCH)
        again = trainer.train_decoder(examples, base_bundle.ct2_dir, ONE_EPOCH)
        other = trainer.train_decoder(examples, base_bundle.ct2_dir, replace(ONE_EPOCH, seed=1))
    assert set(first.weights) == set(again.weights)
    for name, value in first.weights.items():
        assert value.tobytes() == again.weights[name].tobytes(), name
    assert first.lineage == again.lineage
    assert any(
        not np.array_equal(value, other.weights[name]) for name, value in first.weights.items()
    )
    assert first.lineage["seed"] == 0 and other.lineage["seed"] == 1


def test_members_train_at_once_into_the_mean_of_each_training_alone(
    train_examples, base_bundle, finetune_env
) -> None:
    """The default trains 2 members (seeds 0 and 1) at once, one torch thread each: the
    result is the mean of the same two trainings run alone, one after the other."""
    examples = train_examples[:5]
    alone = replace(ONE_EPOCH, members=1, threads=1)
    with environment(finetune_env):
        both = trainer.train_decoder(examples, base_bundle.ct2_dir, replace(ONE_EPOCH, members=2))
        first = trainer.train_decoder(examples, base_bundle.ct2_dir, alone)
        second = trainer.train_decoder(examples, base_bundle.ct2_dir, replace(alone, seed=1))
    assert ONE_EPOCH.members == 2 and ONE_EPOCH.threads == 2
    differ = [n for n, v in first.weights.items() if not np.array_equal(v, second.weights[n])]
    assert differ and all(name.startswith("decoder.") for name in differ)
    for name, value in both.weights.items():
        mean = (first.weights[name] + second.weights[name]) / np.float32(2)
        assert np.allclose(value, mean, rtol=0, atol=1e-6), name
    assert both.lineage["members"] == [
        {"seed": 0, "epoch_losses": first.lineage["epoch_losses"]},
        {"seed": 1, "epoch_losses": second.lineage["epoch_losses"]},
    ]


def test_shared_encoder_outputs_and_base_model_give_the_same_weights(
    train_examples, base_bundle, finetune_env
) -> None:
    examples = train_examples[:2]
    one_step = replace(ONE_EPOCH, batch_size=2)
    with environment(finetune_env):
        shared = decoded_encoder_outputs(examples, base_bundle.directory)
        seeded = trainer.EncoderCache()
        for ex in examples:
            seeded.share_serving_output(ex, shared[ex.example_id])
        reused = trainer.train_decoder(examples, base_bundle.ct2_dir, one_step, cache=seeded)
        # a second training through the same cache starts from its reset base model
        again = trainer.train_decoder(examples, base_bundle.ct2_dir, one_step, cache=seeded)
        computed = trainer.EncoderCache()
        fresh = trainer.train_decoder(examples, base_bundle.ct2_dir, one_step, cache=computed)
    assert seeded.passes == 0 and computed.passes == 2
    for name, value in fresh.weights.items():
        assert value.tobytes() == reused.weights[name].tobytes() == again.weights[name].tobytes()


def test_factored_cross_attention_gives_transformers_loss_and_gradients(
    train_examples, base_bundle, finetune_env, monkeypatch
) -> None:
    import torch

    from retrain.finetune import cross_attention
    from retrain.finetune.cross_attention import factored_cross_attention
    from retrain.finetune.model import load_whisper

    used = []
    factored_attention = cross_attention.factored_attention
    monkeypatch.setattr(
        cross_attention,
        "factored_attention",
        lambda *args: used.append(1) or factored_attention(*args),
    )

    examples = list(train_examples[:4])
    with environment(finetune_env):
        loaded = load_whisper(base_bundle.ct2_dir)
        memory = trainer.encoder_outputs(examples, loaded, ONE_EPOCH)[:]  # stacked
        sequences = trainer.training_sequences(loaded, examples, memory, ONE_EPOCH, None)
    inputs, targets = trainer._batch(sequences, loaded.codec.special.end_of_text)
    decoder = loaded.model.model.decoder
    parameters = list(decoder.parameters())

    def loss_and_gradients():
        for parameter in parameters:
            parameter.grad = None
            parameter.requires_grad_(True)
        loss = trainer._loss(loaded, memory, inputs, targets)
        loss.backward()
        return float(loss.detach()), [parameter.grad.clone() for parameter in parameters]

    plain_loss, plain = loss_and_gradients()
    longer = torch.cat([inputs] * 3, dim=1)  # past FACTORED_MAX_POSITIONS
    with torch.no_grad():
        plain_longer = float(trainer._loss(loaded, memory, longer, torch.cat([targets] * 3, 1)))
    with factored_cross_attention(decoder):
        factored_loss, factored = loss_and_gradients()
        with torch.no_grad():
            longer_loss = float(trainer._loss(loaded, memory, longer, torch.cat([targets] * 3, 1)))
    assert len(used) == len(decoder.layers)  # once per layer, for the short batch only
    assert longer.shape[1] > cross_attention.FACTORED_MAX_POSITIONS
    assert longer_loss == plain_longer  # longer sequences: transformers' own code
    assert "forward" not in decoder.layers[0].encoder_attn.__dict__  # transformers' again
    assert factored_loss == pytest.approx(plain_loss, rel=1e-5)
    for a, b in zip(plain, factored, strict=True):
        assert np.allclose(a.numpy(), b.numpy(), rtol=1e-3, atol=1e-5)


def test_anchored_loss_learns_only_where_the_base_model_is_wrong(
    train_examples, base_bundle, finetune_env
) -> None:
    """``anchor_weight``: at the base weights the KL part is zero, so the loss is the
    cross-entropy of the tokens the base model does not predict, over every target."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    from retrain.finetune.model import load_whisper

    examples = list(train_examples[:4])
    with environment(finetune_env):
        loaded = load_whisper(base_bundle.ct2_dir)
        memory = trainer.encoder_outputs(examples, loaded, ONE_EPOCH)[:]  # stacked
        sequences = trainer.training_sequences(loaded, examples, memory, ONE_EPOCH, None)
    pad = loaded.codec.special.end_of_text
    anchors = trainer.base_anchors(loaded, memory, sequences, pad, 4, None)
    inputs, targets = trainer._batch(sequences, pad)
    with torch.no_grad():
        logits = trainer._logits(loaded, memory, inputs)
        anchored = float(trainer._loss(loaded, memory, inputs, targets, 0.0, anchors, 1.0))
    predicted = logits.argmax(-1)
    learned = targets.clone()
    for row, anchor in enumerate(anchors):
        columns = anchor.columns.tolist()
        assert columns, "the base model gets most words of these clips right"
        assert all(int(predicted[row, c]) == int(targets[row, c]) for c in columns)
        wrong = [c for c in range(targets.shape[1]) if c not in columns and targets[row, c] >= 0]
        assert wrong, "and some wrong: the user corrected them"
        assert all(int(predicted[row, c]) != int(targets[row, c]) for c in wrong)
        learned[row, anchor.columns] = -100
    entropy = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), learned.reshape(-1), reduction="sum"
    )
    assert anchored == pytest.approx(float(entropy) / int((targets >= 0).sum()), rel=1e-3, abs=1e-3)
    # away from the base weights the anchored tokens count again
    with torch.no_grad():
        loaded.model.proj_out.weight.mul_(1.5)
        moved = float(trainer._loss(loaded, memory, inputs, targets, 0.0, anchors, 1.0))
        moved_wrong_only = float(trainer._loss(loaded, memory, inputs, learned))
    assert moved > moved_wrong_only * int((learned >= 0).sum()) / int((targets >= 0).sum())


def test_lineage_records_settings_seed_libraries_and_examples(short_run, base_bundle) -> None:
    lineage = short_run.bundle.lineage
    assert lineage["hyperparameters"] == SHORT.to_json()
    assert lineage["seed"] == SHORT.seed
    assert lineage["examples_hash"] == examples_hash(short_run.examples)
    assert lineage["examples"] == {"correction": 5, "replay": 0}
    assert lineage["base_version"] == base_bundle.version
    for library in ("torch", "transformers", "ctranslate2", "numpy"):
        assert lineage["libraries"][library] not in ("", "missing")
    assert len(lineage["epoch_losses"]) == lineage["epochs_run"] == 2


@pytest.mark.parametrize("stage", ["encoding", "training"])
def test_cancel_mid_training_writes_nothing_and_leaves_the_champion(
    train_examples, base_bundle, finetune_env, stage: str
) -> None:
    from engine import paths

    cancel = threading.Event()
    seen = []

    def progress(p) -> None:
        seen.append(p)
        if p.stage == stage and (p.stage == "encoding" or p.step == 1):
            cancel.set()

    with environment(finetune_env):
        models = paths.models_dir()
        before = sorted(p.relative_to(models) for p in models.rglob("*"))
        with pytest.raises(TrainingCancelled):
            trainer.train_decoder(
                train_examples[:5], base_bundle.ct2_dir, SHORT, cancel=cancel, progress=progress
            )
        after = sorted(p.relative_to(models) for p in models.rglob("*"))
        verify_bundle_files(base_bundle, trust_cache=False)
    assert after == before
    cancelled_at = seen.index(next(p for p in seen if p.stage == stage))
    assert len(seen) == cancelled_at + 1  # nothing ran after the cancel was seen
    assert seen[-1].stage == stage


class _SetAfter(threading.Event):
    """A cancel event that becomes set after ``checks`` looks at it (mid-export)."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.remaining = checks

    def is_set(self) -> bool:
        self.remaining -= 1
        return self.remaining < 0


@pytest.mark.parametrize("checks", [0, 1, 2, 3])
def test_cancel_during_export_leaves_no_partial_folder(
    short_run, base_bundle, tmp_path: Path, checks: int
) -> None:
    with pytest.raises(TrainingCancelled):
        export_bundle(
            short_run.result.weights,
            base_bundle,
            tmp_path / "ft",
            version="ft",
            lineage={},
            cancel=_SetAfter(checks),
        )
    assert list(tmp_path.iterdir()) == []


def test_nothing_to_learn_from_is_one_clear_error(base_bundle, finetune_env) -> None:
    too_long = TrainingExample("long", np.zeros(16000 * 31, dtype=np.float32), "words")
    replay_only = TrainingExample("r", np.zeros(16000, dtype=np.float32), "words", role="replay")
    with environment(finetune_env), pytest.raises(NoTrainingExamples, match="review a few more"):
        trainer.train_decoder([too_long, replay_only], base_bundle.ct2_dir)
