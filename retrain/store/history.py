"""Undo and redo stacks, derived from the edit log alone.

The log is append-only. An ordinary edit ``E`` is pushed on the undo stack and
clears the redo stack (a new edit forks history, as in every editor). An ``undo``
entry names the edit it reverted (``target_edit_id``): it pops that edit from the
undo stack and pushes it on the redo stack. A ``redo`` entry pops its target from
the redo stack and pushes it back on the undo stack. Replaying the entries of one
transcript in ``id`` order therefore rebuilds both stacks exactly, after any number
of restarts; nothing else is stored.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from retrain.store.models import UndoState

UNDO = "undo"
REDO = "redo"


@dataclass(slots=True)
class Stacks:
    undo: list[int] = field(default_factory=list)
    redo: list[int] = field(default_factory=list)
    kinds: dict[int, str] = field(default_factory=dict)
    last_id: int | None = None  # the last log entry these stacks include

    def state(self) -> UndoState:
        undo_id = self.undo[-1] if self.undo else None
        redo_id = self.redo[-1] if self.redo else None
        return UndoState(
            can_undo=undo_id is not None,
            can_redo=redo_id is not None,
            undo_kind=self.kinds.get(undo_id) if undo_id is not None else None,
            redo_kind=self.kinds.get(redo_id) if redo_id is not None else None,
            undo_edit_id=undo_id,
            redo_edit_id=redo_id,
        )


def derive(entries: Iterable[tuple[int, str, int | None]], stacks: Stacks | None = None) -> Stacks:
    """Stacks from ``(id, kind, target_edit_id)`` rows in log order (continuing ``stacks``)."""
    stacks = stacks if stacks is not None else Stacks()
    for edit_id, kind, target in entries:
        stacks.last_id = edit_id
        if kind == UNDO:
            _move(target, stacks.undo, stacks.redo)
        elif kind == REDO:
            _move(target, stacks.redo, stacks.undo)
        else:
            stacks.kinds[edit_id] = kind
            stacks.undo.append(edit_id)
            stacks.redo.clear()
    return stacks


def _move(target: int | None, source: list[int], destination: list[int]) -> None:
    if target is None:
        return
    if source and source[-1] == target:
        source.pop()
    elif target in source:  # never written by this code; tolerate a hand-edited log
        source.remove(target)
    destination.append(target)


def load(conn: sqlite3.Connection, transcript_id: int) -> Stacks:
    """Stacks of a transcript from its whole log."""
    rows = conn.execute(
        "SELECT id, kind, target_edit_id FROM edits WHERE transcript_id = ? ORDER BY id",
        (transcript_id,),
    )
    return derive(rows)


class HistoryCache:
    """The writer's stacks per transcript, so an edit does not replay the whole log.

    Used only on the writer thread. ``take`` hands out the cached stacks (brought up
    to date with any entries another process appended, checked against the log's
    last id) and forgets them; ``put`` returns them after a successful commit. A
    failed transaction never puts them back, so the cache only ever holds committed
    history; the next edit then replays the log once.
    """

    def __init__(self) -> None:
        self._entries: dict[int, Stacks] = {}

    def take(self, conn: sqlite3.Connection, transcript_id: int) -> Stacks:
        (last,) = conn.execute(
            "SELECT max(id) FROM edits WHERE transcript_id = ?", (transcript_id,)
        ).fetchone()
        cached = self._entries.pop(transcript_id, None)
        if cached is not None and cached.last_id == last:
            return cached
        if (
            cached is not None
            and cached.last_id is not None
            and last is not None
            and cached.last_id < last
        ):
            rows = conn.execute(
                "SELECT id, kind, target_edit_id FROM edits "
                "WHERE transcript_id = ? AND id > ? ORDER BY id",
                (transcript_id, cached.last_id),
            )
            return derive(rows, cached)
        return load(conn, transcript_id)

    def put(self, transcript_id: int, stacks: Stacks) -> None:
        self._entries[transcript_id] = stacks

    def forget(self, transcript_id: int | None = None) -> None:
        if transcript_id is None:
            self._entries.clear()
        else:
            self._entries.pop(transcript_id, None)
