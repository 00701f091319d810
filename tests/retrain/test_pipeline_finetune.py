"""The fine-tuned candidate in the pipeline: real model, real clips, real store, real
training in the worker process.

A simulated user has corrected 12 user-sim clips (one recording each). The pipeline
trains the tier-1 candidates and the fine-tuned one, measures their decoding cost, gates
them alike and reports the ablation. A relaxed gate (few clips) lets the slice and
repetition checks see real numbers; the tests check what must hold whatever the gate
decides.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from engine.corpus import GATE, reference_set
from engine.paths import cache_dir
from engine.scoring import error_counts
from retrain.finetune.availability import DISABLE_ENV, availability
from retrain.finetune.config import FinetuneConfig
from retrain.pipeline.gate import GateConfig
from retrain.pipeline.run import PipelineCancelled, PipelineConfig, run_pipeline
from retrain.registry import FACTORY, Registry
from retrain.store import Store

needs_finetune = pytest.mark.skipif(not availability().available, reason=availability().reason)
# One epoch of fine-tuning instead of 3-4: these tests are about how the pipeline trains,
# gates and reports the candidate, not how good it is (tests/finetune and the
# personalization benchmark measure that).
RELAXED = PipelineConfig(
    gate=GateConfig(min_heldout_words=50, min_term_occurrences=2, slice_min_words=10),
    cost_rounds=1,
    finetune=FinetuneConfig(max_epochs=1, min_epochs=1),
)
KEEP = 12


def _keep_first(store: Store, n: int) -> None:
    ids = store.read(lambda c: [r for (r,) in c.execute("SELECT id FROM recordings ORDER BY id")])
    store.delete_recordings(ids[n:]).result()


def _no_leftovers() -> None:
    for folder in ("finetune-candidates", "finetune-jobs"):
        path = cache_dir() / folder
        assert not path.exists() or list(path.iterdir()) == [], folder


@needs_finetune
def test_the_pipeline_trains_gates_and_reports_the_finetuned_candidate(
    user_home: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "candidates"
    config = replace(RELAXED, export_candidates=exported)
    seen: list[str] = []
    with Store.open(auto_snippets=False) as store:
        _keep_first(store, KEEP)
        report = run_pipeline(store, config, progress=seen.append)
        registry = Registry(store)
        champion = registry.champion()
    assert any(m.startswith("fine-tune 1/3") for m in seen)  # 2 fold groups + final
    names = {c.name for c in report.candidates}
    assert names == {"lexicon_rules", "rules", "finetuned", "finetuned_rules", "finetuned_guarded"}
    assert report.finetuning["available"] is True and report.finetuning["candidate"]
    assert report.finetuning["added"].startswith(
        f"fine-tuning added, on {report.corrections} held-out"
    )
    finetuned = next(c for c in report.candidates if c.name == "finetuned")
    without_prompt = next(c for c in report.candidates if c.name == "finetuned_rules")
    # the two share one set of trainings (same weights), and differ in the prompt only
    assert without_prompt.bundle["files"] == finetuned.bundle["files"]
    assert bool(finetuned.bundle["lexicon"]) == bool(finetuned.bundle["decoding"]["prompt"])
    assert not without_prompt.bundle["lexicon"] and not without_prompt.bundle["decoding"]["prompt"]
    # the guarded one too: the same weights, no prompt, and the uncommon words of the
    # corrections guarding them (names and jargon, never words like "the")
    guarded = next(c for c in report.candidates if c.name == "finetuned_guarded")
    assert guarded.bundle["files"] == finetuned.bundle["files"]
    assert not guarded.bundle["lexicon"] and not guarded.bundle["decoding"]["prompt"]
    guard = guarded.bundle["decoding"]["guard_terms"]
    assert guard == guarded.bundle["lineage"]["guard_terms"]
    assert len(guard) == guarded.details["guard_terms"] >= 10
    assert not {"the", "a", "is", "and"} & {t.lower() for t in guard}
    assert "guard_terms" not in finetuned.bundle["decoding"]

    # every candidate was judged by every rule, the new ones included, with numbers
    for cand in report.candidates:
        checks = {c.name: c for c in cand.decision.checks}
        assert {"no repetition loops", "decoding cost", "no slice much worse"} <= set(checks)
        assert checks["no repetition loops"].values["segments"] >= KEEP
        assert 0 < checks["no repetition loops"].values["max_ratio"] < 10
        cost = checks["decoding cost"].values
        assert cost["candidate_rtf"] > 0 and cost["champion_rtf"] > 0
        assert checks["no slice much worse"].values["checked"] > 0

    # the fine-tuned candidates are also judged by their fold models' harm on the
    # reference set's clips no training replayed, 2 models
    replicates_check = "no harm on general reference set from the same training on other recordings"
    gate_words = sum(error_counts(i.text, i.text).reference_words for i in reference_set(GATE))
    for cand in report.candidates:
        checks = {c.name: c for c in cand.decision.checks}
        if cand.name not in ("finetuned", "finetuned_rules", "finetuned_guarded"):
            assert replicates_check not in checks
            continue
        values = checks[replicates_check].values
        assert values["models"] == 2 and values["words"] == 2 * gate_words
        assert 0 < values["factory_wer"] < 0.2 and 0 <= values["models_wer"] < 1

    # leak-free: each held-out recording scored by exactly one fold model, not trained on it
    groups = finetuned.details["cross_validation"]
    assert len(groups) == 2
    scored = [r for g in groups for r in g["scores_recordings"]]
    # (a clip the model already got right is a reviewed-unchanged segment, not held out)
    assert len(scored) == len(set(scored)) == report.corrections > KEEP // 2
    for g in groups:
        assert not set(g["scores_recordings"]) & set(g["trained_on_recordings"])
        assert g["trained_on_recordings"]
    assert finetuned.details["trainings"] == 3
    assert finetuned.details["worker_peak_rss_mb"] > 100

    # lineage: hyper-parameters, seed, library versions, examples hash, base weights
    manifest = finetuned.bundle
    assert manifest["base_weights"] != FACTORY
    lineage = manifest["lineage"]["finetune"]
    assert lineage["hyperparameters"]["learning_rate"] == config.finetune.learning_rate
    assert lineage["seed"] == config.finetune.seed
    assert lineage["libraries"]["torch"] and lineage["libraries"]["ctranslate2"]
    assert len(lineage["examples_hash"]) == 64
    assert manifest["lineage"]["examples_hash"] == report.examples_hash
    assert (exported / "finetuned" / "weights" / "ct2" / "model.bin").is_file()
    assert (exported / "finetuned" / "bundle.json").is_file()

    # the ablation: each component's held-out WER and decoding cost, leak-free
    ablation = report.ablation
    assert ablation["heldout_examples"] == report.corrections
    rows = ablation["variants"]
    for name in (
        "factory",
        "champion",
        "lexicon prompt",
        "lexicon_rules",
        "rules",
        "fine-tuned weights",
        "fine-tuned + lexicon prompt",
        "finetuned",
        "finetuned_rules",
        "fine-tuned weights, guarded by the vocabulary",
        "finetuned_guarded",
    ):
        assert 0 <= rows[name]["heldout_wer"] <= 2 and rows[name]["rtf"] > 0, name
    # the held-out WER the gate saw for the candidate is the ablation's full row
    assert rows["finetuned"]["heldout_wer"] == pytest.approx(
        finetuned.evidence_summary["heldout"]["candidate_wer"]
    )
    assert report.worst_slice is not None and report.worst_slice["words"] >= 10

    # the promoted candidate (if any) is the best passing one, and serves
    if report.decision == "promoted":
        passing = [c for c in report.candidates if c.decision.promoted]
        best = min(passing, key=lambda c: c.evidence_summary["heldout"]["candidate_wer"])
        assert report.promoted_candidate == best.name and champion == report.champion_after
    else:
        assert champion == FACTORY
    _no_leftovers()


@needs_finetune
def test_cancelling_during_fine_tuning_leaves_the_champion_and_no_artifact(
    user_home: Path,
) -> None:
    cancel = threading.Event()

    def progress(message: str) -> None:
        if message.startswith("fine-tune") and "training" in message:
            cancel.set()

    with Store.open(auto_snippets=False) as store:
        _keep_first(store, 8)
        with pytest.raises(PipelineCancelled):
            run_pipeline(store, RELAXED, progress=progress, cancel=cancel)
        registry = Registry(store)
        assert registry.champion() == FACTORY and registry.versions() == []
        status = store.read(lambda c: c.execute("SELECT status FROM training_runs").fetchall())
    assert status == [("cancelled",)]
    assert cancel.is_set()
    _no_leftovers()


def test_without_the_finetune_extra_tier_one_goes_on_and_the_report_says_so(
    user_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DISABLE_ENV, "1")
    with Store.open(auto_snippets=False) as store:
        _keep_first(store, 8)
        report = run_pipeline(store, RELAXED)
    assert {c.name for c in report.candidates} == {"lexicon_rules", "rules"}
    assert report.finetuning["available"] is False
    assert any(n.startswith("fine-tuning not available") for n in report.notices)
    assert "fine-tuned weights" not in report.ablation["variants"]
    assert report.ablation["variants"]["lexicon_rules"]["rtf"] > 0
