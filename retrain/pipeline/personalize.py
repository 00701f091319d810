"""Tier-1 personalization: train a lexicon prompt and correction rules, and serve them.

``train_tier_one`` turns training examples into a ``Personalization``:

1. mine the lexicon from the *factory* model's hypotheses (what the base model gets
   wrong, independent of which personalized model happened to transcribe each example);
2. render it as an initial prompt;
3. decode the training examples again *with that prompt*: the prompted model's errors
   are the ones left to fix (``rules_from="original"`` uses the factory hypotheses
   instead; both are measured in ``tests/benchmarks/learning_ablation.py``);
4. mine exact correction rules from those hypotheses;
5. build sounds-like rules for the lexicon terms from every way the model (factory and
   prompted) wrote them, at a similarity threshold chosen by leave-one-recording-out on
   the training examples alone (``choose_similarity``).

``cross_validate`` trains one candidate per fold and serves each example with the
candidate of the fold that did not train on it; ``keep_validated_rules`` then drops the
final candidate's rules that did not hold on those held-out folds.

``serve`` decodes a clip the way a published bundle would: the prompt, then the rules.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from engine.bundle import CorrectionRule, LexiconTerm
from engine.scoring import error_counts
from retrain.learn.align import Alignment, align
from retrain.learn.lexicon import (
    LexiconConfig,
    PromptConfig,
    mine_lexicon,
    render_prompt,
)
from retrain.learn.pairs import TextPair
from retrain.learn.rules import (
    RuleConfig,
    RuleKey,
    RuleOutcome,
    apply_rules,
    heldout_rule_outcomes,
    merge_outcomes,
    mine_rules,
    rule_key,
    term_confusions,
    term_rules,
)
from retrain.pipeline.decode import CachedDecoder, Clip, with_rules
from retrain.pipeline.split import SplitPlan

SIMILARITY_GRID: tuple[float | None, ...] = (None, 0.95, 0.9, 0.85, 0.8, 0.75)


@dataclass(frozen=True, slots=True)
class Example:
    """A learning example as the pipeline sees it."""

    example_id: str
    recording_id: str
    clip: Clip
    reference: str
    hypothesis: str = ""  # what the model that transcribed it wrote (from the store)
    speaker: str | None = None
    segment_id: int = 0


@dataclass(frozen=True, slots=True)
class TierOneConfig:
    lexicon: LexiconConfig = field(default_factory=LexiconConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    rules: RuleConfig = field(default_factory=RuleConfig)
    use_lexicon: bool = True
    use_prompt: bool = True
    use_rules: bool = True
    use_term_rules: bool = True
    rules_from: Literal["prompted", "original"] = "original"
    similarity_grid: tuple[float | None, ...] = SIMILARITY_GRID


@dataclass(frozen=True, slots=True)
class Personalization:
    """What a tier-1 candidate serves with."""

    lexicon: tuple[LexiconTerm, ...] = ()
    prompt: str = ""
    rules: tuple[CorrectionRule, ...] = ()
    term_similarity: float | None = None
    trained_on: frozenset[str] = field(default_factory=frozenset)  # example ids


def factory_pairs(
    examples: Sequence[Example], decoder: CachedDecoder, progress: Callable[[], None] | None = None
) -> list[TextPair]:
    """(factory hypothesis, reference) for each example."""
    out = []
    for ex in examples:
        hypothesis = decoder.decode(ex.clip, None)
        out.append(TextPair(ex.example_id, ex.recording_id, hypothesis, ex.reference))
        if progress:
            progress()
    return out


def prompted_pairs(
    examples: Sequence[Example], decoder: CachedDecoder, prompt: str
) -> list[TextPair]:
    return [
        TextPair(
            ex.example_id, ex.recording_id, decoder.decode(ex.clip, prompt or None), ex.reference
        )
        for ex in examples
    ]


def train_tier_one(
    examples: Sequence[Example],
    decoder: CachedDecoder,
    config: TierOneConfig = TierOneConfig(),
    factory: Sequence[TextPair] | None = None,
) -> Personalization:
    """Train on ``examples`` only (see the module docstring)."""
    factory = list(factory) if factory is not None else factory_pairs(examples, decoder)
    factory_alignments = [align(p.hypothesis, p.reference) for p in factory]
    lexicon: tuple[LexiconTerm, ...] = ()
    prompt = ""
    if config.use_lexicon:
        lexicon = mine_lexicon(factory, config.lexicon, factory_alignments)
        if config.use_prompt:
            prompt = render_prompt(
                lexicon,
                config.prompt,
                decoder.count_prompt_tokens,
                references=[ex.reference for ex in examples],
            )
    if prompt and config.rules_from == "prompted" and (config.use_rules or config.use_term_rules):
        served = prompted_pairs(examples, decoder, prompt)
        served_alignments = [align(p.hypothesis, p.reference) for p in served]
    else:
        served, served_alignments = factory, factory_alignments
    rules: list[CorrectionRule] = []
    if config.use_rules:
        rules += mine_rules(served, config.rules, served_alignments)
    similarity = None
    if config.use_term_rules and lexicon:
        similarity = choose_similarity(
            factory, factory_alignments, served, served_alignments, config
        )
        if similarity is not None:
            confusions = term_confusions(lexicon, [*factory_alignments, *served_alignments])
            rules += term_rules(lexicon, confusions, similarity)
    return Personalization(
        lexicon, prompt, tuple(rules), similarity, frozenset(ex.example_id for ex in examples)
    )


def choose_similarity(
    factory: Sequence[TextPair],
    factory_alignments: Sequence[Alignment],
    served: Sequence[TextPair],
    served_alignments: Sequence[Alignment],
    config: TierOneConfig,
) -> float | None:
    """The sounds-like threshold with the fewest errors, leaving one recording out at a time.

    For each recording, the lexicon and the confusions are learned from the *other*
    recordings and applied to this recording's served (prompted) hypotheses. Only the
    training examples are used. Ties go to the stricter threshold; ``None`` (no
    sounds-like rules) wins unless a threshold removes errors.
    """
    grid = [s for s in config.similarity_grid if s is not None]
    if not grid:
        return None
    recordings = sorted({p.recording_id for p in factory})
    if len(recordings) < 2:
        return None
    errors: Counter[float | None] = Counter()
    baseline = 0
    for recording in recordings:
        keep = [i for i, p in enumerate(factory) if p.recording_id != recording]
        held = [i for i, p in enumerate(served) if p.recording_id == recording]
        lexicon = mine_lexicon(
            [factory[i] for i in keep], config.lexicon, [factory_alignments[i] for i in keep]
        )
        confusions = term_confusions(
            lexicon, [factory_alignments[i] for i in keep] + [served_alignments[i] for i in keep]
        )
        for i in held:
            baseline += error_counts(served[i].reference, served[i].hypothesis).errors
        for threshold in grid:
            rules = term_rules(lexicon, confusions, threshold)
            for i in held:
                fixed = apply_rules(served[i].hypothesis, rules)[0]
                errors[threshold] += error_counts(served[i].reference, fixed).errors
    best: float | None = None
    best_errors = baseline
    for threshold in sorted(grid, reverse=True):
        if errors[threshold] < best_errors:
            best, best_errors = threshold, errors[threshold]
    return best


def serve(personalization: Personalization | None, clip: Clip, decoder: CachedDecoder) -> str:
    """Decode ``clip`` as the personalized model would serve it."""
    if personalization is None:
        return decoder.decode(clip, None)
    texts = decoder.decode_segments(clip, personalization.prompt or None)
    return with_rules(texts, personalization.rules)


@dataclass(frozen=True, slots=True)
class RuleValidation:
    """When a rule counts as having held on held-out data.

    A rule (for sounds-like rules: a term's rules together) that fired on held-out folds
    must have helped at least ``min_helped`` times, with precision (helped over helped
    plus hurt) at least ``min_precision``, and must not have added errors overall.
    A rule that never met its source on held-out data has no evidence either way: with
    ``require_heldout_evidence`` it is dropped; by default it is kept and reported as
    unverified (the cross-validated estimate the gate judges already includes the
    effect of such rules, since every fold mines its rules the same way).
    """

    min_helped: int = 1
    min_precision: float = 0.9
    require_heldout_evidence: bool = False


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold results: each example served by the candidate of the fold it was not in."""

    served: dict[str, str]  # example id -> final text (prompt + rules)
    prompted: dict[str, str]  # example id -> prompted decode, before rules
    fold_models: dict[int, Personalization]
    rule_outcomes: dict[RuleKey, RuleOutcome]


def cross_validate(
    examples: Sequence[Example],
    plan: SplitPlan,
    decoder: CachedDecoder,
    config: TierOneConfig = TierOneConfig(),
    factory: Sequence[TextPair] | None = None,
    on_fold: Callable[[int, int], None] | None = None,
) -> CrossValidation:
    """Train one candidate per fold on its training recordings; serve its test recordings."""
    factory = list(factory) if factory is not None else factory_pairs(examples, decoder)
    by_id = {p.example_id: p for p in factory}
    served: dict[str, str] = {}
    prompted: dict[str, str] = {}
    models: dict[int, Personalization] = {}
    outcomes: dict[RuleKey, RuleOutcome] = {}
    for n, fold in enumerate(plan.folds):
        train = [ex for ex in examples if ex.recording_id in fold.train]
        test = [ex for ex in examples if ex.recording_id in fold.test]
        model = train_tier_one(train, decoder, config, [by_id[ex.example_id] for ex in train])
        models[fold.index] = model
        held: list[TextPair] = []
        for ex in test:
            texts = decoder.decode_segments(ex.clip, model.prompt or None)
            raw = " ".join(t.strip() for t in texts if t.strip())
            prompted[ex.example_id] = raw
            served[ex.example_id] = with_rules(texts, model.rules)
            held.append(TextPair(ex.example_id, ex.recording_id, raw, ex.reference))
        for key, outcome in heldout_rule_outcomes(model.rules, held).items():
            outcomes[key] = merge_outcomes(outcomes.get(key), outcome)
        if on_fold:
            on_fold(n + 1, len(plan.folds))
    return CrossValidation(served, prompted, models, outcomes)


def keep_validated_rules(
    model: Personalization,
    outcomes: dict[RuleKey, RuleOutcome],
    validation: RuleValidation = RuleValidation(),
) -> tuple[Personalization, list[tuple[CorrectionRule, str]]]:
    """Drop the final model's rules that did not hold on held-out data; say why for each."""
    verdicts: dict[RuleKey, str | None] = {}
    for key in {rule_key(r) for r in model.rules}:
        outcome = outcomes.get(key)
        if outcome is None or outcome.fired == 0:
            verdicts[key] = (
                "never fired on held-out data" if validation.require_heldout_evidence else None
            )
        elif outcome.errors_removed < 0:
            verdicts[key] = f"added {-outcome.errors_removed} errors on held-out data"
        elif outcome.helped < validation.min_helped:
            verdicts[key] = f"helped {outcome.helped}x on held-out data"
        elif outcome.precision < validation.min_precision:
            verdicts[key] = (
                f"held-out precision {outcome.precision:.2f} "
                f"({outcome.helped} helped, {outcome.hurt} hurt)"
            )
        else:
            verdicts[key] = None
    kept = [r for r in model.rules if verdicts[rule_key(r)] is None]
    dropped = [(r, verdicts[rule_key(r)] or "") for r in model.rules if verdicts[rule_key(r)]]
    return (
        Personalization(
            model.lexicon, model.prompt, tuple(kept), model.term_similarity, model.trained_on
        ),
        dropped,
    )


def group_by_recording(examples: Sequence[Example]) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = defaultdict(list)
    for ex in examples:
        out[ex.recording_id].append(ex)
    return dict(out)
