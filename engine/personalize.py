"""Serving a personalized bundle: the lexicon prompt and the correction rules.

Small pure functions, used by the transcriber for every job and by the learning
pipeline when it scores a candidate bundle, so both see exactly the same
decoding (no train/serve skew).

- ``build_prompt`` turns the lexicon (terms the user taught, ranked by evidence)
  and the user's own prompt into one decoder prompt within a token budget.
- ``apply_rules`` rewrites a decoded segment with the bundle's correction rules,
  keeping words, timings and text consistent, and says which rules fired. What a
  rule matches is defined once, in ``engine.textrules`` (Whisper-normalized words,
  exact and sounds-like rules); the learning pipeline mines and scores rules with
  the same module.
- A bundle may carry the prompt the pipeline rendered from its lexicon
  (``DecodingDefaults.prompt``, e.g. the user's own sentences with the terms);
  ``build_prompt`` then uses it instead of a plain list of the terms.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache

from engine.backends.base import MAX_PROMPT_TOKENS
from engine.bundle import CorrectionRule, LexiconTerm
from engine.textrules import replacements, rewrite_text
from engine.types import Segment, Word

TokenCounter = Callable[[str], int]

_NON_WORD = re.compile(r"[^\w]|_", re.UNICODE)


# ----------------------------------------------------------------------------- prompt


@lru_cache(maxsize=1)
def _bundled_tokenizer():
    from tokenizers import Tokenizer

    from engine.prepare import tokenizer_path

    return Tokenizer.from_file(str(tokenizer_path()))


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
    lexicon_prompt: str | None = None,
) -> str | None:
    """The decoder prompt: lexicon terms (by evidence) then the user's prompt, within ``budget``.

    The user's prompt is kept whole when it fits (its last words when it alone
    is too long); lexicon terms fill the rest of the budget in rank order. When the
    bundle has a rendered ``lexicon_prompt`` it takes the place of the terms (its last
    words, if it and the user's prompt do not fit together).
    ``budget`` is capped at the model's limit (223 tokens for tiny.en).
    Returns ``None`` when there is nothing to prompt with.
    """
    count = count_tokens or count_prompt_tokens
    budget = max(0, min(budget, MAX_PROMPT_TOKENS))
    user = _keep_end(" ".join((user_prompt or "").split()), budget, count)
    if lexicon_prompt and lexicon_prompt.strip():
        rendered = " ".join(lexicon_prompt.split())
        words = rendered.split()
        while words and count(" ".join([" ".join(words), user]).strip()) > budget:
            words.pop(0)
        prompt = " ".join([" ".join(words), user]).strip()
        return prompt or None
    chosen: list[str] = []
    for term in rank_terms(lexicon):
        candidate = _compose([*chosen, term], user)
        if count(candidate) <= budget:
            chosen.append(term)
    prompt = _compose(chosen, user)
    return prompt or None


def _keep_end(text: str, budget: int, count: TokenCounter) -> str:
    if text and count(text) > budget:
        words = text.split()
        while words and count(" ".join(words)) > budget:
            words.pop(0)
        text = " ".join(words)
    return text


def _compose(terms: Sequence[str], user: str) -> str:
    parts = []
    if terms:
        parts.append(", ".join(terms) + ".")
    if user:
        parts.append(user)
    return " ".join(parts)


# ----------------------------------------------------------------------------- rules


def normalize_word(text: str) -> str:
    """A word reduced to lower-case letters and digits (a display helper; rules match
    on ``engine.textrules`` tokens, i.e. Whisper-normalized words)."""
    return _NON_WORD.sub("", unicodedata.normalize("NFC", text).casefold())


def apply_rules(
    segment: Segment, rules: Sequence[CorrectionRule]
) -> tuple[Segment, tuple[CorrectionRule, ...]]:
    """Rewrite ``segment`` with ``rules``; returns the new segment and the rules that fired.

    Matching is ``engine.textrules`` on the segment's words joined by spaces. The words
    a match touches are replaced by the target's words, which share the replaced words'
    time span (by length) and take their lowest probability; punctuation around the
    match is kept. The segment text is rebuilt from its words. A segment without words
    is matched on its text.
    """
    usable = [r for r in rules if r.source]
    if not usable:
        return segment, ()
    if not segment.words:
        text, edits = rewrite_text(segment.text, usable)
        if not edits:
            return segment, ()
        return replace(segment, text=text), _fired(edits)
    words = list(segment.words)
    spans: list[tuple[int, int]] = []
    cursor = 0
    for word in words:
        spans.append((cursor, cursor + len(word.text)))
        cursor += len(word.text) + 1
    joined = " ".join(w.text for w in words)
    edits = replacements(joined, usable)
    if not edits:
        return segment, ()
    out: list[Word] = []
    k = 0
    for edit in edits:
        while k < len(words) and spans[k][1] <= edit.start:
            out.append(words[k])
            k += 1
        first = k
        while k < len(words) and spans[k][0] < edit.end:
            k += 1
        touched = words[first:k]
        if not touched:
            continue
        prefix = joined[spans[first][0] : edit.start]
        suffix = joined[edit.end : spans[k - 1][1]]
        out.extend(spread_words(touched, (prefix + edit.text + suffix).strip()))
    out.extend(words[k:])
    text = " ".join(w.text for w in out)
    return replace(segment, text=text, words=tuple(out)), _fired(edits)


def _fired(edits: Sequence) -> tuple[CorrectionRule, ...]:
    fired: list[CorrectionRule] = []
    for edit in edits:
        if edit.rule not in fired:
            fired.append(edit.rule)
    return tuple(fired)


def spread_words(span: Sequence[Word], target: str) -> list[Word]:
    """``target``'s words over the time span of ``span``, by length, with its lowest
    probability (a rule's replacement; a segment's text when it has no word timings)."""
    parts = target.split()
    if not parts:
        return []
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
