"""The telemetry store: one local SQLite database for transcripts, edits and learning data.

Interface (what the editor, the importer, the pipeline and the monitor code against)
-----------------------------------------------------------------------------------

Open and close::

    store = Store.open(path=None)   # default engine.paths.database_path(); also a context manager
    store.notices                   # things to tell the user once (e.g. a damaged file moved aside)
    store.read_only                 # the file could not be written: reads work, writes fail
    store.close()

Writes go through the single background writer and return ``concurrent.futures.Future``
at once (the caller never waits on disk; callbacks run on the writer thread)::

    add_recording(path, *, sha256, media=None, size_bytes=None, loudness_dbfs=None,
                  owned=False) -> Future[int]
    set_recording_loudness(recording_id, dbfs) -> Future[None]   # engine.audio.loudness_dbfs
    create_transcript(recording_id, model_version, backend, options=None, *, language=None,
                      status="queued") -> Future[int]
    set_transcript_status(transcript_id, status, error=None, *, model_version=None,
                          language=None) -> Future[None]
    append_segments(transcript_id, segments: Sequence[engine.types.Segment], *,
                    model_version=None) -> Future[list[int]]          # segment ids, in order
    record_transcription_run(*, transcript_id, model_version, backend, audio_seconds,
                             wall_seconds, peak_rss_mb=None) -> Future[int]
    apply_edit(transcript_id, edit) -> Future[EditResult]
    undo(transcript_id) -> Future[EditResult]       # NothingToUndoError when the stack is empty
    redo(transcript_id) -> Future[EditResult]
    mark_verified(transcript_id, segment_ids=None, *, verified=True) -> Future[list[int]]
    record_review_signal(transcript_id, kind, segment_ids=None, detail=None) -> Future[list[int]]
        # kind: "played" (played through unchanged; marks reviewed), "verified",
        # "unverified", "exported" (whole transcript, detail={"format": ...})
    set_consent(enabled, consent_text_version) -> Future[ConsentState]
    capture_snippets(transcript_id=None) -> Future[CaptureReport]   # also runs by itself
    delete_recordings(recording_ids=None) -> Future[DeleteReport]   # privacy delete; None = all
    write(job: Callable[[sqlite3.Connection], T], *, transaction=True) -> Future[T]
        # generic, for retrain modules that own their tables (registry, monitor, jobs)

Edits (``retrain.store.edits``, frozen dataclasses): ``TextEdit(segment_id, before,
after)``, ``SpeakerEdit(segment_id, before, after)``, ``SplitSegment(segment_id,
at_char, at_time)``, ``MergeSegments(segment_id, next_segment_id)``,
``Retime(segment_id, start, end)``, ``InsertSegment(after_segment_id | None, start,
end, text, speaker=None)``, ``DeleteSegment(segment_id)``,
``RetranscribeSegment(segment_id, segment, model_version)`` and ``Batch(edits,
label="replace all")`` (one undoable step). Each is applied and appended to the
append-only ``edits`` log in one transaction. Undo and redo are log entries that
name the edit they revert or re-apply; the stacks are derived from the log
(``retrain.store.history``), so they survive restarts. ``EditResult`` says what
changed (new segment states, removed ids) and whether undo/redo are possible next.

Reads run on the calling thread with that thread's own connection (WAL: they never
wait for the writer, and see only committed data)::

    library(query="") -> list[LibraryEntry]          # name and text search (FTS5)
    load_transcript(transcript_id) -> TranscriptView  # segments + hypothesis + words + undo state
    segment(segment_id) -> SegmentView
    segments(segment_ids) -> list[SegmentView]       # those that still exist, in order
    transcript(id), transcripts(recording_id=None), recording(id)
    history(transcript_id) -> UndoState
    edit_log(transcript_id) -> list[EditLogEntry]
    consent() -> ConsentState
    stats() -> StoreStats
    read(query: Callable[[sqlite3.Connection], T]) -> T   # generic

Errors are typed (``retrain.errors``) with a user-facing sentence:
``StoreFullError`` (disk full), ``StoreReadOnlyError``, ``StoreBusyError``,
``StoreIOError``, ``StoreCorruptError``, ``StoreTooNewError``, ``NotFoundError``,
``EditConflictError`` (the edit's ``before`` is not the current state),
``InvalidEditError``, ``NothingToUndoError``. A failed write changes nothing.

Threads: one writer thread (``tiro-store-writer``), one maintenance thread
(``tiro-store-maintenance``: snippet capture, privacy delete), and a read
connection per thread that reads. See ``retrain.store.writer`` for the rule and
``retrain.store.schema`` for the tables.
"""

from retrain.store.connection import Notice
from retrain.store.edits import (
    Batch,
    DeleteSegment,
    Edit,
    InsertSegment,
    MergeSegments,
    Retime,
    RetranscribeSegment,
    SpeakerEdit,
    SplitSegment,
    TextEdit,
)
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
from retrain.store.schema import SCHEMA_VERSION
from retrain.store.store import Store

__all__ = [
    "SCHEMA_VERSION",
    "Batch",
    "ConsentState",
    "DeleteSegment",
    "Edit",
    "EditLogEntry",
    "EditResult",
    "InsertSegment",
    "LibraryEntry",
    "MergeSegments",
    "Notice",
    "RecordingInfo",
    "Retime",
    "RetranscribeSegment",
    "SegmentView",
    "SpeakerEdit",
    "SplitSegment",
    "Store",
    "StoreStats",
    "TextEdit",
    "TranscriptSummary",
    "TranscriptView",
    "UndoState",
]
