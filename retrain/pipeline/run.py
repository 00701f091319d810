"""One pipeline run: snapshot -> split -> train -> evaluate -> gate -> publish -> report.

Each step is a plain function with typed inputs and outputs (``snapshot``,
``split_step``, ``train_candidates``, ``evaluate_candidate``, ``gate_step``,
``publish_step``, ``report``); ``run_pipeline`` chains them and records the run in the
store (``training_runs`` with its reasons and report, ``training_examples`` with each
example's role, so that deleting a recording marks every version trained on it).

Before anything else a run retires versions trained on deleted data and sweeps
half-written version directories left by a crash.

Candidates: ``CandidateTrainer`` objects. The tier-1 trainer (lexicon prompt + rules)
is always there; issue 8 adds one for fine-tuned weights. Every candidate is gated
exactly the same way; of those that pass, the one with the lowest held-out WER is
promoted (``promoted_candidate`` in the report).
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
from engine.corpus import reference_set
from engine.paths import cache_dir, models_dir
from engine.personalize import build_prompt
from retrain.contract import ContractResult, build_examples
from retrain.errors import RetrainError
from retrain.pipeline.decode import CachedDecoder, Clip, EngineDecoder, clip_for, with_rules
from retrain.pipeline.evaluate import Served, build_evidence
from retrain.pipeline.gate import GateConfig, GateDecision, GateEvidence, decide
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


class CandidateTrainer(Protocol):
    name: str

    def train(
        self, snap: Snapshot, plan: SplitPlan, decoder: CachedDecoder
    ) -> TrainedCandidate: ...


@dataclass
class TierOneTrainer:
    """Lexicon prompt + correction rules (issue 5, tier 1)."""

    config: TierOneConfig = field(default_factory=TierOneConfig)
    validation: RuleValidation = field(default_factory=RuleValidation)
    name: str = "lexicon_rules"

    def train(self, snap: Snapshot, plan: SplitPlan, decoder: CachedDecoder) -> TrainedCandidate:
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
        draft = personalization_bundle(final, snap, plan, self.config)
        return TrainedCandidate(
            name=self.name,
            draft=draft,
            serve=lambda clip: with_rules(
                decoder.decode_segments(clip, final.prompt or None), final.rules
            ),
            heldout=heldout,
            heldout_texts=cv.served,
            heldout_lexicons=lexicons,
            seconds=time.perf_counter() - started,
            details={
                "lexicon_terms": len(final.lexicon),
                "prompt_tokens": decoder.count_prompt_tokens(final.prompt) if final.prompt else 0,
                "rules": len(final.rules),
                "sounds_like_similarity": final.term_similarity,
                "rules_dropped": [
                    {"source": list(r.source), "target": r.target, "why": why} for r, why in dropped
                ],
                "folds": len(plan.folds),
            },
        )


def personalization_bundle(
    model: Personalization, snap: Snapshot, plan: SplitPlan, config: TierOneConfig
) -> ModelBundle:
    return ModelBundle(
        version="",
        kind="personal",
        directory=None,
        lexicon=model.lexicon,
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
        },
    )


def train_candidates(
    snap: Snapshot,
    plan: SplitPlan,
    decoder: CachedDecoder,
    trainers: Sequence[CandidateTrainer],
    cancel: threading.Event | None = None,
) -> list[TrainedCandidate]:
    out = []
    for trainer in trainers:
        _check(cancel)
        out.append(trainer.train(snap, plan, decoder))
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
    prompt = build_prompt(
        bundle.lexicon,
        None,
        bundle.decoding.max_prompt_tokens or 223,
        lexicon_prompt=bundle.decoding.prompt,
    )
    return Served(
        name, lambda clip: with_rules(weighted.decode_segments(clip, prompt), bundle.rules)
    )


def reference_examples() -> tuple[Example, ...]:
    return tuple(
        Example(f"ref:{item.name}", f"ref:{item.name}", clip_for(item.path), item.text)
        for item in reference_set()
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
        unchanged=snap.unchanged,
        reference_set=reference_examples(),
    )


# ----------------------------------------------------------------------------- 5. gate


def gate_step(evidence: GateEvidence, config: GateConfig) -> GateDecision:
    return decide(evidence, config)


# ----------------------------------------------------------------------------- 6. publish


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

    def to_json(self) -> dict:
        return {
            "run_id": self.run_id,
            "started_at": self.started_at,
            "seconds": round(self.seconds, 2),
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


def report(
    run_id: int | None,
    started_at: str,
    started: float,
    snap: Snapshot,
    plan: SplitPlan | None,
    results: Sequence[CandidateResult],
    decision: str,
    reasons: Sequence[str],
    promoted: str | None,
    champion_before: str,
    champion_after: str,
    retired: Sequence[str],
    notices: Sequence[str],
) -> RunReport:
    return RunReport(
        run_id=run_id,
        started_at=started_at,
        seconds=time.perf_counter() - started,
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
        champion_before=champion_before,
        champion_after=champion_after,
        retired=tuple(retired),
        notices=tuple(notices),
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


def default_trainers(config: PipelineConfig) -> list[CandidateTrainer]:
    """Tier 1 with the lexicon prompt, and tier 1 with rules only (no prompt).

    The prompt changes the decoder and can shift ordinary speech (number formatting, a
    hallucinated "Thank you." at the end of a clip); rules alone leave the decoder as it
    is. Both are gated; the better one that passes is promoted.
    """
    return [
        TierOneTrainer(config.tier_one, config.rule_validation, name="lexicon_rules"),
        TierOneTrainer(
            replace(config.tier_one, use_prompt=False), config.rule_validation, name="rules"
        ),
    ]


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
    retired = registry.retire_deleted()
    notices = [f"retired {v}: it was trained on data you deleted" for v in retired]
    champion_before = registry.champion()
    serving = registry.serving_bundle()
    if serving.notice:
        notices.append(serving.notice)

    say("snapshot")
    snap = snapshot(store)
    run_id = _start_run(store, snap, champion_before)
    plan: SplitPlan | None = None
    try:
        with memoized_encoder():
            if decoder is None:
                cache = cache_dir() / "decodes" if config.decode_cache else None
                decoder = CachedDecoder(EngineDecoder(), cache)
            if not snap.consent_enabled:
                return _finish(
                    store,
                    run_id,
                    started_at,
                    started,
                    snap,
                    None,
                    [],
                    "insufficient evidence",
                    ["learning is off: the user has not opted in"],
                    None,
                    champion_before,
                    champion_before,
                    retired,
                    notices,
                )
            say("split")
            plan = split_step(snap, config.split)
            _record_examples(store, run_id, snap, plan)
            if not plan.folds:
                reason = (
                    f"{len(snap.corrections)} corrected segments from "
                    f"{len({e.recording_id for e in snap.corrections})} recordings: at least 2 "
                    "corrected recordings are needed to evaluate anything"
                )
                return _finish(
                    store,
                    run_id,
                    started_at,
                    started,
                    snap,
                    plan,
                    [],
                    "insufficient evidence",
                    [reason],
                    None,
                    champion_before,
                    champion_before,
                    retired,
                    notices,
                )
            say("train")
            candidates = train_candidates(
                snap, plan, decoder, trainers or default_trainers(config), cancel
            )
            say("evaluate")
            champion = served_by(serving.bundle, decoder, serving.version)
            factory = served_by(None, decoder, FACTORY)
            results: list[CandidateResult] = []
            evidences: dict[str, GateEvidence] = {}
            for cand in candidates:
                _check(cancel)
                evidence = evaluate_candidate(snap, cand, champion, factory)
                evidences[cand.name] = evidence
                decision = gate_step(evidence, config.gate)
                results.append(
                    CandidateResult(
                        cand.name,
                        decision,
                        summarize(evidence),
                        cand.seconds,
                        cand.details,
                        cand.draft.to_manifest(),
                    )
                )
            _check(cancel)
            say("gate")
            passing = [r for r in results if r.decision.promoted]
            if passing:
                best = min(passing, key=lambda r: r.evidence_summary["heldout"]["candidate_wer"])
                chosen = next(c for c in candidates if c.name == best.name)
                say("publish")
                info = publish_step(registry, chosen, run_id)
                return _finish(
                    store,
                    run_id,
                    started_at,
                    started,
                    snap,
                    plan,
                    results,
                    "promoted",
                    best.decision.reasons,
                    best.name,
                    champion_before,
                    info.version,
                    retired,
                    notices,
                )
            decisive = (
                next((r for r in results if r.decision.decision == "rejected"), None) or results[0]
            )
            return _finish(
                store,
                run_id,
                started_at,
                started,
                snap,
                plan,
                results,
                decisive.decision.decision,
                decisive.decision.reasons,
                None,
                champion_before,
                champion_before,
                retired,
                notices,
            )
    except BaseException as exc:
        status = "cancelled" if isinstance(exc, PipelineCancelled) else "failed"
        values = (utc_now(), status, json.dumps([str(exc) or type(exc).__name__]), run_id)
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
        raise


def _finish(
    store: Store,
    run_id: int,
    started_at: str,
    started: float,
    snap: Snapshot,
    plan: SplitPlan | None,
    results: Sequence[CandidateResult],
    decision: str,
    reasons: Sequence[str],
    promoted: str | None,
    before: str,
    after: str,
    retired: Sequence[str],
    notices: Sequence[str],
) -> RunReport:
    result = report(
        run_id,
        started_at,
        started,
        snap,
        plan,
        results,
        decision,
        reasons,
        promoted,
        before,
        after,
        retired,
        notices,
    )
    _finish_run(store, run_id, result, decision)
    return result


def examples_digest(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
