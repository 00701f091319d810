"""The fine-tuned candidates: tier-1 lexicon and rules on top of decoder weights
fine-tuned on the user's corrections (issue 8).

``FinetuneTrainings`` trains once per run; three ``FinetunedTrainer`` candidates share
its weights and differ in decoding: ``finetuned`` (fine-tuned weights + lexicon prompt
+ rules), ``finetuned_rules`` (fine-tuned weights + rules, no prompt: the prompt costs
decoding time) and ``finetuned_guarded`` (rules, and the fine-tuned weights guarded by
the user's vocabulary: the factory model decodes too, and the fine-tuned text stands only
where it writes one of the uncommon words of the user's corrections, ``engine.guard``;
raw fine-tuned weights drift on ordinary speech, a word or two in a few hundred).

- **Training** runs in the isolated, niced worker process of ``retrain.finetune.job``
  (cancellable within seconds, all or nothing): the corrected segments, plus replay of
  the shipped reference set's replay clips and of every other reviewed-unchanged segment
  (what the model must keep getting right). The gate checks the candidate for harm on
  the rest, which it never trained on: the reference set's gate clips and the other
  unchanged segments.
- **Leak-free estimate.** Fine-tuning every one of the tier-1 folds would cost k + 1
  trainings. Instead the tier-1 folds are merged into ``folds`` groups (2 by
  default): one model is fine-tuned per group on the other groups' recordings, and each
  held-out example is served by the fine-tuned model of the group it is in, with the
  prompt and rules of its tier-1 fold; neither saw it (``check_groups_leak_free``).
  Two half-size trainings cost about one full one, so a run costs about two trainings
  (the encoder runs once per clip for all of them, and not at all in the worker for
  clips this run has already decoded: their memoized encoder outputs are handed over,
  ``decoded_encoder_outputs``). Fold models learn from half the
  recordings, the published one from all: the estimate is, if anything, pessimistic.
  With a fixed held-out set (plenty of data) the fold model *is* the final model: one
  training.
- **Ablation.** Held-out texts of the fine-tuned weights with and without the prompt,
  before the rules, for the report.
- **Harm, beyond one model.** The fold models are the same training on other
  recordings: the candidates bring a gate check (``check_replicates_no_harm``) that
  their pooled WER on the reference set's gate clips is no more than the gate's harm
  bound above the factory model's.

The published bundle carries the fine-tuned weights (both serving formats), the
tier-1 rules (and lexicon prompt), and a lineage with the fine-tuning's
hyper-parameters, seed, library versions and examples hash.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine import models
from engine.bundle import ModelBundle
from engine.corpus import REPLAY
from engine.scoring import ZERO, ErrorCounts, error_counts
from retrain.finetune.config import FinetuneConfig
from retrain.finetune.examples import TrainingExample
from retrain.finetune.features import encoder_input, fits_one_window
from retrain.finetune.job import JobProgress, TrainingJob, run_training_jobs
from retrain.learn.vocabulary import user_vocabulary
from retrain.pipeline.cost import ServingSpec
from retrain.pipeline.decode import CachedDecoder, EngineDecoder, clip_audio, with_rules
from retrain.pipeline.gate import GateCheck, GateConfig, GateEvidence, check_replicates_no_harm
from retrain.pipeline.personalize import Example
from retrain.pipeline.run import (
    Snapshot,
    TierOneTrainer,
    TrainedCandidate,
    personalization_bundle,
    reference_examples,
)
from retrain.pipeline.split import SplitPlan
from retrain.staging import staging_folder


@dataclass(frozen=True, slots=True)
class FoldGroup:
    index: int
    test: frozenset[str]  # recording ids scored by this group's model
    train: frozenset[str]  # recording ids it is fine-tuned on


def fold_groups(plan: SplitPlan, groups: int) -> tuple[FoldGroup, ...]:
    """The plan's folds merged into at most ``groups`` groups (fold i -> group i % n)."""
    everything = frozenset().union(*(f.train | f.test for f in plan.folds))
    if plan.mode == "holdout":
        return tuple(FoldGroup(f.index, f.test, f.train) for f in plan.folds)
    n = max(2, min(groups, len(plan.folds)))
    out = []
    for g in range(n):
        test = frozenset().union(*(f.test for f in plan.folds if f.index % n == g))
        out.append(FoldGroup(g, test, everything - test))
    return tuple(out)


def check_groups_leak_free(
    groups: Sequence[FoldGroup],
    trained_on: Mapping[int, Sequence[str]],
    scored: Mapping[str, str],
) -> None:
    """Raise unless each held-out example is scored by exactly one group whose model was
    not trained on its recording.

    ``trained_on``: group index -> recording ids of the corrections its model trained
    on; ``scored``: held-out example id -> its recording id.
    """
    for example_id, recording in scored.items():
        owners = [g for g in groups if recording in g.test]
        if len(owners) != 1:
            raise AssertionError(f"{example_id} is scored by {len(owners)} fold groups")
        if recording in set(trained_on[owners[0].index]):
            raise AssertionError(
                f"{example_id} would be scored by a model trained on its recording {recording}"
            )


def _stable(example_id: str) -> str:
    return hashlib.sha256(example_id.encode()).hexdigest()


@dataclass(frozen=True)
class FinetuneFit:
    """The trainings of one run, shared by the fine-tuned candidates (with and without
    the lexicon prompt: same weights, different decoding)."""

    groups: tuple[FoldGroup, ...]
    fold_decoders: Mapping[int, CachedDecoder]
    folds_are_final: bool  # a fixed held-out set: the fold model is the final one
    final_bundle: ModelBundle
    final_decoder: CachedDecoder
    trained_on: Mapping[int, list[str]]
    replayed: frozenset[str]  # example ids of the replay examples (every training's)
    details: Mapping[str, Any]
    seconds: float
    workroot: Path
    fold_bundles: Mapping[int, ModelBundle] = field(default_factory=dict)
    _guarded: dict[tuple[int | None, tuple[str, ...]], CachedDecoder] = field(
        default_factory=dict, repr=False
    )

    def guarded_decoder(
        self, group: int | None, terms: tuple[str, ...], factory: CachedDecoder
    ) -> CachedDecoder:
        """Group ``group``'s fine-tuned weights (``None``: the final ones) guarded by
        ``terms`` (``engine.guard``); with no terms that is the factory model's text."""
        if not terms:
            return factory
        key = (group, terms)
        if key not in self._guarded:
            weights = self.final_bundle if group is None else self.fold_bundles[group]
            self._guarded[key] = CachedDecoder(
                EngineDecoder(weights=weights, guard_terms=terms), factory.directory
            )
        return self._guarded[key]


@dataclass
class FinetuneTrainings:
    """Trains once per snapshot and plan in the worker process (see the module
    docstring); ``FinetunedTrainer`` instances that share it share the weights."""

    config: FinetuneConfig = field(default_factory=FinetuneConfig)
    folds: int = 2
    max_unchanged_replay: int = 40
    cancel: threading.Event | None = None
    progress: Callable[[str], None] | None = None
    _fits: dict[tuple[str, int], FinetuneFit] = field(default_factory=dict, repr=False)

    def _say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def replay(self, snap: Snapshot) -> list[Example]:
        """The reference set's replay clips, and every other reviewed-unchanged segment in
        the order of a hash of their ids (stable from run to run), up to
        ``max_unchanged_replay``. The others, and the reference set's gate clips, are never
        trained on: the gate's no-harm checks for the fine-tuned candidate use them."""
        unchanged = sorted(snap.unchanged, key=lambda e: _stable(e.example_id))
        return [*reference_examples(REPLAY), *unchanged[::2][: self.max_unchanged_replay]]

    def fit(
        self, snap: Snapshot, plan: SplitPlan, decoder: CachedDecoder, heldout: Sequence[Example]
    ) -> FinetuneFit:
        key = (snap.examples_hash, id(plan))
        if key in self._fits:
            return self._fits[key]
        started = time.perf_counter()
        base = models.base_bundle()
        assert base.directory is not None
        replay = [_training_example(e, "replay") for e in self.replay(snap)]
        corrections = {e.example_id: _training_example(e, "correction") for e in snap.corrections}

        def examples_of(recordings: frozenset[str]) -> list[TrainingExample]:
            chosen = [
                corrections[e.example_id] for e in snap.corrections if e.recording_id in recordings
            ]
            return [*chosen, *replay]

        groups = fold_groups(plan, self.folds)
        workroot = staging_folder("finetune-candidates")
        shared_final = plan.mode == "holdout" and all(g.train == plan.final_train for g in groups)
        jobs: list[TrainingJob] = []
        if not shared_final:
            for g in groups:
                jobs.append(
                    TrainingJob(
                        examples_of(g.train),
                        base.directory,
                        self.config,
                        workroot / f"fold-{g.index}",
                        f"ft-fold-{g.index}",
                        {"role": "cross-validation fold", "fold_group": g.index},
                        ggml_variants=(),
                    )
                )
        jobs.append(
            TrainingJob(
                examples_of(plan.final_train),
                base.directory,
                self.config,
                workroot / "final",
                "ft-final",
                {"role": "final"},
            )
        )
        recording_of = {e.example_id: e.recording_id for e in snap.corrections}
        fold_jobs = {g.index: jobs[-1] if shared_final else jobs[n] for n, g in enumerate(groups)}
        trained_on = {
            g: sorted({recording_of[e.example_id] for e in job.examples if e.role == "correction"})
            for g, job in fold_jobs.items()
        }
        check_groups_leak_free(groups, trained_on, {e.example_id: e.recording_id for e in heldout})
        last_stage: list[str] = []

        def relay(p: JobProgress) -> None:
            label = f"fine-tune {p.training + 1}/{p.trainings}: {p.stage}"
            if not last_stage or last_stage[-1] != label:
                last_stage.append(label)
                self._say(label)

        self._say(f"fine-tune: {len(jobs)} trainings in a worker process")
        train_started = time.perf_counter()
        known = decoded_encoder_outputs([*corrections.values(), *replay])
        try:
            outcomes = run_training_jobs(
                jobs, cancel=self.cancel, progress=relay, encoder_outputs=known
            )
        except BaseException:
            shutil.rmtree(workroot, ignore_errors=True)
            raise
        train_seconds = time.perf_counter() - train_started
        final_bundle = outcomes[-1].bundle
        fold_bundles = (
            {g.index: final_bundle for g in groups}
            if shared_final
            else {g.index: o.bundle for g, o in zip(groups, outcomes, strict=False)}
        )
        fitted = FinetuneFit(
            groups=groups,
            fold_decoders={
                g: CachedDecoder(EngineDecoder(weights=b), decoder.directory)
                for g, b in fold_bundles.items()
            },
            folds_are_final=shared_final,
            final_bundle=final_bundle,
            final_decoder=CachedDecoder(EngineDecoder(weights=final_bundle), decoder.directory),
            trained_on=trained_on,
            replayed=frozenset(e.example_id for e in replay),
            fold_bundles=fold_bundles,
            details={
                "trainings": len(jobs),
                "fold_groups": len(groups),
                "cross_validation": [
                    {
                        "group": g.index,
                        "scores_recordings": sorted(g.test),
                        "trained_on_recordings": trained_on[g.index],
                    }
                    for g in groups
                ],
                "training_seconds": round(train_seconds, 2),
                "worker_peak_rss_mb": round(outcomes[-1].peak_rss_mb, 1),
                "worker_cpu_seconds": round(outcomes[-1].cpu_seconds, 2),
                "encoder_outputs_shared": len(known),
                "worker_encoder_passes": outcomes[-1].encoder_passes,
                "epoch_losses": list(outcomes[-1].epoch_losses),
                "fold_epoch_losses": [list(o.epoch_losses) for o in outcomes[:-1]],
                "examples": {
                    "corrections": sum(1 for e in jobs[-1].examples if e.role == "correction"),
                    "replay": len(replay),
                },
                "skipped": [list(x) for x in outcomes[-1].skipped],
                "hyperparameters": self.config.to_json(),
            },
            seconds=time.perf_counter() - started,
            workroot=workroot,
        )
        self._fits = {key: fitted}
        return fitted


def decoded_encoder_outputs(examples: Sequence[TrainingExample]) -> dict[str, np.ndarray]:
    """The encoder outputs this run's decodes already computed for ``examples``' windows
    (the pipeline's memoized encoder), by example id: the worker then does not encode
    those clips again. Bit for bit what it would compute (the same serving encoder)."""
    from engine.backends.ctranslate2 import memoized_output

    known: dict[str, np.ndarray] = {}
    for ex in examples:
        if not fits_one_window(ex.audio):
            continue
        output = memoized_output(encoder_input(ex.audio))
        if output is not None:
            known[ex.example_id] = output
    return known


def _training_example(ex: Example, role: str) -> TrainingExample:
    return TrainingExample(ex.example_id, clip_audio(ex.clip), ex.reference, role)  # type: ignore[arg-type]


@dataclass
class FinetunedTrainer:
    """Tier-1 lexicon and rules on top of fine-tuned decoder weights; with
    ``use_prompt`` the lexicon also goes into the decoder prompt. With ``guarded`` (no
    prompt) the factory model decodes too, and the fine-tuned text is kept only where it
    writes a word of the user's vocabulary (``engine.guard``,
    ``retrain.learn.vocabulary``): the vocabulary of the corrections the weights were
    trained on."""

    tier_one: TierOneTrainer
    trainings: FinetuneTrainings
    use_prompt: bool = True
    name: str = "finetuned"
    cancel: threading.Event | None = None
    guarded: bool = False

    def _check_cancel(self) -> None:
        from retrain.finetune.errors import TrainingCancelled

        if self.cancel is not None and self.cancel.is_set():
            raise TrainingCancelled()

    def train(self, snap: Snapshot, plan: SplitPlan, decoder: CachedDecoder) -> TrainedCandidate:
        started = time.perf_counter()
        t1 = self.tier_one.fit(snap, plan, decoder)
        ft = self.trainings.fit(snap, plan, decoder, t1.heldout)
        use_prompt = self.use_prompt and not self.guarded
        prompt_of = (lambda m: m.prompt or None) if use_prompt else (lambda m: None)

        def weights_for(group: int | None, terms: tuple[str, ...]) -> CachedDecoder:
            if not self.guarded:
                return ft.final_decoder if group is None else ft.fold_decoders[group]
            return ft.guarded_decoder(group, terms, decoder)

        # held-out texts: each example by its group's fine-tuned model (guarded: by the
        # vocabulary of that model's training corrections), with its tier-1 fold's prompt
        # and rules (none of them trained on it)
        vocabulary = {g.index: self._vocabulary(snap, g.train) for g in ft.groups}
        texts: dict[str, str] = {}
        unruled: dict[str, str] = {}
        for ex in t1.heldout:
            self._check_cancel()
            group = next(g for g in ft.groups if ex.recording_id in g.test)
            fold = plan.fold_of(ex.recording_id)
            assert fold is not None
            model = t1.cv.fold_models[fold.index]
            serving = weights_for(group.index, vocabulary[group.index])
            segments = serving.decode_segments(ex.clip, prompt_of(model))
            texts[ex.example_id] = with_rules(segments, model.rules)
            unruled[ex.example_id] = with_rules(segments, ())
        final = t1.final
        final_terms = self._vocabulary(snap, plan.final_train)
        draft, spec = self._draft(snap, plan, ft, final, final_terms)
        served_prompt = final.prompt or None if use_prompt else None
        if self.guarded:
            part = "fine-tuned weights, guarded by the vocabulary"
        else:
            part = "fine-tuned + lexicon prompt" if use_prompt else "fine-tuned weights"
        variants = {part: unruled, self.name: texts}
        variant_specs = {part: replace(spec, rules=()), self.name: spec}
        final_decoder = weights_for(None, final_terms)
        return TrainedCandidate(
            name=self.name,
            draft=draft,
            serve=lambda clip: with_rules(
                final_decoder.decode_segments(clip, served_prompt), final.rules
            ),
            heldout=t1.heldout,
            heldout_texts=texts,
            heldout_lexicons=t1.lexicons,
            seconds=t1.seconds + ft.seconds + time.perf_counter() - started,
            details={
                **ft.details,
                "lexicon_prompt": use_prompt,
                "guarded_by_vocabulary": self.guarded,
                "guard_terms": len(final_terms),
                "lexicon_terms": len(final.lexicon),
                "rules": len(final.rules),
            },
            spec=spec,
            variants=variants,
            variant_specs=variant_specs,
            cleanup=lambda: shutil.rmtree(ft.workroot, ignore_errors=True),
            trained_on=ft.replayed,
            extra_checks=(self._replicates_check(ft, decoder, vocabulary),),
        )

    def _draft(
        self,
        snap: Snapshot,
        plan: SplitPlan,
        ft: FinetuneFit,
        final: Any,
        terms: tuple[str, ...],
    ) -> tuple[ModelBundle, ServingSpec]:
        """The bundle to publish, and how it serves (for the cost measurement)."""
        t1_draft = personalization_bundle(final, snap, plan, self.tier_one.config)
        use_prompt = self.use_prompt and not self.guarded
        if self.guarded and not terms:
            # nothing to guard with: the factory model's text and the rules, no own weights
            draft = replace(
                t1_draft,
                lexicon=(),
                decoding=replace(t1_draft.decoding, prompt=None),
                lineage={**t1_draft.lineage, "prompt_style": "none", "guard_terms": []},
            )
            return draft, ServingSpec(None, None, final.rules)
        # without the prompt the bundle carries no lexicon (the engine would render it
        # into a prompt); its terms are in the lineage (and, guarded, in the decoding)
        decoding = t1_draft.decoding if use_prompt else replace(t1_draft.decoding, prompt=None)
        decoding = replace(decoding, guard_terms=terms)
        lineage: dict[str, Any] = {
            **t1_draft.lineage,
            "prompt_style": t1_draft.lineage.get("prompt_style") if use_prompt else "none",
            "guard_terms": list(terms),
            "finetune": dict(ft.final_bundle.lineage),
            "finetune_cross_validation": {
                "groups": len(ft.groups),
                "recordings_per_group": [len(g.test) for g in ft.groups],
                "trained_on": {str(k): v for k, v in ft.trained_on.items()},
            },
        }
        draft = replace(
            ft.final_bundle,
            version="",
            lexicon=t1_draft.lexicon if use_prompt else (),
            rules=t1_draft.rules,
            decoding=decoding,
            lineage=lineage,
        )
        weights = replace(
            ft.final_bundle, decoding=replace(ft.final_bundle.decoding, guard_terms=terms)
        )
        served_prompt = final.prompt or None if use_prompt else None
        return draft, ServingSpec(weights, served_prompt, final.rules)

    def _replicates_check(
        self,
        ft: FinetuneFit,
        decoder: CachedDecoder,
        vocabulary: Mapping[int, tuple[str, ...]],
    ) -> Callable[[GateEvidence, GateConfig], GateCheck]:
        """The fold models' errors on the reference set's clips no training replayed,
        each decoded as the fine-tuned weights alone (no prompt, no rules; guarded, by
        the vocabulary of that fold model's training corrections), against the factory's
        on the same clips in the gate's evidence (``check_replicates_no_harm``). Decodes
        are cached: candidates that decode alike share them."""
        replicates: list[ErrorCounts] = []
        if not ft.folds_are_final:
            clips = [e for e in reference_examples() if e.example_id not in ft.replayed]
            for group in ft.groups:
                serving = (
                    ft.guarded_decoder(group.index, vocabulary[group.index], decoder)
                    if self.guarded
                    else ft.fold_decoders[group.index]
                )
                model = ZERO
                for ex in clips:
                    self._check_cancel()
                    tuned = serving.decode_segments(ex.clip, None)
                    model = model + error_counts(ex.reference, with_rules(tuned, ()))
                replicates.append(model)
        return lambda evidence, config: check_replicates_no_harm(
            "general reference set", replicates, evidence.reference_set, config
        )

    def _vocabulary(self, snap: Snapshot, recordings: frozenset[str]) -> tuple[str, ...]:
        """The user's vocabulary in the corrections of ``recordings`` (guarded only)."""
        if not self.guarded:
            return ()
        return user_vocabulary(
            [e.reference for e in snap.corrections if e.recording_id in recordings]
        )
