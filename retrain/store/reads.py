"""Read queries. Each takes a connection; ``Store`` gives every thread its own.

Nothing here writes. Readers see the last committed state (WAL snapshots), never
a half-applied edit, and never block the writer.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from retrain.errors import NotFoundError
from retrain.store import history
from retrain.store.migrations import schema_version
from retrain.store.models import (
    ConsentState,
    EditLogEntry,
    LibraryEntry,
    RecordingInfo,
    SegmentView,
    StoreStats,
    TranscriptSummary,
    TranscriptView,
    UndoState,
)

RECORDING_COLUMNS = (
    "id, path, name, sha256, duration, container, codec, sample_rate, channels, "
    "size_bytes, loudness_dbfs, owned, created_at"
)
TRANSCRIPT_COLUMNS = (
    "id, recording_id, model_version, backend, status, error, language, "
    "created_at, started_at, finished_at"
)
SEGMENT_SELECT = """
SELECT s.id, s.transcript_id, s.position, s.start_sec, s.end_sec, s.text, s.speaker,
       s.reviewed, s.review_source, s.origin,
       CASE WHEN s.origin = 'insert' THEN NULL ELSE COALESCE(s.hyp_text, a.text) END,
       COALESCE(s.hyp_start_sec, a.start_sec), COALESCE(s.hyp_end_sec, a.end_sec),
       CASE WHEN s.origin = 'insert' THEN NULL ELSE COALESCE(s.hyp_words_json, a.words_json) END,
       a.avg_logprob, a.no_speech_prob, a.compression_ratio, a.model_version, s.asr_segment_id
FROM segments AS s LEFT JOIN asr_segments AS a ON a.id = s.asr_segment_id
"""


def _recording(row: Sequence[Any]) -> RecordingInfo:
    return RecordingInfo(*row[:11], bool(row[11]), row[12])


def _segment(row: Sequence[Any]) -> SegmentView:
    return SegmentView(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        bool(row[7]),
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
        row[13],
        row[14],
        row[15],
        row[16],
        row[17],
        row[18],
    )


def recording(conn: sqlite3.Connection, recording_id: int) -> RecordingInfo:
    row = conn.execute(
        f"SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = ?", (recording_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError(
            f"recording {recording_id} does not exist; see `tiro transcripts list`."
        )
    return _recording(row)


def recordings(conn: sqlite3.Connection) -> list[RecordingInfo]:
    rows = conn.execute(f"SELECT {RECORDING_COLUMNS} FROM recordings ORDER BY id")
    return [_recording(r) for r in rows]


def transcript(conn: sqlite3.Connection, transcript_id: int) -> TranscriptSummary:
    found = transcripts(conn, transcript_ids=[transcript_id])
    if not found:
        raise NotFoundError(
            f"transcript {transcript_id} does not exist; see `tiro transcripts list`."
        )
    return found[0]


def transcripts(
    conn: sqlite3.Connection,
    *,
    recording_ids: Iterable[int] | None = None,
    transcript_ids: Iterable[int] | None = None,
) -> list[TranscriptSummary]:
    """Transcripts with their segment counts, newest first."""
    where, params = "", []
    if recording_ids is not None:
        ids = list(recording_ids)
        where = f"WHERE t.recording_id IN ({','.join('?' * len(ids))})"
        params = ids
    elif transcript_ids is not None:
        ids = list(transcript_ids)
        where = f"WHERE t.id IN ({','.join('?' * len(ids))})"
        params = ids
    if where and not params:
        return []
    rows = conn.execute(
        f"""
        SELECT {", ".join("t." + c.strip() for c in TRANSCRIPT_COLUMNS.split(","))},
               (SELECT count(*) FROM segments s WHERE s.transcript_id = t.id),
               (SELECT count(*) FROM segments s WHERE s.transcript_id = t.id AND s.reviewed = 1)
        FROM transcripts AS t {where}
        ORDER BY t.id DESC
        """,
        params,
    )
    return [TranscriptSummary(*row) for row in rows]


def transcript_options(conn: sqlite3.Connection, transcript_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT options_json FROM transcripts WHERE id = ?", (transcript_id,)
    ).fetchone()
    return json.loads(row[0]) if row else {}


def segments(conn: sqlite3.Connection, transcript_id: int) -> tuple[SegmentView, ...]:
    rows = conn.execute(
        SEGMENT_SELECT + " WHERE s.transcript_id = ? ORDER BY s.position, s.id", (transcript_id,)
    )
    return tuple(_segment(r) for r in rows)


def segment(conn: sqlite3.Connection, segment_id: int) -> SegmentView:
    row = conn.execute(SEGMENT_SELECT + " WHERE s.id = ?", (segment_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"segment {segment_id} does not exist any more; reopen the transcript.")
    return _segment(row)


def segments_by_id(conn: sqlite3.Connection, segment_ids: Iterable[int]) -> list[SegmentView]:
    """The given segments that still exist, in display order."""
    ids = list(dict.fromkeys(segment_ids))
    if not ids:
        return []
    rows = conn.execute(
        SEGMENT_SELECT
        + f" WHERE s.id IN ({','.join('?' * len(ids))}) ORDER BY s.transcript_id, s.position, s.id",
        ids,
    )
    return [_segment(r) for r in rows]


def undo_state(conn: sqlite3.Connection, transcript_id: int) -> UndoState:
    return history.load(conn, transcript_id).state()


def load_transcript(conn: sqlite3.Connection, transcript_id: int) -> TranscriptView:
    """Everything the editor needs to show a transcript, read in one snapshot."""
    conn.execute("BEGIN")
    try:
        summary = transcript(conn, transcript_id)
        return TranscriptView(
            transcript=summary,
            recording=recording(conn, summary.recording_id),
            options=transcript_options(conn, transcript_id),
            segments=segments(conn, transcript_id),
            history=undo_state(conn, transcript_id),
        )
    finally:
        conn.execute("COMMIT")


def edit_log(conn: sqlite3.Connection, transcript_id: int) -> list[EditLogEntry]:
    rows = conn.execute(
        "SELECT id, transcript_id, kind, segment_id, target_edit_id, payload_json, created_at "
        "FROM edits WHERE transcript_id = ? ORDER BY id",
        (transcript_id,),
    )
    return [EditLogEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6]) for r in rows]


def consent(conn: sqlite3.Connection) -> ConsentState:
    row = conn.execute(
        "SELECT enabled, consent_text_version, created_at FROM consent ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return ConsentState(False)
    return ConsentState(bool(row[0]), row[1], row[2])


# --- library search --------------------------------------------------------------------

_TOKEN = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """An FTS5 query matching every word of ``text`` as a prefix, or None if it has none."""
    tokens = _TOKEN.findall(text)
    if not tokens:
        return None
    return " ".join('"' + token.replace('"', '""') + '"*' for token in tokens)


def library(conn: sqlite3.Connection, query: str = "") -> list[LibraryEntry]:
    """Recordings, newest first; with ``query``, those whose name or text matches it."""
    query = query.strip()
    matches: dict[int, str | None] = {}
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        for (rid,) in conn.execute(
            "SELECT id FROM recordings WHERE name LIKE ? ESCAPE '\\' OR path LIKE ? ESCAPE '\\'",
            (pattern, pattern),
        ):
            matches[rid] = None
        fts = fts_query(query)
        if fts is not None:
            rows = conn.execute(
                """
                SELECT t.recording_id, snippet(segments_fts, 0, '[', ']', '…', 10)
                FROM segments_fts
                JOIN segments AS s ON s.id = segments_fts.rowid
                JOIN transcripts AS t ON t.id = s.transcript_id
                WHERE segments_fts MATCH ?
                ORDER BY rank
                LIMIT 2000
                """,
                (fts,),
            )
            for rid, excerpt in rows:
                if matches.get(rid) is None:
                    matches[rid] = excerpt
        if not matches:
            return []
        found = [r for r in recordings(conn) if r.id in matches]
    else:
        found = recordings(conn)
    found.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    by_recording: dict[int, list[TranscriptSummary]] = {r.id: [] for r in found}
    for summary in transcripts(conn, recording_ids=by_recording):
        by_recording[summary.recording_id].append(summary)
    return [LibraryEntry(r, tuple(by_recording[r.id]), matches.get(r.id)) for r in found]


# --- statistics ------------------------------------------------------------------------


def stats(conn: sqlite3.Connection, database: Path | None = None) -> StoreStats:
    def count(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0] or 0)

    size = 0
    if database is not None:
        for suffix in ("", "-wal"):
            candidate = Path(f"{database}{suffix}")
            if candidate.exists():
                size += candidate.stat().st_size
    edited = count(
        """
        SELECT count(*) FROM segments AS s LEFT JOIN asr_segments AS a ON a.id = s.asr_segment_id
        WHERE s.origin = 'insert' OR s.text != COALESCE(s.hyp_text, a.text)
        """
    )
    return StoreStats(
        recordings=count("SELECT count(*) FROM recordings"),
        transcripts=count("SELECT count(*) FROM transcripts"),
        segments=count("SELECT count(*) FROM segments"),
        reviewed_segments=count("SELECT count(*) FROM segments WHERE reviewed = 1"),
        edited_segments=edited,
        edits=count("SELECT count(*) FROM edits"),
        review_signals=count("SELECT count(*) FROM review_signals"),
        snippets=count("SELECT count(*) FROM snippets"),
        snippet_bytes=count("SELECT sum(size_bytes) FROM snippets"),
        database_bytes=size,
        schema_version=schema_version(conn),
        consent=consent(conn),
    )
