"""Fine-tune the decoder on the user's corrections, encoder frozen (imports torch).

``train_decoder`` runs one training:

1. every example's audio becomes the serving path's log-mel window
   (``retrain.finetune.features``) and then its encoder output, computed once and
   reused every epoch (the encoder is frozen; outputs a caller already has, e.g. from
   the pipeline's decodes, are taken as they are: ``EncoderCache``);
2. AdamW updates every decoder parameter (token embedding tied to the output
   projection, positional embedding, the blocks) on teacher-forced cross-entropy of
   ``<|startoftranscript|><|notimestamps|> text <|endoftext|>``, in shuffled batches
   that mix the corrections with the replay examples (each replay example
   ``replay_repeats`` times per epoch), cross-attention computed in the order that is
   cheaper over a frozen encoder output (``retrain.finetune.cross_attention``);
3. it stops after ``max_epochs``, or earlier once an epoch's mean loss is at most
   ``stop_loss`` (after ``min_epochs``);
4. with ``members`` > 1, steps 2-3 run that many times at once, from copies of the base
   model, each member shuffling with its own seed (``member_seed``), and the result is
   the mean of their weights (``retrain.finetune.soup``).

Reproducible: the seed drives the shuffling, torch runs deterministic algorithms on
a fixed number of threads per member, so the same examples, base weights and settings
give the same weights bit for bit. Cancellable: ``cancel`` is checked between encoder passes
and between optimizer steps (each well under a second for tiny.en), and a cancelled
run raises ``TrainingCancelled`` having written nothing. Progress goes to
``progress`` as ``TrainingProgress`` values.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from retrain.finetune.availability import prepare_process, require_finetune
from retrain.finetune.config import FinetuneConfig
from retrain.finetune.errors import NoTrainingExamples, TrainingCancelled
from retrain.finetune.examples import TrainingExample
from retrain.finetune.features import encoder_input, fits_one_window
from retrain.finetune.lineage import training_lineage
from retrain.finetune.tokens import TokenSequence

require_finetune()
prepare_process()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402, N812

from retrain.finetune.cross_attention import factored_cross_attention  # noqa: E402
from retrain.finetune.model import (  # noqa: E402
    LoadedWhisper,
    greedy_decode,
    load_whisper,
    whisper_weights,
)
from retrain.finetune.soup import load_mean, mean_epoch_losses, run_members  # noqa: E402

log = logging.getLogger(__name__)

Stage = Literal["loading", "encoding", "training", "done"]
TOKENS = "embed_tokens.weight"  # the decoder's token embedding, tied to the output projection
TOKEN_PARTS = ("cross_attention_and_tokens", "cross_attention_and_missed_tokens")


@dataclass(frozen=True, slots=True)
class TrainingProgress:
    stage: Stage
    fraction: float  # of the whole run, 0..1
    epoch: int = 0
    step: int = 0
    loss: float | None = None  # the latest batch's (training) or epoch's mean (done)


@dataclass(frozen=True)
class TrainingResult:
    """Trained weights under Whisper's names (float32), and what produced them."""

    weights: dict[str, np.ndarray]
    epoch_losses: tuple[float, ...]
    skipped: tuple[tuple[str, str], ...]  # (example id, reason)
    lineage: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


ProgressFn = Callable[[TrainingProgress], None]
DEFAULT_CONFIG = FinetuneConfig()
EpochFn = Callable[[int, float, Callable[[], dict[str, np.ndarray]]], None]


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise TrainingCancelled()


def _usable(examples: Sequence[TrainingExample]):
    kept, skipped = [], []
    for ex in examples:
        if not ex.text.strip():
            skipped.append((ex.example_id, "empty reference text"))
        elif len(ex.audio) == 0:
            skipped.append((ex.example_id, "no audio"))
        elif not fits_one_window(ex.audio):
            skipped.append((ex.example_id, "longer than one 30-s window"))
        else:
            kept.append(ex)
    return kept, skipped


def _serving_encoder(ct2_dir: Path, threads: int):
    import ctranslate2

    from engine.backends.ctranslate2 import COMPUTE_TYPE

    model = ctranslate2.models.Whisper(
        str(ct2_dir), device="cpu", compute_type=COMPUTE_TYPE, intra_threads=threads
    )

    def encode(window: np.ndarray) -> torch.Tensor:
        features = ctranslate2.StorageView.from_array(np.ascontiguousarray(window[None]))
        return torch.from_numpy(np.array(model.encode(features, to_cpu=True)))

    return encode


def _torch_encoder(loaded: LoadedWhisper):
    encoder = loaded.model.model.encoder

    @torch.no_grad()
    def encode(window: np.ndarray) -> torch.Tensor:
        return encoder(torch.from_numpy(window[None])).last_hidden_state

    return encode


class EncoderCache:
    """What several trainings from the same base share (the worker's cross-validation
    folds and final model, the ablation's variants):

    - encoder outputs by (encoder source, base weights, audio): the encoder is frozen,
      so one computation serves every training; float32, about 2.3 MB each (tiny.en);
    - serving encoder outputs a caller already had (``share_serving_output``);
    - the base model, loaded once (and copied once per extra member) and reset for
      each training (``base_models``);
    - ``"self"`` replay targets (``targets``).
    """

    def __init__(self) -> None:
        self._items: dict[tuple[str, str, str], torch.Tensor] = {}
        # serving encoder outputs computed elsewhere (the pipeline's decodes of the same
        # clips), by audio: every bundle shares the base model's frozen encoder
        self._serving: dict[str, torch.Tensor] = {}
        self.passes = 0  # encoder passes actually run
        # the base model loaded once (and copied per extra member), with the initial
        # weights of its decoder to reset them to
        self._models: dict[str, tuple[list[LoadedWhisper], dict[str, torch.Tensor]]] = {}
        # replay targets the base model decodes for itself ("self" targets), by
        # (base weights, audio, prompt): the same for every training from that base
        self.targets: dict[tuple[str, str, str], tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple[str, str, str]) -> torch.Tensor | None:
        return self._items.get(key)

    def put(self, key: tuple[str, str, str], value: torch.Tensor) -> None:
        self._items[key] = value

    def share_serving_output(self, example: TrainingExample, output: np.ndarray) -> None:
        """Use ``output`` (audio_ctx, d), the serving encoder's for ``example``'s window,
        instead of encoding it (with ``encoder="serving"``)."""
        self._serving[_audio_key(example)] = torch.from_numpy(np.asarray(output, np.float32))

    def shared_serving_output(self, audio_key: str) -> torch.Tensor | None:
        return self._serving.get(audio_key)

    def base_models(self, ct2_dir: Path, count: int = 1) -> list[LoadedWhisper]:
        """``count`` models of ``ct2_dir``, each with its original weights: loaded (and
        copied for the extra ones) the first time, then the same objects reset to them
        (loading costs about a second per training)."""
        key = _weights_key(ct2_dir)
        if key not in self._models:
            loaded = load_whisper(ct2_dir)
            decoder = loaded.model.model.decoder.state_dict()
            # training changes the decoder only (the output projection is tied to it)
            initial = {name: t.detach().clone() for name, t in decoder.items()}
            self._models[key] = ([loaded], initial)
        models, initial = self._models[key]
        while len(models) < count:
            models.append(_copy_model(models[0]))
        for loaded in models[:count]:
            loaded.model.model.decoder.load_state_dict(initial)
        return models[:count]


def _weights_key(ct2_dir: Path) -> str:
    return f"{ct2_dir.resolve()}:{(ct2_dir / 'model.bin').stat().st_mtime_ns}"


def _audio_key(example: TrainingExample) -> str:
    audio = np.ascontiguousarray(example.audio, dtype=np.float32)
    return hashlib.sha256(audio.tobytes()).hexdigest()


class EncoderOutputs:
    """The examples' encoder outputs, each (audio_ctx, d), held as computed (a cache's
    own tensors, not a stacked copy of them). Rows or a slice give a batch,
    (rows, audio_ctx, d)."""

    def __init__(self, outputs: Sequence[torch.Tensor]) -> None:
        self._outputs = list(outputs)

    def __len__(self) -> int:
        return len(self._outputs)

    def __getitem__(self, rows: Sequence[int] | slice) -> torch.Tensor:
        if isinstance(rows, slice):
            return torch.stack(self._outputs[rows])
        return torch.stack([self._outputs[i] for i in rows])


def encoder_outputs(
    examples: Sequence[TrainingExample],
    loaded: LoadedWhisper,
    config: FinetuneConfig,
    cancel: threading.Event | None = None,
    on_each: Callable[[int], None] | None = None,
    cache: EncoderCache | None = None,
) -> EncoderOutputs:
    """The encoder outputs of the examples' serving windows."""
    encode = None
    weights_key = _weights_key(loaded.ct2_dir)
    out = []
    for i, ex in enumerate(examples):
        _check(cancel)
        audio_key = _audio_key(ex)
        key = (config.encoder, weights_key, audio_key)
        hit = cache.get(key) if cache is not None else None
        if hit is None and cache is not None and config.encoder == "serving":
            hit = cache.shared_serving_output(audio_key)
        if hit is None:
            if encode is None:
                if config.encoder == "serving":
                    encode = _serving_encoder(loaded.ct2_dir, config.threads)
                else:
                    encode = _torch_encoder(loaded)
            hit = encode(encoder_input(ex.audio))[0]
            if cache is not None:
                cache.put(key, hit)
                cache.passes += 1
        out.append(hit)
        if on_each:
            on_each(i + 1)
    return EncoderOutputs(out)


def training_sequences(
    loaded: LoadedWhisper,
    examples: Sequence[TrainingExample],
    memory: EncoderOutputs,
    config: FinetuneConfig,
    cancel: threading.Event | None,
    cache: EncoderCache | None = None,
) -> list[TokenSequence]:
    """Each example's decoder sequence. A replay example's target is, with
    ``replay_targets="self"``, what the model being trained (still the base) decodes for
    it: replay then teaches the model to keep saying what it said, in its own casing,
    punctuation and number style, rather than the reference's (which may be normalized).
    """
    codec = loaded.codec
    out = []
    for i, ex in enumerate(examples):
        prompt = ex.prompt if config.with_prompt else None
        if ex.role == "replay" and config.replay_targets == "self":
            _check(cancel)
            key = (
                f"{config.encoder}:{loaded.ct2_dir.resolve()}",
                _audio_key(ex),
                prompt or "",
            )
            tokens = cache.targets.get(key) if cache is not None else None
            if tokens is None:
                tokens = tuple(greedy_decode(loaded, memory[i : i + 1], prompt))
                if cache is not None:
                    cache.targets[key] = tokens
            prefix = codec.prefix(prompt)
            out.append(
                TokenSequence((*prefix, *tokens, codec.special.end_of_text), len(prefix) - 1)
            )
        else:
            out.append(codec.training_sequence(ex.text, prompt))
    return out


def _batch(sequences: Sequence[TokenSequence], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder inputs and targets (-100 where nothing is learned), right-padded."""
    width = max(len(s) for s in sequences) - 1
    inputs = torch.full((len(sequences), width), pad, dtype=torch.long)
    targets = torch.full((len(sequences), width), -100, dtype=torch.long)
    for row, seq in enumerate(sequences):
        tokens = torch.tensor(seq.tokens, dtype=torch.long)
        inputs[row, : len(seq) - 1] = tokens[:-1]
        targets[row, seq.targets_from : len(seq) - 1] = tokens[seq.targets_from + 1 :]
    return inputs, targets


def _logits(loaded: LoadedWhisper, memory: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    hidden = loaded.model.model.decoder(
        input_ids=inputs, encoder_hidden_states=memory, use_cache=False
    ).last_hidden_state
    return loaded.model.proj_out(hidden)


@dataclass(frozen=True)
class Anchors:
    """Where the base model already predicts a sequence's target token (``columns`` of
    its decoder inputs, teacher-forced) and its log-probabilities there (float16)."""

    columns: torch.Tensor
    log_probs: torch.Tensor


def _batches(
    sequences: Sequence[TokenSequence],
    pad: int,
    batch_size: int,
    cancel: threading.Event | None,
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """The sequences in order, ``batch_size`` at a time: (rows, inputs, targets)."""
    for first in range(0, len(sequences), batch_size):
        _check(cancel)
        rows = list(range(first, min(first + batch_size, len(sequences))))
        yield (rows, *_batch([sequences[i] for i in rows], pad))


@torch.no_grad()
def _agreed(
    loaded: LoadedWhisper,
    memory: EncoderOutputs,
    sequences: Sequence[TokenSequence],
    pad: int,
    batch_size: int,
    cancel: threading.Event | None,
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """Per batch: rows, the base model's log-probabilities and where its most likely
    token is the target (teacher-forced)."""
    for rows, inputs, targets in _batches(sequences, pad, batch_size, cancel):
        log_probs = _logits(loaded, memory[rows], inputs).log_softmax(-1)
        yield rows, log_probs, (targets != -100) & (log_probs.argmax(-1) == targets)


def base_anchors(
    loaded: LoadedWhisper,
    memory: EncoderOutputs,
    sequences: Sequence[TokenSequence],
    pad: int,
    batch_size: int,
    cancel: threading.Event | None,
) -> list[Anchors]:
    """Each sequence's ``Anchors`` under ``loaded`` as it is now (the base model)."""
    out = []
    for rows, log_probs, agreed in _agreed(loaded, memory, sequences, pad, batch_size, cancel):
        for row in range(len(rows)):
            columns = agreed[row].nonzero().squeeze(1)
            out.append(Anchors(columns, log_probs[row, columns].to(torch.float16)))
    return out


def _missed_token_rows(
    loaded: LoadedWhisper,
    kept: Sequence[TrainingExample],
    memory: EncoderOutputs,
    sequences: Sequence[TokenSequence],
    pad: int,
    config: FinetuneConfig,
    cancel: threading.Event | None,
) -> torch.Tensor:
    """(vocabulary, 1): 1 for each token the base model missed in a correction's target
    (teacher-forced, not its most likely token), else 0."""
    rows = torch.zeros((loaded.model.proj_out.weight.shape[0], 1))
    batches = _agreed(loaded, memory, sequences, pad, config.batch_size, cancel)
    for batch_rows, _, agreed in batches:
        for row, index in enumerate(batch_rows):
            if kept[index].role != "correction":
                continue
            sequence = sequences[index]
            for column in range(sequence.targets_from, len(sequence) - 1):
                if not agreed[row, column]:
                    rows[sequence.tokens[column + 1]] = 1.0
    return rows


def _loss(
    loaded: LoadedWhisper,
    memory: torch.Tensor,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    label_smoothing: float = 0.0,
    anchors: Sequence[Anchors] = (),
    anchor_weight: float = 0.0,
) -> torch.Tensor:
    """Mean per target token: cross-entropy, except at each row's anchored columns,
    where it is ``anchor_weight`` times KL(base || model)."""
    logits = _logits(loaded, memory, inputs)
    if not anchors:
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            targets.reshape(-1),
            label_smoothing=label_smoothing,
        )
    count = (targets != -100).sum().clamp(min=1)
    divergence = logits.new_zeros(())
    targets = targets.clone()
    for row, anchor in enumerate(anchors):
        if len(anchor.columns) == 0:
            continue
        targets[row, anchor.columns] = -100
        model = logits[row, anchor.columns].log_softmax(-1)
        base = anchor.log_probs.float()
        divergence = divergence + (base.exp() * (base - model)).sum()
    entropy = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        label_smoothing=label_smoothing,
        reduction="sum",
    )
    return (entropy + anchor_weight * divergence) / count


def _set_dropout(decoder: torch.nn.Module, p: float) -> None:
    """Dropout ``p`` on the decoder's residual and feed-forward paths (active in train
    mode only)."""
    decoder.dropout = p
    for layer in decoder.layers:
        layer.dropout = p
        layer.activation_dropout = p


def configure_torch(config: FinetuneConfig) -> None:
    torch.set_num_threads(max(1, config.threads))
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(config.seed)


def train_decoder(
    examples: Sequence[TrainingExample],
    base_ct2_dir: str | Path,
    config: FinetuneConfig = DEFAULT_CONFIG,
    *,
    base_version: str = "",
    base_sha256: str = "",
    cancel: threading.Event | None = None,
    progress: ProgressFn | None = None,
    cache: EncoderCache | None = None,
    on_epoch: EpochFn | None = None,
) -> TrainingResult:
    """Fine-tune the decoder of the model in ``base_ct2_dir`` on ``examples``.

    ``cache`` shares encoder outputs between trainings on the same audio;
    ``on_epoch(epoch, mean_loss, weights)`` is called after each epoch, ``weights()``
    giving that epoch's weights (for measuring how many epochs pay).
    """
    started = time.perf_counter()

    def report(value: TrainingProgress) -> None:
        if progress is not None:
            progress(value)

    kept, skipped = _usable(examples)
    if not any(ex.role == "correction" for ex in kept):
        raise NoTrainingExamples()
    if config.members > 1 and config.dropout > 0:
        raise ValueError("dropout draws from torch's one global generator: use members=1")
    abort = threading.Event()  # one member failed: the others stop too

    def check() -> None:
        _check(cancel)
        if abort.is_set():
            raise TrainingCancelled()

    _check(cancel)
    report(TrainingProgress("loading", 0.0))
    configure_torch(config)
    directory = Path(base_ct2_dir)
    members = max(1, config.members)
    if cache is not None:
        models = cache.base_models(directory, members)
    else:
        first = load_whisper(directory)
        models = [first, *(_copy_model(first) for _ in range(members - 1))]
    loaded = models[0]
    seconds = {"load": time.perf_counter() - started}

    encode_share = 0.25
    mark = time.perf_counter()
    memory = encoder_outputs(
        kept,
        loaded,
        config,
        cancel,
        lambda done: report(TrainingProgress("encoding", encode_share * done / len(kept))),
        cache,
    )
    seconds["encode"] = time.perf_counter() - mark

    mark = time.perf_counter()
    pad = loaded.codec.special.end_of_text
    sequences = training_sequences(loaded, kept, memory, config, cancel, cache)
    seconds["targets"] = time.perf_counter() - mark
    token_rows = (  # only these rows of the token embedding move
        _missed_token_rows(loaded, kept, memory, sequences, pad, config, cancel)
        if config.trained_parts == "cross_attention_and_missed_tokens" and config.train_embeddings
        else None
    )
    anchors = (
        base_anchors(loaded, memory, sequences, pad, config.batch_size, cancel)
        if config.anchor_weight > 0
        else []
    )
    schedule = _schedule(kept, config)
    steps_per_member = -(-len(schedule) // config.batch_size) * config.max_epochs
    steps_done = [0]
    progress_lock = threading.Lock()

    def on_step(epoch: int, loss: float) -> None:
        with progress_lock:  # the members' steps, counted together and reported in order
            check()  # another member's report saw a cancel: report nothing after it
            steps_done[0] += 1
            done = steps_done[0] / (steps_per_member * members)
            fraction = encode_share + (1 - encode_share) * done
            report(TrainingProgress("training", fraction, epoch, steps_done[0], loss))

    mark = time.perf_counter()
    runs = run_members(
        [
            functools.partial(
                _train_member,
                model,
                memory,
                sequences,
                schedule,
                pad,
                config,
                seed=member_seed(config, index),
                threads=max(1, config.threads // members),
                anchors=anchors,
                token_rows=token_rows,
                check=check,
                on_step=on_step,
                keep_epochs=on_epoch is not None,
            )
            for index, model in enumerate(models)
        ],
        abort,
    )
    configure_torch(config)  # back to the run's thread count: the members lowered it
    seconds["train"] = time.perf_counter() - mark
    _check(cancel)
    epoch_losses = mean_epoch_losses([run.epoch_losses for run in runs])
    if on_epoch is not None:
        for epoch in range(1, min(len(run.snapshots) for run in runs) + 1):
            load_mean(loaded, [run.snapshots[epoch - 1] for run in runs])
            on_epoch(epoch, epoch_losses[epoch - 1], lambda: whisper_weights(loaded))
    load_mean(loaded, [run.final for run in runs])
    weights = whisper_weights(loaded)
    seconds["total"] = time.perf_counter() - started
    report(TrainingProgress("done", 1.0, len(epoch_losses), steps_done[0], epoch_losses[-1]))
    lineage = training_lineage(config, kept, base_version, base_sha256)
    lineage["skipped_examples"] = len(skipped)
    lineage["epochs_run"] = len(epoch_losses)
    lineage["epoch_losses"] = [round(x, 6) for x in epoch_losses]
    lineage["members"] = [
        {"seed": member_seed(config, i), "epoch_losses": [round(x, 6) for x in run.epoch_losses]}
        for i, run in enumerate(runs)
    ]
    return TrainingResult(
        weights=weights,
        epoch_losses=tuple(epoch_losses),
        skipped=tuple(skipped),
        lineage=lineage,
        seconds=seconds,
    )


@dataclass
class MemberRun:
    """One member's training: its mean loss per epoch, its trained parameters (the
    model's own tensors) and (when asked) copies after every epoch."""

    epoch_losses: list[float]
    final: dict[str, torch.Tensor]
    snapshots: list[dict[str, torch.Tensor]]


def member_seed(config: FinetuneConfig, index: int) -> int:
    """The seed of member ``index``: ``seed * members + index``, so that different seeds
    share no member (seed 0: members 0 and 1; seed 1: members 2 and 3)."""
    return config.seed * max(1, config.members) + index


def _schedule(kept: Sequence[TrainingExample], config: FinetuneConfig) -> np.ndarray:
    """Example indices of one epoch before shuffling (replay examples repeated)."""
    repeats = max(1, config.replay_repeats)
    return np.array(
        [i for i, ex in enumerate(kept) for _ in range(repeats if ex.role == "replay" else 1)]
    )


def _copy_model(loaded: LoadedWhisper) -> LoadedWhisper:
    """Another model with ``loaded``'s weights; the frozen encoder is shared, not copied."""
    encoder = loaded.model.model.encoder
    return dataclasses.replace(loaded, model=copy.deepcopy(loaded.model, {id(encoder): encoder}))


def _trainable(loaded: LoadedWhisper, config: FinetuneConfig) -> list[tuple[str, torch.Tensor]]:
    """The decoder parameters ``config`` trains, by name; every other one is frozen."""
    decoder = loaded.model.model.decoder
    for parameter in loaded.model.parameters():
        parameter.requires_grad_(False)
    frozen = (
        set()
        if config.train_embeddings
        else {id(decoder.embed_tokens.weight), id(decoder.embed_positions.weight)}
    )
    trainable = [
        (name, p)
        for name, p in decoder.named_parameters()
        if id(p) not in frozen
        and (
            config.trained_parts == "decoder"
            or ".encoder_attn" in name
            or (config.trained_parts in TOKEN_PARTS and name == TOKENS)
        )
    ]
    for _, parameter in trainable:
        parameter.requires_grad_(True)
    return trainable


def _train_member(
    loaded: LoadedWhisper,
    memory: EncoderOutputs,
    sequences: Sequence[TokenSequence],
    schedule: np.ndarray,
    pad: int,
    config: FinetuneConfig,
    *,
    seed: int,
    threads: int,
    anchors: Sequence[Anchors],
    token_rows: torch.Tensor | None,
    check: Callable[[], None],
    on_step: Callable[[int, float], None],
    keep_epochs: bool,
) -> MemberRun:
    """Train ``loaded``'s decoder in place, the example order drawn from ``seed``, on
    ``threads`` torch threads (run in the calling thread)."""
    torch.set_num_threads(threads)
    decoder = loaded.model.model.decoder
    trainable = _trainable(loaded, config)
    parameters = [p for _, p in trainable]
    # The token embedding is tied to the output projection, whose gradient is dense; the
    # lookup's own part is sparse, added to it instead of into a 20M-value zero tensor.
    tokens = decoder.embed_tokens.weight
    tokens_trained = any(p is tokens for p in parameters)
    decoder.embed_tokens.sparse = tokens_trained and token_rows is None
    if token_rows is not None:
        # rows without gradient must not move: no weight decay on the embedding
        groups = [
            {"params": [p for p in parameters if p is not tokens]},
            {"params": [tokens], "weight_decay": 0.0},
        ]
    else:
        groups = [{"params": parameters}]
    optimizer = torch.optim.AdamW(
        groups, lr=config.learning_rate, weight_decay=config.weight_decay, fused=True
    )
    order_rng = np.random.default_rng(seed)

    def state() -> dict[str, torch.Tensor]:
        return {name: p.detach() for name, p in trainable}

    epoch_losses: list[float] = []
    snapshots: list[dict[str, torch.Tensor]] = []
    _set_dropout(decoder, config.dropout)
    loaded.model.train()
    # the encoder is frozen: cross-attention in the cheaper order (same results)
    with factored_cross_attention(decoder):
        for epoch in range(1, config.max_epochs + 1):
            order = schedule[order_rng.permutation(len(schedule))]
            token_loss, token_count = 0.0, 0
            for first in range(0, len(order), config.batch_size):
                check()
                rows = order[first : first + config.batch_size].tolist()
                inputs, targets = _batch([sequences[i] for i in rows], pad)
                loss = _loss(
                    loaded,
                    memory[rows],
                    inputs,
                    targets,
                    config.label_smoothing,
                    [anchors[i] for i in rows] if anchors else (),
                    config.anchor_weight,
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if token_rows is not None:
                    decoder.embed_tokens.weight.grad.mul_(token_rows)
                if config.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
                optimizer.step()
                n = int((targets != -100).sum())
                token_loss += float(loss.detach()) * n
                token_count += n
                on_step(epoch, float(loss.detach()))
            epoch_losses.append(token_loss / max(token_count, 1))
            log.info("seed %d, epoch %d: mean training loss %.4f", seed, epoch, epoch_losses[-1])
            if keep_epochs:
                snapshots.append({name: t.clone() for name, t in state().items()})
            if epoch >= config.min_epochs and epoch_losses[-1] <= config.stop_loss:
                break
    loaded.model.eval()
    for parameter in parameters:
        parameter.grad = None  # the last step's gradients: not kept with the model
    return MemberRun(epoch_losses, state(), snapshots)


@torch.no_grad()
def _mean_loss(
    loaded: LoadedWhisper,
    memory: EncoderOutputs,
    sequences: Sequence[TokenSequence],
    pad: int,
    batch_size: int,
    cancel: threading.Event | None,
) -> float:
    """Token-weighted mean loss over every sequence, without updating anything."""
    total, count = 0.0, 0
    for rows, inputs, targets in _batches(sequences, pad, batch_size, cancel):
        n = int((targets != -100).sum())
        total += float(_loss(loaded, memory[rows], inputs, targets)) * n
        count += n
    return total / max(count, 1)


def training_loss(
    examples: Sequence[TrainingExample],
    ct2_dir: str | Path,
    config: FinetuneConfig = DEFAULT_CONFIG,
) -> float:
    """The mean teacher-forced loss of the model in ``ct2_dir`` on ``examples``."""
    configure_torch(config)
    loaded = load_whisper(ct2_dir)
    kept, _ = _usable(examples)
    memory = encoder_outputs(kept, loaded, config)
    sequences = training_sequences(loaded, kept, memory, config, None)
    pad = loaded.codec.special.end_of_text
    return _mean_loss(loaded, memory, sequences, pad, config.batch_size, None)
