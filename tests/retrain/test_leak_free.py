"""Leak-free evaluation: a word planted only in held-out examples never reaches the
candidate those examples are scored by (not its lexicon, not its prompt, not its rules).

Real clips, real decoding. The planted word is typed into two segments of one recording,
so it has the support of a lexicon term: a candidate trained on that recording does learn
it (checked, so the test can fail), a candidate scoring that recording must not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.backends.ctranslate2 import memoized_encoder
from engine.corpus import read_manifest
from retrain.pipeline.decode import CachedDecoder, EngineDecoder, clip_for
from retrain.pipeline.personalize import (
    Example,
    Personalization,
    cross_validate,
    factory_pairs,
    train_tier_one,
)
from retrain.pipeline.split import Fold, SplitConfig, SplitPlan, check_leak_free, plan_split

PLANTED = "Quuxblorpia"


def mentions(model: Personalization, word: str) -> list[str]:
    key = word.lower()
    found = []
    if any(key in t.text.lower() for t in model.lexicon):
        found.append("lexicon")
    if key in model.prompt.lower():
        found.append("prompt")
    if any(key in r.target.lower() or key in " ".join(r.source) for r in model.rules):
        found.append("rules")
    return found


@pytest.fixture(scope="module")
def examples(user_sim_corpus: Path) -> list[Example]:
    items = [i for i in read_manifest(user_sim_corpus) if i.split == "train"][:12]
    out = []
    for n, item in enumerate(items):
        planted = n in (3, 7)
        out.append(
            Example(
                example_id=f"e{n}",
                recording_id="planted" if planted else f"r{n}",
                clip=clip_for(item.path),
                reference=f"{item.text} {PLANTED} said so." if planted else item.text,
            )
        )
    return out


def test_the_planted_word_never_reaches_the_fold_that_scores_it(examples, tmp_path) -> None:
    decoder = CachedDecoder(EngineDecoder(), tmp_path / "decodes")
    with memoized_encoder():
        factory = factory_pairs(examples, decoder)
        words = {e.recording_id: 10 for e in examples}
        plan = plan_split(words, SplitConfig(folds=4))
        check_leak_free(plan)
        cv = cross_validate(examples, plan, decoder, factory=factory)
        final = train_tier_one(examples, decoder, factory=factory)
    scoring = plan.fold_of("planted")
    assert scoring is not None
    assert mentions(cv.fold_models[scoring.index], PLANTED) == []
    # The served text of the planted examples came from that fold's model.
    for ex in examples:
        if ex.recording_id == "planted":
            assert PLANTED.lower() not in cv.served[ex.example_id].lower()
    # Trained on the planted recording, the word is learned: the check above can fail.
    assert "lexicon" in mentions(final, PLANTED)
    others = [f for f in plan.folds if "planted" in f.train]
    assert others and all("lexicon" in mentions(cv.fold_models[f.index], PLANTED) for f in others)


def test_a_fixed_holdout_never_trains_on_held_out_recordings(examples, tmp_path) -> None:
    decoder = CachedDecoder(EngineDecoder(), tmp_path / "decodes")
    everything = frozenset(e.recording_id for e in examples)
    heldout = frozenset({"planted", "r0"})
    plan = SplitPlan("holdout", (Fold(0, everything - heldout, heldout),), everything - heldout)
    check_leak_free(plan)
    with memoized_encoder():
        train = [e for e in examples if e.recording_id in plan.final_train]
        model = train_tier_one(train, decoder)
    assert mentions(model, PLANTED) == []
    assert not any(e.recording_id in heldout for e in train)
