"""Correction rules: recurring fixes, applied to the model's text after decoding.

Two kinds, one representation (``engine.bundle.CorrectionRule``):

**Exact rules** (``mine_rules``, ``similarity == 1``). Every reviewed pair is aligned;
each edit span is a candidate ``source -> target``: the model's words (normalized) and
what the user wrote there (in the user's spelling). A candidate becomes a rule when

- ``support``: it was made in at least ``min_support`` places (default 3), and
- ``precision``: of all the places in the training hypotheses where the model wrote
  ``source`` (as whole tokens), the user changed it to this target in at least
  ``min_precision`` of them (default 0.9). A source the model also writes where it is
  right cannot become a rule.

Only substitutions and deletions make rules (an insertion has no source to match).

**Sounds-like rules for lexicon terms** (``term_rules``, ``similarity < 1``). A rare
term is misheard in a new way almost every time ("Shubowski", "Chibowski" for
"Przybylski"), so exact rules rarely reach their support. For each lexicon term, every
way the model was seen to write it in training (its *confusions*) and the term itself
become sources of one rule each, matched by similarity: a run of 1-4 tokens whose
spelling key (normalized letters and digits, no spaces) is at least ``similarity`` like
the source's key (normalized Levenshtein similarity). A run already spelled like the
term is left alone, and a run must need every token it covers: if dropping its first
or last token matches as well, it does not fire (so "the Bramble Crest" becomes "the
Bramblecrest", not "Bramblecrest"). The similarity threshold is chosen per training set
by leave-one-recording-out (``retrain.pipeline.personalize``), not fixed by hand.

Rules are mined from the hypotheses of the model they will be applied to: with a lexicon
prompt that is the prompted model, whose errors are not the unprompted model's.

**Application** (``apply_rules``): all matches are collected; exact matches win over
sounds-like ones, then more similar, then longer; matches never overlap; the
punctuation around a replaced run is kept.

**Validation** (``heldout_rule_outcomes``): each rule is applied alone to held-out
hypotheses and every firing is scored by the change in word errors against the
reference; ``retrain.pipeline.personalize`` keeps only rules that held.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.bundle import CorrectionRule, LexiconTerm
from engine.scoring import error_counts
from engine.textrules import (
    MAX_SPAN_TOKENS,
    exact_matches,
    rewrite_text,
    rule_priority,
    spelling_key,
    text_words,
)
from retrain.learn.align import Alignment, align
from retrain.learn.pairs import TextPair


@dataclass(frozen=True, slots=True)
class RuleConfig:
    min_support: int = 3
    min_precision: float = 0.9
    max_source_words: int = 4
    allow_deletions: bool = True


@dataclass(frozen=True, slots=True)
class RuleFiring:
    rule: CorrectionRule
    before: str  # the hypothesis text it replaced
    after: str


def apply_rules(text: str, rules: Sequence[CorrectionRule]) -> tuple[str, list[RuleFiring]]:
    """``text`` with the rules applied as the engine applies them, and what fired."""
    new, edits = rewrite_text(text, rules)
    return new, [RuleFiring(e.rule, text[e.start : e.end], e.text) for e in edits]


def mine_rules(
    pairs: Sequence[TextPair],
    config: RuleConfig = RuleConfig(),
    alignments: Sequence[Alignment] | None = None,
) -> tuple[CorrectionRule, ...]:
    """Exact rules with enough support and precision on ``pairs``."""
    alignments = alignments or [align(p.hypothesis, p.reference) for p in pairs]
    made: Counter[tuple[tuple[str, ...], tuple[str, ...]]] = Counter()
    spellings: dict[tuple[tuple[str, ...], tuple[str, ...]], Counter[str]] = defaultdict(Counter)
    for alignment in alignments:
        for span in alignment.spans:
            if not span.source or len(span.source) > config.max_source_words:
                continue
            if not span.target_norm and not config.allow_deletions:
                continue
            key = (span.source, span.target_norm)
            made[key] += 1
            spellings[key][span.target] += 1
    candidates = [key for key, count in made.items() if count >= config.min_support]
    if not candidates:
        return ()
    sources = {source for source, _ in candidates}
    written: Counter[tuple[str, ...]] = Counter()
    for alignment in alignments:
        for source in sources:
            written[source] += len(exact_matches(alignment.hyp, source))
    rules = []
    for key in candidates:
        source, _ = key
        support = made[key]
        precision = support / max(written[source], support)
        if precision < config.min_precision:
            continue
        target = sorted(spellings[key].items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        rules.append(CorrectionRule(source, target, support, round(precision, 4)))
    return tuple(sorted(rules, key=rule_priority))


def term_key(term: str) -> str:
    return spelling_key(text_words(term))


def term_confusions(
    lexicon: Sequence[LexiconTerm], alignments: Iterable[Alignment]
) -> dict[str, Counter[tuple[str, ...]]]:
    """For each lexicon term: how the model wrote it where the user typed it (source words)."""
    by_key = {term_key(t.text): t.text for t in lexicon}
    out: dict[str, Counter[tuple[str, ...]]] = {t.text: Counter() for t in lexicon}
    for alignment in alignments:
        for span in alignment.spans:
            if not span.source or len(span.source) > MAX_SPAN_TOKENS * 2:
                continue
            term = by_key.get(spelling_key(span.target_norm))
            if term is not None and span.source != text_words(term):
                out[term][span.source] += 1
    return out


def term_rules(
    lexicon: Sequence[LexiconTerm],
    confusions: dict[str, Counter[tuple[str, ...]]],
    min_similarity: float,
) -> tuple[CorrectionRule, ...]:
    """Sounds-like rules: each term's confusions and the term itself, at ``min_similarity``."""
    if min_similarity > 1.0:
        return ()
    rules = []
    for term in lexicon:
        own = text_words(term.text)
        if own:
            rules.append(CorrectionRule(own, term.text, term.evidence, 1.0, min_similarity))
        for source, count in sorted(confusions.get(term.text, Counter()).items()):
            if spelling_key(source):
                rules.append(CorrectionRule(source, term.text, count, 1.0, min_similarity))
    return tuple(rules)


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """How one rule did on held-out hypotheses: firings that removed or added word errors."""

    rule: CorrectionRule
    fired: int = 0
    helped: int = 0
    hurt: int = 0
    errors_removed: int = 0  # net

    @property
    def precision(self) -> float:
        decided = self.helped + self.hurt
        return self.helped / decided if decided else 0.0


RuleKey = tuple[tuple[str, ...], tuple[str, ...], float]


def rule_key(rule: CorrectionRule) -> RuleKey:
    """Identity of a rule across folds. Exact rules: source and target. Sounds-like rules
    are judged per term (each confusion is too rare to judge alone): the target only."""
    target = text_words(rule.target)
    if rule.similarity >= 1.0:
        return (rule.source, target, 1.0)
    return ((), target, 0.0)


def heldout_rule_outcomes(
    rules: Sequence[CorrectionRule], heldout: Sequence[TextPair]
) -> dict[RuleKey, RuleOutcome]:
    """Score each rule (each term's sounds-like rules together) alone on ``heldout``.

    The hypotheses must be decoded without rules. A firing helped if the example has
    fewer word errors after it, hurt if more.
    """
    groups: dict[RuleKey, list[CorrectionRule]] = defaultdict(list)
    for rule in rules:
        groups[rule_key(rule)].append(rule)
    base = {p.example_id: error_counts(p.reference, p.hypothesis).errors for p in heldout}
    outcomes: dict[RuleKey, RuleOutcome] = {}
    for key, group in groups.items():
        fired = helped = hurt = removed = 0
        for pair in heldout:
            fixed, firings = apply_rules(pair.hypothesis, group)
            if not firings:
                continue
            fired += len(firings)
            delta = base[pair.example_id] - error_counts(pair.reference, fixed).errors
            removed += delta
            if delta > 0:
                helped += 1
            elif delta < 0:
                hurt += 1
        outcomes[key] = RuleOutcome(group[0], fired, helped, hurt, removed)
    return outcomes


def merge_outcomes(a: RuleOutcome | None, b: RuleOutcome) -> RuleOutcome:
    if a is None:
        return b
    return RuleOutcome(
        a.rule,
        a.fired + b.fired,
        a.helped + b.helped,
        a.hurt + b.hurt,
        a.errors_removed + b.errors_removed,
    )
