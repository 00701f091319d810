"""``retrain.learn.vocabulary``: the uncommon words of what the user corrected, read with
the bundled model's own tokenizer, on the user-sim corpus's real correction texts."""

from __future__ import annotations

from pathlib import Path

from engine.corpus import read_manifest
from engine.textrules import is_common_word, normalize_token
from retrain.learn.vocabulary import user_vocabulary


def test_the_vocabulary_is_the_names_and_jargon_of_the_corrections(user_sim_corpus: Path) -> None:
    train = [i for i in read_manifest(user_sim_corpus) if i.split == "train"]
    vocabulary = user_vocabulary([i.text for i in train])
    terms = {t for i in train for t in i.terms if " " not in t}
    # every one-word term the user typed is in it, spelled as they spelled it
    assert {"Okonkwo", "Przybylski", "Kästner", "Terraform"} <= set(vocabulary)
    assert len(terms - set(vocabulary)) <= len(terms) // 10, terms - set(vocabulary)
    # and no word the tokenizer knows as one common word
    assert not {"the", "is", "I", "and", "today", "before"} & set(vocabulary)
    for word in vocabulary:
        assert not all(is_common_word(w) for w in normalize_token(word)), word
    assert len(vocabulary) == len({normalize_token(w) for w in vocabulary})


def test_spelling_order_and_clitics() -> None:
    vocabulary = user_vocabulary(
        ["Kästner's review of the Alembic migration.", "kästner approved.", "Kästner left."]
    )
    assert vocabulary[0] == "Kästner"  # three times, its most frequent spelling
    assert "Alembic" in vocabulary and "review" not in vocabulary
    assert user_vocabulary([]) == () and user_vocabulary(["the end"]) == ()
