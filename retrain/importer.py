"""Transcribing a media file into the store: what ``tiro import`` and the app's import do.

``import_file`` runs ``engine.transcribe`` and records everything as it happens:
the recording (content sha256, media facts), a transcript with the model version,
backend and options that produced it (status running → done / failed / cancelled,
with the error), the segments as they arrive (so an editor can show them live), and
the job's performance (real-time factor, peak memory) and the recording's loudness
for the monitor.

Blocking: run it in a worker thread or process, never on the UI thread. Transcript
text is never logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.digests import file_digest
from engine.types import Segment, TranscribeOptions, TranscriptionInfo
from retrain.store import Store

log = logging.getLogger("tiro.importer")

#: Segments are written in batches of at most this many, or every ``FLUSH_SECONDS``.
BATCH = 8
FLUSH_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class ImportResult:
    recording_id: int
    transcript_id: int
    segments: int
    info: TranscriptionInfo
    wall_seconds: float


def import_file(
    store: Store,
    path: str | Path,
    *,
    options: TranscribeOptions | None = None,
    bundle: Any = None,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    on_segments: Callable[[int, Sequence[int]], None] | None = None,
    transcribe: Callable[..., tuple[Iterator[Segment], TranscriptionInfo]] | None = None,
    owned: bool = False,
    on_started: Callable[[int, TranscriptionInfo], None] | None = None,
    on_batch: Callable[[int, Sequence[int], Sequence[Segment]], None] | None = None,
) -> ImportResult:
    """Transcribe ``path`` into ``store``. ``on_segments(transcript_id, ids)`` fires per batch.

    For the app: ``transcribe`` replaces ``engine.transcribe`` (same signature; the app
    runs the model in a worker process), ``owned`` marks a file Tiro made itself (a
    recording: a privacy delete removes it too), ``on_started(transcript_id, info)``
    fires once the transcript exists, ``on_batch(transcript_id, ids, segments)`` with
    each batch's segments (to show them live without reading them back).

    Raises the engine's typed errors (unreadable file, model failure,
    ``TranscriptionCancelled``) after recording them on the transcript.
    """
    if transcribe is None:
        import engine

        transcribe = engine.transcribe

    source = Path(path)
    started = time.perf_counter()
    if bundle is None:
        # The champion at the time this job starts (hot swap: a newer champion serves the
        # next job). A champion that fails its checksum or does not load falls back to the
        # factory model inside the engine, with a notice in ``info.notices``.
        from retrain.registry import Registry

        bundle = Registry(store).champion_path()
    segments, info = transcribe(source, options, bundle=bundle, progress=progress, cancel=cancel)
    # remembered by size, mtime and inode: snippet capture checks the file against it
    # after every review without reading it again
    sha256 = file_digest(source)
    media = info.media
    recording_id = store.add_recording(
        source.resolve(),
        sha256=sha256,
        media=media,
        size_bytes=source.stat().st_size,
        owned=owned,
    ).result()
    transcript_id = store.create_transcript(
        recording_id,
        info.model_version,
        info.backend,
        info.options,
        language=info.language,
        status="running",
    ).result()
    if on_started is not None:
        on_started(transcript_id, info)
    count = 0
    try:
        pending: list[Segment] = []
        last_flush = time.monotonic()
        for segment in segments:
            pending.append(segment)
            if len(pending) >= BATCH or time.monotonic() - last_flush >= FLUSH_SECONDS:
                count += _flush(store, transcript_id, pending, on_segments, on_batch)
                last_flush = time.monotonic()
        count += _flush(store, transcript_id, pending, on_segments, on_batch)
    except BaseException as exc:
        _flush(store, transcript_id, pending, on_segments, on_batch)
        status = "cancelled" if type(exc).__name__ == "TranscriptionCancelled" else "failed"
        if isinstance(exc, KeyboardInterrupt):
            status = "cancelled"
        store.set_transcript_status(transcript_id, status, _message(exc)).result()
        log.info("transcript %s %s after %d segments", transcript_id, status, count)
        raise
    wall = time.perf_counter() - started
    store.set_transcript_status(transcript_id, "done").result()
    _record_loudness(store, recording_id, source)
    store.record_transcription_run(
        transcript_id=transcript_id,
        model_version=info.model_version,
        backend=info.backend,
        audio_seconds=info.duration,
        wall_seconds=wall,
        peak_rss_mb=_peak_rss_mb(),
    ).result()
    log.info("transcript %s done: %d segments in %.1f s", transcript_id, count, wall)
    return ImportResult(recording_id, transcript_id, count, info, wall)


def _record_loudness(store: Store, recording_id: int, source: Path) -> None:
    """The recording's mean loudness, for the monitor's input-drift check (once per content).

    Measured after the transcript is done (one more streaming decode, about 1 s per
    10 minutes of audio), so it never delays the first segments.
    """
    if store.recording(recording_id).loudness_dbfs is not None:
        return
    from engine.audio import loudness_dbfs
    from engine.errors import AudioDecodeError

    try:
        dbfs = loudness_dbfs(source)
    except (AudioDecodeError, OSError) as exc:  # moved or changed since: leave it unknown
        log.info("loudness of recording %s not measured: %s", recording_id, exc)
        return
    store.set_recording_loudness(recording_id, dbfs).result()


def _flush(
    store: Store,
    transcript_id: int,
    pending: list[Segment],
    on_segments: Callable[[int, Sequence[int]], None] | None,
    on_batch: Callable[[int, Sequence[int], Sequence[Segment]], None] | None = None,
) -> int:
    if not pending:
        return 0
    batch = list(pending)
    pending.clear()
    ids = store.append_segments(transcript_id, batch).result()
    if on_segments is not None:
        on_segments(transcript_id, ids)
    if on_batch is not None:
        on_batch(transcript_id, ids, batch)
    return len(ids)


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _peak_rss_mb() -> float | None:
    try:
        import resource
        import sys
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
