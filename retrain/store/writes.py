"""Write jobs other than edits. Each runs on the writer, inside its transaction."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.types import MediaInfo, Segment, TranscribeOptions
from retrain.errors import InvalidEditError, NotFoundError
from retrain.store import positions
from retrain.store.edits import insert_asr_segment
from retrain.store.models import REVIEW_KINDS, TRANSCRIPT_STATUSES, ConsentState


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def add_recording(
    conn: sqlite3.Connection,
    path: str | Path,
    *,
    sha256: str,
    media: MediaInfo | None = None,
    size_bytes: int | None = None,
    loudness_dbfs: float | None = None,
    owned: bool = False,
) -> int:
    """Insert a recording, or return the existing one with the same content (path updated)."""
    path = Path(path)
    existing = conn.execute("SELECT id FROM recordings WHERE sha256 = ?", (sha256,)).fetchone()
    if existing is not None:
        conn.execute(
            "UPDATE recordings SET path = ?, name = ? WHERE id = ?",
            (str(path), path.name, existing[0]),
        )
        return int(existing[0])
    cursor = conn.execute(
        "INSERT INTO recordings (path, name, sha256, size_bytes, duration, container, codec, "
        "sample_rate, channels, loudness_dbfs, owned, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            str(path),
            path.name,
            sha256,
            size_bytes,
            media.duration if media else None,
            media.container if media else None,
            media.codec if media else None,
            media.sample_rate if media else None,
            media.channels if media else None,
            loudness_dbfs,
            int(owned),
            utc_now(),
        ),
    )
    return int(cursor.lastrowid)


def set_recording_loudness(conn: sqlite3.Connection, recording_id: int, dbfs: float) -> None:
    conn.execute("UPDATE recordings SET loudness_dbfs = ? WHERE id = ?", (dbfs, recording_id))


def options_json(options: TranscribeOptions | Mapping[str, Any] | None) -> str:
    if options is None:
        data: dict[str, Any] = {}
    elif dataclasses.is_dataclass(options):
        data = dataclasses.asdict(options)  # type: ignore[arg-type]
    else:
        data = dict(options)
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def create_transcript(
    conn: sqlite3.Connection,
    recording_id: int,
    model_version: str,
    backend: str,
    options: TranscribeOptions | Mapping[str, Any] | None = None,
    *,
    language: str | None = None,
    status: str = "queued",
) -> int:
    if status not in TRANSCRIPT_STATUSES:
        raise ValueError(f"unknown transcript status {status!r}")
    if conn.execute("SELECT 1 FROM recordings WHERE id = ?", (recording_id,)).fetchone() is None:
        raise NotFoundError(f"recording {recording_id} does not exist any more.")
    now = utc_now()
    cursor = conn.execute(
        "INSERT INTO transcripts (recording_id, model_version, backend, options_json, language, "
        "status, created_at, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            recording_id,
            model_version,
            backend,
            options_json(options),
            language,
            status,
            now,
            now if status == "running" else None,
            now,
        ),
    )
    return int(cursor.lastrowid)


def set_transcript_status(
    conn: sqlite3.Connection,
    transcript_id: int,
    status: str,
    error: str | None = None,
    *,
    model_version: str | None = None,
    language: str | None = None,
) -> None:
    """Move a transcript to ``status``; ``started_at``/``finished_at`` are set on the way."""
    if status not in TRANSCRIPT_STATUSES:
        raise ValueError(f"unknown transcript status {status!r}")
    now = utc_now()
    cursor = conn.execute(
        """
        UPDATE transcripts SET
            status = ?, error = ?, updated_at = ?,
            started_at = CASE WHEN ? = 'running' AND started_at IS NULL THEN ? ELSE started_at END,
            finished_at = CASE WHEN ? IN ('done', 'failed', 'cancelled') THEN ?
                          ELSE finished_at END,
            model_version = COALESCE(?, model_version),
            language = COALESCE(?, language)
        WHERE id = ?
        """,
        (status, error, now, status, now, status, now, model_version, language, transcript_id),
    )
    if cursor.rowcount == 0:
        raise NotFoundError(f"transcript {transcript_id} does not exist any more.")


def append_segments(
    conn: sqlite3.Connection,
    transcript_id: int,
    segments: Sequence[Segment],
    *,
    model_version: str | None = None,
) -> list[int]:
    """Store model output: an immutable ASR row and a fresh current-state row per segment."""
    row = conn.execute(
        "SELECT model_version FROM transcripts WHERE id = ?", (transcript_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"transcript {transcript_id} does not exist any more.")
    version = model_version or row[0]
    next_idx, last_position = conn.execute(
        "SELECT (SELECT COALESCE(max(idx), -1) + 1 FROM asr_segments WHERE transcript_id = ?), "
        "(SELECT max(position) FROM segments WHERE transcript_id = ?)",
        (transcript_id, transcript_id),
    ).fetchone()
    now = utc_now()
    ids: list[int] = []
    for offset, segment in enumerate(segments):
        asr_id = insert_asr_segment(conn, transcript_id, next_idx + offset, segment, version)
        last_position = positions.after(last_position)
        cursor = conn.execute(
            "INSERT INTO segments (transcript_id, asr_segment_id, position, origin, start_sec, "
            "end_sec, text, updated_at) VALUES (?, ?, ?, 'asr', ?, ?, ?, ?)",
            (
                transcript_id,
                asr_id,
                last_position,
                round(float(segment.start), 3),
                round(float(segment.end), 3),
                segment.text.strip(),
                now,
            ),
        )
        ids.append(int(cursor.lastrowid))
    conn.execute("UPDATE transcripts SET updated_at = ? WHERE id = ?", (now, transcript_id))
    return ids


def _segment_ids(
    conn: sqlite3.Connection, transcript_id: int, segment_ids: Sequence[int] | None
) -> list[int]:
    if conn.execute("SELECT 1 FROM transcripts WHERE id = ?", (transcript_id,)).fetchone() is None:
        raise NotFoundError(f"transcript {transcript_id} does not exist any more.")
    if segment_ids is None:
        return [
            sid
            for (sid,) in conn.execute(
                "SELECT id FROM segments WHERE transcript_id = ? ORDER BY position, id",
                (transcript_id,),
            )
        ]
    wanted = list(dict.fromkeys(segment_ids))
    found = (
        {
            sid
            for (sid,) in conn.execute(
                f"SELECT id FROM segments WHERE transcript_id = ? "
                f"AND id IN ({','.join('?' * len(wanted))})",
                (transcript_id, *wanted),
            )
        }
        if wanted
        else set()
    )
    missing = [sid for sid in wanted if sid not in found]
    if missing:
        raise NotFoundError(
            f"segment {missing[0]} is not in transcript {transcript_id} any more; "
            "reopen the transcript."
        )
    return wanted


def mark_verified(
    conn: sqlite3.Connection,
    transcript_id: int,
    segment_ids: Sequence[int] | None = None,
    *,
    verified: bool = True,
) -> list[int]:
    """Mark segments (``None``: the whole transcript) verified, or take the mark back."""
    ids = _segment_ids(conn, transcript_id, segment_ids)
    now = utc_now()
    kind = "verified" if verified else "unverified"
    for sid in ids:
        if verified:
            conn.execute(
                "UPDATE segments SET reviewed = 1, review_source = 'verified', reviewed_at = ?, "
                "updated_at = ? WHERE id = ?",
                (now, now, sid),
            )
        else:
            conn.execute(
                "UPDATE segments SET reviewed = 0, review_source = NULL, reviewed_at = NULL, "
                "updated_at = ? WHERE id = ?",
                (now, sid),
            )
    _add_signals(conn, transcript_id, kind, None if segment_ids is None else ids, None, now)
    return ids


def record_review_signal(
    conn: sqlite3.Connection,
    transcript_id: int,
    kind: str,
    segment_ids: Sequence[int] | None = None,
    detail: Mapping[str, Any] | None = None,
) -> list[int]:
    """Record that a person looked at segments; ``played`` marks them reviewed.

    ``played``: the segments were played through and left unchanged (the editor
    decides that). ``exported``: the transcript was exported (``detail`` may say the
    format); it is recorded but does not mark segments reviewed.
    """
    if kind not in REVIEW_KINDS:
        raise InvalidEditError(f"unknown review signal {kind!r}.")
    if kind in ("verified", "unverified"):
        return mark_verified(conn, transcript_id, segment_ids, verified=kind == "verified")
    now = utc_now()
    ids = _segment_ids(conn, transcript_id, segment_ids) if segment_ids is not None else []
    if kind == "played":
        for sid in ids:
            conn.execute(
                "UPDATE segments SET reviewed = 1, review_source = 'played', reviewed_at = ?, "
                "updated_at = ? WHERE id = ? AND reviewed = 0",
                (now, now, sid),
            )
    _add_signals(conn, transcript_id, kind, ids if segment_ids is not None else None, detail, now)
    return ids


def _add_signals(
    conn: sqlite3.Connection,
    transcript_id: int,
    kind: str,
    segment_ids: Sequence[int] | None,
    detail: Mapping[str, Any] | None,
    now: str,
) -> None:
    detail_json = json.dumps(dict(detail), sort_keys=True) if detail else None
    targets: Sequence[int | None] = [None] if segment_ids is None else segment_ids
    conn.executemany(
        "INSERT INTO review_signals (transcript_id, segment_id, kind, detail_json, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [(transcript_id, sid, kind, detail_json, now) for sid in targets],
    )


def set_consent(
    conn: sqlite3.Connection, enabled: bool, consent_text_version: str
) -> tuple[ConsentState, list[str]]:
    """Record the opt-in state. Opting out deletes every snippet row.

    Returns the new state and the snippet paths (relative) whose files must go.
    """
    now = utc_now()
    conn.execute(
        "INSERT INTO consent (enabled, consent_text_version, created_at) VALUES (?, ?, ?)",
        (int(enabled), consent_text_version, now),
    )
    doomed: list[str] = []
    if not enabled:
        doomed = [p for (p,) in conn.execute("SELECT path FROM snippets")]
        conn.execute("DELETE FROM snippets")
    return ConsentState(enabled, consent_text_version, now), doomed


def record_transcription_run(
    conn: sqlite3.Connection,
    *,
    transcript_id: int | None,
    model_version: str,
    backend: str,
    audio_seconds: float,
    wall_seconds: float,
    peak_rss_mb: float | None = None,
) -> int:
    rtf = wall_seconds / audio_seconds if audio_seconds > 0 else None
    cursor = conn.execute(
        "INSERT INTO transcription_runs (transcript_id, model_version, backend, audio_seconds, "
        "wall_seconds, rtf, peak_rss_mb, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            transcript_id,
            model_version,
            backend,
            audio_seconds,
            wall_seconds,
            rtf,
            peak_rss_mb,
            utc_now(),
        ),
    )
    return int(cursor.lastrowid)


def start_job_run(conn: sqlite3.Connection, job: str, pid: int | None = None) -> int:
    cursor = conn.execute(
        "INSERT INTO job_runs (job, started_at, outcome, pid) VALUES (?, ?, 'running', ?)",
        (job, utc_now(), pid),
    )
    return int(cursor.lastrowid)


def finish_job_run(
    conn: sqlite3.Connection, job_run_id: int, outcome: str, message: str | None = None
) -> None:
    conn.execute(
        "UPDATE job_runs SET finished_at = ?, outcome = ?, message = ? WHERE id = ?",
        (utc_now(), outcome, message, job_run_id),
    )
