"""Field edit rate (per model version, per week) and confidence calibration.

The field edit rate is the word-level WER between the model's text for a reviewed
segment and the text the person kept (both normalized as in ``engine.scoring``), summed
over segments: total word edits / total kept words. Segments the person inserted count
as all-deleted (the model missed the speech). Model segments the person deleted (e.g. a
hallucination over silence) count too (``telemetry.deleted_segments``, read from the edit
log): every model word is an insertion, an error, with no kept words, attributed to the
version that produced the segment and to the week of the delete. Undone deletes and
merges (which keep the text) are not deletions.

Calibration: each hypothesis word with a probability is marked *kept* when it is part
of the longest matching blocks between the normalized hypothesis words and the
normalized kept words (difflib), else *edited*; the edit rate per probability bucket
shows whether low confidence means more edits. A deleted segment's words (the log keeps
them with their probabilities) are all edited.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from functools import lru_cache

from retrain.monitor.report import CalibrationBucket, EditRatePoint, VersionEditRate
from retrain.monitor.telemetry import ReviewedSegment, normalized, week_of

BUCKETS: tuple[float, ...] = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0000001)


def _rate(errors: int, words: int) -> float | None:
    return errors / words if words else None


def edit_rates_by_week(segments: Iterable[ReviewedSegment]) -> tuple[EditRatePoint, ...]:
    acc: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for s in segments:
        cell = acc[(s.version, week_of(s.reviewed_at))]
        cell[0] += 1
        cell[1] += s.counts.reference_words
        cell[2] += s.counts.errors
    return tuple(
        EditRatePoint(version, week, n, words, errors, _rate(errors, words))
        for (version, week), (n, words, errors) in sorted(acc.items(), key=lambda kv: kv[0][1])
    )


def edit_rates_by_version(segments: Sequence[ReviewedSegment]) -> tuple[VersionEditRate, ...]:
    groups: dict[str, list[ReviewedSegment]] = defaultdict(list)
    for s in segments:
        groups[s.version].append(s)
    out = []
    for version, group in groups.items():
        words = sum(s.counts.reference_words for s in group)
        errors = sum(s.counts.errors for s in group)
        out.append(
            VersionEditRate(
                version,
                len(group),
                words,
                errors,
                _rate(errors, words),
                min(s.reviewed_at for s in group),
                max(s.reviewed_at for s in group),
            )
        )
    out.sort(key=lambda v: v.first_reviewed or "")
    return tuple(out)


@lru_cache(maxsize=65536)
def _norm_word(text: str) -> tuple[str, ...]:
    return tuple(normalized(text).split())


def kept_flags(hyp_words: Sequence[str], final: str) -> list[bool]:
    """For each hypothesis word: is it kept in ``final``? (a word normalizing to nothing
    counts as kept)."""
    pieces = [_norm_word(w) for w in hyp_words]
    flat: list[str] = []
    owner: list[int] = []
    for i, piece in enumerate(pieces):
        flat.extend(piece)
        owner.extend([i] * len(piece))
    ref = normalized(final).split()
    matched = [False] * len(flat)
    for block in SequenceMatcher(None, flat, ref, autojunk=False).get_matching_blocks():
        for k in range(block.a, block.a + block.size):
            matched[k] = True
    kept = [True] * len(pieces)
    for k, ok in enumerate(matched):
        if not ok:
            kept[owner[k]] = False
    return kept


@lru_cache(maxsize=1 << 16)
def segment_calibration(
    words_json: str | None, final: str, edges: tuple[float, ...]
) -> tuple[tuple[int, int, float], ...]:
    """(words, edited, sum of probabilities) per bucket for one segment (cached)."""
    from retrain.store import words as word_codec

    counts = [[0, 0, 0.0] for _ in range(len(edges) - 1)]
    words = [w for w in word_codec.decode(words_json) if w.probability is not None]
    if words:
        flags = kept_flags([w.text for w in words], final)
        for word, kept in zip(words, flags, strict=True):
            p = min(max(float(word.probability), 0.0), 1.0)
            for b in range(len(edges) - 1):
                if edges[b] <= p < edges[b + 1]:
                    counts[b][0] += 1
                    counts[b][1] += 0 if kept else 1
                    counts[b][2] += p
                    break
    return tuple((int(n), int(e), float(t)) for n, e, t in counts)


def calibration(
    segments: Iterable[ReviewedSegment], edges: Sequence[float] = BUCKETS
) -> tuple[CalibrationBucket, ...]:
    key = tuple(edges)
    counts = [[0, 0, 0.0] for _ in range(len(edges) - 1)]
    for s in segments:
        if s.hypothesis is None:
            continue
        for b, (n, edited, total) in enumerate(segment_calibration(s.words_json, s.final, key)):
            counts[b][0] += n
            counts[b][1] += edited
            counts[b][2] += total
    return tuple(
        CalibrationBucket(
            round(edges[b], 4),
            round(min(edges[b + 1], 1.0), 4),
            int(n),
            int(edited),
            _rate(int(edited), int(n)),
            total / n if n else None,
        )
        for b, (n, edited, total) in enumerate(counts)
    )
