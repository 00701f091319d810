"""The edit model: what the editor can do to a transcript, and how it is logged.

Edits are frozen dataclasses. ``apply(conn, transcript_id, edit)`` runs on the
writer, inside one transaction: it changes the ``segments`` rows and appends one
entry to the ``edits`` log, or (on any error) nothing at all.

Every log entry's ``payload_json`` is ``{"op": {...}, "changes": [...]}``:
``op`` holds the edit's parameters as given; ``changes`` lists each ``segments`` row
it touched, in order, as ``{"id": row id, "before": {...} | null, "after": {...} | null}``
(``null`` before: the row was created; ``null`` after: it was deleted; otherwise
only the columns that changed). Undo writes the ``before`` side of the changes in
reverse order, redo the ``after`` side, each after checking that the rows still look
as the edit left them (else :class:`EditConflictError`). Re-created rows keep their
ids and position keys, so later log entries stay valid. Review columns (``reviewed``,
``review_source``, ``reviewed_at``) are "soft": undo restores them only if nobody
changed them since, and they never block an undo.

Positions and indexes: ``SplitSegment.at_char`` is an index into the segment's
current text in Python ``str`` terms (code points). Qt's text positions count
UTF-16 units; convert before sending an edit if the text may contain characters
outside the Basic Multilingual Plane (emoji).

What counts as reviewed: editing a segment's text marks it reviewed with source
``edited`` (if it was not reviewed already); an inserted segment is reviewed (the
user typed it); a re-transcribed segment is unreviewed (it is new model output).
Splitting keeps the review state on both parts; a merged segment is reviewed only if
both parts were.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from engine.types import Segment
from retrain.errors import (
    EditConflictError,
    InvalidEditError,
    NotFoundError,
    NothingToUndoError,
)
from retrain.store import history, positions, words

HARD_COLUMNS = (
    "transcript_id",
    "asr_segment_id",
    "position",
    "origin",
    "start_sec",
    "end_sec",
    "text",
    "speaker",
    "hyp_text",
    "hyp_start_sec",
    "hyp_end_sec",
    "hyp_words_json",
)
SOFT_COLUMNS = ("reviewed", "review_source", "reviewed_at")
ROW_COLUMNS = HARD_COLUMNS + SOFT_COLUMNS


# --- the edits -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextEdit:
    """Replace a segment's text; ``before`` must be its current text."""

    segment_id: int
    before: str
    after: str
    kind: ClassVar[str] = "text"


@dataclass(frozen=True, slots=True)
class SpeakerEdit:
    segment_id: int
    before: str | None
    after: str | None
    kind: ClassVar[str] = "speaker"


@dataclass(frozen=True, slots=True)
class SplitSegment:
    """Split at ``at_char`` of the text and ``at_time`` (seconds) of the span."""

    segment_id: int
    at_char: int
    at_time: float
    kind: ClassVar[str] = "split"


@dataclass(frozen=True, slots=True)
class MergeSegments:
    """Merge a segment with the one right after it."""

    segment_id: int
    next_segment_id: int
    kind: ClassVar[str] = "merge"


@dataclass(frozen=True, slots=True)
class Retime:
    """New start and end; the log records the old ones."""

    segment_id: int
    start: float
    end: float
    kind: ClassVar[str] = "retime"


@dataclass(frozen=True, slots=True)
class InsertSegment:
    """A new segment typed by the user, after ``after_segment_id`` (``None``: at the top)."""

    after_segment_id: int | None
    start: float
    end: float
    text: str
    speaker: str | None = None
    kind: ClassVar[str] = "insert"


@dataclass(frozen=True, slots=True)
class DeleteSegment:
    segment_id: int
    kind: ClassVar[str] = "delete"


@dataclass(frozen=True, slots=True)
class RetranscribeSegment:
    """New model output for a segment's span (times absolute in the recording).

    The output is stored as a new immutable ASR row made by ``model_version``; the
    segment's text becomes that output and is unreviewed again.
    """

    segment_id: int
    segment: Segment
    model_version: str
    kind: ClassVar[str] = "retranscribe"


@dataclass(frozen=True, slots=True)
class Batch:
    """Several edits as one undoable step (e.g. "replace all")."""

    edits: tuple[Edit, ...]
    label: str = "replace all"
    kind: ClassVar[str] = "batch"


Edit = (
    TextEdit
    | SpeakerEdit
    | SplitSegment
    | MergeSegments
    | Retime
    | InsertSegment
    | DeleteSegment
    | RetranscribeSegment
    | Batch
)


# --- recording row changes -------------------------------------------------------------


class _Changes:
    """Writes ``segments`` rows and records each change for the log."""

    def __init__(self, conn: sqlite3.Connection, transcript_id: int, now: str) -> None:
        self.conn = conn
        self.transcript_id = transcript_id
        self.now = now
        self.items: list[dict[str, Any]] = []

    def row(self, segment_id: int) -> dict[str, Any]:
        row = _read_row(self.conn, segment_id)
        if row is None or row["transcript_id"] != self.transcript_id:
            raise NotFoundError(
                f"segment {segment_id} is not in transcript {self.transcript_id} any more; "
                "reopen the transcript."
            )
        return row

    def update(self, segment_id: int, **values: Any) -> None:
        current = self.row(segment_id)
        before = {k: current[k] for k, v in values.items() if current[k] != v}
        if not before:
            return
        after = {k: values[k] for k in before}
        _write_update(self.conn, segment_id, after, self.now)
        self.items.append({"id": segment_id, "before": before, "after": after})

    def insert(self, values: dict[str, Any]) -> int:
        full = {column: values.get(column) for column in ROW_COLUMNS}
        full["transcript_id"] = self.transcript_id
        full["reviewed"] = int(full["reviewed"] or 0)
        segment_id = _write_insert(self.conn, None, full, self.now)
        self.items.append({"id": segment_id, "before": None, "after": full})
        return segment_id

    def delete(self, segment_id: int) -> None:
        current = self.row(segment_id)
        self.conn.execute("DELETE FROM segments WHERE id = ?", (segment_id,))
        self.items.append({"id": segment_id, "before": current, "after": None})


def _read_row(conn: sqlite3.Connection, segment_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        f"SELECT {', '.join(ROW_COLUMNS)} FROM segments WHERE id = ?", (segment_id,)
    ).fetchone()
    return None if row is None else dict(zip(ROW_COLUMNS, row, strict=True))


def _write_update(
    conn: sqlite3.Connection, segment_id: int, values: dict[str, Any], now: str
) -> None:
    assignments = ", ".join(f"{k} = ?" for k in values)
    conn.execute(
        f"UPDATE segments SET {assignments}, updated_at = ? WHERE id = ?",
        (*values.values(), now, segment_id),
    )


def _write_insert(
    conn: sqlite3.Connection, segment_id: int | None, values: dict[str, Any], now: str
) -> int:
    columns = ["id", *ROW_COLUMNS, "updated_at"]
    params = [segment_id, *(values[c] for c in ROW_COLUMNS), now]
    cursor = conn.execute(
        f"INSERT INTO segments ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        params,
    )
    return int(cursor.lastrowid)


def _matches(current: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(current.get(k) == v for k, v in expected.items() if k in HARD_COLUMNS)


def replay(
    conn: sqlite3.Connection, changes: Sequence[dict[str, Any]], *, forward: bool, now: str
) -> tuple[list[int], list[int]]:
    """Re-apply (``forward``) or revert logged changes. Returns (touched ids, removed ids)."""
    touched: list[int] = []
    removed: list[int] = []
    for change in changes if forward else reversed(changes):
        segment_id = change["id"]
        target = change["after"] if forward else change["before"]
        expected = change["before"] if forward else change["after"]
        current = _read_row(conn, segment_id)
        if expected is None:
            if current is not None:
                raise EditConflictError()
            _write_insert(conn, segment_id, target, now)
            touched.append(segment_id)
            continue
        if current is None or not _matches(current, expected):
            raise EditConflictError()
        if target is None:
            conn.execute("DELETE FROM segments WHERE id = ?", (segment_id,))
            removed.append(segment_id)
            continue
        values = {k: v for k, v in target.items() if k in HARD_COLUMNS}
        soft_expected = {k: v for k, v in expected.items() if k in SOFT_COLUMNS}
        if soft_expected and all(current[k] == v for k, v in soft_expected.items()):
            values.update({k: v for k, v in target.items() if k in SOFT_COLUMNS})
        if values:
            _write_update(conn, segment_id, values, now)
        touched.append(segment_id)
    return touched, removed


# --- applying edits --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Applied:
    """What one applied (or undone / redone) edit did, before it is turned into views."""

    edit_id: int | None
    kind: str
    touched: tuple[int, ...]
    removed: tuple[int, ...]
    stacks: history.Stacks
    target_edit_id: int | None = None


HistorySource = Callable[[sqlite3.Connection, int], history.Stacks]


def apply(
    conn: sqlite3.Connection,
    transcript_id: int,
    edit: Edit,
    now: str,
    stacks_of: HistorySource = history.load,
) -> Applied:
    """Apply ``edit`` and log it. Must run inside the writer's transaction."""
    _require_transcript(conn, transcript_id)
    changes = _Changes(conn, transcript_id, now)
    op = _apply_one(changes, edit)
    stacks = stacks_of(conn, transcript_id)
    if not changes.items:
        return Applied(None, edit.kind, (), (), stacks)
    edit_id = _log(
        conn, transcript_id, edit.kind, _main_segment(edit), None, op, changes.items, now
    )
    stacks = _push(stacks, edit_id, edit)
    touched, removed = _summarize(changes.items)
    return Applied(edit_id, edit.kind, touched, removed, stacks)


def undo(
    conn: sqlite3.Connection,
    transcript_id: int,
    now: str,
    stacks_of: HistorySource = history.load,
) -> Applied:
    return _step(conn, transcript_id, now, stacks_of, forward=False)


def redo(
    conn: sqlite3.Connection,
    transcript_id: int,
    now: str,
    stacks_of: HistorySource = history.load,
) -> Applied:
    return _step(conn, transcript_id, now, stacks_of, forward=True)


def _step(
    conn: sqlite3.Connection,
    transcript_id: int,
    now: str,
    stacks_of: HistorySource,
    *,
    forward: bool,
) -> Applied:
    _require_transcript(conn, transcript_id)
    stacks = stacks_of(conn, transcript_id)
    stack = stacks.redo if forward else stacks.undo
    if not stack:
        raise NothingToUndoError(
            "there is nothing to redo." if forward else "there is nothing to undo."
        )
    target = stack[-1]
    row = conn.execute(
        "SELECT segment_id, payload_json FROM edits WHERE id = ?", (target,)
    ).fetchone()
    payload = json.loads(row[1])
    touched, removed = replay(conn, payload["changes"], forward=forward, now=now)
    kind = history.REDO if forward else history.UNDO
    edit_id = _log(conn, transcript_id, kind, row[0], target, None, None, now)
    (stacks.undo if forward else stacks.redo).append(stack.pop())
    stacks.last_id = edit_id
    return Applied(edit_id, kind, tuple(touched), tuple(removed), stacks, target_edit_id=target)


def _push(stacks: history.Stacks, edit_id: int, edit: Edit) -> history.Stacks:
    stacks.last_id = edit_id
    stacks.kinds[edit_id] = edit.kind
    stacks.undo.append(edit_id)
    stacks.redo.clear()
    return stacks


def _summarize(items: Sequence[dict[str, Any]]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    final: dict[int, bool] = {}
    for change in items:
        final[change["id"]] = change["after"] is not None
    touched = tuple(i for i, alive in final.items() if alive)
    removed = tuple(i for i, alive in final.items() if not alive)
    return touched, removed


def _require_transcript(conn: sqlite3.Connection, transcript_id: int) -> None:
    if conn.execute("SELECT 1 FROM transcripts WHERE id = ?", (transcript_id,)).fetchone() is None:
        raise NotFoundError(
            f"transcript {transcript_id} does not exist any more; refresh the library."
        )


def _main_segment(edit: Edit) -> int | None:
    if isinstance(edit, Batch):
        return _main_segment(edit.edits[0]) if edit.edits else None
    if isinstance(edit, InsertSegment):
        return edit.after_segment_id
    return edit.segment_id


def _log(
    conn: sqlite3.Connection,
    transcript_id: int,
    kind: str,
    segment_id: int | None,
    target_edit_id: int | None,
    op: dict[str, Any] | None,
    changes: list[dict[str, Any]] | None,
    now: str,
) -> int:
    payload: dict[str, Any] = {}
    if op is not None:
        payload["op"] = op
    if changes is not None:
        payload["changes"] = changes
    cursor = conn.execute(
        "INSERT INTO edits (transcript_id, kind, segment_id, target_edit_id, payload_json, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            transcript_id,
            kind,
            segment_id,
            target_edit_id,
            json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
            now,
        ),
    )
    return int(cursor.lastrowid)


def _apply_one(changes: _Changes, edit: Edit) -> dict[str, Any]:
    handler = _HANDLERS.get(type(edit))
    if handler is None:
        raise InvalidEditError(f"unknown kind of edit: {type(edit).__name__}.")
    return handler(changes, edit)


def _text(changes: _Changes, edit: TextEdit) -> dict[str, Any]:
    row = changes.row(edit.segment_id)
    if row["text"] != edit.before:
        raise EditConflictError()
    values: dict[str, Any] = {"text": edit.after}
    if edit.after != edit.before and not row["reviewed"]:
        values.update(reviewed=1, review_source="edited", reviewed_at=changes.now)
    changes.update(edit.segment_id, **values)
    return {"segment_id": edit.segment_id, "before": edit.before, "after": edit.after}


def _speaker(changes: _Changes, edit: SpeakerEdit) -> dict[str, Any]:
    row = changes.row(edit.segment_id)
    if row["speaker"] != edit.before:
        raise EditConflictError()
    changes.update(edit.segment_id, speaker=edit.after)
    return asdict(edit)


def _check_span(start: float, end: float) -> tuple[float, float]:
    start, end = round(float(start), 3), round(float(end), 3)
    if not (start >= 0 and end > start):
        raise InvalidEditError(
            "a segment must start at or after 0 s and end after it starts; check the times."
        )
    return start, end


def _retime(changes: _Changes, edit: Retime) -> dict[str, Any]:
    start, end = _check_span(edit.start, edit.end)
    row = changes.row(edit.segment_id)
    changes.update(edit.segment_id, start_sec=start, end_sec=end)
    return {
        "segment_id": edit.segment_id,
        "before": [row["start_sec"], row["end_sec"]],
        "after": [start, end],
    }


def _hypothesis(conn: sqlite3.Connection, row: dict[str, Any]) -> dict[str, Any] | None:
    """The effective hypothesis of a row: its own ``hyp_*`` or its ASR segment's."""
    if row["origin"] == "insert":
        return None
    if row["hyp_text"] is not None:
        return {
            "text": row["hyp_text"],
            "start": row["hyp_start_sec"],
            "end": row["hyp_end_sec"],
            "words": words.decode(row["hyp_words_json"]),
        }
    if row["asr_segment_id"] is None:
        return None
    asr = conn.execute(
        "SELECT text, start_sec, end_sec, words_json FROM asr_segments WHERE id = ?",
        (row["asr_segment_id"],),
    ).fetchone()
    if asr is None:
        return None
    return {"text": asr[0], "start": asr[1], "end": asr[2], "words": words.decode(asr[3])}


def _split_text(text: str, fraction: float) -> tuple[str, str]:
    """Split ``text`` at the space nearest to ``fraction`` of its length."""
    if not text:
        return "", ""
    target = round(len(text) * min(max(fraction, 0.0), 1.0))
    spaces = [i for i, ch in enumerate(text) if ch.isspace()]
    if not spaces:
        return (text, "") if fraction >= 0.5 else ("", text)
    cut = min(spaces, key=lambda i: abs(i - target))
    return text[:cut].strip(), text[cut:].strip()


def _split(changes: _Changes, edit: SplitSegment) -> dict[str, Any]:
    row = changes.row(edit.segment_id)
    text = row["text"]
    at_time = round(float(edit.at_time), 3)
    if not 0 < edit.at_char < len(text):
        raise InvalidEditError("put the cursor inside the segment's text to split it there.")
    if not row["start_sec"] < at_time < row["end_sec"]:
        raise InvalidEditError(
            "the split time must fall inside the segment; pick a time within it."
        )
    left, right = text[: edit.at_char].rstrip(), text[edit.at_char :].lstrip()
    if not left or not right:
        raise InvalidEditError("splitting there would leave an empty segment; move the cursor.")
    hyp = _hypothesis(changes.conn, row)
    first: dict[str, Any] = {"text": left, "end_sec": at_time}
    second: dict[str, Any] = {
        k: row[k] for k in ("asr_segment_id", "speaker", "reviewed", "review_source", "reviewed_at")
    }
    second.update(text=right, start_sec=at_time, end_sec=row["end_sec"], origin=row["origin"])
    if hyp is not None:
        hyp_words = hyp["words"]
        if hyp_words:
            left_words, right_words = words.split_at(hyp_words, at_time)
            left_text, right_text = words.text_of(left_words), words.text_of(right_words)
        else:
            left_words = right_words = ()
            if hyp["text"] == text:
                left_text, right_text = left, right
            else:
                span = (hyp["end"] or 0) - (hyp["start"] or 0)
                fraction = (at_time - (hyp["start"] or 0)) / span if span > 0 else 0.5
                left_text, right_text = _split_text(hyp["text"], fraction)
        cut = min(max(at_time, hyp["start"]), hyp["end"])
        first.update(
            origin="split",
            hyp_text=left_text,
            hyp_start_sec=hyp["start"],
            hyp_end_sec=cut,
            hyp_words_json=words.encode(left_words),
        )
        second.update(
            origin="split",
            hyp_text=right_text,
            hyp_start_sec=cut,
            hyp_end_sec=hyp["end"],
            hyp_words_json=words.encode(right_words),
        )
    following = _next_position(changes.conn, row, edit.segment_id)
    second["position"] = positions.between(row["position"], following)
    changes.update(edit.segment_id, **first)
    new_id = changes.insert(second)
    return {
        "segment_id": edit.segment_id,
        "at_char": edit.at_char,
        "at_time": at_time,
        "new_segment_id": new_id,
    }


def _next_position(conn: sqlite3.Connection, row: dict[str, Any], segment_id: int) -> str | None:
    found = conn.execute(
        "SELECT position FROM segments WHERE transcript_id = ? AND "
        "(position > ? OR (position = ? AND id > ?)) ORDER BY position, id LIMIT 1",
        (row["transcript_id"], row["position"], row["position"], segment_id),
    ).fetchone()
    return None if found is None else found[0]


def _next_id(conn: sqlite3.Connection, row: dict[str, Any], segment_id: int) -> int | None:
    found = conn.execute(
        "SELECT id FROM segments WHERE transcript_id = ? AND "
        "(position > ? OR (position = ? AND id > ?)) ORDER BY position, id LIMIT 1",
        (row["transcript_id"], row["position"], row["position"], segment_id),
    ).fetchone()
    return None if found is None else found[0]


def _merge(changes: _Changes, edit: MergeSegments) -> dict[str, Any]:
    first = changes.row(edit.segment_id)
    second = changes.row(edit.next_segment_id)
    if _next_id(changes.conn, first, edit.segment_id) != edit.next_segment_id:
        raise InvalidEditError("only a segment and the one right after it can be merged.")
    values: dict[str, Any] = {
        "text": f"{first['text'].rstrip()} {second['text'].lstrip()}".strip(),
        "start_sec": min(first["start_sec"], second["start_sec"]),
        "end_sec": max(first["end_sec"], second["end_sec"]),
    }
    if not (first["reviewed"] and second["reviewed"]):
        values.update(reviewed=0, review_source=None, reviewed_at=None)
    hyp_a = _hypothesis(changes.conn, first)
    hyp_b = _hypothesis(changes.conn, second)
    if hyp_a is None or hyp_b is None:
        values["origin"] = "insert"
        kept = hyp_a or hyp_b
        if kept is not None:
            values.update(
                hyp_text=kept["text"],
                hyp_start_sec=kept["start"],
                hyp_end_sec=kept["end"],
                hyp_words_json=words.encode(kept["words"]),
            )
        if first["asr_segment_id"] is None:
            values["asr_segment_id"] = second["asr_segment_id"]
    else:
        values.update(
            origin="merge",
            hyp_text=f"{hyp_a['text'].rstrip()} {hyp_b['text'].lstrip()}".strip(),
            hyp_start_sec=hyp_a["start"],
            hyp_end_sec=hyp_b["end"],
            hyp_words_json=words.encode(hyp_a["words"] + hyp_b["words"]),
        )
    changes.update(edit.segment_id, **values)
    changes.delete(edit.next_segment_id)
    return asdict(edit)


def _insert(changes: _Changes, edit: InsertSegment) -> dict[str, Any]:
    start, end = _check_span(edit.start, edit.end)
    text = edit.text.strip()
    if not text:
        raise InvalidEditError("a new segment needs some text; type it first.")
    if edit.after_segment_id is None:
        first = changes.conn.execute(
            "SELECT position FROM segments WHERE transcript_id = ? ORDER BY position, id LIMIT 1",
            (changes.transcript_id,),
        ).fetchone()
        position = positions.between(None, first[0]) if first else positions.first()
    else:
        row = changes.row(edit.after_segment_id)
        position = positions.between(
            row["position"], _next_position(changes.conn, row, edit.after_segment_id)
        )
    new_id = changes.insert(
        {
            "position": position,
            "origin": "insert",
            "start_sec": start,
            "end_sec": end,
            "text": text,
            "speaker": edit.speaker,
            "reviewed": 1,
            "review_source": "edited",
            "reviewed_at": changes.now,
        }
    )
    return {
        "after_segment_id": edit.after_segment_id,
        "start": start,
        "end": end,
        "text": text,
        "speaker": edit.speaker,
        "new_segment_id": new_id,
    }


def _delete(changes: _Changes, edit: DeleteSegment) -> dict[str, Any]:
    changes.delete(edit.segment_id)
    return asdict(edit)


def _retranscribe(changes: _Changes, edit: RetranscribeSegment) -> dict[str, Any]:
    changes.row(edit.segment_id)
    conn = changes.conn
    (next_idx,) = conn.execute(
        "SELECT COALESCE(max(idx), -1) + 1 FROM asr_segments WHERE transcript_id = ?",
        (changes.transcript_id,),
    ).fetchone()
    asr_id = insert_asr_segment(
        conn, changes.transcript_id, next_idx, edit.segment, edit.model_version
    )
    changes.update(
        edit.segment_id,
        asr_segment_id=asr_id,
        origin="asr",
        text=edit.segment.text.strip(),
        hyp_text=None,
        hyp_start_sec=None,
        hyp_end_sec=None,
        hyp_words_json=None,
        reviewed=0,
        review_source=None,
        reviewed_at=None,
    )
    return {
        "segment_id": edit.segment_id,
        "asr_segment_id": asr_id,
        "model_version": edit.model_version,
    }


def _batch(changes: _Changes, edit: Batch) -> dict[str, Any]:
    if not edit.edits:
        raise InvalidEditError("there is nothing to change.")
    ops = []
    for sub in edit.edits:
        if isinstance(sub, Batch):
            raise InvalidEditError("batches cannot be nested.")
        ops.append({"kind": sub.kind, **_apply_one(changes, sub)})
    return {"label": edit.label, "edits": ops}


_HANDLERS: dict[type, Any] = {
    TextEdit: _text,
    SpeakerEdit: _speaker,
    SplitSegment: _split,
    MergeSegments: _merge,
    Retime: _retime,
    InsertSegment: _insert,
    DeleteSegment: _delete,
    RetranscribeSegment: _retranscribe,
    Batch: _batch,
}


def insert_asr_segment(
    conn: sqlite3.Connection, transcript_id: int, idx: int, segment: Segment, model_version: str
) -> int:
    cursor = conn.execute(
        "INSERT INTO asr_segments (transcript_id, idx, start_sec, end_sec, text, words_json, "
        "avg_logprob, no_speech_prob, compression_ratio, model_version) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            transcript_id,
            idx,
            round(float(segment.start), 3),
            round(float(segment.end), 3),
            segment.text.strip(),
            words.encode(segment.words),
            _finite_or_none(segment.avg_logprob),
            _finite_or_none(segment.no_speech_prob),
            _finite_or_none(segment.compression_ratio),
            model_version,
        ),
    )
    return int(cursor.lastrowid)


def _finite_or_none(value: float) -> float | None:
    """NaN becomes NULL (SQLite has no NaN): a NULL score means the engine reported NaN."""
    value = float(value)
    return None if value != value else value
