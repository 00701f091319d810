"""``TranscriptEditor``: what the editor's commands do.

It connects the view and its model to the transcript's session (edits go to the
store) and to playback (the playing word is highlighted and followed, a click
seeks, typing pauses, segments heard to the end count as reviewed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, QTimer, Signal

from app.editing.document import TranscriptDocument
from app.editing.find import FindQuery, Match, find_matches, plan_replace_all, replace_in
from app.editing.playthrough import PlayThroughTracker
from app.editing.segments import SegmentState
from app.editing.session import EditOutcome, History, TranscriptSession
from app.editing.timefmt import format_time
from app.editing.words import split_point, token_at_time
from app.gui.editor.model import TranscriptModel
from app.gui.editor.panel import EditorPanel
from app.gui.player.controller import PlaybackController

log = logging.getLogger(__name__)

DEFAULT_INSERT_SECONDS = 2.0
RETRY_UNSAVED_MS = 15_000

SessionFactory = Callable[[int, Sequence[SegmentState], "TranscriptEditor"], TranscriptSession]


def qt_to_py_offset(text: str, qt_position: int) -> int:
    """Qt counts UTF-16 units; Python counts code points (they differ for emoji)."""
    if text.isascii():
        return qt_position
    encoded = text.encode("utf-16-le")[: 2 * qt_position]
    return len(encoded.decode("utf-16-le", errors="ignore"))


def py_to_qt_offset(text: str, offset: int) -> int:
    return len(text[:offset].encode("utf-16-le")) // 2


class TranscriptEditor(QObject):
    historyChanged = Signal(object)  # History
    transcriptChanged = Signal()  # facts in the header may have changed
    message = Signal(str, str)  # text, kind (error, warning, info)
    retranscribeRequested = Signal(int, object)  # transcript id, [segment ids]

    def __init__(
        self,
        model: TranscriptModel,
        panel: EditorPanel,
        player: PlaybackController,
        session_factory: SessionFactory | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.panel = panel
        self.view = panel.view
        self.find_bar = panel.find_bar
        self.player = player
        self.session_factory = session_factory
        self.session: TranscriptSession | None = None
        self.transcript_id: int | None = None
        self.title = ""
        self.duration = 0.0
        self.live = False
        self.follow_playback = True
        self.history = History()
        self.tracker = PlayThroughTracker()
        self.matches: list[Match] = []
        self.match_index: int | None = None
        self.query = FindQuery("")
        self._pending_focus: tuple[int, int] | None = None

        model.textCommitted.connect(self._text_committed)
        self.view.seekRequested.connect(self._seek_from_view)
        self.view.typingStarted.connect(player.user_typing)
        self.view.mergeRequested.connect(self._merge_from_editor)
        self.view.editorOpened.connect(self._editor_opened)
        player.positionChanged.connect(self._on_position)
        player.playingChanged.connect(self._on_playing)
        player.set_loop_source(self.loop_span)
        self.find_bar.queryChanged.connect(self._search)
        self.find_bar.findNext.connect(lambda: self.find_step(+1))
        self.find_bar.findPrevious.connect(lambda: self.find_step(-1))
        self.find_bar.replaceOne.connect(self.replace_current)
        self.find_bar.replaceAll.connect(self.replace_all)
        self.find_bar.closed.connect(self._find_closed)
        self._facts_timer = QTimer(self)
        self._facts_timer.setSingleShot(True)
        self._facts_timer.setInterval(150)
        self._facts_timer.timeout.connect(self.refresh_header)
        model.dataChanged.connect(lambda *_: self._facts_timer.start())
        model.rowsInserted.connect(lambda *_: self._facts_timer.start())
        model.rowsRemoved.connect(lambda *_: self._facts_timer.start())
        self._retry_timer = QTimer(self)
        self._retry_timer.setInterval(RETRY_UNSAVED_MS)
        self._retry_timer.timeout.connect(self.retry_unsaved)

    # -- opening -------------------------------------------------------------------------
    @property
    def document(self) -> TranscriptDocument:
        return self.model.document

    @property
    def is_open(self) -> bool:
        return self.transcript_id is not None

    def open_transcript(
        self,
        transcript_id: int,
        title: str,
        segments: Sequence[SegmentState],
        duration: float,
        history: History | None = None,
        live: bool = False,
    ) -> None:
        self.close_transcript()
        self.transcript_id = transcript_id
        self.title = title
        self.duration = duration
        self.live = live
        self.model.set_document(TranscriptDocument(transcript_id, segments))
        self.session = (
            self.session_factory(transcript_id, segments, _Relay(self, transcript_id))
            if self.session_factory
            else None
        )
        self.tracker = PlayThroughTracker()
        self.set_history(history or History())
        self.view.set_speaker_column_visible(any(s.speaker for s in segments))
        self.panel.show_transcript(True)
        self.refresh_header()
        if len(self.document):
            self.view.select_row(0)
        self.view.setFocus()

    def close_transcript(self) -> None:
        if self.transcript_id is None:
            return
        self.view.close_editor()
        self.retry_unsaved()
        self.transcript_id = None
        self.session = None
        self.model.set_document(TranscriptDocument())
        self.matches, self.match_index = [], None
        self.panel.show_transcript(False)
        self.set_history(History())

    def append_live(self, segments: Sequence[SegmentState]) -> None:
        """Segments a running transcription just produced for the open transcript."""
        if not segments:
            return
        bar = self.view.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 4
        known = {s.id for s in self.document}
        fresh = [s for s in segments if s.id not in known]
        self.model.append_segments(fresh)
        if self.session is not None:
            for s in fresh:
                self.session.confirmed[s.id] = s.text
        if any(s.speaker for s in fresh):
            self.view.set_speaker_column_visible(True)
        if at_bottom and self.view.current_editor() is None:
            self.view.scrollToBottom()

    def set_live(self, live: bool) -> None:
        self.live = live
        self.refresh_header()

    # -- header --------------------------------------------------------------------------
    def refresh_header(self) -> None:
        header = self.panel.header
        if self.transcript_id is None:
            return
        header.title.setText(self.title)
        count = len(self.document)
        facts = [format_time(self.duration or self.document.duration, tenths=False)]
        facts.append(f"{count} segment{'s' if count != 1 else ''}")
        if self.live:
            facts.append("transcribing…")
        header.facts.setText(" · ".join(facts))
        reviewed = self.document.reviewed_count()
        unsure = self.model.unsure_total() if count < 20000 else 0
        progress = [f"{reviewed} of {count} checked"] if count else []
        if unsure:
            progress.append(f"{unsure} unsure word{'s' if unsure != 1 else ''} to check (F8)")
        header.progress.setText(" · ".join(progress))
        self.transcriptChanged.emit()

    # -- session listener ----------------------------------------------------------------
    def on_outcome(self, outcome: EditOutcome) -> None:
        if outcome.local:
            for state in outcome.changed:
                self.model.update_segment(state)
            return
        self._apply(outcome.changed, outcome.removed, outcome.kind)
        if outcome.history is not None:
            self.set_history(outcome.history)
        if outcome.focus_id is not None:
            row = self.document.row_of(outcome.focus_id)
            if row is not None:
                text = self.document[row].text
                self.view.edit_at_char(row, py_to_qt_offset(text, outcome.focus_char))
        elif outcome.kind in ("undo", "redo") and outcome.changed:
            row = self.document.row_of(outcome.changed[0].id)
            if row is not None:
                self.view.select_row(row)
        self.player.refresh_loop()

    def on_failure(self, message: str) -> None:
        self.message.emit(message, "error")
        if self.session is not None and self.session.unsaved():
            self._retry_timer.start()

    def on_reviewed(self, segment_ids: set[int], reviewed: bool, source: str | None) -> None:
        for segment_id in segment_ids:
            s = self.document.by_id(segment_id)
            if s is not None:
                self.model.update_segment(
                    s.with_(reviewed=reviewed, review_source=source if reviewed else None)
                )

    def _apply(
        self, changed: Sequence[SegmentState], removed: Sequence[int], kind: str = ""
    ) -> None:
        gone = set(removed)
        rows = [s for s in self.document if s.id not in gone]
        index = {s.id: i for i, s in enumerate(rows)}
        reorder = False
        for state in changed:
            at = index.get(state.id)
            if at is None:
                rows.append(state)
                reorder = True
            else:
                if rows[at].start != state.start:
                    reorder = True
                rows[at] = state
        if reorder:
            if all(s.position for s in rows):
                rows.sort(key=lambda s: s.position)
            else:
                rows.sort(key=lambda s: s.start)
        editor = self.view.current_editor()
        if editor is not None:
            fresh = {state.id: state for state in changed}
            mine = fresh.get(editor.segment_id) if editor.segment_id is not None else None
            if editor.segment_id in gone or (
                kind != "text"  # the confirmation of one's own typing never takes the box away
                and mine is not None
                and " ".join(mine.text.split()) != " ".join(editor.toPlainText().split())
            ):
                self.view.discard_editor()  # undo, replace-all or a re-transcription changed it
            elif self.document.plan(rows).structural:
                self.view.close_editor()
        self.model.reconcile(rows)
        if self.query.text:
            self._search(self.query, keep_position=True)

    def set_history(self, history: History) -> None:
        self.history = history
        self.historyChanged.emit(history)

    def retry_unsaved(self) -> None:
        if self.session is None:
            self._retry_timer.stop()
            return
        if not self.session.unsaved():
            self._retry_timer.stop()
            return
        self.session.retry_unsaved(self.document.by_id)

    # -- text ----------------------------------------------------------------------------
    def _text_committed(self, segment_id: int, text: str) -> None:
        segment = self.document.by_id(segment_id)
        if segment is None:
            return
        if self.session is None:
            self.model.update_segment(segment.with_(text=text))
            return
        self.session.set_text(segment, text)

    def _editor_opened(self, editor) -> None:
        position = self.player.position if self.player.is_loaded else None
        self._highlight_in_editor(position)

    # -- current segment -----------------------------------------------------------------
    def current_segment(self) -> SegmentState | None:
        row = self.view.current_row()
        if row is None or row >= len(self.document):
            return None
        return self.document[row]

    def selected_segments(self) -> list[SegmentState]:
        return [self.document[r] for r in self.view.selected_rows() if r < len(self.document)]

    def loop_span(self) -> tuple[float, float] | None:
        segment = self.current_segment()
        if segment is None and self.model.playing is not None:
            segment = self.document[self.model.playing[0]]
        return (segment.start, segment.end) if segment is not None else None

    def _need(self) -> bool:
        return not (self.session is None or self.transcript_id is None)

    # -- structure -----------------------------------------------------------------------
    def split(self) -> None:
        segment = self.current_segment()
        if segment is None or not self._need():
            return
        editor = self.view.current_editor()
        if editor is not None and editor.segment_id == segment.id:
            text = editor.toPlainText()
            cursor = qt_to_py_offset(text, editor.textCursor().position())
            self.view.commit_editor()
        else:
            text = segment.text
            cursor = self._cursor_from_playhead(segment)
            if cursor is None:
                self.message.emit(
                    "Put the text cursor where the segment should split (or play to that word), "
                    "then split.",
                    "warning",
                )
                return
        point = split_point(text, segment.words, segment.start, segment.end, cursor)
        if point is None:
            self.message.emit(
                "Put the cursor between two words to split the segment there.", "warning"
            )
            return
        self.view.close_editor()
        assert self.session is not None
        self.session.split(segment.with_(text=text), point.at_char, point.at_time)

    def _cursor_from_playhead(self, segment: SegmentState) -> int | None:
        if not self.player.is_loaded:
            return None
        position = self.player.position
        if not segment.start < position < segment.end:
            return None
        row = self.document.row_of(segment.id)
        tokens = self.model.tokens(row) if row is not None else ()
        index = token_at_time(tokens, position)
        return None if index is None else tokens[index].first

    def merge_with_next(self) -> None:
        segment = self.current_segment()
        if segment is None:
            return
        self._merge_from_editor(segment.id, +1)

    def _merge_from_editor(self, segment_id: int, direction: int) -> None:
        if not self._need():
            return
        row = self.document.row_of(segment_id)
        if row is None:
            return
        first, second = (row - 1, row) if direction < 0 else (row, row + 1)
        if first < 0 or second >= len(self.document):
            self.message.emit(
                "There is no segment "
                + ("before" if direction < 0 else "after")
                + " this one to merge with.",
                "info",
            )
            return
        self.view.close_editor()
        assert self.session is not None
        self.session.merge(self.document[first], self.document[second])

    def insert_defaults(self) -> tuple[SegmentState | None, float, float]:
        """Where a new segment goes: after the current one, in the gap that follows it
        (or at the playback position when playback is inside that gap)."""
        segment = self.current_segment()
        row = self.view.current_row()
        following = (
            self.document[row + 1] if row is not None and row + 1 < len(self.document) else None
        )
        start = segment.end if segment is not None else 0.0
        limit = (
            following.start
            if following is not None
            else max(self.duration, start + DEFAULT_INSERT_SECONDS)
        )
        if self.player.is_loaded and start <= self.player.position < limit:
            start = self.player.position
        if limit - start < 0.2:
            end = start + DEFAULT_INSERT_SECONDS
        else:
            end = min(limit, start + DEFAULT_INSERT_SECONDS)
        return segment, round(start, 3), round(end, 3)

    def insert(self, after: SegmentState | None, start: float, end: float, text: str) -> None:
        if not self._need() or not text.strip():
            return
        self.view.close_editor()
        assert self.session is not None
        speaker = after.speaker if after is not None and after.speaker else None
        self.session.insert_after(after, start, end, " ".join(text.split()), speaker)

    def delete_selected(self) -> None:
        if not self._need():
            return
        segments = self.selected_segments()
        if not segments:
            return
        self.view.close_editor()
        assert self.session is not None
        self.session.delete(segments)
        n = len(segments)
        self.message.emit(f"Deleted {n} segment{'s' if n != 1 else ''}. Undo with Ctrl+Z.", "info")

    def retime(self, start: float, end: float) -> None:
        segment = self.current_segment()
        if segment is None or not self._need():
            return
        assert self.session is not None
        self.session.retime(segment, round(start, 3), round(end, 3))

    def set_boundary_at_playhead(self, which: str) -> None:
        segment = self.current_segment()
        if segment is None or not self.player.is_loaded:
            return
        position = round(self.player.position, 3)
        start, end = segment.start, segment.end
        if which == "start":
            start = position
        else:
            end = position
        if end <= start:
            self.message.emit(
                "The start must come before the end; move the playback position.", "warning"
            )
            return
        self.retime(start, end)

    def speakers(self) -> list[str]:
        return sorted({s.speaker for s in self.document if s.speaker})

    def set_speaker(self, speaker: str) -> None:
        if not self._need():
            return
        segments = self.selected_segments()
        if segments:
            assert self.session is not None
            self.session.set_speaker(segments, " ".join(speaker.split()))
            if speaker.strip():
                self.view.set_speaker_column_visible(True)

    # -- review --------------------------------------------------------------------------
    def verify_selected(self) -> None:
        if not self._need():
            return
        self.view.commit_editor()
        segments = self.selected_segments()
        if not segments:
            return
        verified = not all(s.reviewed and s.review_source == "verified" for s in segments)
        assert self.session is not None
        self.session.set_verified(segments, verified)
        if verified and len(segments) == 1:
            row = self.document.row_of(segments[0].id)
            if (
                row is not None
                and row + 1 < len(self.document)
                and self.view.current_editor() is None
            ):
                self.view.select_row(row + 1)  # verify, next: the review rhythm

    def verify_all(self) -> None:
        if not self._need():
            return
        self.view.commit_editor()
        assert self.session is not None
        self.session.set_verified(None, True)

    def retranscribe_selected(self) -> None:
        if self.transcript_id is None:
            return
        self.view.commit_editor()
        segments = self.selected_segments()
        if segments:
            self.retranscribeRequested.emit(self.transcript_id, [s.id for s in segments])

    # -- undo ----------------------------------------------------------------------------
    def undo(self) -> None:
        if not self._need():
            return
        self.view.close_editor()
        assert self.session is not None
        self.session.undo()

    def redo(self) -> None:
        if not self._need():
            return
        self.view.close_editor()
        assert self.session is not None
        self.session.redo()

    # -- find and replace ----------------------------------------------------------------
    def open_find(self, replace: bool) -> None:
        if not self.is_open:
            return
        editor = self.view.current_editor()
        selected = editor.textCursor().selectedText() if editor is not None else ""
        self.find_bar.open(replace, selected)

    def _search(self, query: FindQuery, keep_position: bool = False) -> None:
        self.query = query
        try:
            self.matches = find_matches(self.document, query)
        except Exception as exc:  # re.error: an unfinished regular expression
            self.matches = []
            self.model.set_matches({})
            self.model.set_current_match(None)
            self.find_bar.show_count(None, 0, error=f"Invalid pattern: {exc}")
            return
        by_row: dict[int, list[tuple[int, int]]] = {}
        for m in self.matches:
            by_row.setdefault(m.row, []).append((m.first, m.last))
        self.model.set_matches(by_row)
        if not keep_position:
            self.match_index = None
            start_row = self.view.current_row() or 0
            self.match_index = next(
                (i for i, m in enumerate(self.matches) if m.row >= start_row),
                0 if self.matches else None,
            )
        elif self.match_index is not None and self.match_index >= len(self.matches):
            self.match_index = len(self.matches) - 1 if self.matches else None
        self._show_current_match(scroll=not keep_position)

    def _show_current_match(self, scroll: bool = True) -> None:
        if self.match_index is None or not self.matches:
            self.model.set_current_match(None)
            self.find_bar.show_count(None, len(self.matches))
            return
        m = self.matches[self.match_index]
        self.model.set_current_match((m.row, m.first, m.last))
        self.find_bar.show_count(self.match_index, len(self.matches))
        if scroll:
            self.view.select_row(m.row)

    def find_step(self, direction: int) -> None:
        self.find_bar.flush()
        if not self.matches:
            return
        if self.match_index is None:
            self.match_index = 0
        else:
            self.match_index = (self.match_index + direction) % len(self.matches)
        self._show_current_match()

    def replace_current(self, replacement: str) -> None:
        self.find_bar.flush()
        if not self._need() or self.match_index is None or not self.matches:
            return
        m = self.matches[self.match_index]
        segment = self.document[m.row]
        piece = segment.text[m.first : m.last]
        replaced = replace_in(
            piece,
            FindQuery(piece, True, False, False) if not self.query.regex else self.query,
            replacement,
        )
        new_text = " ".join((segment.text[: m.first] + replaced + segment.text[m.last :]).split())
        assert self.session is not None
        self.session.set_text(segment, new_text)
        self._search(self.query, keep_position=True)
        self._show_current_match()

    def replace_all(self, replacement: str) -> None:
        self.find_bar.flush()
        if not self._need() or not self.query.text:
            return
        self.view.commit_editor()
        try:
            plan = plan_replace_all(self.document, self.query, replacement)
        except Exception as exc:
            self.find_bar.show_count(None, 0, error=f"Invalid pattern: {exc}")
            return
        if not plan:
            self.message.emit("Nothing to replace.", "info")
            return
        by_id = {s.id: s for s in self.document}
        assert self.session is not None
        self.session.replace_texts([(by_id[i], text) for i, text in plan], "replace all")
        count = sum(len(find_matches([by_id[i]], self.query)) for i, _ in plan)
        self.message.emit(
            f"Replaced {count} match{'es' if count != 1 else ''} in {len(plan)} "
            f"segment{'s' if len(plan) != 1 else ''}; one Undo reverts them all.",
            "info",
        )

    def _find_closed(self) -> None:
        self.query = FindQuery("")
        self.matches = []
        self.match_index = None
        self.model.set_matches({})
        self.model.set_current_match(None)
        self.view.setFocus()

    # -- unsure words --------------------------------------------------------------------
    def next_unsure(self, direction: int = 1) -> None:
        count = len(self.document)
        if not count:
            return
        row = self.view.current_row()
        editor = self.view.current_editor()
        after_char = -1
        if row is None:
            row = 0 if direction > 0 else count - 1
        elif editor is not None:
            after_char = qt_to_py_offset(editor.toPlainText(), editor.textCursor().position())
        for step in range(count + 1):
            r = (row + step * direction) % count
            tokens = self.model.unsure_tokens(r)
            if direction > 0:
                candidates = [t for t in tokens if step > 0 or t.first > after_char]
            else:
                candidates = [
                    t for t in reversed(tokens) if step > 0 or after_char < 0 or t.last < after_char
                ]
            if candidates:
                token = candidates[0]
                self.view.close_editor()
                text = self.document[r].text
                self.view.edit_at_char(r, py_to_qt_offset(text, token.first))
                QTimer.singleShot(0, lambda t=token, txt=text: self._select_in_editor(t, txt))
                if self.player.is_loaded:
                    self.player.seek(token.start)
                return
        self.message.emit(
            "No unsure words left: every word the model doubted has been checked.", "info"
        )

    def _select_in_editor(self, token, text: str) -> None:
        editor = self.view.current_editor()
        if editor is None:
            return
        cursor = editor.textCursor()
        cursor.setPosition(py_to_qt_offset(text, token.first))
        cursor.setPosition(py_to_qt_offset(text, token.last), cursor.MoveMode.KeepAnchor)
        editor.setTextCursor(cursor)

    # -- playback ------------------------------------------------------------------------
    def _seek_from_view(self, seconds: float) -> None:
        if self.player.is_loaded:
            self.player.seek(seconds)
            self.tracker.stop()
            if self.player.playing:
                self.tracker.start(seconds)

    def play_from_segment(self) -> None:
        segment = self.current_segment()
        if segment is None or not self.player.is_loaded:
            return
        self.player.seek(segment.start)
        self.player.play()

    def _on_playing(self, playing: bool) -> None:
        if playing:
            self.tracker.start(self.player.position)
        else:
            self.tracker.stop()

    def _on_position(self, seconds: float) -> None:
        if not len(self.document):
            return
        row = self.document.row_at_time(seconds)
        token = None
        if row is not None:
            s = self.document[row]
            if seconds > s.end + 0.3:
                row = None  # in a gap between segments
            else:
                token = token_at_time(self.model.tokens(row), seconds)
        self.model.set_playing(row, token)
        if row is not None and self.follow_playback and self.player.playing:
            self.view.follow(row)
        self._highlight_in_editor(seconds)
        if self.player.playing and self.session is not None:
            done = self.tracker.advance(seconds, self.document)
            unchanged = [
                i
                for i in done
                if (s := self.document.by_id(i)) is not None and not s.changed and not s.pending
            ]
            if unchanged:
                self.session.played_through(unchanged)

    def _highlight_in_editor(self, seconds: float | None) -> None:
        editor = self.view.current_editor()
        if editor is None:
            return
        row = self.document.row_of(editor.segment_id) if editor.segment_id is not None else None
        if (
            seconds is None
            or row is None
            or self.model.playing is None
            or self.model.playing[0] != row
        ):
            editor.set_playing_word(None, None)
            return
        text = editor.toPlainText()
        from app.editing.words import align

        s = self.document[row]
        tokens = align(text, s.words, s.start, s.end)
        index = token_at_time(tokens, seconds)
        if index is None:
            editor.set_playing_word(None, None)
        else:
            t = tokens[index]
            editor.set_playing_word(py_to_qt_offset(text, t.first), py_to_qt_offset(text, t.last))


class _Relay:
    """Forwards one session's answers to the editor while its transcript is the open one
    (a late answer for a transcript that was closed must not land in the next one).
    Failures always get through: the person must hear about them."""

    def __init__(self, editor: TranscriptEditor, transcript_id: int) -> None:
        self.editor = editor
        self.transcript_id = transcript_id

    def _current(self) -> bool:
        return self.editor.transcript_id == self.transcript_id

    def on_outcome(self, outcome: EditOutcome) -> None:
        if self._current():
            self.editor.on_outcome(outcome)

    def on_failure(self, message: str) -> None:
        self.editor.on_failure(message)

    def on_reviewed(self, segment_ids: set[int], reviewed: bool, source: str | None) -> None:
        if self._current():
            self.editor.on_reviewed(segment_ids, reviewed, source)
