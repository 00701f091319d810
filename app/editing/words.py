"""Where each word of the current text sits, in characters and in time, and how sure
the model was of it.

The model's words (with probabilities and times) belong to the original text.
After the user edits, the current text is split into tokens and aligned to those
words; a token the user left untouched keeps the model's probability and times,
a token the user typed has none (it is not "unsure": a person wrote it). Tokens
without times get them by interpolation between their timed neighbours, falling
back to the segment's span spread by character count.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from engine.types import Word

_TOKEN = re.compile(r"\S+")
_EDGE_PUNCT = re.compile(r"^[^\w']+|[^\w']+$")


@dataclass(frozen=True, slots=True)
class Token:
    """One whitespace-separated word of the current text."""

    first: int  # character offset where the token starts
    last: int  # offset just past its last character
    start: float  # seconds
    end: float
    probability: float | None  # None when the user typed it
    from_model: bool  # unchanged from the model's output

    def unsure(self, threshold: float) -> bool:
        return self.probability is not None and self.probability < threshold


def normalized(token: str) -> str:
    return _EDGE_PUNCT.sub("", token.lower())


def split_tokens(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]


@lru_cache(maxsize=8192)
def align(text: str, words: tuple[Word, ...], start: float, end: float) -> tuple[Token, ...]:
    """Tokens of ``text`` with times and probabilities carried over from ``words``."""
    pieces = split_tokens(text)
    if not pieces:
        return ()
    model_words = [w for w in words if w.text.strip()]
    timed: list[tuple[float, float, float | None, bool] | None] = [None] * len(pieces)
    if model_words:
        ours = [normalized(p[2]) for p in pieces]
        theirs = [normalized(w.text.strip()) for w in model_words]
        matcher = SequenceMatcher(a=theirs, b=ours, autojunk=False)
        for tag, a0, a1, b0, b1 in matcher.get_opcodes():
            if tag == "equal":
                for k in range(b1 - b0):
                    w = model_words[a0 + k]
                    exact = w.text.strip() == pieces[b0 + k][2]
                    timed[b0 + k] = (w.start, w.end, w.probability if exact else None, exact)
            elif tag == "replace" and a1 - a0 == b1 - b0:
                # Same number of words: keep each word's time, drop its probability.
                for k in range(b1 - b0):
                    w = model_words[a0 + k]
                    timed[b0 + k] = (w.start, w.end, None, False)
            elif tag == "replace":
                # Spread the replaced words' span over the new tokens.
                span_start, span_end = model_words[a0].start, model_words[a1 - 1].end
                count = b1 - b0
                for k in range(count):
                    t0 = span_start + (span_end - span_start) * k / count
                    t1 = span_start + (span_end - span_start) * (k + 1) / count
                    timed[b0 + k] = (t0, t1, None, False)
    _interpolate_missing(timed, pieces, start, end)
    tokens = []
    for (first, last, _), info in zip(pieces, timed, strict=True):
        assert info is not None
        t0, t1, probability, from_model = info
        tokens.append(Token(first, last, t0, max(t0, t1), probability, from_model))
    return tuple(tokens)


def _interpolate_missing(
    timed: list[tuple[float, float, float | None, bool] | None],
    pieces: list[tuple[int, int, str]],
    start: float,
    end: float,
) -> None:
    """Give untimed tokens times between their timed neighbours, by character count."""
    n = len(timed)
    i = 0
    while i < n:
        if timed[i] is not None:
            i += 1
            continue
        j = i
        while j < n and timed[j] is None:
            j += 1
        left_time = timed[i - 1][1] if i > 0 and timed[i - 1] else start  # type: ignore[index]
        right_time = timed[j][0] if j < n and timed[j] else end  # type: ignore[index]
        right_time = max(right_time, left_time)
        chars = [len(pieces[k][2]) + 1 for k in range(i, j)]
        total = sum(chars)
        t = left_time
        for k, width in zip(range(i, j), chars, strict=True):
            t_next = t + (right_time - left_time) * width / total
            timed[k] = (t, t_next, None, False)
            t = t_next
        i = j


def token_at_time(tokens: tuple[Token, ...], seconds: float) -> int | None:
    """Index of the token being spoken at ``seconds`` (the last one started), or None."""
    if not tokens or seconds < tokens[0].start:
        return None
    starts = [t.start for t in tokens]
    return max(0, bisect.bisect_right(starts, seconds) - 1)


def token_at_char(tokens: tuple[Token, ...], offset: int) -> int | None:
    """Index of the token containing (or just before) character ``offset``."""
    if not tokens:
        return None
    firsts = [t.first for t in tokens]
    return max(0, bisect.bisect_right(firsts, offset) - 1)


@dataclass(frozen=True, slots=True)
class SplitPoint:
    """Where a split at the cursor cuts: text on each side and the boundary times."""

    left_text: str
    right_text: str
    left_end: float
    right_start: float
    at_char: int  # where the right half starts in the text
    at_time: float  # one boundary time strictly inside the segment


def split_point(
    text: str, words: tuple[Word, ...], start: float, end: float, cursor: int
) -> SplitPoint | None:
    """The split for a cursor at ``cursor``, snapped to the word boundary before it.

    None when one side would be empty (cursor before the first or after the last word).
    """
    tokens = align(text, words, start, end)
    if len(tokens) < 2:
        return None
    # The first token that starts at or after the cursor begins the right half;
    # a cursor inside a word moves that whole word to the right.
    index = next((i for i, t in enumerate(tokens) if t.last > cursor), len(tokens))
    if index == 0 or index >= len(tokens):
        return None
    left, right = tokens[index - 1], tokens[index]
    left_end = min(max(left.end, start), end)
    right_start = min(max(right.start, left_end), end)
    at_time = (left_end + right_start) / 2
    inside = max(0.001, min(0.05, (end - start) / 4))
    at_time = min(max(at_time, start + inside), end - inside)
    return SplitPoint(
        left_text=text[: left.last].rstrip(),
        right_text=text[right.first :].lstrip(),
        left_end=left_end,
        right_start=right_start,
        at_char=right.first,
        at_time=round(at_time, 3),
    )


def unsure_count(tokens: tuple[Token, ...], threshold: float) -> int:
    return sum(1 for t in tokens if t.unsure(threshold))
