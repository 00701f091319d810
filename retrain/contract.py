"""The data contract: which segments the learning pipeline may learn from, and why not the rest.

This module is the one place the contract is written down. It is the interface
between the editor (which records edits and review signals) and the pipeline
(which trains on what passes). ``CONTRACT_VERSION`` changes whenever a rule or a
default changes; every example records the version it passed.

Contract version 1
==================

Input: every current segment in the store. Output (``build_examples``): a
:class:`ContractResult` with ``examples`` and a count of ``rejections`` per reason.
Each segment gets at most one reason, the first rule below that it fails, in this
order:

``unreviewed``
    No person reviewed the segment. Reviewed means ``segments.reviewed`` with a
    ``review_source`` in ``ContractConfig.label_sources`` (default: ``verified`` —
    the explicit mark —, ``played`` — played through without a change —, and
    ``edited`` — the user corrected its text). An export alone is not a review. The
    model's own output must never teach the model.
``consent_off``
    The user has not opted in to learning (or opted out). Then everything reviewed
    is rejected with this reason, until they opt in again.
``no_hypothesis``
    The user inserted the segment: there is no model output to learn a correction from.
``empty_reference``
    The reviewed text is empty.
``too_short`` / ``too_long``
    Shorter than ``min_duration`` (0.3 s) or longer than ``max_duration`` (30 s).
``timing_moved``
    The segment's start or end moved more than ``timing_tolerance`` (0.5 s) from the
    span of the model output it came from: the text may no longer match the audio.
``note_in_text``
    The reviewed text has a note the model did not write: brackets, parentheses,
    ``note:``/``todo:``-style markers, a URL, ``??``, ``**`` (``note_patterns``).
``rewrite``
    The word edit ratio (word-level Levenshtein distance between the hypothesis and
    the reference, both normalized with Whisper's English normalizer as in scoring,
    divided by the longer of the two) is above
    ``max_word_edit_ratio`` (0.6): a rewrite, not a correction.
``text_added``
    Text was added that the audio cannot hold: a run of more than
    ``max_inserted_run`` (4) consecutive words the model never wrote (in the aligned,
    normalized texts), or more whitespace-separated words than
    ``max_words_per_second`` (6) times the duration, plus 2.
``too_many_tokens``
    The reference needs more than ``max_tokens`` (224) tokens of the base model's
    tokenizer: Whisper decodes at most 224 tokens per window.
``audio_missing`` / ``audio_outdated`` / ``audio_changed``
    No snippet file for the segment (or the file is gone); the snippet covers an
    older span of the segment (it was retimed since; the next capture renews it);
    the snippet file's sha256 is not the one recorded.
``duplicate``
    Another accepted example covers the same audio (same recording content and
    span to 10 ms). The most recently reviewed one is kept.

Examples (:class:`LearningExample`) carry the audio span (snippet path, sha256,
start and end in the recording), the hypothesis (original ASR text for the span),
the reference (final reviewed text), the model version that made the hypothesis,
the recording id (group by it when splitting), the segment id and the contract
version. Segments reviewed but *unchanged* (normalized hypothesis equals normalized
reference) pass the same rules and are examples too, with ``is_correction=False``:
``ContractResult.corrections`` and ``ContractResult.unchanged`` separate them (the
pipeline checks "did we break what worked" on the unchanged ones).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.digests import sha256_file as file_sha256  # re-exported: snippets, tests
from engine.paths import snippets_dir
from engine.scoring import normalize as _normalize
from engine.types import Word
from retrain.store import words as word_codec
from retrain.store.reads import consent as read_consent

if TYPE_CHECKING:
    from retrain.store.store import Store

CONTRACT_VERSION = 1

UNREVIEWED = "unreviewed"
CONSENT_OFF = "consent_off"
NO_HYPOTHESIS = "no_hypothesis"
EMPTY_REFERENCE = "empty_reference"
TOO_SHORT = "too_short"
TOO_LONG = "too_long"
TIMING_MOVED = "timing_moved"
NOTE_IN_TEXT = "note_in_text"
REWRITE = "rewrite"
TEXT_ADDED = "text_added"
TOO_MANY_TOKENS = "too_many_tokens"
AUDIO_MISSING = "audio_missing"
AUDIO_OUTDATED = "audio_outdated"
AUDIO_CHANGED = "audio_changed"
DUPLICATE = "duplicate"

REASONS: tuple[str, ...] = (
    UNREVIEWED,
    CONSENT_OFF,
    NO_HYPOTHESIS,
    EMPTY_REFERENCE,
    TOO_SHORT,
    TOO_LONG,
    TIMING_MOVED,
    NOTE_IN_TEXT,
    REWRITE,
    TEXT_ADDED,
    TOO_MANY_TOKENS,
    AUDIO_MISSING,
    AUDIO_OUTDATED,
    AUDIO_CHANGED,
    DUPLICATE,
)

DEFAULT_NOTE_PATTERNS: tuple[str, ...] = (
    r"[\[\]{}<>()]",
    r"\b(?:note|notes|todo|fixme|tbd|nb|check|comment)\s*:",
    r"https?://|www\.",
    r"\?\?|\*\*|!!|#",
)


@dataclass(frozen=True)
class ContractConfig:
    label_sources: frozenset[str] = frozenset({"verified", "played", "edited"})
    min_duration: float = 0.3
    max_duration: float = 30.0
    timing_tolerance: float = 0.5
    max_word_edit_ratio: float = 0.6
    max_inserted_run: int = 4
    max_words_per_second: float = 6.0
    max_tokens: int = 224
    note_patterns: tuple[str, ...] = DEFAULT_NOTE_PATTERNS
    #: Counts tokens of a reference text; ``None``: the base model's tokenizer.
    token_counter: Callable[[str], int] | None = None
    #: Check each snippet's sha256 (reads every snippet file once per call).
    verify_audio_hash: bool = True
    span_precision: float = 0.01


@dataclass(frozen=True, slots=True)
class AudioSpan:
    """Learning audio: a 16 kHz mono FLAC of the segment ``start``..``end`` of the
    recording, with up to ``retrain.snippets.CONTEXT_MARGIN`` seconds of the audio no
    other segment covers on each side (``retrain.snippets.context_span``)."""

    path: Path
    sha256: str
    start: float
    end: float
    sample_rate: int
    recording_sha256: str


@dataclass(frozen=True, slots=True)
class LearningExample:
    example_id: str
    audio: AudioSpan
    hypothesis: str
    reference: str
    model_version: str
    recording_id: int
    transcript_id: int
    segment_id: int
    contract_version: int
    review_source: str
    is_correction: bool
    hypothesis_words: tuple[Word, ...] = ()
    reviewed_at: str = ""


@dataclass(frozen=True)
class ContractResult:
    contract_version: int
    examples: list[LearningExample]
    rejections: Counter[str]
    candidates: int
    consent_enabled: bool

    @property
    def corrections(self) -> list[LearningExample]:
        return [e for e in self.examples if e.is_correction]

    @property
    def unchanged(self) -> list[LearningExample]:
        return [e for e in self.examples if not e.is_correction]

    @property
    def examples_hash(self) -> str:
        """sha256 over the sorted example ids: the identity of this snapshot."""
        digest = hashlib.sha256(f"contract-{self.contract_version}".encode())
        for example_id in sorted(e.example_id for e in self.examples):
            digest.update(example_id.encode())
        return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Candidate:
    """One current segment with everything the rules look at (a row of ``CANDIDATES_SQL``)."""

    segment_id: int
    transcript_id: int
    recording_id: int
    recording_sha256: str
    start: float
    end: float
    text: str
    reviewed: bool
    review_source: str | None
    reviewed_at: str | None
    origin: str
    hyp_text: str | None
    hyp_start: float | None
    hyp_end: float | None
    hyp_words_json: str | None
    model_version: str
    snippet_path: str | None = None
    snippet_sha256: str | None = None
    snippet_start: float | None = None
    snippet_end: float | None = None
    snippet_rate: int | None = None


CANDIDATES_SQL = """
SELECT s.id, s.transcript_id, t.recording_id, r.sha256, s.start_sec, s.end_sec, s.text,
       s.reviewed, s.review_source, s.reviewed_at, s.origin,
       CASE WHEN s.origin = 'insert' THEN NULL ELSE COALESCE(s.hyp_text, a.text) END,
       COALESCE(s.hyp_start_sec, a.start_sec), COALESCE(s.hyp_end_sec, a.end_sec),
       COALESCE(s.hyp_words_json, a.words_json),
       COALESCE(a.model_version, t.model_version),
       sn.path, sn.sha256, sn.start_sec, sn.end_sec, sn.sample_rate
FROM segments AS s
JOIN transcripts AS t ON t.id = s.transcript_id
JOIN recordings AS r ON r.id = t.recording_id
LEFT JOIN asr_segments AS a ON a.id = s.asr_segment_id
LEFT JOIN snippets AS sn ON sn.segment_id = s.id
"""


def load_candidates(
    conn: sqlite3.Connection, *, transcript_id: int | None = None, reviewed_only: bool = False
) -> list[Candidate]:
    conditions, params = [], []
    if transcript_id is not None:
        conditions.append("s.transcript_id = ?")
        params.append(transcript_id)
    if reviewed_only:
        conditions.append("s.reviewed = 1")
    where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
    rows = conn.execute(CANDIDATES_SQL + where + " ORDER BY s.id", params)
    return [
        Candidate(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), *r[8:16], *r[16:21])
        for r in rows
    ]


# --- the rules -------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """Whisper's English normalization, as in scoring (cached: texts repeat across calls)."""
    return _normalize(text)


def is_reviewed(candidate: Candidate, config: ContractConfig) -> bool:
    return candidate.reviewed and candidate.review_source in config.label_sources


def text_rejection(candidate: Candidate, config: ContractConfig) -> str | None:
    """The first rule (other than consent, audio and duplicates) the segment fails."""
    if not is_reviewed(candidate, config):
        return UNREVIEWED
    if candidate.origin == "insert" or candidate.hyp_text is None:
        return NO_HYPOTHESIS
    reference = candidate.text.strip()
    if not reference:
        return EMPTY_REFERENCE
    duration = candidate.end - candidate.start
    if duration < config.min_duration:
        return TOO_SHORT
    if duration > config.max_duration:
        return TOO_LONG
    if candidate.hyp_start is not None and candidate.hyp_end is not None:
        moved = max(
            abs(candidate.start - candidate.hyp_start), abs(candidate.end - candidate.hyp_end)
        )
        if moved > config.timing_tolerance + 1e-9:
            return TIMING_MOVED
    if _has_new_note(candidate.hyp_text, reference, config.note_patterns):
        return NOTE_IN_TEXT
    hyp_words = normalize(candidate.hyp_text).split()
    ref_words = normalize(reference).split()
    distance, added_run = align(hyp_words, ref_words)
    longest = max(len(hyp_words), len(ref_words))
    if longest and distance / longest > config.max_word_edit_ratio:
        return REWRITE
    if added_run > config.max_inserted_run:
        return TEXT_ADDED
    if len(reference.split()) > config.max_words_per_second * duration + 2:
        return TEXT_ADDED
    counter = config.token_counter or base_model_token_count
    if counter(reference) > config.max_tokens:
        return TOO_MANY_TOKENS
    return None


def audio_rejection(candidate: Candidate, config: ContractConfig) -> str | None:
    if candidate.snippet_path is None:
        return AUDIO_MISSING
    path = snippets_dir() / candidate.snippet_path
    if not path.is_file():
        return AUDIO_MISSING
    if (
        abs((candidate.snippet_start or 0.0) - candidate.start) > 1e-3
        or abs((candidate.snippet_end or 0.0) - candidate.end) > 1e-3
    ):
        return AUDIO_OUTDATED
    if config.verify_audio_hash and file_sha256(path) != candidate.snippet_sha256:
        return AUDIO_CHANGED
    return None


def align(hypothesis: Sequence[str], reference: Sequence[str]) -> tuple[int, int]:
    """Word Levenshtein distance, and the longest run of reference words the hypothesis lacks."""
    n, m = len(hypothesis), len(reference)
    # cost[i][j]: distance between hypothesis[:i] and reference[:j]
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        row, above = cost[i], cost[i - 1]
        h = hypothesis[i - 1]
        for j in range(1, m + 1):
            row[j] = min(
                above[j] + 1,
                row[j - 1] + 1,
                above[j - 1] + (0 if h == reference[j - 1] else 1),
            )
    # walk back, preferring matches/substitutions, to find runs of added reference words
    i, j, run, longest = n, m, 0, 0
    while i > 0 or j > 0:
        if (
            i > 0
            and j > 0
            and cost[i][j]
            == cost[i - 1][j - 1] + (0 if hypothesis[i - 1] == reference[j - 1] else 1)
        ):
            i, j, run = i - 1, j - 1, 0
        elif j > 0 and cost[i][j] == cost[i][j - 1] + 1:
            j -= 1
            run += 1
            longest = max(longest, run)
        else:
            i, run = i - 1, 0
    return cost[n][m], longest


def _has_new_note(hypothesis: str, reference: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        compiled = _compiled(pattern)
        if len(compiled.findall(reference)) > len(compiled.findall(hypothesis)):
            return True
    return False


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# --- tokens ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _base_tokenizer() -> Any:
    try:
        from tokenizers import Tokenizer

        from engine.prepare import tokenizer_path

        return Tokenizer.from_file(str(tokenizer_path()))
    except Exception:  # no tokenizer: fall back to an estimate (documented below)
        return None


_PRETOKEN = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?\w+| ?[^\s\w]+|\s+")


def base_model_token_count(text: str) -> int:
    """Tokens the base model's tokenizer needs for `` text`` (as Whisper sees a segment).

    Without the tokenizer file, an over-estimate: one token per 3 characters of each
    word-like piece (rounded up), which is more than GPT-2 BPE needs for English.
    """
    tokenizer = _base_tokenizer()
    if tokenizer is not None:
        return len(tokenizer.encode(" " + text.strip(), add_special_tokens=False).ids)
    return sum(-(-len(piece) // 3) for piece in _PRETOKEN.findall(" " + text.strip()))


# --- building the examples -------------------------------------------------------------


def example_id(candidate: Candidate) -> str:
    key = "|".join(
        (
            str(CONTRACT_VERSION),
            str(candidate.segment_id),
            candidate.snippet_sha256 or "",
            candidate.hyp_text or "",
            candidate.text.strip(),
        )
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def _to_example(candidate: Candidate) -> LearningExample:
    hypothesis = candidate.hyp_text or ""
    reference = candidate.text.strip()
    return LearningExample(
        example_id=example_id(candidate),
        audio=AudioSpan(
            path=snippets_dir() / (candidate.snippet_path or ""),
            sha256=candidate.snippet_sha256 or "",
            start=candidate.start,
            end=candidate.end,
            sample_rate=candidate.snippet_rate or 16000,
            recording_sha256=candidate.recording_sha256,
        ),
        hypothesis=hypothesis,
        reference=reference,
        model_version=candidate.model_version,
        recording_id=candidate.recording_id,
        transcript_id=candidate.transcript_id,
        segment_id=candidate.segment_id,
        contract_version=CONTRACT_VERSION,
        review_source=candidate.review_source or "",
        is_correction=normalize(hypothesis) != normalize(reference),
        hypothesis_words=word_codec.decode(candidate.hyp_words_json),
        reviewed_at=candidate.reviewed_at or "",
    )


def build_examples(
    source: Store | sqlite3.Connection, *, config: ContractConfig | None = None
) -> ContractResult:
    """Apply the contract to every segment in the store."""
    config = config or ContractConfig()
    if isinstance(source, sqlite3.Connection):
        return _build(source, config)
    return source.read(lambda conn: _build(conn, config))


def _build(conn: sqlite3.Connection, config: ContractConfig) -> ContractResult:
    conn.execute("BEGIN")
    try:
        consent = read_consent(conn)
        candidates = load_candidates(conn)
    finally:
        conn.execute("COMMIT")
    rejections: Counter[str] = Counter()
    accepted: list[Candidate] = []
    for candidate in candidates:
        if not is_reviewed(candidate, config):
            reason: str | None = UNREVIEWED
        elif not consent.enabled:
            reason = CONSENT_OFF
        else:
            reason = text_rejection(candidate, config) or audio_rejection(candidate, config)
        if reason is not None:
            rejections[reason] += 1
            continue
        accepted.append(candidate)
    kept: dict[tuple[str, float, float], Candidate] = {}
    for candidate in accepted:
        key = (
            candidate.recording_sha256,
            round(candidate.start / config.span_precision),
            round(candidate.end / config.span_precision),
        )
        other = kept.get(key)
        if other is None:
            kept[key] = candidate
            continue
        rejections[DUPLICATE] += 1
        if (candidate.reviewed_at or "", candidate.segment_id) > (
            other.reviewed_at or "",
            other.segment_id,
        ):
            kept[key] = candidate
    examples = [_to_example(c) for c in sorted(kept.values(), key=lambda c: c.segment_id)]
    return ContractResult(
        contract_version=CONTRACT_VERSION,
        examples=examples,
        rejections=rejections,
        candidates=len(candidates),
        consent_enabled=consent.enabled,
    )
