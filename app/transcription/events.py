"""What a running job reports, in order: started, progress and segments, then it ends
(by returning, or raising a typed error)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.editing.segments import SegmentState
from app.editing.session import History

JobKind = Literal["import", "recording", "retranscribe"]


@dataclass(frozen=True, slots=True)
class JobRequest:
    kind: JobKind
    path: Path
    transcript_id: int | None = None  # retranscribe: the transcript
    segment_ids: tuple[int, ...] = ()  # retranscribe: which segments


@dataclass(frozen=True, slots=True)
class JobStarted:
    transcript_id: int
    duration: float
    name: str
    notices: tuple[str, ...] = ()  # what the engine wants the person to know (e.g. a fallback)


@dataclass(frozen=True, slots=True)
class JobProgress:
    fraction: float


@dataclass(frozen=True, slots=True)
class SegmentsAdded:
    transcript_id: int
    segments: tuple[SegmentState, ...]


@dataclass(frozen=True, slots=True)
class SegmentsChanged:
    """Existing segments got new content (re-transcription)."""

    transcript_id: int
    segments: tuple[SegmentState, ...]
    history: History | None = None


JobEvent = JobStarted | JobProgress | SegmentsAdded | SegmentsChanged
