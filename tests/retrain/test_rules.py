"""Correction rules: exact rules need support and precision; sounds-like rules fix new
mishearings of lexicon terms without touching ordinary words."""

from __future__ import annotations

from engine.bundle import CorrectionRule, LexiconTerm
from retrain.learn.align import align
from retrain.learn.pairs import TextPair
from retrain.learn.rules import (
    RuleConfig,
    apply_rules,
    heldout_rule_outcomes,
    mine_rules,
    term_confusions,
    term_rules,
)


def pairs(*texts: tuple[str, str]) -> list[TextPair]:
    return [TextPair(f"e{i}", f"r{i}", h, r) for i, (h, r) in enumerate(texts)]


KUBECTL = [
    ("the cube control tool.", "the kubectl tool."),
    ("Cube control, again", "kubectl, again"),
    ("run cube control now", "run kubectl now"),
]


def test_recurring_substitution_becomes_a_rule() -> None:
    rules = mine_rules(pairs(*KUBECTL))
    assert rules == (CorrectionRule(("cube", "control"), "kubectl", 3, 1.0),)


def test_support_below_threshold_gives_no_rule() -> None:
    assert mine_rules(pairs(*KUBECTL[:2])) == ()
    assert mine_rules(pairs(*KUBECTL[:2]), RuleConfig(min_support=2)) != ()


def test_a_source_the_model_also_writes_correctly_fails_precision() -> None:
    data = [*KUBECTL, ("a cube control panel", "a cube control panel")]
    assert mine_rules(pairs(*data)) == ()  # precision 3/4 < 0.9
    assert mine_rules(pairs(*data), RuleConfig(min_precision=0.7))[0].precision == 0.75


def test_apply_keeps_punctuation_and_clitics() -> None:
    rule = CorrectionRule(("cube", "control"), "kubectl", 3, 1.0)
    text, firings = apply_rules(
        'Use Cube control. And cube control\'s flags, "cube control"', [rule]
    )
    assert text == 'Use kubectl. And kubectl\'s flags, "kubectl"'
    assert len(firings) == 3


def test_deletion_rule() -> None:
    rule = CorrectionRule(("thank", "you"), "", 3, 1.0)
    assert apply_rules("Thank you. Hello there.", [rule])[0] == "Hello there."


def test_longer_rule_wins_and_replacements_do_not_chain() -> None:
    rules = [
        CorrectionRule(("cube",), "cubic", 5, 1.0),
        CorrectionRule(("cube", "control"), "kubectl", 3, 1.0),
        CorrectionRule(("kubectl",), "WRONG", 3, 1.0),
    ]
    assert apply_rules("cube control and a cube", rules)[0] == "kubectl and a cubic"


LEXICON = [LexiconTerm("Przybylski", 3), LexiconTerm("Bramblecrest", 3)]
TRAINING = [
    align("Shubowski said so", "Przybylski said so"),
    align("ask Chibowski", "ask Przybylski"),
    align("the Bramble Crest export", "the Bramblecrest export"),
]


def test_sounds_like_rules_catch_new_mishearings() -> None:
    confusions = term_confusions(LEXICON, TRAINING)
    assert dict(confusions["Przybylski"]) == {("shubowski",): 1, ("chibowski",): 1}
    rules = term_rules(LEXICON, confusions, 0.8)
    text, firings = apply_rules("Chubowski reviewed the Bramble crest's data.", rules)
    assert text == "Przybylski reviewed the Bramblecrest's data."
    assert [f.before for f in firings] == ["Chubowski", "Bramble crest"]


def test_sounds_like_rules_leave_ordinary_words_and_neighbours_alone() -> None:
    rules = term_rules(LEXICON, term_confusions(LEXICON, TRAINING), 0.8)
    unchanged = "The birch canoe slid on the smooth planks, faster than Brambles."
    assert apply_rules(unchanged, rules)[0] == unchanged
    # the neighbouring "the" is not swallowed into the term
    assert apply_rules("the bramble crust", rules)[0] == "the Bramblecrest"
    assert term_rules(LEXICON, {}, 1.5) == ()


def test_heldout_outcomes_count_help_and_harm() -> None:
    good = CorrectionRule(("cube", "control"), "kubectl", 3, 1.0)
    bad = CorrectionRule(("panel",), "kubectl", 3, 1.0)
    held = pairs(("cube control works", "kubectl works"), ("the panel", "the panel"))
    outcomes = heldout_rule_outcomes([good, bad], held)
    by_rule = {o.rule: o for o in outcomes.values()}
    assert (by_rule[good].helped, by_rule[good].hurt, by_rule[good].precision) == (1, 0, 1.0)
    assert (by_rule[bad].helped, by_rule[bad].hurt, by_rule[bad].errors_removed) == (0, 1, -1)
