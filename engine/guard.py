"""Guarded serving: fine-tuned weights overrule the factory model only on the user's terms.

A decoder fine-tuned on a few dozen corrections learns the user's vocabulary, and also
drifts a little on ordinary speech: near-ties flip ("cold-hearted" becomes "coldhearted",
"justly" becomes "just"), a word or two per few hundred. A bundle whose
``DecodingDefaults.guard_terms`` is set is served by both models, the fine-tuned one
and the factory one, on the same audio, and ``overrule`` keeps the fine-tuned text only
where it says one of those terms (the learning pipeline gives the user's vocabulary: the
uncommon words of the text they corrected); everywhere else the factory model's text
stands.

How the two texts are compared:

- Each side is a list of *units*: the segment's words (with their times) or, for a
  segment without word timings, its whitespace-separated tokens.
- A unit's key is its normalized words (``engine.textrules.normalize_token``, Whisper's
  normalizer), so case and punctuation never count as a difference.
- The two key sequences are aligned (``difflib``, no junk heuristic). Every stretch where
  they differ is taken from the fine-tuned side if its normalized words contain a term's
  normalized words as a contiguous run, and from the factory side otherwise.

The result keeps the factory model's segments (their times, confidences and number):
a segment nothing changed in is returned as it was; a changed one gets the new units,
its text rebuilt from them and its span widened to cover them. Text the fine-tuned side
adds where the factory side has nothing goes to the segment before it (or after it, at
the start). Correction rules apply afterwards, as for any bundle.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from engine.personalize import spread_words
from engine.textrules import normalize_token
from engine.types import Segment, Word


@dataclass(frozen=True, slots=True)
class _Unit:
    word: Word
    key: tuple[str, ...]
    segment: int  # index of the segment it came from (on its own side)


def term_keys(terms: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Each term's normalized words (terms that normalize to nothing are dropped)."""
    keys = {tuple(w for token in term.split() for w in normalize_token(token)) for term in terms}
    return tuple(sorted(k for k in keys if k))


def _units(segments: Sequence[Segment]) -> list[_Unit]:
    units: list[_Unit] = []
    for index, segment in enumerate(segments):
        words = segment.words or _spread(segment)
        units.extend(_Unit(w, normalize_token(w.text), index) for w in words)
    return units


def _spread(segment: Segment) -> list[Word]:
    """A segment without word timings as words spread over its span."""
    return spread_words([Word(segment.text, segment.start, segment.end, 0.0)], segment.text)


def says_a_term(units: Sequence[_Unit], keys: Sequence[tuple[str, ...]]) -> bool:
    """Whether the units' normalized words contain one of ``keys`` as a contiguous run."""
    words = [w for u in units for w in u.key]
    for key in keys:
        n = len(key)
        if any(tuple(words[i : i + n]) == key for i in range(len(words) - n + 1)):
            return True
    return False


def overrule(
    factory: Sequence[Segment], tuned: Sequence[Segment], terms: Sequence[str]
) -> list[Segment]:
    """The factory model's segments, with the fine-tuned text wherever it differs by saying
    one of ``terms`` (see the module docstring)."""
    keys = term_keys(terms)
    if not keys or not tuned:
        return list(factory)
    base, other = _units(factory), _units(tuned)
    # per factory segment: its units in order, and whether any came from the tuned side
    placed: list[list[Word]] = [[] for _ in factory]
    changed = [False] * len(factory)
    orphans: list[_Unit] = []  # tuned units when the factory side has no segment at all
    matcher = difflib.SequenceMatcher(
        a=[u.key for u in base], b=[u.key for u in other], autojunk=False
    )
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal" or not says_a_term(other[j1:j2], keys):
            for unit in base[i1:i2]:
                placed[unit.segment].append(unit.word)
            continue
        home = _home(base, i1, i2)
        if home is None:
            orphans.extend(other[j1:j2])
            continue
        placed[home].extend(u.word for u in other[j1:j2])
        changed[home] = True
        for unit in base[i1:i2]:
            changed[unit.segment] = True
    out = [
        _rebuilt(segment, placed[k]) if changed[k] else segment for k, segment in enumerate(factory)
    ]
    for index in sorted({u.segment for u in orphans}):  # as the tuned side segmented them
        out.append(_from_words([u.word for u in orphans if u.segment == index]))
    return [s for s in out if s.text]


def _home(base: Sequence[_Unit], i1: int, i2: int) -> int | None:
    """The factory segment that takes a replaced stretch: the one its first replaced unit
    is in, else (an insertion) the one before it, else the one after it."""
    if i1 < i2:
        return base[i1].segment
    if i1 > 0:
        return base[i1 - 1].segment
    if base:
        return base[0].segment
    return None


def _rebuilt(segment: Segment, words: Sequence[Word]) -> Segment:
    text = " ".join(w.text for w in words)
    if not words:
        return replace(segment, text="", words=())
    start = min(segment.start, words[0].start)
    end = max(segment.end, words[-1].end)
    kept = tuple(words) if segment.words else ()
    return replace(segment, start=start, end=end, text=text, words=kept)


def _from_words(words: Sequence[Word]) -> Segment:
    return Segment(
        start=words[0].start,
        end=words[-1].end,
        text=" ".join(w.text for w in words),
        words=tuple(words),
    )
