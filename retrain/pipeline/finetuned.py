"""The fine-tuned candidate: lexicon + rules on top of decoder weights fine-tuned on
the user's corrections (issue 8).

``FinetunedTrainer`` builds on the tier-1 candidate (its lexicon prompt and validated
rules, and its cross-validation) and adds fine-tuned decoder weights:

- **Training** runs in the isolated, niced worker process of ``retrain.finetune.job``
  (cancellable within seconds, all or nothing): the corrected segments, plus replay of
  the shipped general reference set and of some reviewed-unchanged segments (what the
  model must keep getting right).
- **Leak-free estimate.** Fine-tuning every one of the tier-1 folds would cost k + 1
  trainings. Instead the tier-1 folds are merged into ``folds`` groups (2 by
  default): one model is fine-tuned per group on the other groups' recordings, and each
  held-out example is served by the fine-tuned model of the group it is in, with the
  prompt and rules of its tier-1 fold; neither saw it. Two half-size trainings cost
  about one full one, so the candidate costs about two trainings in all (the encoder
  runs once per clip for all of them). Fold models are trained on half the recordings,
  the published one on all of them: the estimate is, if anything, pessimistic. With a
  fixed held-out set (plenty of data) the fold model *is* the final model: one training.
- **Ablation.** Held-out texts of the fine-tuned weights alone, with the lexicon
  prompt, and with prompt + rules, for the report.

The published bundle carries the fine-tuned weights (both serving formats), the
tier-1 lexicon, prompt and rules, and a lineage with the fine-tuning's
hyper-parameters, seed, library versions and examples hash.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from engine import models
from engine.paths import cache_dir
from retrain.finetune.config import FinetuneConfig
from retrain.finetune.examples import TrainingExample
from retrain.finetune.job import JobProgress, TrainingJob, run_training_jobs
from retrain.pipeline.cost import ServingSpec
from retrain.pipeline.decode import CachedDecoder, EngineDecoder, clip_audio, with_rules
from retrain.pipeline.personalize import Example
from retrain.pipeline.run import (
    Snapshot,
    TierOneTrainer,
    TrainedCandidate,
    personalization_bundle,
    reference_examples,
)
from retrain.pipeline.split import SplitPlan


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


@dataclass
class FinetunedTrainer:
    """Lexicon + rules + fine-tuned decoder weights (see the module docstring)."""

    tier_one: TierOneTrainer
    config: FinetuneConfig = field(default_factory=FinetuneConfig)
    folds: int = 2
    max_unchanged_replay: int = 40
    ablation: bool = True
    cancel: threading.Event | None = None
    progress: Callable[[str], None] | None = None
    name: str = "finetuned"

    def _say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    def _training_example(self, ex: Example, role: str) -> TrainingExample:
        return TrainingExample(ex.example_id, clip_audio(ex.clip), ex.reference, role)  # type: ignore[arg-type]

    def replay(self, snap: Snapshot) -> list[Example]:
        """The shipped reference set, and up to ``max_unchanged_replay`` reviewed-unchanged
        segments (chosen by a hash of their id: stable from run to run)."""
        unchanged = sorted(snap.unchanged, key=lambda e: _stable(e.example_id))
        return [*reference_examples(), *unchanged[: self.max_unchanged_replay]]

    def train(self, snap: Snapshot, plan: SplitPlan, decoder: CachedDecoder) -> TrainedCandidate:
        started = time.perf_counter()
        fitted = self.tier_one.fit(snap, plan, decoder)
        final_t1 = fitted.final
        base = models.base_bundle()
        assert base.directory is not None
        replay = [self._training_example(e, "replay") for e in self.replay(snap)]
        corrections = {
            e.example_id: self._training_example(e, "correction") for e in snap.corrections
        }

        def examples_of(recordings: frozenset[str]) -> list[TrainingExample]:
            chosen = [
                corrections[e.example_id] for e in snap.corrections if e.recording_id in recordings
            ]
            return [*chosen, *replay]

        groups = fold_groups(plan, self.folds)
        workroot = cache_dir() / "finetune-candidates" / uuid.uuid4().hex[:12]
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
        check_groups_leak_free(
            groups, trained_on, {e.example_id: e.recording_id for e in fitted.heldout}
        )
        last_stage: list[str] = []

        def relay(p: JobProgress) -> None:
            label = f"fine-tune {p.training + 1}/{p.trainings}: {p.stage}"
            if not last_stage or last_stage[-1] != label:
                last_stage.append(label)
                self._say(label)

        self._say(f"fine-tune: {len(jobs)} trainings in a worker process")
        train_started = time.perf_counter()
        try:
            outcomes = run_training_jobs(jobs, cancel=self.cancel, progress=relay)
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

        # held-out texts: each example by its group's fine-tuned model, with its tier-1
        # fold's prompt and rules
        self._say("fine-tune: scoring held-out examples")
        texts: dict[str, str] = {}
        prompted: dict[str, str] = {}
        alone: dict[str, str] = {}
        fold_decoders = {
            g: CachedDecoder(EngineDecoder(weights=b), decoder.directory)
            for g, b in fold_bundles.items()
        }
        for ex in fitted.heldout:
            if self.cancel is not None and self.cancel.is_set():
                shutil.rmtree(workroot, ignore_errors=True)
                from retrain.finetune.errors import TrainingCancelled

                raise TrainingCancelled()
            group = next(g for g in groups if ex.recording_id in g.test)
            fold = plan.fold_of(ex.recording_id)
            assert fold is not None
            t1 = fitted.cv.fold_models[fold.index]
            dec = fold_decoders[group.index]
            segments = dec.decode_segments(ex.clip, t1.prompt or None)
            texts[ex.example_id] = with_rules(segments, t1.rules)
            if self.ablation:
                prompted[ex.example_id] = with_rules(segments, ())
                alone[ex.example_id] = dec.decode(ex.clip, None)

        final_decoder = CachedDecoder(EngineDecoder(weights=final_bundle), decoder.directory)
        t1_draft = personalization_bundle(final_t1, snap, plan, self.tier_one.config)
        lineage: dict[str, Any] = {
            **t1_draft.lineage,
            "finetune": dict(final_bundle.lineage),
            "finetune_cross_validation": {
                "groups": len(groups),
                "shared_with_final": shared_final,
                "recordings_per_group": [len(g.test) for g in groups],
                "epoch_losses": [list(o.epoch_losses) for o in outcomes],
            },
        }
        draft = replace(
            final_bundle,
            version="",
            lexicon=t1_draft.lexicon,
            rules=t1_draft.rules,
            decoding=t1_draft.decoding,
            lineage=lineage,
        )
        spec = ServingSpec(final_bundle, final_t1.prompt or None, final_t1.rules)
        variants: dict[str, dict[str, str]] = {f"{self.name} (+ lexicon prompt + rules)": texts}
        variant_specs = {f"{self.name} (+ lexicon prompt + rules)": spec}
        if self.ablation:
            variants = {
                "fine-tuned weights": alone,
                "fine-tuned + lexicon prompt": prompted,
                **variants,
            }
            variant_specs = {
                "fine-tuned weights": ServingSpec(final_bundle, None, ()),
                "fine-tuned + lexicon prompt": ServingSpec(
                    final_bundle, final_t1.prompt or None, ()
                ),
                **variant_specs,
            }
        return TrainedCandidate(
            name=self.name,
            draft=draft,
            serve=lambda clip: with_rules(
                final_decoder.decode_segments(clip, final_t1.prompt or None), final_t1.rules
            ),
            heldout=fitted.heldout,
            heldout_texts=texts,
            heldout_lexicons=fitted.lexicons,
            seconds=time.perf_counter() - started + fitted.seconds,
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
                "epoch_losses": list(outcomes[-1].epoch_losses),
                "examples": {
                    "corrections": sum(1 for e in jobs[-1].examples if e.role == "correction"),
                    "replay": len(replay),
                },
                "skipped": [list(s) for s in outcomes[-1].skipped],
                "hyperparameters": self.config.to_json(),
                "lexicon_terms": len(final_t1.lexicon),
                "rules": len(final_t1.rules),
            },
            spec=spec,
            variants=variants,
            variant_specs=variant_specs,
            cleanup=lambda: shutil.rmtree(workroot, ignore_errors=True),
        )


def remove_candidate_leftovers() -> None:
    """Staging folders a crashed run left (the run removes its own in every other case)."""
    shutil.rmtree(cache_dir() / "finetune-candidates", ignore_errors=True)
