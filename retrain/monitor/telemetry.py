"""What the monitor reads from the store: reviewed and deleted segments, ASR output, runs,
versions.

Model versions are named as the registry names them: a personalized version by its id,
every base-model version (``transcripts.model_version`` such as ``base-tiny.en-…``) as
``"factory"``.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property, lru_cache
from typing import Any

import jiwer

from engine.scoring import ErrorCounts, normalize
from engine.types import Word
from retrain.registry import FACTORY
from retrain.store import Store, history
from retrain.store import words as word_codec


@lru_cache(maxsize=1 << 17)
def normalized(text: str) -> str:
    """``engine.scoring.normalize``, cached: the monitor sees the same texts every run."""
    return normalize(text)


@lru_cache(maxsize=1 << 17)
def field_counts(final: str, hypothesis: str) -> ErrorCounts:
    """``engine.scoring.error_counts(final, hypothesis)``, on cached normalized texts."""
    ref, hyp = normalized(final), normalized(hypothesis)
    if not ref:
        return ErrorCounts(0, 0, len(hyp.split()), 0)
    if not hyp:
        return ErrorCounts(0, len(ref.split()), 0, len(ref.split()))
    if ref == hyp:
        return ErrorCounts(0, 0, 0, len(ref.split()))
    out = jiwer.process_words(ref, hyp)
    return ErrorCounts(out.substitutions, out.deletions, out.insertions, len(ref.split()))


def parse_time(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        value = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def week_of(ts: str | None) -> str:
    """The Monday (ISO date) of the ISO week ``ts`` falls in."""
    moment = parse_time(ts)
    if moment is None:
        return "unknown"
    day: date = moment.date()
    return (day - timedelta(days=day.weekday())).isoformat()


@dataclass(frozen=True)
class ReviewedSegment:
    """One reviewed segment: the model's text for its span and the text the person kept.

    A segment the person deleted (``deleted``) kept nothing: ``final`` is empty, so every
    model word is an insertion (an error), and ``reviewed_at`` is when it was deleted.
    """

    segment_id: int
    transcript_id: int
    recording_id: int
    version: str
    raw_version: str
    hypothesis: str | None  # None: the person inserted the segment
    final: str
    words_json: str | None = field(repr=False)
    reviewed_at: str
    transcribed_at: str
    deleted: bool = False

    @cached_property
    def counts(self) -> ErrorCounts:
        """Word errors between the model's text and the kept text (field edit distance)."""
        return field_counts(self.final, self.hypothesis or "")

    @property
    def words(self) -> tuple[Word, ...]:
        return word_codec.decode(self.words_json)


@dataclass(frozen=True)
class AsrOutput:
    """One ASR segment with the recording's properties (for drift and health)."""

    asr_segment_id: int
    transcript_id: int
    recording_id: int
    version: str
    text: str
    start: float
    end: float
    avg_logprob: float | None
    no_speech_prob: float | None
    compression_ratio: float | None
    sample_rate: int | None
    loudness_dbfs: float | None
    transcribed_at: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class TranscriptionRun:
    version: str
    rtf: float | None
    peak_rss_mb: float | None
    created_at: str


@dataclass(frozen=True)
class TrainingRun:
    id: int
    started_at: str
    finished_at: str | None
    status: str
    champion_before: str | None
    champion_after: str | None
    reasons: tuple[str, ...]
    report: dict[str, Any]


def personal_versions(conn: sqlite3.Connection) -> set[str]:
    return {v for (v,) in conn.execute("SELECT version FROM model_versions WHERE kind='personal'")}


def version_name(raw: str | None, personal: set[str]) -> str:
    return raw if raw in personal else FACTORY


_REVIEWED_SQL = """
SELECT s.id, s.transcript_id, t.recording_id,
       COALESCE(a.model_version, t.model_version),
       CASE WHEN s.origin = 'insert' THEN NULL ELSE COALESCE(s.hyp_text, a.text) END,
       s.text, COALESCE(s.hyp_words_json, a.words_json),
       COALESCE(s.reviewed_at, s.updated_at), t.created_at
FROM segments AS s
JOIN transcripts AS t ON t.id = s.transcript_id
LEFT JOIN asr_segments AS a ON a.id = s.asr_segment_id
WHERE s.reviewed = 1
ORDER BY COALESCE(s.reviewed_at, s.updated_at), s.id
"""


def reviewed_segments(store: Store) -> list[ReviewedSegment]:
    """Every reviewed segment, oldest review first."""

    def query(conn: sqlite3.Connection) -> list[ReviewedSegment]:
        personal = personal_versions(conn)
        return [
            ReviewedSegment(
                segment_id=r[0],
                transcript_id=r[1],
                recording_id=r[2],
                version=version_name(r[3], personal),
                raw_version=r[3],
                hypothesis=r[4],
                final=r[5],
                words_json=r[6],
                reviewed_at=r[7],
                transcribed_at=r[8],
            )
            for r in conn.execute(_REVIEWED_SQL)
        ]

    return store.read(query)


# Log entries that delete segments: ``delete`` edits, and "replace all" batches holding one
# (their payload is compact JSON, so a delete among the batch's edits reads as below).
_DELETE_ENTRIES_SQL = """
SELECT e.id, e.transcript_id, e.kind, e.payload_json, e.created_at, t.recording_id,
       t.model_version, t.created_at
FROM edits AS e
JOIN transcripts AS t ON t.id = e.transcript_id
WHERE e.kind = 'delete' OR (e.kind = 'batch' AND instr(e.payload_json, '"kind":"delete"') > 0)
ORDER BY e.id
"""


def _deleted_ids(kind: str, op: dict[str, Any]) -> list[int]:
    """The segments a ``delete`` edit or a batch's ``delete`` edits named (not the second
    segment of a merge, which the log also records as a removed row)."""
    if kind == "delete":
        return [int(op["segment_id"])]
    return [int(e["segment_id"]) for e in op.get("edits", ()) if e.get("kind") == "delete"]


def _in_effect(conn: sqlite3.Connection, transcript_id: int) -> tuple[set[int], dict[int, str]]:
    """Edits of a transcript in effect now (undone ones are not), and when each was last
    redone."""
    stacks = history.load(conn, transcript_id)
    redone = dict(
        conn.execute(
            "SELECT target_edit_id, max(created_at) FROM edits "
            "WHERE transcript_id = ? AND kind = ? GROUP BY target_edit_id",
            (transcript_id, history.REDO),
        ).fetchall()
    )
    return set(stacks.undo), redone


def deleted_segments(store: Store) -> list[ReviewedSegment]:
    """Model segments the person deleted (and did not undo), oldest delete first.

    Read from the edit log: a delete records the row's whole ``before`` state, whose
    hypothesis (``hyp_text``/``hyp_words_json``, else its immutable ASR segment's text and
    words) is what the model said there. Segments the person typed (``origin`` insert)
    had no model text and are left out, as are merges (no ``delete`` edit) and deletes
    that were undone (not in effect in the log's undo history).
    """

    def query(conn: sqlite3.Connection) -> list[ReviewedSegment]:
        personal = personal_versions(conn)
        entries = conn.execute(_DELETE_ENTRIES_SQL).fetchall()
        effects: dict[int, tuple[set[int], dict[int, str]]] = {}
        out: list[ReviewedSegment] = []
        for edit_id, transcript_id, kind, payload_json, created_at, rec, t_version, t_at in entries:
            if transcript_id not in effects:
                effects[transcript_id] = _in_effect(conn, transcript_id)
            in_effect, redone = effects[transcript_id]
            if edit_id not in in_effect:
                continue
            payload = json.loads(payload_json)
            removed = {c["id"]: c["before"] for c in payload["changes"] if c["after"] is None}
            for segment_id in _deleted_ids(kind, payload["op"]):
                before = removed.get(segment_id)
                if before is None or before.get("origin") == "insert":
                    continue
                if conn.execute("SELECT 1 FROM segments WHERE id = ?", (segment_id,)).fetchone():
                    continue  # back in the transcript: not deleted
                asr = None
                if before.get("asr_segment_id") is not None:
                    asr = conn.execute(
                        "SELECT text, words_json, model_version FROM asr_segments WHERE id = ?",
                        (before["asr_segment_id"],),
                    ).fetchone()
                hypothesis = before.get("hyp_text")
                if hypothesis is None and asr is not None:
                    hypothesis = asr[0]
                if hypothesis is None:
                    continue
                raw_version = asr[2] if asr is not None else t_version
                out.append(
                    ReviewedSegment(
                        segment_id=segment_id,
                        transcript_id=transcript_id,
                        recording_id=rec,
                        version=version_name(raw_version, personal),
                        raw_version=raw_version,
                        hypothesis=hypothesis,
                        final="",
                        words_json=before.get("hyp_words_json")
                        or (asr[1] if asr is not None else None),
                        reviewed_at=redone.get(edit_id, created_at),
                        transcribed_at=t_at,
                        deleted=True,
                    )
                )
        out.sort(key=lambda s: (s.reviewed_at, s.segment_id))
        return out

    return store.read(query)


def field_segments(
    reviewed: list[ReviewedSegment], deleted: list[ReviewedSegment]
) -> list[ReviewedSegment]:
    """What the field edit rate counts: reviewed segments and deleted model segments, in
    the order they were reviewed or deleted."""
    return sorted(reviewed + deleted, key=lambda s: (s.reviewed_at or "", s.segment_id))


_ASR_SQL = """
SELECT a.id, a.transcript_id, t.recording_id, a.model_version, a.text, a.start_sec, a.end_sec,
       a.avg_logprob, a.no_speech_prob, a.compression_ratio, r.sample_rate, r.loudness_dbfs,
       t.created_at
FROM asr_segments AS a
JOIN transcripts AS t ON t.id = a.transcript_id
JOIN recordings AS r ON r.id = t.recording_id
"""


def _real(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def asr_outputs(
    store: Store, *, since: str | None = None, segment_ids: list[int] | None = None
) -> list[AsrOutput]:
    """ASR output transcribed since ``since``, or behind the given current segments."""

    def query(conn: sqlite3.Connection) -> list[AsrOutput]:
        personal = personal_versions(conn)
        if segment_ids is not None:
            rows = []
            for start in range(0, len(segment_ids), 500):
                chunk = segment_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows += conn.execute(
                    _ASR_SQL + f" WHERE a.id IN (SELECT asr_segment_id FROM segments "
                    f"WHERE id IN ({marks}))",
                    chunk,
                ).fetchall()
        elif since is not None:
            rows = conn.execute(_ASR_SQL + " WHERE t.created_at >= ?", (since,)).fetchall()
        else:
            rows = conn.execute(_ASR_SQL).fetchall()
        return [
            AsrOutput(
                r[0],
                r[1],
                r[2],
                version_name(r[3], personal),
                r[4],
                r[5],
                r[6],
                _real(r[7]),
                _real(r[8]),
                _real(r[9]),
                r[10],
                r[11],
                r[12],
            )
            for r in rows
        ]

    return store.read(query)


def transcription_runs(store: Store) -> list[TranscriptionRun]:
    def query(conn: sqlite3.Connection) -> list[TranscriptionRun]:
        personal = personal_versions(conn)
        return [
            TranscriptionRun(version_name(r[0], personal), r[1], r[2], r[3])
            for r in conn.execute(
                "SELECT model_version, rtf, peak_rss_mb, created_at FROM transcription_runs "
                "ORDER BY created_at, id"
            )
        ]

    return store.read(query)


def training_runs(store: Store) -> list[TrainingRun]:
    """Every training run, oldest first."""

    def query(conn: sqlite3.Connection) -> list[TrainingRun]:
        out = []
        for r in conn.execute(
            "SELECT id, started_at, finished_at, status, champion_before, champion_after, "
            "reasons_json, report_json FROM training_runs ORDER BY id"
        ):
            try:
                reasons = tuple(str(x) for x in json.loads(r[6] or "[]"))
            except (json.JSONDecodeError, TypeError):
                reasons = ()
            try:
                body = json.loads(r[7] or "{}")
            except json.JSONDecodeError:
                body = {}
            out.append(TrainingRun(r[0], r[1], r[2], r[3], r[4], r[5], reasons, body or {}))
        return out

    return store.read(query)


def training_example_segments(store: Store, run_id: int) -> list[tuple[int, str]]:
    """(segment id, role) of every example a training run used."""
    return store.read(
        lambda c: c.execute(
            "SELECT segment_id, role FROM training_examples WHERE training_run_id = ?",
            (run_id,),
        ).fetchall()
    )


def now_text(now: datetime | None) -> str:
    return format_time(now or datetime.now(UTC))
