"""Lexicon mining: repeated corrections where the model was wrong, ranked by evidence."""

from __future__ import annotations

from engine.bundle import LexiconTerm
from retrain.learn.lexicon import LexiconConfig, PromptConfig, mine_lexicon, render_prompt
from retrain.learn.pairs import TextPair


def pair(n: int, hypothesis: str, reference: str) -> TextPair:
    return TextPair(f"e{n}", f"r{n}", hypothesis, reference)


def count_words(text: str) -> int:
    return len(text.split())


PAIRS = [
    pair(1, "Okon Kwois late again.", "Okonkwo is late again."),
    pair(2, "I asked a conquer about it.", "I asked Okonkwo about it."),
    pair(3, "Ask a comb though.", "Ask Okonkwo though."),
    pair(4, "The graph on a board is red.", "The Grafana board is red."),
    pair(5, "Our graph on a alert fired.", "Our Grafana alert fired."),
    pair(6, "It is fine now.", "It is fine now."),
    pair(7, "This is it.", "This is it."),
    pair(8, "Zephyr and works.", "Zephyrine works."),  # corrected once only
]


def test_terms_need_repeated_corrections_and_are_ranked_by_evidence() -> None:
    terms = mine_lexicon(PAIRS)
    assert terms == (LexiconTerm("Okonkwo", 3), LexiconTerm("Grafana", 2))


def test_ordinary_words_next_to_a_fix_are_not_terms() -> None:
    # "is" sits in the corrected span of pair 1 but the model writes it right elsewhere.
    texts = [t.text for t in mine_lexicon(PAIRS, LexiconConfig(min_support=1))]
    assert "is" not in texts
    assert "Zephyrine" in texts  # with support 1, a single correction counts


def test_glossary_prompt_respects_the_token_budget() -> None:
    terms = [LexiconTerm("Okonkwo", 3), LexiconTerm("Grafana", 2), LexiconTerm("Dagster", 1)]
    assert render_prompt(terms, PromptConfig("glossary", 100), count_words) == (
        "Okonkwo, Grafana, Dagster."
    )
    assert render_prompt(terms, PromptConfig("glossary", 2), count_words) == "Okonkwo, Grafana."
    assert render_prompt(terms, PromptConfig("glossary", 0), count_words) == ""
    assert render_prompt([], PromptConfig("glossary", 100), count_words) == ""


def test_examples_prompt_uses_the_users_own_sentences() -> None:
    terms = [LexiconTerm("Okonkwo", 3), LexiconTerm("Grafana", 2)]
    refs = [p.reference for p in PAIRS]
    prompt = render_prompt(terms, PromptConfig("examples", 100), count_words, refs)
    assert prompt == "Ask Okonkwo though. Our Grafana alert fired."
    short = render_prompt(terms, PromptConfig("examples", 3), count_words, refs)
    assert short == "Ask Okonkwo though."
