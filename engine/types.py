"""Values that cross from the engine into the other layers.

They are frozen dataclasses: plain data, safe to hand between threads and to
store. Times are in seconds from the start of the media.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Word:
    """One word with its timing and the model's confidence in it (0..1)."""

    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of transcript, as the model produced it."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0


@dataclass(frozen=True, slots=True)
class TranscribeOptions:
    """How to decode. ``None`` means "the engine's measured default".

    ``temperatures`` is the fallback sequence: decoding is retried at the next
    temperature when the output looks like a failure (compression ratio or
    average log-probability beyond their thresholds). A single ``0.0`` means
    greedy/beam decoding with no fallback.
    """

    backend: str | None = None
    initial_prompt: str | None = None
    hotwords: tuple[str, ...] = ()
    beam_size: int | None = None
    temperatures: tuple[float, ...] | None = None
    threads: int | None = None
    word_timestamps: bool = True
    vad: bool | None = None


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What the decoder found in the source file."""

    path: str | None
    duration: float
    container: str
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True, slots=True)
class TranscriptionInfo:
    """Facts about one transcription job, known before the first segment."""

    duration: float
    backend: str
    model_version: str
    model_sha256: str
    options: TranscribeOptions
    media: MediaInfo | None = None
    language: str = "en"
    notices: tuple[str, ...] = field(default=())
