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
  they differ is taken from the fine-tuned side if it is part of a term the fine-tuned
  side says (a contiguous run of a term's normalized words that has at least one word in
  the stretch, or, where the fine-tuned side only leaves words out, runs across it), and
  from the factory side otherwise. A term can be partly in agreement: the factory model's
  "Newy and Tran" against "Nguyen-Tran" differs only in its first word.

The result keeps the factory model's segments (their times, confidences and number):
a segment nothing changed in is returned as it was; a changed one gets the new units,
its text rebuilt from them (a word written against the one before it in its own
segment's text, as "-Tran" in "Nguyen-Tran", stays against the word before it) and its
span widened to cover them. Text the fine-tuned side adds where the factory side has
nothing goes to the segment before it (or after it, at the start). Correction rules
apply afterwards, as for any bundle.
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
    attached: bool = False  # written without a space after the word before it


def term_keys(terms: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Each term's normalized words (terms that normalize to nothing are dropped)."""
    keys = {tuple(w for token in term.split() for w in normalize_token(token)) for term in terms}
    return tuple(sorted(k for k in keys if k))


def _units(segments: Sequence[Segment]) -> list[_Unit]:
    units: list[_Unit] = []
    for index, segment in enumerate(segments):
        words = segment.words or _spread(segment)
        attached = _attached(segment.text, words)
        units.extend(
            _Unit(w, normalize_token(w.text), index, glued)
            for w, glued in zip(words, attached, strict=True)
        )
    return units


def _attached(text: str, words: Sequence[Word]) -> list[bool]:
    """For each word, whether ``text`` writes it right after the word before it (no space
    between): Whisper's word timings split "Nguyen-Tran" into "Nguyen" and "-Tran"."""
    out: list[bool] = []
    cursor = 0
    for k, word in enumerate(words):
        found = text.find(word.text, cursor) if word.text else -1
        if found < 0:
            out.append(False)
            continue
        out.append(k > 0 and found == cursor)
        cursor = found + len(word.text)
    return out


def _spread(segment: Segment) -> list[Word]:
    """A segment without word timings as words spread over its span."""
    return spread_words([Word(segment.text, segment.start, segment.end, 0.0)], segment.text)


def _term_spans(units: Sequence[_Unit], keys: Sequence[tuple[str, ...]]) -> list[range]:
    """The unit ranges over which the units' normalized words say one of ``keys`` (a
    contiguous run of its words; a range covers every unit one of those words is in)."""
    words = [(w, k) for k, u in enumerate(units) for w in u.key]
    spans = []
    for key in keys:
        n = len(key)
        for i in range(len(words) - n + 1):
            if tuple(w for w, _ in words[i : i + n]) == key:
                spans.append(range(words[i][1], words[i + n - 1][1] + 1))
    return spans


def _part_of(stretch: tuple[int, int], span: range) -> bool:
    """Whether the tuned units ``[j1, j2)`` are part of a term's ``span``: they share a
    unit, or (nothing on the tuned side) the span runs across the gap before unit j1."""
    j1, j2 = stretch
    if j1 < j2:
        return max(j1, span.start) < min(j2, span.stop)
    return span.start < j1 < span.stop


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
    placed: list[list[_Unit]] = [[] for _ in factory]
    changed = [False] * len(factory)
    orphans: list[_Unit] = []  # tuned units when the factory side has no segment at all
    opcodes = difflib.SequenceMatcher(
        a=[u.key for u in base], b=[u.key for u in other], autojunk=False
    ).get_opcodes()
    differing = [(j1, j2) for op, _, _, j1, j2 in opcodes if op != "equal"]
    # the terms the tuned side says where the two sides differ, and their units, the agreed
    # words included (same words, written as the tuned side wrote the term: "Nguyen-Tran")
    said = [s for s in _term_spans(other, keys) if any(_part_of(d, s) for d in differing)]
    whole = {k for s in said for k in s}
    for op, i1, i2, j1, j2 in opcodes:
        if op == "equal":
            for unit, twin, j in zip(base[i1:i2], other[j1:j2], range(j1, j2), strict=True):
                placed[unit.segment].append(twin if j in whole else unit)
                changed[unit.segment] |= j in whole
            continue
        if not any(_part_of((j1, j2), s) for s in said):
            for unit in base[i1:i2]:
                placed[unit.segment].append(unit)
            continue
        home = _home(base, i1, i2)
        if home is None:
            orphans.extend(other[j1:j2])
            continue
        placed[home].extend(other[j1:j2])
        changed[home] = True
        for unit in base[i1:i2]:
            changed[unit.segment] = True
    out = [
        _rebuilt(segment, placed[k]) if changed[k] else segment for k, segment in enumerate(factory)
    ]
    for index in sorted({u.segment for u in orphans}):  # as the tuned side segmented them
        out.append(_from_units([u for u in orphans if u.segment == index]))
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


def _text(units: Sequence[_Unit]) -> str:
    return "".join(("" if k == 0 or u.attached else " ") + u.word.text for k, u in enumerate(units))


def _rebuilt(segment: Segment, units: Sequence[_Unit]) -> Segment:
    if not units:
        return replace(segment, text="", words=())
    start = min(segment.start, units[0].word.start)
    end = max(segment.end, units[-1].word.end)
    kept = tuple(u.word for u in units) if segment.words else ()
    return replace(segment, start=start, end=end, text=_text(units), words=kept)


def _from_units(units: Sequence[_Unit]) -> Segment:
    return Segment(
        start=units[0].word.start,
        end=units[-1].word.end,
        text=_text(units),
        words=tuple(u.word for u in units),
    )
