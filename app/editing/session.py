"""One open transcript's edits, between the editor and the telemetry store.

``TranscriptSession`` turns editor intents (new text, split here, merge, retime,
insert, delete, replace all, verify, played through, exported, undo, redo) into
the store's edits. The store's background writer applies them; its results come
back through ``post`` (which runs a callable on the UI thread) as
``EditOutcome``s the editor applies to its document.

Typing is optimistic: the new text shows at once (marked pending) and the
store's answer confirms it. Each text edit names the text the store last
confirmed as its ``before``, so if a write fails (a full disk), the next
successful edit of that segment still carries everything typed since: nothing
typed is lost while the app runs, and the error reaches the user as one sentence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from app.editing.segments import SegmentState

log = logging.getLogger(__name__)

KIND_LABELS = {
    "text": "Typing",
    "speaker": "Speaker Change",
    "split": "Split",
    "merge": "Merge",
    "retime": "Retime",
    "insert": "Insert",
    "delete": "Delete",
    "retranscribe": "Re-transcription",
    "batch": "Several Changes",
}
BATCH_LABELS = {"replace all": "Replace All", "delete": "Delete", "speaker": "Speaker Change"}


@dataclass(frozen=True, slots=True)
class History:
    can_undo: bool = False
    can_redo: bool = False
    undo_label: str | None = None
    redo_label: str | None = None


@dataclass(frozen=True, slots=True)
class EditOutcome:
    """What changed: new states (changed or created) and removed ids."""

    kind: str
    changed: tuple[SegmentState, ...] = ()
    removed: tuple[int, ...] = ()
    history: History | None = None
    focus_id: int | None = None  # where the caret should go next, if anywhere
    focus_char: int = 0
    local: bool = False  # an optimistic change, not yet confirmed by the store


class SessionListener(Protocol):
    def on_outcome(self, outcome: EditOutcome) -> None: ...
    def on_failure(self, message: str) -> None: ...
    def on_reviewed(self, segment_ids: set[int], reviewed: bool, source: str | None) -> None: ...


def segment_state(view: Any) -> SegmentState:
    """A store ``SegmentView`` as the editor's value."""
    return SegmentState(
        id=view.id,
        start=float(view.start),
        end=float(view.end),
        text=view.text,
        speaker=view.speaker or "",
        reviewed=bool(view.reviewed),
        original_text=view.original_text or "",
        words=tuple(view.words),
        review_source=view.review_source,
        position=view.position,
        inserted=view.original_text is None,
    )


def history_of(state: Any, batch_labels: dict[int, str] | None = None) -> History:
    """Undo/redo availability with names for the menu ("Undo Split"). A batch is named by
    what it was for when this session made it (``batch_labels``: edit id -> label)."""
    labels = batch_labels or {}

    def label(kind: str | None, edit_id: int | None) -> str | None:
        if not kind:
            return None
        if kind == "batch" and edit_id in labels:
            return BATCH_LABELS.get(labels[edit_id], labels[edit_id].title())
        return KIND_LABELS.get(kind, kind.capitalize())

    return History(
        state.can_undo,
        state.can_redo,
        label(state.undo_kind, state.undo_edit_id),
        label(state.redo_kind, state.redo_edit_id),
    )


class TranscriptSession:
    def __init__(
        self,
        store: Any,
        transcript_id: int,
        segments: Sequence[SegmentState],
        post: Callable[[Callable[[], None]], None],
        listener: SessionListener,
        describe_error: Callable[[BaseException], str],
    ) -> None:
        self.store = store
        self.transcript_id = transcript_id
        self.post = post
        self.listener = listener
        self.describe_error = describe_error
        self.confirmed: dict[int, str] = {s.id: s.text for s in segments}
        self._local: dict[int, str] = {}  # segment id -> newest text typed
        self._in_flight: dict[int, int] = {}  # segment id -> text edits not answered yet
        self.batch_labels: dict[int, str] = {}  # edit id -> what a batch was for

    @property
    def edits(self):
        from retrain.store import edits

        return edits

    # -- text ----------------------------------------------------------------------------
    def set_text(self, segment: SegmentState, text: str) -> None:
        before = self.confirmed.get(segment.id, segment.text)
        self._local[segment.id] = text
        if before == text and not self._in_flight.get(segment.id):
            return
        self.listener.on_outcome(
            EditOutcome("text", changed=(segment.with_(text=text, pending=True),), local=True)
        )
        self._in_flight[segment.id] = self._in_flight.get(segment.id, 0) + 1
        edit = self.edits.TextEdit(segment.id, before, text)
        self._submit(self.store.apply_edit(self.transcript_id, edit), "text", text_of=segment.id)

    def unsaved(self) -> dict[int, str]:
        """Text typed but not confirmed by the store (a write failed), by segment id."""
        return {
            segment_id: text
            for segment_id, text in self._local.items()
            if text != self.confirmed.get(segment_id) and not self._in_flight.get(segment_id)
        }

    def retry_unsaved(self, lookup: Callable[[int], SegmentState | None]) -> int:
        """Submit every unsaved text again; returns how many."""
        count = 0
        for segment_id, text in self.unsaved().items():
            segment = lookup(segment_id)
            if segment is not None:
                self.set_text(segment, text)
                count += 1
        return count

    def set_speaker(self, segments: Sequence[SegmentState], speaker: str) -> None:
        changes = tuple(
            self.edits.SpeakerEdit(s.id, s.speaker or None, speaker or None)
            for s in segments
            if (s.speaker or "") != speaker
        )
        if not changes:
            return
        edit = changes[0] if len(changes) == 1 else self.edits.Batch(changes, label="speaker")
        self._submit(self.store.apply_edit(self.transcript_id, edit), "speaker", label="speaker")

    def replace_texts(self, plan: Sequence[tuple[SegmentState, str]], label: str) -> None:
        if not plan:
            return
        batch = self.edits.Batch(
            tuple(
                self.edits.TextEdit(s.id, self.confirmed.get(s.id, s.text), text)
                for s, text in plan
            ),
            label=label,
        )
        self._submit(self.store.apply_edit(self.transcript_id, batch), "batch", label=label)

    # -- structure -----------------------------------------------------------------------
    def split(self, segment: SegmentState, at_char: int, at_time: float) -> None:
        edit = self.edits.SplitSegment(segment.id, at_char, at_time)
        self._submit(self.store.apply_edit(self.transcript_id, edit), "split", focus="new")

    def merge(self, segment: SegmentState, following: SegmentState) -> None:
        edit = self.edits.MergeSegments(segment.id, following.id)
        junction = len(self.confirmed.get(segment.id, segment.text).rstrip()) + 1
        self._submit(
            self.store.apply_edit(self.transcript_id, edit),
            "merge",
            focus=segment.id,
            focus_char=junction,
        )

    def retime(self, segment: SegmentState, start: float, end: float) -> None:
        edit = self.edits.Retime(segment.id, start, end)
        self._submit(self.store.apply_edit(self.transcript_id, edit), "retime")

    def insert_after(
        self,
        after: SegmentState | None,
        start: float,
        end: float,
        text: str,
        speaker: str | None = None,
    ) -> None:
        edit = self.edits.InsertSegment(after.id if after else None, start, end, text, speaker)
        self._submit(self.store.apply_edit(self.transcript_id, edit), "insert", focus="new")

    def delete(self, segments: Sequence[SegmentState]) -> None:
        if not segments:
            return
        deletes = tuple(self.edits.DeleteSegment(s.id) for s in segments)
        edit = deletes[0] if len(deletes) == 1 else self.edits.Batch(deletes, label="delete")
        self._submit(self.store.apply_edit(self.transcript_id, edit), "delete", label="delete")

    def retranscribed(self, segment: SegmentState, output: Any, model_version: str) -> Future:
        edit = self.edits.RetranscribeSegment(segment.id, output, model_version)
        future = self.store.apply_edit(self.transcript_id, edit)
        self._submit(future, "retranscribe")
        return future

    # -- history -------------------------------------------------------------------------
    def undo(self) -> None:
        self._submit(self.store.undo(self.transcript_id), "undo")

    def redo(self) -> None:
        self._submit(self.store.redo(self.transcript_id), "redo")

    # -- review signals ------------------------------------------------------------------
    def set_verified(self, segments: Sequence[SegmentState] | None, verified: bool = True) -> None:
        ids = None if segments is None else [s.id for s in segments]
        future = self.store.mark_verified(self.transcript_id, ids, verified=verified)
        self._review(future, "verified" if verified else None, verified)

    def played_through(self, segment_ids: Sequence[int]) -> None:
        if segment_ids:
            future = self.store.record_review_signal(
                self.transcript_id, "played", list(segment_ids)
            )
            self._review(future, "played", True)

    def exported(self, fmt: str) -> None:
        future = self.store.record_review_signal(
            self.transcript_id, "exported", None, {"format": fmt}
        )
        future.add_done_callback(lambda f: self._failed_quietly(f, "recording the export"))

    # -- plumbing ------------------------------------------------------------------------
    def _submit(
        self,
        future: Future,
        kind: str,
        *,
        focus: int | str | None = None,
        focus_char: int = 0,
        text_of: int | None = None,
        label: str | None = None,
    ) -> None:
        def done(f: Future) -> None:
            self.post(lambda: self._finish(f, kind, focus, focus_char, text_of, label))

        future.add_done_callback(done)

    def _finish(
        self,
        future: Future,
        kind: str,
        focus,
        focus_char: int,
        text_of: int | None,
        label: str | None = None,
    ) -> None:
        if text_of is not None:
            self._in_flight[text_of] = max(0, self._in_flight.get(text_of, 1) - 1)
        error = future.exception()
        if error is not None:
            log.info("edit %s failed: %s", kind, error)
            # What was typed stays on screen, marked pending; the next edit of the
            # segment starts from the confirmed text, so it saves everything typed.
            self.listener.on_failure(self.describe_error(error))
            return
        result = future.result()
        if label is not None and result.edit_id is not None and result.kind == "batch":
            self.batch_labels[result.edit_id] = label
        changed = []
        new_ids = []
        for view in result.changed:
            state = segment_state(view)
            if state.id not in self.confirmed:
                new_ids.append(state.id)
            self.confirmed[state.id] = state.text
            typed = self._local.get(state.id)
            if self._in_flight.get(state.id) and typed is not None and typed != state.text:
                state = state.with_(text=typed, pending=True)  # newer typing is on its way
            elif typed is not None and typed == state.text:
                self._local.pop(state.id, None)
            changed.append(state)
        for removed in result.removed:
            self.confirmed.pop(removed, None)
            self._local.pop(removed, None)
        focus_id = None
        if focus == "new":
            focus_id = new_ids[-1] if new_ids else None
        elif isinstance(focus, int):
            focus_id = focus
        self.listener.on_outcome(
            EditOutcome(
                kind=result.kind,
                changed=tuple(changed),
                removed=tuple(result.removed),
                history=history_of(result.history, self.batch_labels),
                focus_id=focus_id,
                focus_char=focus_char,
            )
        )

    def _review(self, future: Future, source: str | None, reviewed: bool) -> None:
        def done(f: Future) -> None:
            self.post(lambda: self._finish_review(f, source, reviewed))

        future.add_done_callback(done)

    def _finish_review(self, future: Future, source: str | None, reviewed: bool) -> None:
        error = future.exception()
        if error is not None:
            self.listener.on_failure(self.describe_error(error))
            return
        self.listener.on_reviewed(set(future.result() or ()), reviewed, source)

    def _failed_quietly(self, future: Future, doing: str) -> None:
        error = future.exception()
        if error is not None:
            self.post(lambda: self.listener.on_failure(self.describe_error(error)))
