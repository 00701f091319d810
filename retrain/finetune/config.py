"""Fine-tuning settings (plain values: they go into every model's lineage)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

EncoderSource = Literal["serving", "torch"]
ReplayTargets = Literal["self", "reference"]
TrainedParts = Literal[
    "decoder", "cross_attention", "cross_attention_and_tokens", "cross_attention_and_missed_tokens"
]


@dataclass(frozen=True, slots=True)
class FinetuneConfig:
    """How the decoder is fine-tuned. Defaults: see README "Fine-tuning" for the evidence.

    - ``learning_rate``, ``batch_size``, ``weight_decay``, ``max_grad_norm``: AdamW on
      every decoder parameter (the token embedding, tied to the output projection,
      included); the encoder is frozen.
    - ``train_embeddings``: whether the token embedding (tied to the output projection)
      and the positional embedding are updated too, or only the decoder blocks.
    - ``trained_parts``: ``"decoder"``, every decoder parameter (as above); or
      ``"cross_attention"``, only the decoder's attention over the audio (its
      projections and layer norms), so that what is learned depends on what is heard;
      ``"cross_attention_and_tokens"`` also the token embedding (tied to the output
      projection), so that new words' tokens can be learned;
      ``"cross_attention_and_missed_tokens"`` only the rows of the tokens the base model
      missed in the corrections (teacher-forced, not its most likely token).
    - ``max_epochs`` passes over the examples, fewer when an epoch's mean training loss
      falls to ``stop_loss`` after at least ``min_epochs``.
    - ``encoder``: where each example's encoder output comes from, computed once:
      ``"serving"`` is the serving CTranslate2 encoder (int8, exactly what the trained
      decoder will see when serving); ``"torch"`` is the float32 encoder of the model
      being trained.
    - ``replay_targets``: what replay examples teach: ``"reference"``, the reference
      text (the reference set's replay texts are cased and punctuated; a reviewed-
      unchanged segment's is the model's own), or ``"self"``, the base model's own
      transcript of the clip. ``"self"`` taught the base model's inconsistencies: it
      writes "platforms 1 and 3" for a replay clip, and the fine-tuned model then wrote
      "One, two, three." as "1, 2, 3." (3 scored errors on a clip it never saw;
      finetune_ablation, session 5).
    - ``replay_repeats``: each replay example is seen this many times per epoch (the
      corrections once), so that the few replay clips weigh more against the corrections.
    - ``with_prompt``: train with each example's prompt (the lexicon prompt serving
      uses) before ``<|startoftranscript|>``, so the decoder learns to read it.
    - ``label_smoothing``: the training loss spreads this share of each target's
      probability over the vocabulary (0: plain cross-entropy).
    - ``dropout``: dropout on the decoder's residual and feed-forward paths while
      training (the base weights were trained without; 0: none).
    - ``anchor_weight``: where the base model already predicts a target token (teacher-
      forced, its most likely token is the target), the loss is not the cross-entropy
      but this weight times the KL divergence from the base model's whole distribution
      there. Learning then comes only from what the base model gets wrong (the user's
      corrections); everything it already gets right keeps the base model's
      probabilities, second choices included (0: plain cross-entropy everywhere).
    - ``members``: trainings run at once that differ only in the order of the examples
      (seeds ``seed * members``, ``seed * members + 1``, ...), each on
      ``threads // members`` torch threads;
      the result is the mean of their weights (``retrain.finetune.soup``). 1: a single
      training. Needs ``dropout`` 0.
    - ``seed``, ``threads`` and ``members`` make a run reproducible bit for bit.
    """

    learning_rate: float = 3e-5
    batch_size: int = 4
    max_epochs: int = 4
    min_epochs: int = 3
    stop_loss: float = 0.01
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    train_embeddings: bool = True
    trained_parts: TrainedParts = "decoder"
    encoder: EncoderSource = "serving"
    with_prompt: bool = False
    replay_targets: ReplayTargets = "reference"
    replay_repeats: int = 1
    label_smoothing: float = 0.0
    dropout: float = 0.0
    anchor_weight: float = 0.0
    seed: int = 0
    threads: int = 2
    members: int = 2

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
