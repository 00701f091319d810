"""Word alignment of a hypothesis (what the model wrote) against a reference (what the user kept).

Both texts are split into *tokens*: whitespace-separated words with an English clitic
(``'s``, ``n't``, ``'re`` ...) split off, so that "Kästner's" is the word "Kästner" plus
the clitic. Each token keeps its original spelling (``text``, with the punctuation around
it trimmed) and gets a normalized form (``norm``) from Whisper's English normalizer
(``engine.scoring.normalize``), applied token by token. A token may normalize to several
words ("Nguyen-Tran" -> "nguyen tran") or to none ("um"); the alignment runs on the
normalized words and every edit is widened to whole tokens, so its two sides can be
quoted in the user's own spelling.

``edit_spans`` returns the maximal runs of non-matching words: substitutions of any
length on either side ("cube control" -> "kubectl", "pie side" -> "PySide"), insertions
and deletions. Adjacent errors are one span: the model's mistake and the user's fix
rarely line up word for word.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.textrules import Token, normalize_token, tokenize

__all__ = ["Alignment", "EditSpan", "Token", "align", "normalize_token", "tokenize"]


def normalized_words(tokens: list[Token]) -> list[str]:
    return [word for token in tokens for word in token.norm]


@dataclass(frozen=True, slots=True)
class EditSpan:
    """One place where the reference differs from the hypothesis.

    ``hyp_tokens``/``ref_tokens`` are half-open token index ranges; ``source`` is the
    hypothesis side in normalized words, ``target`` the reference side in the user's
    spelling (tokens joined as they were written).
    """

    hyp_tokens: tuple[int, int]
    ref_tokens: tuple[int, int]
    source: tuple[str, ...]
    target_norm: tuple[str, ...]
    target: str

    @property
    def kind(self) -> str:
        if not self.source:
            return "insertion"  # the user added words the model missed
        if not self.target_norm:
            return "deletion"  # the user removed words the model made up
        return "substitution"


@dataclass(frozen=True, slots=True)
class Alignment:
    hyp: tuple[Token, ...]
    ref: tuple[Token, ...]
    spans: tuple[EditSpan, ...]
    matched_words: int


def _levenshtein_ops(hyp: list[str], ref: list[str]) -> list[tuple[str, int, int]]:
    """Edit operations turning ``hyp`` into ``ref``.

    Each is ("=", i, j), ("s", i, j), ("d", i, -1) or ("i", -1, j).

    Ties prefer matches, then substitutions; deterministic.
    """
    n, m = len(hyp), len(ref)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0] = i
    for j in range(1, m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        row, prev = cost[i], cost[i - 1]
        for j in range(1, m + 1):
            diagonal = prev[j - 1] + (0 if hyp[i - 1] == ref[j - 1] else 1)
            row[j] = min(diagonal, prev[j] + 1, row[j - 1] + 1)
    ops: list[tuple[str, int, int]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            same = hyp[i - 1] == ref[j - 1]
            if cost[i][j] == cost[i - 1][j - 1] + (0 if same else 1):
                ops.append(("=" if same else "s", i - 1, j - 1))
                i, j = i - 1, j - 1
                continue
        if i > 0 and cost[i][j] == cost[i - 1][j] + 1:
            ops.append(("d", i - 1, -1))
            i -= 1
        else:
            ops.append(("i", -1, j - 1))
            j -= 1
    ops.reverse()
    return ops


def _owners(tokens: list[Token]) -> list[int]:
    return [index for index, token in enumerate(tokens) for _ in token.norm]


def _join(tokens: tuple[Token, ...] | list[Token]) -> str:
    out = ""
    for token in tokens:
        if not token.text:
            continue
        out += token.text if (token.attached or not out) else " " + token.text
    return out


def align(hypothesis: str, reference: str) -> Alignment:
    """Align two texts and return the maximal edit spans, widened to whole tokens."""
    hyp_tokens = tokenize(hypothesis)
    ref_tokens = tokenize(reference)
    hyp_words, ref_words = normalized_words(hyp_tokens), normalized_words(ref_tokens)
    hyp_owner, ref_owner = _owners(hyp_tokens), _owners(ref_tokens)
    ops = _levenshtein_ops(hyp_words, ref_words)
    pairs = [(i, j) for op, i, j in ops if op == "="]

    # Raw spans: maximal runs of non-matching operations, as word ranges on both sides.
    ranges: list[list[int]] = []  # [h0, h1, r0, r1]
    next_h = next_r = 0
    in_span = False
    for op, i, j in ops:
        if op == "=":
            next_h, next_r, in_span = i + 1, j + 1, False
            continue
        if not in_span:
            ranges.append([next_h, next_h, next_r, next_r])
            in_span = True
        if i >= 0:
            ranges[-1][1] = i + 1
            next_h = i + 1
        if j >= 0:
            ranges[-1][3] = j + 1
            next_r = j + 1

    ranges = _widen_and_merge(ranges, pairs, hyp_owner, ref_owner)
    spans = []
    for h0, h1, r0, r1 in ranges:
        ht = _token_slice(h0, h1, hyp_owner, len(hyp_tokens))
        rt = _token_slice(r0, r1, ref_owner, len(ref_tokens))
        spans.append(
            EditSpan(
                hyp_tokens=ht,
                ref_tokens=rt,
                source=tuple(hyp_words[h0:h1]),
                target_norm=tuple(ref_words[r0:r1]),
                target=_join(ref_tokens[rt[0] : rt[1]]),
            )
        )
    matched = len(pairs) - sum(1 for i, _ in pairs if any(h0 <= i < h1 for h0, h1, _, _ in ranges))
    return Alignment(tuple(hyp_tokens), tuple(ref_tokens), tuple(spans), matched)


def _widen(lo: int, hi: int, owner: list[int]) -> tuple[int, int]:
    """Widen a word range so that it starts and ends on token boundaries."""
    if lo < hi:
        while lo > 0 and owner[lo - 1] == owner[lo]:
            lo -= 1
        while hi < len(owner) and owner[hi] == owner[hi - 1]:
            hi += 1
    elif 0 < lo < len(owner) and owner[lo - 1] == owner[lo]:  # empty range inside a token
        lo, hi = _widen(lo - 1, lo, owner)
    return lo, hi


def _widen_and_merge(
    ranges: list[list[int]],
    pairs: list[tuple[int, int]],
    hyp_owner: list[int],
    ref_owner: list[int],
) -> list[list[int]]:
    """Widen every span to whole tokens on both sides, pull in the counterparts of matched
    words caught inside, and merge spans that come to overlap; repeat until stable."""
    changed = True
    while changed:
        changed = False
        for span in ranges:
            h0, h1, r0, r1 = span
            h0, h1 = _widen(h0, h1, hyp_owner)
            r0, r1 = _widen(r0, r1, ref_owner)
            for i, j in pairs:
                if h0 <= i < h1 or r0 <= j < r1:
                    h0, h1 = min(h0, i), max(h1, i + 1)
                    r0, r1 = min(r0, j), max(r1, j + 1)
            if [h0, h1, r0, r1] != span:
                span[:] = [h0, h1, r0, r1]
                changed = True
        ranges.sort()
        merged: list[list[int]] = []
        for span in ranges:
            if merged and (span[0] < merged[-1][1] or span[2] < merged[-1][3]):
                last = merged[-1]
                merged[-1] = [
                    min(last[0], span[0]),
                    max(last[1], span[1]),
                    min(last[2], span[2]),
                    max(last[3], span[3]),
                ]
                changed = True
            else:
                merged.append(span)
        ranges = merged
    return ranges


def _token_slice(lo: int, hi: int, owner: list[int], n_tokens: int) -> tuple[int, int]:
    """Half-open token range covering words ``lo:hi`` (an insertion point when empty)."""
    if lo < hi:
        return owner[lo], owner[hi - 1] + 1
    position = owner[lo - 1] + 1 if lo > 0 else (owner[0] if owner else n_tokens)
    if lo == 0:
        position = 0
    return position, position
