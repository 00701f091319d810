"""How word timings and probabilities are stored: compact JSON arrays.

``words_json`` is ``[[text, start, end, probability], ...]`` with times rounded to
the millisecond and probabilities to 4 decimals. Arrays rather than objects keep a
3-hour transcript's words small and quick to parse (see the load benchmark).
Word ``text`` keeps Whisper's leading space, so ``"".join(texts).strip()`` is the
segment text the model wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from engine.types import Word


def encode(words: Iterable[Word]) -> str:
    return json.dumps(
        [
            [
                w.text,
                round(float(w.start), 3),
                round(float(w.end), 3),
                round(float(w.probability), 4),
            ]
            for w in words
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode(words_json: str | None) -> tuple[Word, ...]:
    if not words_json:
        return ()
    return tuple(Word(t, s, e, p) for t, s, e, p in json.loads(words_json))


def text_of(words: Sequence[Word]) -> str:
    return "".join(w.text for w in words).strip()


def split_at(words: Sequence[Word], at_time: float) -> tuple[tuple[Word, ...], tuple[Word, ...]]:
    """Words whose middle falls before ``at_time``, and the rest."""
    left = tuple(w for w in words if (w.start + w.end) / 2 < at_time)
    right = tuple(w for w in words if (w.start + w.end) / 2 >= at_time)
    return left, right
