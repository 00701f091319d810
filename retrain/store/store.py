"""``Store``: the one object the rest of Tiro uses to reach the telemetry database."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from engine.paths import database_path
from engine.types import MediaInfo, Segment, TranscribeOptions
from retrain.errors import StoreClosedError
from retrain.store import edits as edit_ops
from retrain.store import reads, writes
from retrain.store.checkpointer import Checkpointer
from retrain.store.connection import Notice, connect, open_database
from retrain.store.edits import Applied, Edit
from retrain.store.failures import translate
from retrain.store.history import HistoryCache
from retrain.store.migrations import schema_version
from retrain.store.models import (
    ConsentState,
    EditLogEntry,
    EditResult,
    LibraryEntry,
    RecordingInfo,
    SegmentView,
    StoreStats,
    TranscriptSummary,
    TranscriptView,
    UndoState,
)
from retrain.store.writer import Writer

log = logging.getLogger("tiro.store")

T = TypeVar("T")

#: Background snippet captures walk the snippets folder for orphans at most this often.
SWEEP_INTERVAL_S = 60.0


class Store:
    """The telemetry store. Open it once per process; share it between threads.

    Writes return futures (see ``retrain.store.writer`` for the rule); reads run on
    the calling thread with that thread's own connection.
    """

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool,
        notices: tuple[Notice, ...],
        auto_snippets: bool,
        durability: str = "normal",
    ) -> None:
        self.path = path
        self.read_only = read_only
        self.notices = notices
        self._auto_snippets = auto_snippets and not read_only
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._closing = False
        self._history = HistoryCache()  # used on the writer thread only
        synchronous = {"normal": "NORMAL", "full": "FULL"}[durability]
        self._checkpointer = None if read_only else Checkpointer(lambda: connect(path))
        try:
            self._writer = Writer(
                lambda: connect(path, read_only=read_only, synchronous=synchronous, writer=True),
                database=path,
                on_commit=None if self._checkpointer is None else self._checkpointer.poke,
            )
        except BaseException:
            if self._checkpointer is not None:
                self._checkpointer.close()
            raise
        self._maintenance = ThreadPoolExecutor(1, thread_name_prefix="tiro-store-maintenance")
        self._capture_pending = threading.Lock()
        self._capture_targets: set[int | None] = set()
        self._last_sweep = 0.0

    # --- lifecycle ---------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        *,
        auto_snippets: bool = True,
        durability: str = "normal",
    ) -> Store:
        """Open (creating, recovering and migrating as needed) the database at ``path``.

        ``durability``: ``"normal"`` (acknowledged writes survive a crash of the app;
        the checkpointer makes them survive a power cut within about a second) or
        ``"full"`` (every commit waits for the disk). ``auto_snippets``: capture
        learning snippets in the background after reviews (when opted in).

        Default path: ``engine.paths.database_path()``. This does disk work (a quick
        integrity check, migrations): call it before the UI shows, or off the UI
        thread. ``notices`` lists what the user must be told (e.g. a damaged file
        that was moved aside).
        """
        target = Path(path) if path is not None else database_path()
        opened = open_database(target)
        for notice in opened.notices:
            log.warning("%s", notice.message)
        return cls(
            target,
            read_only=opened.read_only,
            notices=opened.notices,
            auto_snippets=auto_snippets,
            durability=durability,
        )

    def close(self) -> None:
        """Finish queued writes and background work, then close every connection."""
        if self._closed or self._closing:
            return
        self._closing = True  # no new background captures; queued work still finishes
        self._maintenance.shutdown(wait=True)
        self._writer.close()
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._closed = True
        with self._readers_lock:
            for conn in self._readers:
                try:
                    conn.close()
                except sqlite3.Error:
                    log.debug("closing a reader failed", exc_info=True)
            self._readers.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- generic access (for the pipeline, monitor and scheduler modules) --------------

    def write(
        self,
        job: Callable[[sqlite3.Connection], T],
        *,
        transaction: bool = True,
        after_commit: Callable[[T], None] | None = None,
    ) -> Future[T]:
        """Run ``job(conn)`` on the writer inside one transaction; see ``Writer.submit``."""
        return self._writer.submit(job, transaction=transaction, after_commit=after_commit)

    def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``query(conn)`` now, on this thread's own read connection."""
        conn = self._reader()
        try:
            return query(conn)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise translate(exc, self.path) from exc

    def _reader(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreClosedError()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, read_only=self.read_only)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    # --- writes: recordings and transcription ------------------------------------------

    def add_recording(
        self,
        path: str | Path,
        *,
        sha256: str,
        media: MediaInfo | None = None,
        size_bytes: int | None = None,
        loudness_dbfs: float | None = None,
        owned: bool = False,
    ) -> Future[int]:
        """Register a media file; ``sha256`` of its content (hash it in your worker, not here).

        The same content imported again returns the existing recording's id.
        """
        return self.write(
            lambda conn: writes.add_recording(
                conn,
                path,
                sha256=sha256,
                media=media,
                size_bytes=size_bytes,
                loudness_dbfs=loudness_dbfs,
                owned=owned,
            )
        )

    def set_recording_loudness(self, recording_id: int, dbfs: float) -> Future[None]:
        """Record a recording's mean loudness (``engine.audio.loudness_dbfs``) for the monitor."""
        return self.write(lambda conn: writes.set_recording_loudness(conn, recording_id, dbfs))

    def create_transcript(
        self,
        recording_id: int,
        model_version: str,
        backend: str,
        options: TranscribeOptions | Mapping[str, Any] | None = None,
        *,
        language: str | None = None,
        status: str = "queued",
    ) -> Future[int]:
        return self.write(
            lambda conn: writes.create_transcript(
                conn,
                recording_id,
                model_version,
                backend,
                options,
                language=language,
                status=status,
            )
        )

    def set_transcript_status(
        self,
        transcript_id: int,
        status: str,
        error: str | None = None,
        *,
        model_version: str | None = None,
        language: str | None = None,
    ) -> Future[None]:
        """queued → running → done | failed (with ``error``) | cancelled; times are recorded."""
        return self.write(
            lambda conn: writes.set_transcript_status(
                conn, transcript_id, status, error, model_version=model_version, language=language
            )
        )

    def append_segments(
        self,
        transcript_id: int,
        segments: Sequence[Segment],
        *,
        model_version: str | None = None,
    ) -> Future[list[int]]:
        """Store model output (immutable part + fresh current state); returns segment ids."""
        batch = tuple(segments)
        return self.write(
            lambda conn: writes.append_segments(
                conn, transcript_id, batch, model_version=model_version
            )
        )

    def record_transcription_run(
        self,
        *,
        transcript_id: int | None,
        model_version: str,
        backend: str,
        audio_seconds: float,
        wall_seconds: float,
        peak_rss_mb: float | None = None,
    ) -> Future[int]:
        """Performance of one transcription (RTF is computed), for the monitor."""
        return self.write(
            lambda conn: writes.record_transcription_run(
                conn,
                transcript_id=transcript_id,
                model_version=model_version,
                backend=backend,
                audio_seconds=audio_seconds,
                wall_seconds=wall_seconds,
                peak_rss_mb=peak_rss_mb,
            )
        )

    # --- writes: edits -----------------------------------------------------------------

    def apply_edit(self, transcript_id: int, edit: Edit) -> Future[EditResult]:
        """Apply ``edit`` and append it to the log, in one transaction."""
        return self._edit(
            lambda conn, now, stacks: edit_ops.apply(conn, transcript_id, edit, now, stacks),
            transcript_id,
        )

    def undo(self, transcript_id: int) -> Future[EditResult]:
        """Revert the edit on top of the undo stack (``NothingToUndoError`` if none)."""
        return self._edit(
            lambda conn, now, stacks: edit_ops.undo(conn, transcript_id, now, stacks),
            transcript_id,
        )

    def redo(self, transcript_id: int) -> Future[EditResult]:
        return self._edit(
            lambda conn, now, stacks: edit_ops.redo(conn, transcript_id, now, stacks),
            transcript_id,
        )

    def _edit(
        self,
        step: Callable[[sqlite3.Connection, str, edit_ops.HistorySource], Applied],
        transcript_id: int,
    ) -> Future[EditResult]:
        applied_stacks: list[Any] = []

        def job(conn: sqlite3.Connection) -> EditResult:
            applied = step(conn, writes.utc_now(), self._history.take)
            applied_stacks.append(applied.stacks)
            return EditResult(
                transcript_id=transcript_id,
                edit_id=applied.edit_id,
                kind=applied.kind,
                changed=tuple(reads.segments_by_id(conn, applied.touched)),
                removed=applied.removed,
                history=applied.stacks.state(),
                target_edit_id=applied.target_edit_id,
            )

        def keep_history(_result: EditResult) -> None:
            self._history.put(transcript_id, applied_stacks[0])

        return self._reviewing(self.write(job, after_commit=keep_history), transcript_id)

    # --- writes: review signals, consent -----------------------------------------------

    def mark_verified(
        self,
        transcript_id: int,
        segment_ids: Sequence[int] | None = None,
        *,
        verified: bool = True,
    ) -> Future[list[int]]:
        """Mark segments (``None``: the whole transcript) verified, or unverified."""
        ids = None if segment_ids is None else tuple(segment_ids)
        return self._reviewing(
            self.write(
                lambda conn: writes.mark_verified(conn, transcript_id, ids, verified=verified)
            ),
            transcript_id,
        )

    def record_review_signal(
        self,
        transcript_id: int,
        kind: str,
        segment_ids: Sequence[int] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Future[list[int]]:
        """``played`` (segments played through unchanged; marks them reviewed),
        ``verified``/``unverified``, or ``exported`` (whole transcript; ``detail`` e.g.
        ``{"format": "srt"}``)."""
        ids = None if segment_ids is None else tuple(segment_ids)
        return self._reviewing(
            self.write(
                lambda conn: writes.record_review_signal(conn, transcript_id, kind, ids, detail)
            ),
            transcript_id,
        )

    def set_consent(self, enabled: bool, consent_text_version: str) -> Future[ConsentState]:
        """Opt in or out of learning. Opting out deletes every snippet (rows and files)."""
        from retrain.snippets import delete_files

        def job(conn: sqlite3.Connection) -> tuple[ConsentState, list[str]]:
            return writes.set_consent(conn, enabled, consent_text_version)

        def cleanup(result: tuple[ConsentState, list[str]]) -> None:
            delete_files(result[1])

        inner = self.write(job, after_commit=cleanup)
        outer: Future[ConsentState] = Future()

        def relay(done: Future[tuple[ConsentState, list[str]]]) -> None:
            error = done.exception()
            if error is not None:
                outer.set_exception(error)
                return
            outer.set_result(done.result()[0])
            if enabled:
                self._schedule_capture(None)

        inner.add_done_callback(relay)
        return outer

    # --- background work ---------------------------------------------------------------

    def capture_snippets(self, transcript_id: int | None = None) -> Future[Any]:
        """Capture due snippets on the maintenance thread; resolves to a ``CaptureReport``."""
        from retrain.snippets import capture_snippets

        return self._submit_maintenance(lambda: capture_snippets(self, transcript_id=transcript_id))

    def delete_recordings(self, recording_ids: Sequence[int] | None = None) -> Future[Any]:
        """Privacy delete (``None``: everything); resolves to a ``privacy.DeleteReport``."""
        from retrain.privacy import delete_recordings

        ids = None if recording_ids is None else tuple(recording_ids)
        return self._submit_maintenance(lambda: delete_recordings(self, ids))

    def _submit_maintenance(self, work: Callable[[], T]) -> Future[T]:
        if self._closed or self._closing:
            future: Future[T] = Future()
            future.set_exception(StoreClosedError())
            return future
        return self._maintenance.submit(work)

    def _reviewing(self, future: Future[T], transcript_id: int) -> Future[T]:
        if self._auto_snippets:
            future.add_done_callback(
                lambda done: None if done.exception() else self._schedule_capture(transcript_id)
            )
        return future

    def _schedule_capture(self, transcript_id: int | None) -> None:
        """Queue a snippet capture for ``transcript_id`` (``None``: all), coalesced."""
        if not self._auto_snippets or self._closed or self._closing:
            return
        with self._capture_pending:
            queued = bool(self._capture_targets)
            self._capture_targets.add(transcript_id)
            if queued:
                return

        def run() -> None:
            with self._capture_pending:
                targets = set(self._capture_targets)
                self._capture_targets.clear()
            if self._closing:
                return
            from retrain.snippets import capture_snippets, sweep_orphans

            sweep = time.monotonic() - self._last_sweep > SWEEP_INTERVAL_S
            try:
                for target in [None] if None in targets else sorted(targets):
                    capture_snippets(self, transcript_id=target, sweep=False)
                if sweep:
                    sweep_orphans(self)
                    self._last_sweep = time.monotonic()
            except Exception:
                log.warning("background snippet capture failed", exc_info=True)

        try:
            self._maintenance.submit(run)
        except RuntimeError:  # shut down meanwhile
            with self._capture_pending:
                self._capture_targets.clear()

    # --- reads -------------------------------------------------------------------------

    def library(self, query: str = "") -> list[LibraryEntry]:
        """Recordings with their transcripts; ``query`` matches file names and text (FTS5)."""
        return self.read(lambda conn: reads.library(conn, query))

    def load_transcript(self, transcript_id: int) -> TranscriptView:
        """All segments (current + original + words) and the undo/redo state."""
        return self.read(lambda conn: reads.load_transcript(conn, transcript_id))

    def segment(self, segment_id: int) -> SegmentView:
        return self.read(lambda conn: reads.segment(conn, segment_id))

    def segments(self, segment_ids: Sequence[int]) -> list[SegmentView]:
        """The given segments that still exist, in display order (e.g. fresh live output)."""
        ids = tuple(segment_ids)
        return self.read(lambda conn: reads.segments_by_id(conn, ids))

    def transcript(self, transcript_id: int) -> TranscriptSummary:
        return self.read(lambda conn: reads.transcript(conn, transcript_id))

    def transcripts(self, recording_id: int | None = None) -> list[TranscriptSummary]:
        ids = None if recording_id is None else [recording_id]
        return self.read(lambda conn: reads.transcripts(conn, recording_ids=ids))

    def recording(self, recording_id: int) -> RecordingInfo:
        return self.read(lambda conn: reads.recording(conn, recording_id))

    def history(self, transcript_id: int) -> UndoState:
        """Can undo / can redo (and what), derived from the edit log."""
        return self.read(lambda conn: reads.undo_state(conn, transcript_id))

    def edit_log(self, transcript_id: int) -> list[EditLogEntry]:
        return self.read(lambda conn: reads.edit_log(conn, transcript_id))

    def consent(self) -> ConsentState:
        return self.read(reads.consent)

    def stats(self) -> StoreStats:
        return self.read(lambda conn: reads.stats(conn, self.path))

    def schema_version(self) -> int:
        return self.read(schema_version)
