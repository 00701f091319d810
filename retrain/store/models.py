"""Values the store hands out: frozen dataclasses, safe to pass between threads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from engine.types import Word

TranscriptStatus = Literal["queued", "running", "done", "failed", "cancelled"]
TRANSCRIPT_STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled")

ReviewKind = Literal["played", "verified", "unverified", "exported"]
REVIEW_KINDS: tuple[str, ...] = ("played", "verified", "unverified", "exported")

#: ``segments.review_source``: why a segment counts as reviewed.
ReviewSource = Literal["verified", "played", "edited"]


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    id: int
    path: str
    name: str
    sha256: str
    duration: float | None
    container: str | None
    codec: str | None
    sample_rate: int | None
    channels: int | None
    size_bytes: int | None
    loudness_dbfs: float | None
    owned: bool
    created_at: str


@dataclass(frozen=True, slots=True)
class TranscriptSummary:
    id: int
    recording_id: int
    model_version: str
    backend: str
    status: str
    error: str | None
    language: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    segment_count: int = 0
    reviewed_count: int = 0


@dataclass(frozen=True, slots=True)
class LibraryEntry:
    """One recording in the library, with its transcripts (newest first).

    ``match`` is a short excerpt of transcript text around the search terms when the
    entry matched by text (``[`` and ``]`` mark the hits), else ``None``.
    """

    recording: RecordingInfo
    transcripts: tuple[TranscriptSummary, ...]
    match: str | None = None

    @property
    def latest(self) -> TranscriptSummary | None:
        return self.transcripts[0] if self.transcripts else None


@dataclass(frozen=True, slots=True)
class SegmentView:
    """A segment as the editor shows it: current state plus the ASR hypothesis for its span.

    ``original_*`` and ``words`` are the model's output for this span (for split and
    merged segments: the ASR words that fall in each part). ``original_text`` is
    ``None`` for a segment the user inserted. ``words`` is decoded from
    ``words_json`` on first use (a 3-hour transcript has 30,000 words; a view that
    paints 40 rows should not pay for all of them up front).
    """

    id: int
    transcript_id: int
    position: str
    start: float
    end: float
    text: str
    speaker: str | None
    reviewed: bool
    review_source: str | None
    origin: str
    original_text: str | None
    original_start: float | None
    original_end: float | None
    words_json: str | None = field(repr=False)
    avg_logprob: float | None
    no_speech_prob: float | None
    compression_ratio: float | None
    model_version: str | None
    asr_segment_id: int | None
    _words: tuple[Word, ...] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def words(self) -> tuple[Word, ...]:
        cached = self._words
        if cached is None:
            from retrain.store.words import decode

            cached = decode(self.words_json)
            object.__setattr__(self, "_words", cached)
        return cached

    @property
    def edited(self) -> bool:
        return self.original_text is None or self.text != self.original_text

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class UndoState:
    """What undo and redo would do next (``*_kind`` is the edit kind, e.g. ``"split"``)."""

    can_undo: bool
    can_redo: bool
    undo_kind: str | None = None
    redo_kind: str | None = None
    undo_edit_id: int | None = None
    redo_edit_id: int | None = None


NO_HISTORY = UndoState(False, False)


@dataclass(frozen=True, slots=True)
class TranscriptView:
    transcript: TranscriptSummary
    recording: RecordingInfo
    options: dict[str, Any]
    segments: tuple[SegmentView, ...]
    history: UndoState


@dataclass(frozen=True, slots=True)
class EditResult:
    """What an edit, undo or redo changed, so a view can update without reloading.

    ``changed`` holds the new state of every segment that was changed or created
    (in display order), ``removed`` the ids of segments that no longer exist. For
    undo and redo, ``target_edit_id`` is the edit that was reverted or re-applied.
    ``edit_id`` is ``None`` when the edit changed nothing (and nothing was logged).
    """

    transcript_id: int
    edit_id: int | None
    kind: str
    changed: tuple[SegmentView, ...]
    removed: tuple[int, ...]
    history: UndoState
    target_edit_id: int | None = None


@dataclass(frozen=True, slots=True)
class ConsentState:
    enabled: bool
    consent_text_version: str | None = None
    changed_at: str | None = None


@dataclass(frozen=True, slots=True)
class EditLogEntry:
    id: int
    transcript_id: int
    kind: str
    segment_id: int | None
    target_edit_id: int | None
    payload: dict[str, Any]
    created_at: str


@dataclass(frozen=True, slots=True)
class StoreStats:
    recordings: int
    transcripts: int
    segments: int
    reviewed_segments: int
    edited_segments: int
    edits: int
    review_signals: int
    snippets: int
    snippet_bytes: int
    database_bytes: int
    schema_version: int
    consent: ConsentState = field(default_factory=lambda: ConsentState(False))
