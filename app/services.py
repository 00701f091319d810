"""What the desktop app needs from the store and the engine, without Qt.

``Services`` is the app's one door to the learning side and the model: the
library, loading a transcript, decoding audio for playback, running a
transcription job into the store, the editing session of a transcript, exports,
consent and the learning data. Every method may block (disk, model): the GUI
calls them from worker threads, never from the UI thread, except ``session`` and
the store writes, which return futures at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.audio.pcm_cache import Int16Samples, playback_samples
from app.editing.segments import SegmentState
from app.editing.session import (
    History,
    SessionListener,
    TranscriptSession,
    history_of,
    segment_state,
)
from app.library import library_rows
from app.transcription.events import (
    JobEvent,
    JobProgress,
    JobRequest,
    JobStarted,
    SegmentsAdded,
    SegmentsChanged,
)
from engine.types import Segment, TranscribeOptions, Word

log = logging.getLogger(__name__)

PLAYBACK_RATE = 16_000
EXPORT_FORMATS = ("txt", "srt", "vtt", "json")


@dataclass(frozen=True, slots=True)
class LoadedTranscript:
    transcript_id: int
    recording_id: int
    title: str
    path: str
    duration: float
    status: str
    error: str | None
    segments: tuple[SegmentState, ...]
    history: History


@dataclass(frozen=True, slots=True)
class TranscriptionSettings:
    backend: str = "auto"
    threads: int = 0
    runner: str = "process"

    def options(self) -> TranscribeOptions:
        return TranscribeOptions(
            backend=None if self.backend == "auto" else self.backend,
            threads=self.threads or None,
        )


def join_segments(pieces: Sequence[Segment], offset: float, start: float, end: float) -> Segment:
    """Several model segments of one span as one segment, with times in the recording."""
    words = tuple(
        Word(w.text, w.start + offset, w.end + offset, w.probability)
        for p in pieces
        for w in p.words
    )
    text = " ".join(p.text.strip() for p in pieces if p.text.strip())
    n = max(1, len(pieces))
    return Segment(
        start=start,
        end=end,
        text=text,
        words=words,
        avg_logprob=sum(p.avg_logprob for p in pieces) / n,
        no_speech_prob=min((p.no_speech_prob for p in pieces), default=0.0),
        compression_ratio=max((p.compression_ratio for p in pieces), default=0.0),
    )


class Services:
    def __init__(self, store: Any, settings: Callable[[], TranscriptionSettings] | None = None):
        self.store = store
        self.settings = settings or TranscriptionSettings
        self._process_transcriber: Any = None

    @classmethod
    def open(cls, settings: Callable[[], TranscriptionSettings] | None = None) -> Services:
        from retrain.store import Store

        return cls(Store.open(), settings)

    def close(self) -> None:
        if self._process_transcriber is not None:
            self._process_transcriber.close()
            self._process_transcriber = None
        self.store.close()

    @property
    def notices(self) -> list[str]:
        return [getattr(n, "message", str(n)) for n in getattr(self.store, "notices", ())]

    # -- library and transcripts ---------------------------------------------------------
    def library(self, query: str = "") -> list[Any]:
        return library_rows(self.store.library(query))

    def load(self, transcript_id: int) -> LoadedTranscript:
        view = self.store.load_transcript(transcript_id)
        recording = view.recording
        return LoadedTranscript(
            transcript_id=view.transcript.id,
            recording_id=recording.id,
            title=recording.name or Path(recording.path).name,
            path=recording.path,
            duration=float(recording.duration or 0.0),
            status=view.transcript.status,
            error=view.transcript.error,
            segments=tuple(segment_state(s) for s in view.segments),
            history=history_of(view.history),
        )

    def playback_audio(self, recording_id: int, path: str) -> Int16Samples:
        """16 kHz mono samples for the player, memory-mapped from a decoded cache file."""
        from engine import audio

        return playback_samples(recording_id, Path(path), lambda p: audio.iter_pcm(p, 30.0))

    def session(
        self,
        transcript_id: int,
        segments: Sequence[SegmentState],
        listener: SessionListener,
        post: Callable[[Callable[[], None]], None],
        describe_error: Callable[[BaseException], str],
    ) -> TranscriptSession:
        return TranscriptSession(
            self.store, transcript_id, segments, post, listener, describe_error
        )

    # -- transcription -------------------------------------------------------------------
    def transcriber(self) -> Callable[..., Any]:
        if self.settings().runner == "process":
            if self._process_transcriber is None:
                from app.transcription.process import ProcessTranscriber

                self._process_transcriber = ProcessTranscriber()
            return self._process_transcriber.transcribe
        import engine

        return engine.transcribe

    def warm_up(self) -> None:
        """Start the worker process early, so the first import does not wait for it."""
        if self.settings().runner == "process":
            self.transcriber()
            self._process_transcriber.start()

    def run_job(
        self, request: JobRequest, cancel: threading.Event, emit: Callable[[JobEvent], None]
    ) -> None:
        """Run one queued job (blocking), reporting as it goes through ``emit``."""
        if request.kind == "retranscribe":
            self._retranscribe(request, cancel, emit)
        else:
            self._import(request, cancel, emit)

    def _import(
        self, request: JobRequest, cancel: threading.Event, emit: Callable[[JobEvent], None]
    ) -> None:
        """The same import as ``tiro import`` (retrain.importer), with the app's runner."""
        from retrain.importer import import_file

        path = Path(request.path)
        reported = [0.0]

        def progress(fraction: float) -> None:
            if fraction - reported[0] >= 0.002:
                reported[0] = fraction
                emit(JobProgress(fraction))

        def started(transcript_id: int, info: Any) -> None:
            notices = tuple(getattr(info, "notices", ()) or ())
            emit(JobStarted(transcript_id, float(info.duration), path.name, notices))

        def batch(transcript_id: int, ids: Sequence[int], segments: Sequence[Segment]) -> None:
            states = tuple(_fresh_state(i, s) for i, s in zip(ids, segments, strict=True))
            emit(SegmentsAdded(transcript_id, states))

        import_file(
            self.store,
            path,
            options=self.settings().options(),
            progress=progress,
            cancel=cancel,
            transcribe=self.transcriber(),
            owned=request.kind == "recording",
            on_started=started,
            on_batch=batch,
        )
        emit(JobProgress(1.0))

    def _retranscribe(
        self, request: JobRequest, cancel: threading.Event, emit: Callable[[JobEvent], None]
    ) -> None:
        from engine import audio
        from retrain.store import edits

        transcript_id = request.transcript_id
        assert transcript_id is not None
        summary = self.store.transcript(transcript_id)
        recording = self.store.recording(summary.recording_id)
        emit(JobStarted(transcript_id, 0.0, f"{recording.name} (selected segments)"))
        total = len(request.segment_ids)
        for done, segment_id in enumerate(request.segment_ids):
            view = self.store.segment(segment_id)
            samples = audio.decode_span(recording.path, view.start, view.end)
            pieces, info = self.transcriber()(samples, self.settings().options(), cancel=cancel)
            output = join_segments(list(pieces), view.start, view.start, view.end)
            result = self.store.apply_edit(
                transcript_id, edits.RetranscribeSegment(segment_id, output, info.model_version)
            ).result()
            emit(
                SegmentsChanged(
                    transcript_id,
                    tuple(segment_state(v) for v in result.changed),
                    history_of(result.history),
                )
            )
            emit(JobProgress((done + 1) / total))

    # -- export --------------------------------------------------------------------------
    def export(self, transcript_id: int, fmt: str, destination: Path) -> Path:
        from engine import export

        view = self.store.load_transcript(transcript_id)
        segments = [
            Segment(start=s.start, end=s.end, text=s.text, words=s.words if not s.edited else ())
            for s in view.segments
        ]
        return export.export(fmt, segments, None, destination)

    # -- learning ------------------------------------------------------------------------
    def consent_enabled(self) -> bool:
        return bool(self.store.consent().enabled)

    def consent_text(self) -> tuple[str, str]:
        from retrain import privacy

        return privacy.consent_text(), privacy.CONSENT_TEXT_VERSION

    def set_consent(self, enabled: bool) -> Any:
        from retrain import privacy

        return self.store.set_consent(enabled, privacy.CONSENT_TEXT_VERSION)

    def learning_figures(self) -> Any:
        """``retrain.privacy.DataStats``: counts, rejections by reason, consent."""
        from retrain import privacy

        return privacy.data_stats(self.store)

    def export_learning_data(self, destination: Path) -> Any:
        from retrain import privacy

        return privacy.export_learning_data(self.store, destination)

    def delete_recordings(self, recording_ids: Sequence[int] | None) -> Any:
        from retrain import privacy

        return privacy.delete_recordings(self.store, recording_ids)


def _fresh_state(segment_id: int, segment: Segment) -> SegmentState:
    return SegmentState(
        id=segment_id,
        start=segment.start,
        end=segment.end,
        text=segment.text.strip(),
        original_text=segment.text.strip(),
        words=segment.words,
    )
