"""The fine-tuned candidate's cross-validation groups (pure functions)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from retrain.pipeline.finetuned import FoldGroup, check_groups_leak_free, fold_groups
from retrain.pipeline.split import Fold, SplitConfig, SplitPlan, plan_split


def test_five_folds_merge_into_two_disjoint_groups_covering_every_recording() -> None:
    words = {f"r{i}": 100 for i in range(12)}
    plan = plan_split(words, SplitConfig(folds=5))
    assert plan.mode == "cross_validation" and len(plan.folds) == 5
    groups = fold_groups(plan, 2)
    assert len(groups) == 2
    assert groups[0].test.isdisjoint(groups[1].test)
    assert groups[0].test | groups[1].test == set(words)
    for g in groups:
        assert g.train == set(words) - g.test
        # a group is a union of whole tier-1 folds: every fold sits in exactly one group
        for fold in plan.folds:
            assert fold.test <= g.test or fold.test.isdisjoint(g.test)


def test_a_fixed_holdout_keeps_its_one_fold() -> None:
    plan = SplitPlan(
        "holdout", (Fold(0, frozenset({"a", "b"}), frozenset({"c"})),), frozenset({"a", "b"})
    )
    (group,) = fold_groups(plan, 2)
    assert group.test == {"c"} and group.train == plan.final_train


def test_the_leak_check_refuses_a_model_trained_on_what_it_scores() -> None:
    groups = (
        FoldGroup(0, frozenset({"a"}), frozenset({"b"})),
        FoldGroup(1, frozenset({"b"}), frozenset({"a"})),
    )
    check_groups_leak_free(groups, {0: ["b"], 1: ["a"]}, {"e1": "a", "e2": "b"})
    with pytest.raises(AssertionError, match="trained on its recording a"):
        check_groups_leak_free(groups, {0: ["a", "b"], 1: ["a"]}, {"e1": "a"})
    with pytest.raises(AssertionError, match="scored by 0 fold groups"):
        check_groups_leak_free(groups, {0: ["b"], 1: ["a"]}, {"e3": "z"})


def test_the_report_sentence_says_what_fine_tuning_added() -> None:
    from retrain.pipeline.run import finetuning_added

    ablation = {
        "heldout_examples": 40,
        "variants": {
            "lexicon_rules": {"heldout_wer": 0.12, "rtf": 0.4},
            "finetuned": {"heldout_wer": 0.05, "rtf": 0.42},
            "rules": {"heldout_wer": 0.2, "rtf": 0.2},
            "finetuned_rules": {"heldout_wer": 0.06, "rtf": 0.2},
        },
    }
    sentence = finetuning_added(ablation)
    assert sentence is not None
    assert "lexicon_rules 12.0% -> with fine-tuned weights 5.0% (-7.0 points" in sentence
    assert "decoding cost 1.05x" in sentence and "rules 20.0% -> " in sentence
    assert finetuning_added({"variants": {"rules": {"heldout_wer": 0.2}}}) is None


def test_the_gate_never_checks_a_fine_tuned_candidate_on_what_it_replayed(tmp_path) -> None:
    """Fine-tuning replays the reference set's replay clips and every other reviewed-unchanged
    segment; the gate's no-harm sets for that candidate are the rest: the reference set's
    gate clips and the unchanged segments it never trained on. (Before, it replayed the
    whole reference set and every unchanged segment, and was then checked on them.)"""
    from engine.corpus import GATE, REPLAY, reference_set
    from retrain.pipeline.decode import clip_for
    from retrain.pipeline.evaluate import Served
    from retrain.pipeline.finetuned import FinetuneTrainings
    from retrain.pipeline.personalize import Example
    from retrain.pipeline.run import Snapshot, TrainedCandidate, evaluate_candidate

    audio = tmp_path / "a.wav"
    audio.write_bytes(b"not decoded: the models below ignore their clip")
    unchanged = tuple(
        Example(f"u{i}", f"r{i}", clip_for(audio), "the same words") for i in range(10)
    )
    snap = Snapshot(1, "hash", (), unchanged, {}, True)
    replayed = {e.example_id for e in FinetuneTrainings().replay(snap)}
    assert {f"ref:{i.name}" for i in reference_set(REPLAY)} <= replayed
    assert not {f"ref:{i.name}" for i in reference_set(GATE)} & replayed
    assert len(replayed & {e.example_id for e in unchanged}) == 5

    same = Served("model", lambda _clip: "the same words")
    candidate = TrainedCandidate(
        "finetuned", None, same.transcribe, (), {}, {}, 0.0, trained_on=frozenset(replayed)
    )  # type: ignore[arg-type]
    evidence = evaluate_candidate(snap, candidate, same, same)
    checked = {s.segment_id for s in (*evidence.unchanged, *evidence.reference_set)}
    assert checked and not checked & replayed
    assert {s.segment_id for s in evidence.reference_set} == {
        f"ref:{i.name}" for i in reference_set(GATE)
    }
    assert len(evidence.unchanged) == 5
    # a candidate trained on none of them is checked on all of them
    untrained = replace(candidate, trained_on=frozenset())
    everything = evaluate_candidate(snap, untrained, same, same)
    assert len(everything.reference_set) == len(reference_set()) and len(everything.unchanged) == 10
