"""Word error rate and term recall, scored the way the corpus README asks.

Both sides are normalized with Whisper's English text normalizer
(``whisper-normalizer``), then compared word by word with ``jiwer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer


@lru_cache(maxsize=1)
def _normalizer() -> EnglishTextNormalizer:
    return EnglishTextNormalizer()


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    return " ".join(_normalizer()(text).split())


@dataclass(frozen=True, slots=True)
class ErrorCounts:
    """Word-level alignment counts between references and hypotheses."""

    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        if self.reference_words == 0:
            return 0.0 if self.insertions == 0 else 1.0
        return self.errors / self.reference_words

    @property
    def insertion_rate(self) -> float:
        return self.insertions / self.reference_words if self.reference_words else 0.0

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.reference_words + other.reference_words,
        )


ZERO = ErrorCounts(0, 0, 0, 0)


def error_counts(reference: str, hypothesis: str) -> ErrorCounts:
    """Counts for one pair, after normalization."""
    ref = normalize(reference)
    hyp = normalize(hypothesis)
    if not ref:
        return ErrorCounts(0, 0, len(hyp.split()), 0)
    if not hyp:
        return ErrorCounts(0, len(ref.split()), 0, len(ref.split()))
    out = jiwer.process_words(ref, hyp)
    return ErrorCounts(out.substitutions, out.deletions, out.insertions, len(ref.split()))


def corpus_error_counts(references: Sequence[str], hypotheses: Sequence[str]) -> ErrorCounts:
    if len(references) != len(hypotheses):
        raise ValueError("references and hypotheses differ in length")
    total = ZERO
    for ref, hyp in zip(references, hypotheses, strict=True):
        total = total + error_counts(ref, hyp)
    return total


def corpus_wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER: total errors over total reference words (not a mean of per-clip WERs)."""
    return corpus_error_counts(references, hypotheses).wer


def term_hits(terms: Sequence[str], hypothesis: str) -> int:
    """How many of ``terms`` appear, normalized, in the normalized hypothesis."""
    padded = f" {normalize(hypothesis)} "
    return sum(1 for term in terms if normalize(term) and f" {normalize(term)} " in padded)


def term_recall(items: Sequence[tuple[Sequence[str], str]]) -> float:
    """Fraction of term occurrences recognized, over (terms, hypothesis) pairs."""
    total = sum(len(terms) for terms, _ in items)
    if total == 0:
        return 1.0
    return sum(term_hits(terms, hyp) for terms, hyp in items) / total
