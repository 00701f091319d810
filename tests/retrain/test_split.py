"""Splits are by recording, deterministic, leak-free, and held-out stays held-out."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain.pipeline.split import (
    JsonAssignmentStore,
    SplitConfig,
    check_leak_free,
    cross_validation_folds,
    plan_split,
)


def test_folds_partition_recordings_deterministically() -> None:
    ids = [f"rec{i}" for i in range(23)]
    folds = cross_validation_folds(ids, SplitConfig(folds=5))
    assert len(folds) == 5
    tested = [r for f in folds for r in f.test]
    assert sorted(tested) == sorted(ids)  # every recording tested exactly once
    for fold in folds:
        assert fold.train | fold.test == set(ids) and not fold.train & fold.test
        assert len(fold.test) in (4, 5)
    assert cross_validation_folds(reversed(ids), SplitConfig(folds=5)) == folds


def test_few_recordings_give_fewer_folds_and_one_gives_none() -> None:
    assert len(cross_validation_folds(["a", "b", "c"], SplitConfig(folds=5))) == 3
    assert cross_validation_folds(["a"], SplitConfig()) == ()


def test_little_data_uses_cross_validation_and_trains_final_on_everything() -> None:
    words = {f"r{i}": 30 for i in range(40)}
    plan = plan_split(words)
    assert plan.mode == "cross_validation"
    assert plan.final_train == set(words)
    check_leak_free(plan)


def test_plenty_of_data_uses_a_fixed_holdout_that_never_returns(tmp_path: Path) -> None:
    store = JsonAssignmentStore(tmp_path / "split.json")
    config = SplitConfig(holdout_min_words=500)
    words = {f"r{i}": 100 for i in range(60)}
    plan = plan_split(words, config, store)
    assert plan.mode == "holdout"
    heldout = plan.folds[0].test
    assert heldout and not heldout & plan.final_train
    check_leak_free(plan)
    # Raising the held-out fraction later never moves a held-out recording back.
    more = {**words, **{f"n{i}": 100 for i in range(20)}}
    later = plan_split(more, SplitConfig(holdout_min_words=500, holdout_fraction=0.05), store)
    assert heldout <= later.folds[0].test
    assert store.load()["r0"] == ("r0" in heldout)


def test_leak_check_catches_overlap() -> None:
    from retrain.pipeline.split import Fold, SplitPlan

    bad = SplitPlan(
        "cross_validation", (Fold(0, frozenset({"a", "b"}), frozenset({"b"})),), frozenset()
    )
    with pytest.raises(AssertionError):
        check_leak_free(bad)
