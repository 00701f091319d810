"""The lexicon prompt and correction rules (pure functions; real tokenizer)."""

from __future__ import annotations

from engine.bundle import CorrectionRule, LexiconTerm
from engine.personalize import (
    apply_rules,
    build_prompt,
    count_prompt_tokens,
    normalize_word,
    rank_terms,
)
from engine.types import Segment, Word


def test_tokens_are_counted_with_the_models_tokenizer() -> None:
    assert count_prompt_tokens("hello") == 1
    assert count_prompt_tokens("Przybylski") > 2


def test_terms_rank_by_evidence_and_deduplicate() -> None:
    lexicon = [LexiconTerm("Grafana", 2), LexiconTerm("Kästner", 5), LexiconTerm("grafana", 4)]
    assert rank_terms(lexicon) == ["Kästner", "grafana"]


def test_prompt_keeps_the_best_terms_within_the_budget() -> None:
    lexicon = [LexiconTerm(f"Term{i}", evidence=100 - i) for i in range(200)]
    prompt = build_prompt(lexicon, "Stand-up notes.", budget=40)
    assert prompt is not None
    assert count_prompt_tokens(prompt) <= 40
    assert prompt.startswith("Term0, Term1,") and prompt.endswith("Stand-up notes.")
    assert "Term199" not in prompt


def test_budget_is_capped_at_the_models_limit() -> None:
    lexicon = [LexiconTerm(f"Zyxw{i}", 1) for i in range(400)]
    assert count_prompt_tokens(build_prompt(lexicon, None, budget=10_000) or "") <= 223


def test_an_overlong_user_prompt_keeps_its_end() -> None:
    prompt = build_prompt([], "one two three four five six", budget=3)
    assert prompt == "four five six"


def test_nothing_to_prompt_is_none() -> None:
    assert build_prompt([], None) is None
    assert build_prompt([LexiconTerm("  ", 3)], "  ") is None


def _segment() -> Segment:
    words = (
        Word("I", 0.0, 0.2, 0.9),
        Word("paired", 0.2, 0.6, 0.9),
        Word("with", 0.6, 0.8, 0.9),
        Word("Shibilski", 0.8, 1.4, 0.4),
        Word("on", 1.4, 1.5, 0.9),
        Word("the", 1.5, 1.6, 0.9),
        Word("Olympic", 1.6, 2.0, 0.5),
        Word("migration.", 2.0, 2.6, 0.8),
    )
    return Segment(0.0, 2.6, " ".join(w.text for w in words), words, -0.4, 0.01, 1.2)


def test_rules_rewrite_words_text_and_timings_consistently() -> None:
    rules = [
        CorrectionRule(("shibilski",), "Przybylski", support=3, precision=1.0),
        CorrectionRule(("olympic", "migration"), "Alembic migration", support=2, precision=0.9),
    ]
    out, fired = apply_rules(_segment(), rules)
    assert out.text == "I paired with Przybylski on the Alembic migration."
    assert [w.text for w in out.words][-2:] == ["Alembic", "migration."]
    assert set(fired) == set(rules)
    alembic, migration = out.words[-2:]
    assert alembic.start == 1.6 and migration.end == 2.6 and alembic.end == migration.start
    assert alembic.probability == 0.5  # the lowest of the replaced words
    starts = [w.start for w in out.words]
    assert starts == sorted(starts)


def test_longer_rules_win_and_matches_do_not_overlap() -> None:
    rules = [
        CorrectionRule(("olympic",), "Olympus"),
        CorrectionRule(("the", "olympic"), "the Alembic"),
    ]
    out, fired = apply_rules(_segment(), rules)
    assert "the Alembic migration." in out.text and "Olympus" not in out.text
    assert fired == (rules[1],)


def test_no_match_returns_the_same_segment() -> None:
    segment = _segment()
    out, fired = apply_rules(segment, [CorrectionRule(("kubernetes",), "Kubernetes")])
    assert out is segment and fired == ()


def test_segments_without_words_are_matched_on_text() -> None:
    segment = Segment(0.0, 1.0, "ask Shibilski, please", ())
    out, fired = apply_rules(segment, [CorrectionRule(("shibilski",), "Przybylski")])
    assert out.text == "ask Przybylski, please" and out.words == () and len(fired) == 1


def test_normalize_word_is_what_rule_sources_use() -> None:
    assert normalize_word("Kästner's,") == "kästners"
    assert normalize_word("P99") == "p99"
    assert normalize_word("--") == ""


def test_sounds_like_rules_rewrite_words_and_keep_clitics() -> None:
    words = (
        Word("Chubowski's", 0.0, 0.6, 0.4),
        Word("review", 0.6, 1.0, 0.9),
        Word("is", 1.0, 1.1, 0.9),
        Word("to", 1.1, 1.2, 0.9),
        Word("do.", 1.2, 1.4, 0.9),
    )
    segment = Segment(0.0, 1.4, " ".join(w.text for w in words), words)
    rules = [
        CorrectionRule(("shubowski",), "Przybylski", support=1, similarity=0.75),
        CorrectionRule(("istio",), "Istio", support=3, similarity=0.75),
    ]
    out, fired = apply_rules(segment, rules)
    # "is to" is made of common words: a sounds-like rule never turns it into "Istio"
    assert out.text == "Przybylski's review is to do."
    assert fired == (rules[0],)
    assert out.words[0] == Word("Przybylski's", 0.0, 0.6, 0.4)
    assert [w.text for w in out.words[1:]] == ["review", "is", "to", "do."]
