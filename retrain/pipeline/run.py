"""One pipeline run: snapshot -> split -> train -> evaluate -> gate -> publish -> report.

Each step is a plain function with typed inputs and outputs (``snapshot``,
``split_step``, ``train_candidates``, ``evaluate_candidate``, ``gate_step``,
``publish_step``, ``report``); ``run_pipeline`` chains them and records the run in the
store (``training_runs`` with its reasons and report, ``training_examples`` with each
example's role, so that deleting a recording marks every version trained on it).

Before anything else a run retires versions trained on deleted data and sweeps
half-written version directories left by a crash.

Candidates: ``CandidateTrainer`` objects (``default_trainers``). The tier-1 trainers
(lexicon prompt + rules; rules only) are always there; with the fine-tuning extra, three
more put the same on fine-tuned decoder weights (``retrain.pipeline.finetuned``). Every
candidate is gated exactly the same way, its decoding cost measured beside the
champion's (``retrain.pipeline.cost``); of those that pass, the one with the lowest
held-out WER is promoted (``promoted_candidate`` in the report). The report also
carries the ablation (each component's held-out WER and real-time factor), what
fine-tuning added, and the worst slice (per recording and per speaker label).
"""

from __future__ import annotations

import hashlib
import json
import logging
import resource
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from engine.bundle import DecodingDefaults, LexiconTerm, ModelBundle
from engine.corpus import REPLAY, reference_set
from engine.errors import TranscriptionCancelled
from engine.paths import models_dir
from retrain.contract import ContractResult, build_examples
from retrain.errors import RetrainError
from retrain.finetune.config import FinetuneConfig
from retrain.finetune.errors import FinetuneError, TrainingCancelled
from retrain.pipeline.cost import CostMeasurement, ServingSpec, measure_rtf
from retrain.pipeline.decode import (
    CachedDecoder,
    Clip,
    DecodeClock,
    EngineDecoder,
    cancelled_by,
    clip_for,
    decode_cache_dir,
    decode_clock,
    with_rules,
)
from retrain.pipeline.evaluate import Served, build_evidence
from retrain.pipeline.gate import (
    DecodingCost,
    ExtraCheck,
    GateConfig,
    GateDecision,
    GateEvidence,
    decide,
)
from retrain.pipeline.personalize import (
    CrossValidation,
    Example,
    Personalization,
    RuleValidation,
    TierOneConfig,
    cross_validate,
    factory_pairs,
    keep_validated_rules,
    train_tier_one,
)
from retrain.pipeline.split import (
    JsonAssignmentStore,
    SplitConfig,
    SplitPlan,
    check_leak_free,
    plan_split,
)
from retrain.registry import FACTORY, Registry, VersionInfo, utc_now
from retrain.staging import remove_orphans
from retrain.store import Store

log = logging.getLogger("tiro.pipeline")


class PipelineCancelled(RetrainError):
    default_message = "the learning run was cancelled; the champion model is unchanged."


@dataclass(frozen=True)
class PipelineConfig:
    tier_one: TierOneConfig = field(default_factory=TierOneConfig)
    rule_validation: RuleValidation = field(default_factory=RuleValidation)
    split: SplitConfig = field(default_factory=SplitConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    keep_versions: int = 5
    decode_cache: bool = True  # decodes cached on disk under TIRO_HOME/cache (deterministic)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    finetune_enabled: bool = True  # train the fine-tuned candidate when the extra is there
    finetune_folds: int = 2  # cross-validation groups for the fine-tuned candidate
    cost_rounds: int = 2  # interleaved rounds of the decoding-cost measurement
    # write every candidate's bundle to <export_candidates>/<name>/ (for benchmarks and
    # inspection; they are not registered and never serve)
    export_candidates: Path | None = None


# ----------------------------------------------------------------------------- 1. snapshot


@dataclass(frozen=True)
class Snapshot:
    contract_version: int
    examples_hash: str
    corrections: tuple[Example, ...]
    unchanged: tuple[Example, ...]
    rejections: Mapping[str, int]
    consent_enabled: bool

    @property
    def example_ids(self) -> list[str]:
        return sorted(e.example_id for e in (*self.corrections, *self.unchanged))


def _to_example(ex: Any, speakers: Mapping[int, str | None]) -> Example:
    # The contract checked the snippet's sha256; it is the clip's content key.
    return Example(
        example_id=ex.example_id,
        recording_id=str(ex.recording_id),
        clip=Clip(Path(ex.audio.path), ex.audio.sha256),
        reference=ex.reference,
        hypothesis=ex.hypothesis,
        speaker=speakers.get(ex.segment_id),
        segment_id=ex.segment_id,
    )


def snapshot(store: Store, contract: ContractResult | None = None) -> Snapshot:
    """The learning examples through the data contract, with the snapshot's identity."""
    contract = contract or build_examples(store)
    ids = [e.segment_id for e in contract.examples]
    speakers: dict[int, str | None] = {}
    for start in range(0, len(ids), 500):
        speakers.update({s.id: s.speaker for s in store.segments(ids[start : start + 500])})
    corrections = tuple(_to_example(e, speakers) for e in contract.corrections)
    unchanged = tuple(_to_example(e, speakers) for e in contract.unchanged)
    return Snapshot(
        contract_version=contract.contract_version,
        examples_hash=contract.examples_hash,
        corrections=corrections,
        unchanged=unchanged,
        rejections=dict(contract.rejections),
        consent_enabled=contract.consent_enabled,
    )


# ----------------------------------------------------------------------------- 2. split


def split_step(snap: Snapshot, config: SplitConfig) -> SplitPlan:
    from engine.scoring import normalize

    words: dict[str, int] = {}
    for ex in snap.corrections:
        words[ex.recording_id] = words.get(ex.recording_id, 0) + len(
            normalize(ex.reference).split()
        )
    store = JsonAssignmentStore(models_dir() / "heldout-recordings.json")
    plan = plan_split(words, config, store)
    check_leak_free(plan)
    return plan


# ----------------------------------------------------------------------------- 3. train


@dataclass(frozen=True)
class TrainedCandidate:
    """A candidate ready for the gate.

    ``heldout_texts`` holds, for each held-out example, the text of a candidate that was
    not trained on it; ``heldout_lexicons`` that candidate's lexicon. ``draft`` is the
    bundle to publish (no directory yet); ``serve`` transcribes as ``draft`` would.
    """

    name: str
    draft: ModelBundle
    serve: Callable[[Any], str]
    heldout: tuple[Example, ...]
    heldout_texts: Mapping[str, str]
    heldout_lexicons: Mapping[str, tuple[LexiconTerm, ...]]
    seconds: float
    details: Mapping[str, Any] = field(default_factory=dict)
    spec: ServingSpec | None = None  # how ``draft`` serves (for its decoding cost)
    # ablation: component combination -> example id -> held-out text (leak-free)
    variants: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    variant_specs: Mapping[str, ServingSpec] = field(default_factory=dict)
    cleanup: Callable[[], None] | None = None  # removes the draft's staging files
    # ids of the reviewed-unchanged and reference examples its weights were trained on
    # (fine-tuning replays some): the gate's no-harm checks leave them out for it
    trained_on: frozenset[str] = frozenset()
    # checks of its own kind the gate runs beside the common ones
    extra_checks: tuple[ExtraCheck, ...] = ()


class CandidateTrainer(Protocol):
    name: str

    def train(
        self, snap: Snapshot, plan: SplitPlan, decoder: CachedDecoder
    ) -> TrainedCandidate: ...


@dataclass(frozen=True)
class TierOneFit:
    """A tier-1 training: the final model (validated rules), its cross-validation."""

    final: Personalization
    cv: CrossValidation
    dropped: tuple[tuple[Any, str], ...]
    heldout: tuple[Example, ...]
    lexicons: Mapping[str, tuple[LexiconTerm, ...]]
    seconds: float


@dataclass
class TierOneTrainer:
    """Lexicon prompt + correction rules (issue 5, tier 1)."""

    config: TierOneConfig = field(default_factory=TierOneConfig)
    validation: RuleValidation = field(default_factory=RuleValidation)
    name: str = "lexicon_rules"
    _fits: dict[tuple[str, int], TierOneFit] = field(default_factory=dict, repr=False)

    def fit(self, snap: Snapshot, plan: SplitPlan, decoder: CachedDecoder) -> TierOneFit:
        """Train (once per snapshot and plan; the fine-tuned candidate builds on it)."""
        key = (snap.examples_hash, id(plan))
        if key in self._fits:
            return self._fits[key]
        started = time.perf_counter()
        examples = list(snap.corrections)
        factory = factory_pairs(examples, decoder)
        cv: CrossValidation = cross_validate(examples, plan, decoder, self.config, factory)
        by_id = {p.example_id: p for p in factory}
        final_examples = [e for e in examples if e.recording_id in plan.final_train]
        final = train_tier_one(
            final_examples, decoder, self.config, [by_id[e.example_id] for e in final_examples]
        )
        final, dropped = keep_validated_rules(final, cv.rule_outcomes, self.validation)
        heldout = tuple(e for e in examples if plan.fold_of(e.recording_id) is not None)
        lexicons = {}
        for ex in heldout:
            fold = plan.fold_of(ex.recording_id)
            assert fold is not None
            lexicons[ex.example_id] = cv.fold_models[fold.index].lexicon
        fitted = TierOneFit(
            final, cv, tuple(dropped), heldout, lexicons, time.perf_counter() - started
        )
        self._fits = {key: fitted}
        return fitted

    def train(self, snap: Snapshot, plan: SplitPlan, decoder: CachedDecoder) -> TrainedCandidate:
        fitted = self.fit(snap, plan, decoder)
        final = fitted.final
        draft = personalization_bundle(final, snap, plan, self.config)
        spec = ServingSpec(None, final.prompt or None, final.rules)
        if self.config.use_prompt:
            variants = {"lexicon prompt": fitted.cv.prompted, self.name: fitted.cv.served}
            variant_specs = {
                "lexicon prompt": ServingSpec(None, final.prompt or None, ()),
                self.name: spec,
            }
        else:
            variants = {self.name: fitted.cv.served}
            variant_specs = {self.name: spec}
        return TrainedCandidate(
            name=self.name,
            draft=draft,
            serve=lambda clip: with_rules(
                decoder.decode_segments(clip, final.prompt or None), final.rules
            ),
            heldout=fitted.heldout,
            heldout_texts=fitted.cv.served,
            heldout_lexicons=fitted.lexicons,
            seconds=fitted.seconds,
            details={
                "lexicon_terms": len(final.lexicon),
                "prompt_tokens": decoder.count_prompt_tokens(final.prompt) if final.prompt else 0,
                "rules": len(final.rules),
                "sounds_like_similarity": final.term_similarity,
                "rules_dropped": [
                    {"source": list(r.source), "target": r.target, "why": why}
                    for r, why in fitted.dropped
                ],
                "folds": len(plan.folds),
            },
            spec=spec,
            variants=variants,
            variant_specs=variant_specs,
        )


def personalization_bundle(
    model: Personalization, snap: Snapshot, plan: SplitPlan, config: TierOneConfig
) -> ModelBundle:
    # A bundle's lexicon is rendered into the decoder prompt when it has no prompt of
    # its own (engine.personalize.build_prompt): a candidate evaluated without the
    # prompt must not carry it, or it would serve differently from how it was judged.
    return ModelBundle(
        version="",
        kind="personal",
        directory=None,
        lexicon=model.lexicon if config.use_prompt else (),
        rules=model.rules,
        decoding=DecodingDefaults(
            max_prompt_tokens=config.prompt.budget_tokens, prompt=model.prompt or None
        ),
        lineage={
            "examples_hash": snap.examples_hash,
            "contract_version": snap.contract_version,
            "code_version": code_version(),
            "split": plan.mode,
            "trained_on_examples": len(model.trained_on),
            "prompt_style": config.prompt.style,
            "sounds_like_similarity": model.term_similarity,
            "lexicon_in_prompt": config.use_prompt,
            "lexicon_terms": [t.text for t in model.lexicon],
        },
    )


def train_candidates(
    snap: Snapshot,
    plan: SplitPlan,
    decoder: CachedDecoder,
    trainers: Sequence[CandidateTrainer],
    cancel: threading.Event | None = None,
    notices: list[str] | None = None,
) -> list[TrainedCandidate]:
    """Train every candidate. A fine-tuning failure drops that candidate (with a notice)
    and the others go on; a cancelled training cancels the run."""
    out = []
    for trainer in trainers:
        _check(cancel)
        try:
            out.append(trainer.train(snap, plan, decoder))
        except TrainingCancelled as exc:
            raise PipelineCancelled() from exc
        except FinetuneError as exc:
            log.warning("candidate %s failed: %s", trainer.name, exc)
            if notices is not None:
                notices.append(f"{trainer.name}: {exc}")
    return out


# ----------------------------------------------------------------------------- 4. evaluate


def served_by(bundle: ModelBundle | None, decoder: CachedDecoder, name: str) -> Served:
    """How a published bundle (``None``: the factory model) transcribes, for the gate."""
    if bundle is None:
        return Served(name, lambda clip: decoder.decode(clip, None))
    if bundle.has_own_weights:
        weighted = CachedDecoder(EngineDecoder(weights=bundle), decoder.directory)
    else:
        weighted = decoder
    # The prompt the engine serves this bundle with (same budget default): no skew.
    from engine.transcriber import serving_prompt

    prompt = serving_prompt(bundle)
    return Served(
        name, lambda clip: with_rules(weighted.decode_segments(clip, prompt), bundle.rules)
    )


def reference_examples(split: str | None = None) -> tuple[Example, ...]:
    """The shipped reference set (``engine.corpus.reference_set``) as examples."""
    return tuple(
        Example(f"ref:{item.name}", f"ref:{item.name}", clip_for(item.path), item.text)
        for item in reference_set(split)
    )


def evaluate_candidate(
    snap: Snapshot,
    candidate: TrainedCandidate,
    champion: Served,
    factory: Served,
) -> GateEvidence:
    return build_evidence(
        heldout=candidate.heldout,
        heldout_texts=candidate.heldout_texts,
        heldout_lexicons=candidate.heldout_lexicons,
        candidate=Served(candidate.name, candidate.serve),
        champion=champion,
        factory=factory,
        unchanged=[e for e in snap.unchanged if e.example_id not in candidate.trained_on],
        reference_set=[e for e in reference_examples() if e.example_id not in candidate.trained_on],
    )


# ----------------------------------------------------------------------------- 5. gate


def gate_step(
    evidence: GateEvidence, config: GateConfig, extra_checks: Sequence[ExtraCheck] = ()
) -> GateDecision:
    return decide(evidence, config, extra_checks)


# ----------------------------------------------------------------------------- 6. publish


def export_candidate(candidate: TrainedCandidate, directory: Path) -> Path:
    """Write a candidate's bundle to ``directory/<name>`` (not registered)."""
    import shutil

    from engine.bundle import write_manifest

    target = directory / candidate.name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    draft = candidate.draft
    if draft.directory is not None:
        for relative in draft.files:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(draft.directory / relative, target / relative)
    write_manifest(replace(draft, version=f"candidate-{candidate.name}", directory=target))
    return target


def publish_step(
    registry: Registry, candidate: TrainedCandidate, run_id: int | None
) -> VersionInfo:
    return registry.publish(candidate.draft, training_run_id=run_id)


# ----------------------------------------------------------------------------- 7. report


@dataclass(frozen=True)
class CandidateResult:
    name: str
    decision: GateDecision
    evidence_summary: Mapping[str, Any]
    seconds: float
    details: Mapping[str, Any]
    bundle: Mapping[str, Any] = field(default_factory=dict)  # the draft's manifest

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "gate": self.decision.to_json(),
            "figures": dict(self.evidence_summary),
            "seconds": round(self.seconds, 2),
            "details": dict(self.details),
            "bundle": dict(self.bundle),
        }


@dataclass(frozen=True)
class RunReport:
    run_id: int | None
    started_at: str
    seconds: float
    peak_rss_mb: float
    contract_version: int
    examples_hash: str
    corrections: int
    unchanged: int
    rejections: Mapping[str, int]
    split: str
    folds: int
    candidates: tuple[CandidateResult, ...]
    decision: str
    reasons: tuple[str, ...]
    promoted_candidate: str | None
    champion_before: str
    champion_after: str
    retired: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()
    ablation: Mapping[str, Any] = field(default_factory=dict)
    finetuning: Mapping[str, Any] = field(default_factory=dict)
    worst_slice: Mapping[str, Any] | None = None
    # wall time of the model's decodes in the run (scoring candidates, the baselines,
    # the decoding cost); ``seconds`` minus this is the learning itself
    transcription_seconds: float = 0.0
    transcription_decodes: int = 0

    def to_json(self) -> dict:
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 2),
            "transcription_seconds": round(self.transcription_seconds, 2),
            "transcription_decodes": self.transcription_decodes,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "contract_version": self.contract_version,
            "examples_hash": self.examples_hash,
            "corrections": self.corrections,
            "unchanged": self.unchanged,
            "rejections": dict(self.rejections),
            "split": self.split,
            "folds": self.folds,
            "gate": {"decision": self.decision, "reasons": list(self.reasons)},
            "candidates": {c.name: c.to_json() for c in self.candidates},
            "promoted_candidate": self.promoted_candidate,
            "champion_before": self.champion_before,
            "champion_after": self.champion_after,
            "retired": list(self.retired),
            "notices": list(self.notices),
            "ablation": dict(self.ablation),
            "finetuning": dict(self.finetuning),
            "worst_slice": dict(self.worst_slice) if self.worst_slice else None,
        }


def summarize(evidence: GateEvidence) -> dict[str, Any]:
    from retrain.pipeline.stats import sum_counts

    out: dict[str, Any] = {}
    for name, segments in (
        ("heldout", evidence.heldout),
        ("unchanged", evidence.unchanged),
        ("reference_set", evidence.reference_set),
    ):
        if not segments:
            continue
        out[name] = {
            "words": sum(s.candidate.reference_words for s in segments),
            "candidate_wer": sum_counts(s.candidate for s in segments).wer,
            "champion_wer": sum_counts(s.champion for s in segments).wer,
            "factory_wer": sum_counts(s.factory for s in segments).wer,
        }
    return out


@dataclass
class RunFacts:
    """What every report of a run repeats: known when the run starts (``plan`` once the
    split is made; ``extras`` filled as steps finish)."""

    run_id: int
    started_at: str
    started: float
    snap: Snapshot
    champion_before: str
    retired: Sequence[str]
    notices: Sequence[str]
    extras: Mapping[str, Any]
    plan: SplitPlan | None = None
    clock: DecodeClock = field(default_factory=DecodeClock)  # the model's decodes in the run


def report(
    facts: RunFacts,
    results: Sequence[CandidateResult],
    decision: str,
    reasons: Sequence[str],
    promoted: str | None,
    champion_after: str,
) -> RunReport:
    snap, plan, extras = facts.snap, facts.plan, facts.extras
    return RunReport(
        run_id=facts.run_id,
        started_at=facts.started_at,
        seconds=time.perf_counter() - facts.started,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        contract_version=snap.contract_version,
        examples_hash=snap.examples_hash,
        corrections=len(snap.corrections),
        unchanged=len(snap.unchanged),
        rejections=snap.rejections,
        split=plan.mode if plan else "none",
        folds=len(plan.folds) if plan else 0,
        candidates=tuple(results),
        decision=decision,
        reasons=tuple(reasons),
        promoted_candidate=promoted,
        champion_before=facts.champion_before,
        champion_after=champion_after,
        retired=tuple(facts.retired),
        notices=tuple(facts.notices),
        ablation=extras.get("ablation", {}),
        finetuning=extras.get("finetuning", {}),
        worst_slice=extras.get("worst_slice"),
        transcription_seconds=facts.clock.seconds,
        transcription_decodes=facts.clock.decodes,
    )


def worst_slice(decision: GateDecision) -> Mapping[str, Any] | None:
    check = next((c for c in decision.checks if c.name == "no slice much worse"), None)
    return check.values.get("worst") if check is not None else None


# ----------------------------------------------------------------------------- ablation


def champion_spec(bundle: ModelBundle | None) -> ServingSpec:
    """How the current champion serves (``None``: the factory model)."""
    if bundle is None:
        return ServingSpec()
    from engine.transcriber import serving_prompt

    prompt = serving_prompt(bundle)  # exactly as a job served by the champion
    return ServingSpec(bundle if bundle.has_own_weights else None, prompt or None, bundle.rules)


def measure_costs(
    specs: Mapping[str, ServingSpec], rounds: int
) -> tuple[CostMeasurement, dict[str, float]]:
    """Each spec's real-time factor on the shipped reference set, in one measurement."""
    clips = [ex.clip for ex in reference_examples(REPLAY)]
    measured = measure_rtf(specs, clips, rounds)
    return measured, dict(measured.rtf)


def ablation_table(
    candidates: Sequence[TrainedCandidate],
    decoder: CachedDecoder,
    champion: Served,
    rtf: Mapping[str, float],
) -> dict[str, Any]:
    """What each component adds on held-out data (each example scored leak-free), and
    what it costs to decode: every variant against the factory model on the same
    held-out examples."""
    from engine.scoring import error_counts
    from retrain.pipeline.stats import sum_counts

    heldout = {ex.example_id: ex for cand in candidates for ex in cand.heldout}
    variants: dict[str, Mapping[str, str]] = {}
    for cand in candidates:
        variants.update(cand.variants)
    common = [i for i in sorted(heldout) if all(i in texts for texts in variants.values())]
    if not common:
        return {}
    factory_counts = sum_counts(
        error_counts(heldout[i].reference, decoder.decode(heldout[i].clip, None)) for i in common
    )
    champion_counts = sum_counts(
        error_counts(heldout[i].reference, champion.transcribe(heldout[i].clip)) for i in common
    )
    factory_rtf = rtf.get("factory")
    rows = {
        "factory": {"heldout_wer": factory_counts.wer, "rtf": factory_rtf},
        "champion": {"heldout_wer": champion_counts.wer, "rtf": rtf.get("champion")},
    }
    for name, texts in variants.items():
        counts = sum_counts(error_counts(heldout[i].reference, texts[i]) for i in common)
        rows[name] = {
            "heldout_wer": counts.wer,
            "wer_points_vs_factory": counts.wer - factory_counts.wer,
            "rtf": rtf.get(name),
        }
    for row in rows.values():
        if factory_rtf and row.get("rtf") is not None:
            row["rtf_vs_factory"] = row["rtf"] / factory_rtf
    return {"heldout_examples": len(common), "variants": rows}


def finetuning_added(ablation: Mapping[str, Any]) -> str | None:
    """One sentence: what the fine-tuned weights added over the same lexicon and rules."""
    rows = ablation.get("variants") or {}
    pairs = [
        ("finetuned", "lexicon_rules", "with fine-tuned weights"),
        ("finetuned_rules", "rules", "with fine-tuned weights"),
        ("finetuned_guarded", "rules", "with fine-tuned weights guarded by the vocabulary"),
    ]
    parts = []
    for tuned, plain, how in pairs:
        if tuned in rows and plain in rows:
            a, b = rows[plain], rows[tuned]
            cost = ""
            if a.get("rtf") and b.get("rtf"):
                cost = f", decoding cost {b['rtf'] / a['rtf']:.2f}x"
            parts.append(
                f"{plain} {100 * a['heldout_wer']:.1f}% -> {how} "
                f"{100 * b['heldout_wer']:.1f}% ({100 * (b['heldout_wer'] - a['heldout_wer']):+.1f}"
                f" points{cost})"
            )
    if not parts:
        return None
    return (
        f"fine-tuning added, on {ablation.get('heldout_examples')} held-out examples: "
        + "; ".join(parts)
    )


# ----------------------------------------------------------------------------- the run


def code_version() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        if out.returncode == 0:
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tiro")
    except PackageNotFoundError:
        return "unknown"


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise PipelineCancelled()


def _start_run(store: Store, snap: Snapshot, champion: str) -> int:
    def job(conn: sqlite3.Connection) -> int:
        cur = conn.execute(
            "INSERT INTO training_runs (started_at, status, contract_version, examples_hash, "
            "example_count, champion_before, code_version) VALUES (?, 'running', ?, ?, ?, ?, ?)",
            (
                utc_now(),
                snap.contract_version,
                snap.examples_hash,
                len(snap.corrections) + len(snap.unchanged),
                champion,
                code_version(),
            ),
        )
        return int(cur.lastrowid)

    return store.write(job).result()


def _record_examples(store: Store, run_id: int, snap: Snapshot, plan: SplitPlan) -> None:
    rows = []
    for ex in snap.corrections:
        role = "train" if ex.recording_id in plan.final_train else "heldout"
        rows.append((run_id, ex.example_id, int(ex.recording_id), ex.segment_id, role))
    for ex in snap.unchanged:
        rows.append((run_id, ex.example_id, int(ex.recording_id), ex.segment_id, "unchanged"))

    def job(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO training_examples "
            "(training_run_id, example_id, recording_id, segment_id, role) VALUES (?, ?, ?, ?, ?)",
            rows,
        )

    store.write(job).result()


def _finish_run(store: Store, run_id: int, result: RunReport, status: str) -> None:
    def job(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE training_runs SET finished_at = ?, status = ?, candidate_version = ?, "
            "champion_after = ?, reasons_json = ?, report_json = ? WHERE id = ?",
            (
                utc_now(),
                status,
                result.champion_after if result.decision == "promoted" else None,
                result.champion_after,
                json.dumps(list(result.reasons)),
                json.dumps(result.to_json(), default=str),
                run_id,
            ),
        )

    store.write(job).result()


def default_trainers(
    config: PipelineConfig,
    *,
    cancel: threading.Event | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[CandidateTrainer]:
    """Tier 1 with the lexicon prompt, tier 1 with rules only (no prompt), and, when the
    fine-tuning extra is installed, the same on fine-tuned decoder weights
    (``finetuned``: lexicon prompt + rules; ``finetuned_rules``: rules only;
    ``finetuned_guarded``: rules, the weights guarded by the user's vocabulary, ``engine.guard``).
    The fine-tuned candidates share one set of trainings.

    The prompt changes the decoder and can shift ordinary speech (number formatting, a
    hallucinated "Thank you." at the end of a clip); rules alone leave the decoder as it
    is. Every candidate is gated alike; the better one that passes is promoted.
    """
    from retrain.finetune.availability import availability

    tier_one = TierOneTrainer(config.tier_one, config.rule_validation, name="lexicon_rules")
    trainers: list[CandidateTrainer] = [
        tier_one,
        TierOneTrainer(
            replace(config.tier_one, use_prompt=False), config.rule_validation, name="rules"
        ),
    ]
    if config.finetune_enabled and availability().available:
        from retrain.pipeline.finetuned import FinetunedTrainer, FinetuneTrainings

        shared = FinetuneTrainings(
            config.finetune, folds=config.finetune_folds, cancel=cancel, progress=progress
        )
        trainers += [
            FinetunedTrainer(tier_one, shared, use_prompt=True, name="finetuned", cancel=cancel),
            FinetunedTrainer(
                tier_one, shared, use_prompt=False, name="finetuned_rules", cancel=cancel
            ),
            FinetunedTrainer(
                tier_one,
                shared,
                use_prompt=False,
                name="finetuned_guarded",
                cancel=cancel,
                guarded=True,
            ),
        ]
    return trainers


def finetuning_status(trainers: Sequence[CandidateTrainer]) -> dict[str, Any]:
    from retrain.finetune.availability import availability

    state = availability()
    return {
        "available": state.available,
        "reason": state.reason,
        "candidate": any(t.name == "finetuned" for t in trainers),
    }


def run_pipeline(
    store: Store,
    config: PipelineConfig | None = None,
    *,
    trainers: Sequence[CandidateTrainer] | None = None,
    decoder: CachedDecoder | None = None,
    progress: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> RunReport:
    """Run every step once. The champion changes only if a candidate passes the gate."""
    from engine.backends.ctranslate2 import memoized_encoder

    config = config or PipelineConfig()
    say = progress or (lambda _msg: None)
    started, started_at = time.perf_counter(), utc_now()
    registry = Registry(store, keep=config.keep_versions)
    registry.sweep()
    remove_orphans()  # what a killed run staged: the user's audio, weights trained on it
    retired = registry.retire_deleted()
    notices = [f"retired {v}: it was trained on data you deleted" for v in retired]
    champion_before = registry.champion()
    serving = registry.serving_bundle()
    if serving.notice:
        notices.append(serving.notice)
    if trainers is None:
        trainers = default_trainers(config, cancel=cancel, progress=say)
    extras: dict[str, Any] = {"finetuning": finetuning_status(trainers)}
    if not extras["finetuning"]["available"]:
        notices.append(
            f"fine-tuning not available: {extras['finetuning']['reason']} "
            "Only the lexicon and rules candidates were trained."
        )

    say("snapshot")
    snap = snapshot(store)
    run_id = _start_run(store, snap, champion_before)
    facts = RunFacts(run_id, started_at, started, snap, champion_before, retired, notices, extras)
    candidates: list[TrainedCandidate] = []

    def finish(results, decision, reasons, promoted, after) -> RunReport:
        return _finish(store, facts, results, decision, reasons, promoted, after)

    try:
        with memoized_encoder(), cancelled_by(cancel), decode_clock(facts.clock):
            if decoder is None:
                cache = decode_cache_dir() if config.decode_cache else None
                decoder = CachedDecoder(EngineDecoder(), cache)
            if not snap.consent_enabled:
                return finish(
                    [],
                    "insufficient evidence",
                    ["learning is off: the user has not opted in"],
                    None,
                    champion_before,
                )
            say("split")
            plan = facts.plan = split_step(snap, config.split)
            _record_examples(store, run_id, snap, plan)
            if not plan.folds:
                reason = (
                    f"{len(snap.corrections)} corrected segments from "
                    f"{len({e.recording_id for e in snap.corrections})} recordings: at least 2 "
                    "corrected recordings are needed to evaluate anything"
                )
                return finish([], "insufficient evidence", [reason], None, champion_before)
            say("train")
            candidates = train_candidates(snap, plan, decoder, trainers, cancel, notices)
            _check(cancel)
            say("decoding cost")
            champ_spec = champion_spec(serving.bundle)
            specs: dict[str, ServingSpec] = {"champion": champ_spec, "factory": ServingSpec()}
            for cand in candidates:
                if cand.spec is not None:
                    specs[cand.name] = cand.spec
                specs.update(cand.variant_specs)
            cost, rtf = measure_costs(specs, config.cost_rounds)
            say("evaluate")
            champion = served_by(serving.bundle, decoder, serving.version)
            factory = served_by(None, decoder, FACTORY)
            results: list[CandidateResult] = []
            for cand in candidates:
                _check(cancel)
                evidence = evaluate_candidate(snap, cand, champion, factory)
                if cand.name in rtf:
                    evidence = replace(
                        evidence,
                        decoding_cost=DecodingCost(
                            rtf[cand.name], rtf["champion"], cost.audio_seconds, cost.clips
                        ),
                    )
                decision = gate_step(evidence, config.gate, cand.extra_checks)
                details = dict(cand.details)
                details["rtf"] = rtf.get(cand.name)
                details["champion_rtf"] = rtf.get("champion")
                results.append(
                    CandidateResult(
                        cand.name,
                        decision,
                        summarize(evidence),
                        cand.seconds,
                        details,
                        cand.draft.to_manifest(),
                    )
                )
            _check(cancel)
            if config.export_candidates is not None:
                for cand in candidates:
                    export_candidate(cand, config.export_candidates)
            extras["ablation"] = {
                **ablation_table(candidates, decoder, champion, rtf),
                "rtf_clips": cost.clips,
                "rtf_audio_seconds": round(cost.audio_seconds, 2),
                "rtf_rounds": cost.rounds,
            }
            added = finetuning_added(extras["ablation"])
            if added:
                extras["finetuning"] = {**extras["finetuning"], "added": added}
            say("gate")
            passing = [r for r in results if r.decision.promoted]
            if passing:
                best = min(passing, key=lambda r: r.evidence_summary["heldout"]["candidate_wer"])
                extras["worst_slice"] = worst_slice(best.decision)
                chosen = next(c for c in candidates if c.name == best.name)
                say("publish")
                info = publish_step(registry, chosen, run_id)
                return finish(results, "promoted", best.decision.reasons, best.name, info.version)
            decisive = (
                next((r for r in results if r.decision.decision == "rejected"), None) or results[0]
            )
            extras["worst_slice"] = worst_slice(decisive.decision)
            return finish(
                results,
                decisive.decision.decision,
                decisive.decision.reasons,
                None,
                champion_before,
            )
    except BaseException as exc:
        # a decode stopped mid-step by ``cancel`` (``cancelled_by``) cancels the run
        stopped = PipelineCancelled() if isinstance(exc, TranscriptionCancelled) else exc
        status = "cancelled" if isinstance(stopped, PipelineCancelled) else "failed"
        values = (utc_now(), status, json.dumps([str(stopped) or type(exc).__name__]), run_id)
        try:
            store.write(
                lambda conn: conn.execute(
                    "UPDATE training_runs SET finished_at = ?, status = ?, reasons_json = ? "
                    "WHERE id = ?",
                    values,
                )
            ).result()
        except Exception:  # the original failure matters more
            log.exception("could not record the failed run")
        if stopped is not exc:
            raise stopped from exc
        raise
    finally:
        for cand in candidates:
            if cand.cleanup is not None:
                cand.cleanup()


def _finish(
    store: Store,
    facts: RunFacts,
    results: Sequence[CandidateResult],
    decision: str,
    reasons: Sequence[str],
    promoted: str | None,
    after: str,
) -> RunReport:
    result = report(facts, results, decision, reasons, promoted, after)
    _finish_run(store, facts.run_id, result, decision)
    return result


def examples_digest(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
