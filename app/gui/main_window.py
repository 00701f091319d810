"""The main window: library and queue on the left, the transcript and playback on the right.

It owns the app's pieces (actions, settings, the queue, playback, the editor)
and wires the menus to them. Work that touches the disk or the model runs in
worker threads; the UI thread only paints and reacts.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QThreadPool, QTimer, QUrl
from PySide6.QtGui import QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSizePolicy,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.editing.session import History
from app.gui.actions import EDIT, FILE, HELP, LEARN, PLAY, VIEW, ActionRegistry
from app.gui.dialogs.consent import ConsentDialog
from app.gui.dialogs.learning_data import LearningDataDialog
from app.gui.dialogs.retime import RetimeDialog
from app.gui.dialogs.settings_dialog import SettingsDialog
from app.gui.dialogs.shortcuts import ShortcutsDialog
from app.gui.editor.controller import TranscriptEditor
from app.gui.editor.model import TranscriptModel
from app.gui.editor.panel import EditorPanel
from app.gui.errors import log_file, user_message
from app.gui.icons import icon
from app.gui.jobs.panel import QueuePanel
from app.gui.jobs.queue import QueueItem, TranscriptionQueue
from app.gui.library.model import LibraryModel
from app.gui.library.panel import LibraryPanel
from app.gui.message_bar import MessageBar
from app.gui.player.bar import PlayerBar
from app.gui.player.controller import PlaybackController
from app.gui.recorder.dialog import RecordDialog
from app.gui.settings import Settings
from app.gui.workers import UiDispatcher, run_in_thread
from app.library import LibraryRow
from app.services import EXPORT_FORMATS, PLAYBACK_RATE, LoadedTranscript, Services
from app.transcription.events import JobRequest

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wma")
VIDEO_SUFFIXES = (".webm", ".mp4", ".m4v", ".mov", ".mkv", ".avi", ".wmv", ".3gp", ".mpeg", ".ts")
MEDIA_SUFFIXES = (*AUDIO_SUFFIXES, ".aiff", ".aif", ".amr", *VIDEO_SUFFIXES, ".mpg")
FORMAT_FILTERS = {
    "txt": "Plain text (*.txt)",
    "srt": "SubRip subtitles (*.srt)",
    "vtt": "WebVTT subtitles (*.vtt)",
    "json": "JSON with words and times (*.json)",
}
CLOSE_WAIT_SECONDS = 5.0


class MainWindow(QMainWindow):
    def __init__(
        self,
        services: Services | None,
        settings: Settings | None = None,
        player: PlaybackController | None = None,
        recorder_factory=None,
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("Tiro")
        self.setAcceptDrops(True)
        self.services = services
        self.settings = settings or Settings()
        self.recorder_factory = recorder_factory
        self.dispatcher = UiDispatcher(self)
        self.actions = ActionRegistry(self, self.settings)
        self.opening: int | None = None  # transcript id being loaded
        self.loaded: LoadedTranscript | None = None
        self._closing = False
        self._library_query = ""
        self._library_generation = 0
        self._library_refresh_soon = QTimer(self)  # review progress shown in the library
        self._library_refresh_soon.setSingleShot(True)
        self._library_refresh_soon.setInterval(2000)
        self._library_refresh_soon.timeout.connect(self.refresh_library)

        # Background work shares Qt's thread pool: a transcription holds one thread for its
        # whole length, so keep others free for opening, searching and decoding.
        pool = QThreadPool.globalInstance()
        pool.setMaxThreadCount(max(pool.maxThreadCount(), 4))

        # pieces
        self.player = player or PlaybackController(parent=self)
        self.player.typing_pauses = self.settings.typing_pauses_playback
        self.queue = TranscriptionQueue(self._run_job, self)
        self.library_model = LibraryModel(self)
        self.transcript_model = TranscriptModel(self)
        self.transcript_model.threshold = self.settings.unsure_threshold
        self.transcript_model.show_changes = self.settings.show_changes

        # widgets
        self.message_bar = MessageBar(self)
        self.library_panel = LibraryPanel(self.library_model, self)
        self.queue_panel = QueuePanel(self.queue, self)
        self.editor_panel = EditorPanel(self.transcript_model, self)
        self.editor = TranscriptEditor(
            self.transcript_model,
            self.editor_panel,
            self.player,
            session_factory=self._make_session if services else None,
            parent=self,
        )
        self.editor.follow_playback = self.settings.follow_playback
        self.editor_panel.view.app_shortcut = self._is_app_shortcut
        self.editor_panel.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.editor_panel.view.customContextMenuRequested.connect(self._segment_menu)
        self.player_bar = PlayerBar(self.player, self.actions, self)
        self._build_layout()
        self._build_menus()
        self._build_toolbar()
        self._connect()
        self._update_enabled()
        self.statusBar().showMessage("Ready")
        self._restore_window()
        QTimer.singleShot(0, self._after_show)

    # -- layout --------------------------------------------------------------------------
    def _build_layout(self) -> None:
        left = QSplitter(Qt.Orientation.Vertical, self)
        left.setObjectName("leftSplitter")
        left.addWidget(self.library_panel)
        left.addWidget(self.queue_panel)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 1)
        left.setSizes([520, 200])
        self.left_splitter = left
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.setSpacing(0)
        right_layout.addWidget(self.editor_panel, 1)
        right_layout.addWidget(self.player_bar)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([290, 990])
        self.splitter.setChildrenCollapsible(False)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.message_bar)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.resize(1280, 800)

    def _build_menus(self) -> None:
        a = self.actions
        menus: dict[str, QMenu] = {}
        for group in (FILE, EDIT, VIEW, PLAY, LEARN, HELP):
            menus[group] = self.menuBar().addMenu(f"&{group}")
        layout = {
            FILE: [
                "import",
                "record",
                None,
                "export",
                "delete_recording",
                None,
                "settings",
                None,
                "quit",
            ],
            EDIT: [
                "undo",
                "redo",
                None,
                "find",
                "replace",
                "find_next",
                "find_previous",
                None,
                "next_unsure",
                "previous_unsure",
                None,
                "split",
                "merge",
                "insert",
                "delete_segment",
                "retime",
                "speaker",
                "set_start",
                "set_end",
                None,
                "verify",
                "verify_all",
                None,
                "retranscribe",
            ],
            VIEW: [
                "show_changes",
                "follow_playback",
                None,
                "focus_library",
                "focus_editor",
                "focus_queue",
                "search_library",
            ],
            PLAY: [
                "play_pause",
                "play_segment",
                None,
                "rewind",
                "forward",
                None,
                "slower",
                "faster",
                "normal_speed",
                None,
                "loop",
                "typing_pauses",
            ],
            LEARN: ["learning", "learning_data"],
            HELP: ["shortcuts", "open_logs", None, "about"],
        }
        for group, ids in layout.items():
            menu = menus[group]
            for action_id in ids:
                if action_id is None:
                    menu.addSeparator()
                else:
                    menu.addAction(a[action_id])
        self.menus = menus
        # shortcuts must work even when a menu bar is hidden (e.g. on macOS full screen)
        for action in a.actions.values():
            self.addAction(action)

    def _build_toolbar(self) -> None:
        a = self.actions
        icons = {
            "import": "import",
            "record": "record",
            "export": "export",
            "undo": "undo",
            "redo": "redo",
            "split": "split",
            "merge": "merge",
            "insert": "insert",
            "delete_segment": "delete",
            "verify": "check",
            "verify_all": "check_all",
            "find": "search",
            "show_changes": "changes",
            "retranscribe": "retranscribe",
            "shortcuts": "help",
        }
        for action_id, name in icons.items():
            a[action_id].setIcon(icon(name))
        toolbar = QToolBar("Main", self)
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setFloatable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action_id in ("import", "record"):
            toolbar.addAction(a[action_id])
        toolbar.addSeparator()
        for action_id in ("undo", "redo"):
            toolbar.addAction(a[action_id])
        toolbar.addSeparator()
        for action_id in ("split", "merge", "insert", "delete_segment"):
            toolbar.addAction(a[action_id])
        toolbar.addSeparator()
        for action_id in ("verify", "show_changes", "find", "export"):
            toolbar.addAction(a[action_id])
        spacer = QWidget(toolbar)
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        toolbar.addAction(a["shortcuts"])
        short_labels = {
            "import": "Import",
            "record": "Record",
            "undo": "Undo",
            "redo": "Redo",
            "split": "Split",
            "merge": "Merge",
            "insert": "Insert",
            "delete_segment": "Delete",
            "verify": "Verified",
            "show_changes": "Changes",
            "find": "Find",
            "export": "Export",
            "shortcuts": "Keys",
        }
        for action_id, label in short_labels.items():
            a[action_id].setIconText(label)
        self.addToolBar(toolbar)
        self.toolbar = toolbar

    def _connect(self) -> None:
        a = self.actions
        e = self.editor
        p = self.player
        a.connect("import", self.choose_files)
        a.connect("record", self.open_recorder)
        a.connect("export", self.choose_export)
        a.connect("delete_recording", self.delete_current_recording)
        a.connect("settings", self.open_settings)
        a.connect("quit", self.close)
        a.connect("undo", e.undo)
        a.connect("redo", e.redo)
        a.connect("find", lambda: e.open_find(False))
        a.connect("replace", lambda: e.open_find(True))
        a.connect("find_next", lambda: e.find_step(+1))
        a.connect("find_previous", lambda: e.find_step(-1))
        a.connect("next_unsure", lambda: e.next_unsure(+1))
        a.connect("previous_unsure", lambda: e.next_unsure(-1))
        a.connect("split", e.split)
        a.connect("merge", e.merge_with_next)
        a.connect("insert", self.insert_segment)
        a.connect("delete_segment", e.delete_selected)
        a.connect("retime", self.retime_segment)
        a.connect("speaker", self.choose_speaker)
        a.connect("set_start", lambda: e.set_boundary_at_playhead("start"))
        a.connect("set_end", lambda: e.set_boundary_at_playhead("end"))
        a.connect("verify", e.verify_selected)
        a.connect("verify_all", e.verify_all)
        a.connect("retranscribe", e.retranscribe_selected)
        a["show_changes"].setChecked(self.settings.show_changes)
        a.connect("show_changes", self._toggle_show_changes)
        a["follow_playback"].setChecked(self.settings.follow_playback)
        a.connect("follow_playback", self._toggle_follow)
        a.connect("focus_library", lambda: self.library_panel.list.setFocus())
        a.connect("focus_editor", lambda: self.editor_panel.view.setFocus())
        a.connect("focus_queue", lambda: self.queue_panel.list.setFocus())
        a.connect("search_library", self._focus_search)
        a.connect("play_pause", p.toggle)
        a.connect("play_segment", e.play_from_segment)
        a.connect("rewind", lambda: p.skip(-self.settings.skip_seconds))
        a.connect("forward", lambda: p.skip(self.settings.skip_seconds))
        a.connect("slower", lambda: p.step_speed(-1))
        a.connect("faster", lambda: p.step_speed(+1))
        a.connect("normal_speed", lambda: p.set_speed(1.0))
        a.connect("loop", p.set_looping)
        a["typing_pauses"].setChecked(self.settings.typing_pauses_playback)
        a.connect("typing_pauses", self._toggle_typing_pauses)
        a.connect("learning", self._toggle_learning)
        a.connect("learning_data", self.open_learning_data)
        a.connect("shortcuts", self.open_shortcuts)
        a.connect("open_logs", self._open_logs)
        a.connect("about", self._about)

        self.message_bar.actionTriggered.connect(self._message_action)
        e.message.connect(self.notify)
        e.historyChanged.connect(self._show_history)
        e.retranscribeRequested.connect(self.retranscribe)
        e.transcriptChanged.connect(self._update_enabled)
        e.transcriptChanged.connect(self._library_refresh_soon.start)
        self.player.failed.connect(lambda text: self.notify(text, "error"))
        self.player.speedChanged.connect(self._speed_changed)
        self.player.loaded.connect(lambda _d: self._update_enabled())
        self.library_panel.searchChanged.connect(self._search_library)
        self.library_panel.openRequested.connect(self._open_row)
        self.library_panel.deleteRequested.connect(self.delete_recording)
        self.library_panel.list.selectionModel().currentChanged.connect(
            self._library_current_changed
        )
        self.queue_panel.openRequested.connect(self.open_transcript)
        self.queue.jobStarted.connect(self._job_started)
        self.queue.jobFinished.connect(self._job_finished)
        self.queue.segmentsAdded.connect(self._segments_added)
        self.queue.segmentsChanged.connect(self._segments_changed)
        self.queue.busyChanged.connect(lambda _b: self._update_status())
        self.queue.dataChanged.connect(lambda *_: self._update_status())

    def _after_show(self) -> None:
        if self.services is None:
            if not self.message_bar.isVisible():
                self.notify(
                    "Tiro could not open its database; details are in the log file.", "error"
                )
            return
        for notice in self.services.notices:
            self.notify(notice, "warning")
        self.refresh_library()
        self.actions["learning"].blockSignals(True)
        self.actions["learning"].setChecked(self._consent_enabled())
        self.actions["learning"].blockSignals(False)
        self._background(
            self.services.warm_up, failed=lambda exc: log.warning("warm-up failed: %s", exc)
        )

    # -- messages ------------------------------------------------------------------------
    def notify(self, text: str, kind: str = "info") -> None:
        self.message_bar.show_message(text, kind)
        if kind == "error":
            log.info("told the user: %s", text)

    def _message_action(self) -> None:
        pass

    def _update_status(self) -> None:
        running = next((i for i in self.queue.items if i.status == "running"), None)
        waiting = sum(1 for i in self.queue.items if i.status == "queued")
        if running is not None:
            text = f"{running.status_text()}: {running.name}"
            if waiting:
                text += f" · {waiting} waiting"
            self.statusBar().showMessage(text)
        else:
            self.statusBar().showMessage("Ready")

    def _update_enabled(self) -> None:
        a = self.actions
        open_ = self.editor.is_open and self.services is not None
        for action_id in (
            "export",
            "delete_recording",
            "find",
            "replace",
            "find_next",
            "find_previous",
            "next_unsure",
            "previous_unsure",
            "split",
            "merge",
            "insert",
            "delete_segment",
            "retime",
            "speaker",
            "verify",
            "verify_all",
            "retranscribe",
            "show_changes",
        ):
            a[action_id].setEnabled(open_)
        playable = self.player.is_loaded
        for action_id in (
            "play_pause",
            "play_segment",
            "rewind",
            "forward",
            "slower",
            "faster",
            "normal_speed",
            "loop",
            "set_start",
            "set_end",
        ):
            a[action_id].setEnabled(playable)
        self._show_history(self.editor.history)

    def _show_history(self, history: History) -> None:
        undo, redo = self.actions["undo"], self.actions["redo"]
        undo.setEnabled(self.editor.is_open and history.can_undo)
        redo.setEnabled(self.editor.is_open and history.can_redo)
        undo.setText(f"&Undo {history.undo_label}" if history.undo_label else "&Undo")
        redo.setText(f"&Redo {history.redo_label}" if history.redo_label else "&Redo")

    def _is_app_shortcut(self, sequence) -> bool:
        """Keys the transcript editor must let through to the window's actions (asked on
        every keystroke in the editor, so it is a set lookup)."""
        action = self.actions.by_keys.get(sequence.toString())
        return action is not None and action.isEnabled()

    # -- library -------------------------------------------------------------------------
    def refresh_library(self) -> None:
        if self.services is None:
            return
        self._library_generation += 1
        generation = self._library_generation
        query = self._library_query

        def show(rows: list[LibraryRow]) -> None:
            if generation != self._library_generation:
                return  # a newer search is on its way
            current = self.library_panel.current_row()
            self.library_model.set_rows(rows)
            self.library_panel._update_empty()
            if current is not None and current.transcript_id is not None:
                self.library_panel.select_transcript(current.transcript_id)
            elif self.loaded is not None:
                self.library_panel.select_transcript(self.loaded.transcript_id)

        self._background(
            self.services.library,
            query,
            done=show,
            failed=lambda exc: self.notify(user_message(exc, "reading the library"), "error"),
        )

    def _search_library(self, query: str) -> None:
        self._library_query = query
        self.refresh_library()

    def _focus_search(self) -> None:
        self.library_panel.search.setFocus()
        self.library_panel.search.selectAll()

    def _library_current_changed(self, current, _previous) -> None:
        pass

    def _open_row(self, row: LibraryRow) -> None:
        if row.transcript_id is None:
            self.notify(f"“{row.name}” has no transcript yet.", "info")
            return
        self.open_transcript(row.transcript_id)

    # -- opening a transcript ------------------------------------------------------------
    def open_transcript(self, transcript_id: int) -> None:
        if self.services is None:
            return
        if (
            self.loaded is not None
            and self.loaded.transcript_id == transcript_id
            and self.editor.is_open
        ):
            self.editor_panel.view.setFocus()
            return
        self.opening = transcript_id
        self.statusBar().showMessage("Opening…")

        def show(loaded: LoadedTranscript) -> None:
            if self.opening != transcript_id:
                return
            self.opening = None
            self._show_loaded(loaded)

        self._background(
            self.services.load,
            transcript_id,
            done=show,
            failed=lambda exc: self._open_failed(transcript_id, exc),
        )

    def _open_failed(self, transcript_id: int, exc: BaseException) -> None:
        if self.opening == transcript_id:
            self.opening = None
        self.notify(user_message(exc, "opening the transcript"), "error")
        self._update_status()

    def _show_loaded(self, loaded: LoadedTranscript) -> None:
        previous = self.loaded
        self.loaded = loaded
        live = any(i.active and i.transcript_id == loaded.transcript_id for i in self.queue.items)
        self.editor.open_transcript(
            loaded.transcript_id,
            loaded.title,
            loaded.segments,
            loaded.duration,
            loaded.history,
            live=live,
        )
        self.library_panel.select_transcript(loaded.transcript_id)
        self.setWindowTitle(f"{loaded.title} — Tiro")
        # A long transcript is hundreds of thousands of objects that live until it closes:
        # keep them out of the garbage collector's full passes, which would otherwise stall
        # a keystroke for tens of milliseconds now and then.
        QTimer.singleShot(0, gc.freeze)
        if loaded.status == "failed" and loaded.error:
            self.notify(f"This transcription failed: {loaded.error}", "error")
        self._update_enabled()
        self._update_status()
        if previous is None or previous.path != loaded.path or not self.player.is_loaded:
            self._load_audio(loaded)

    def _load_audio(self, loaded: LoadedTranscript) -> None:
        assert self.services is not None
        self.player.unload()
        path = loaded.path

        def ready(samples) -> None:
            if self.loaded is None or self.loaded.path != path:
                return
            self.player.load_samples(path, samples, PLAYBACK_RATE)
            self.player.set_speed(self.settings.speed)
            self.player.set_volume(self.settings.volume)
            self._update_enabled()

        def failed(exc: BaseException) -> None:
            if self.loaded is not None and self.loaded.path == path:
                self.notify(
                    user_message(exc, "decoding the audio for playback", Path(path).name),
                    "warning",
                )

        self._background(
            self.services.playback_audio, loaded.recording_id, path, done=ready, failed=failed
        )

    # -- importing and recording ---------------------------------------------------------
    def choose_files(self) -> None:
        patterns = " ".join(f"*{s}" for s in MEDIA_SUFFIXES)
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Import Audio or Video",
            str(Path.home()),
            f"Audio and video ({patterns});;All files (*)",
        )
        if files:
            self.import_files([Path(f) for f in files])

    def import_files(self, paths: list[Path], kind: str = "import") -> list[QueueItem]:
        if self.services is None:
            self.notify("Tiro cannot import files without its database.", "error")
            return []
        items = []
        for path in paths:
            if path.is_dir():
                self.notify(
                    f"“{path.name}” is a folder; drop audio or video files instead.", "warning"
                )
                continue
            items.append(self.queue.add(JobRequest(kind, path)))  # type: ignore[arg-type]
        if items:
            self.queue_panel.list.setCurrentIndex(self.queue.index(self.queue.rowCount() - 1))
        return items

    def open_recorder(self) -> None:
        dialog = RecordDialog(
            self,
            preferred_device=self.settings.input_device,
            recorder_factory=self.recorder_factory,
        )
        dialog.recorded.connect(self._recorded)
        self._record_dialog = dialog
        dialog.open()

    def _recorded(self, path: Path) -> None:
        dialog = getattr(self, "_record_dialog", None)
        if dialog is not None:
            self.settings.input_device = dialog.selected_device_name()
        self.notify(f"Saved the recording as {path.name}; transcribing it now.", "info")
        self.import_files([path], kind="recording")

    def retranscribe(self, transcript_id: int, segment_ids: list[int]) -> None:
        if self.loaded is None:
            return
        self.queue.add(
            JobRequest("retranscribe", Path(self.loaded.path), transcript_id, tuple(segment_ids)),
            name=f"{self.loaded.title} · {len(segment_ids)} segment"
            + ("s" if len(segment_ids) != 1 else ""),
        )

    def _background(self, fn, *args, done=None, failed=None):
        """Blocking work in the thread pool; its answer is dropped if the window has closed."""
        return run_in_thread(fn, *args, done=done, failed=failed, owner=self)

    def _make_session(self, transcript_id: int, segments, listener):
        assert self.services is not None
        return self.services.session(
            transcript_id,
            segments,
            listener,
            self.dispatcher.post,
            lambda exc: user_message(exc, "saving your change"),
        )

    def _run_job(self, request, cancel, emit) -> None:
        assert self.services is not None
        self.services.run_job(request, cancel, emit)

    def _job_started(self, item: QueueItem) -> None:
        for notice in item.notices:
            self.notify(notice, "warning")
        self.refresh_library()
        if item.request.kind != "retranscribe" and (self.loaded is None or not self.editor.is_open):
            self.open_transcript(item.transcript_id)  # watch the first one come in
        elif self.loaded is not None and self.loaded.transcript_id == item.transcript_id:
            self.editor.set_live(True)

    def _segments_added(self, transcript_id: int, segments) -> None:
        if self.editor.transcript_id == transcript_id:
            self.editor.append_live(segments)

    def _segments_changed(self, transcript_id: int, segments) -> None:
        if self.editor.transcript_id == transcript_id:
            from app.editing.session import EditOutcome

            self.editor.on_outcome(EditOutcome("retranscribe", changed=tuple(segments)))

    def _job_finished(self, item: QueueItem) -> None:
        if item.status == "failed":
            self.notify(item.message, "error")
        elif item.status == "done" and item.request.kind != "retranscribe":
            self.statusBar().showMessage(f"Transcribed {item.name}", 5000)
        if item.transcript_id is not None and self.editor.transcript_id == item.transcript_id:
            self.editor.set_live(False)
            if item.status == "done" or item.request.kind == "retranscribe":
                self._reload_open_transcript()
        self.refresh_library()
        self._update_status()

    def _reload_open_transcript(self) -> None:
        """Take the store's view (positions, history) after a job wrote to the open transcript."""
        if self.services is None or self.loaded is None:
            return
        transcript_id = self.loaded.transcript_id

        def apply(loaded: LoadedTranscript) -> None:
            if self.editor.transcript_id != transcript_id:
                return
            self.loaded = loaded
            self.editor.duration = loaded.duration
            self.editor.view.commit_editor()
            if self.editor.view.current_editor() is None:
                self.transcript_model.reconcile(loaded.segments)
                if self.editor.session is not None:
                    for s in loaded.segments:
                        self.editor.session.confirmed.setdefault(s.id, s.text)
            self.editor.set_history(loaded.history)
            self.editor.refresh_header()

        self._background(
            self.services.load,
            transcript_id,
            done=apply,
            failed=lambda exc: log.warning("reloading failed: %s", exc),
        )

    # -- drag and drop -------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.import_files(paths)

    def _segment_menu(self, pos) -> None:
        """Right-click on a segment: the commands that act on it."""
        view = self.editor_panel.view
        index = view.indexAt(pos)
        if not index.isValid():
            return
        if index.row() not in view.selected_rows():
            view.select_row(index.row(), scroll=False)
        menu = QMenu(self)
        for action_id in (
            "play_segment",
            None,
            "split",
            "merge",
            "insert",
            "delete_segment",
            None,
            "retime",
            "speaker",
            None,
            "verify",
            "retranscribe",
        ):
            if action_id is None:
                menu.addSeparator()
            else:
                menu.addAction(self.actions[action_id])
        menu.popup(view.viewport().mapToGlobal(pos))
        self._context_menu = menu

    # -- editing dialogs -----------------------------------------------------------------
    def retime_segment(self) -> None:
        segment = self.editor.current_segment()
        if segment is None:
            return
        playhead = self.player.position if self.player.is_loaded else None
        dialog = RetimeDialog(segment.start, segment.end, playhead, self.editor.duration, self)
        if dialog.exec() and dialog.result_span is not None:
            self.editor.retime(*dialog.result_span)

    def choose_speaker(self) -> None:
        segment = self.editor.current_segment()
        if segment is None:
            return
        from PySide6.QtWidgets import QInputDialog

        names = self.editor.speakers()
        current = names.index(segment.speaker) if segment.speaker in names else 0
        name, ok = QInputDialog.getItem(
            self,
            "Set Speaker",
            "Who speaks in the selected segments?",
            names or [""],
            current,
            True,
        )
        if ok:
            self.editor.set_speaker(name)

    def insert_segment(self) -> None:
        after, start, end = self.editor.insert_defaults()
        playhead = self.player.position if self.player.is_loaded else None
        dialog = RetimeDialog(start, end, playhead, self.editor.duration, self, with_text=True)
        if dialog.exec() and dialog.result_span is not None:
            self.editor.insert(after, *dialog.result_span, dialog.text)

    # -- export --------------------------------------------------------------------------
    def choose_export(self) -> None:
        if self.loaded is None:
            return
        stem = Path(self.loaded.title).stem
        filters = ";;".join(FORMAT_FILTERS[f] for f in EXPORT_FORMATS)
        path, chosen = QFileDialog.getSaveFileName(
            self,
            "Export Transcript",
            str(Path.home() / f"{stem}.srt"),
            filters,
            FORMAT_FILTERS["srt"],
        )
        if not path:
            return
        fmt = next((f for f, label in FORMAT_FILTERS.items() if label == chosen), None)
        suffix = Path(path).suffix.lower().lstrip(".")
        if suffix in EXPORT_FORMATS:
            fmt = suffix
        fmt = fmt or "txt"
        target = Path(path) if Path(path).suffix else Path(path).with_suffix(f".{fmt}")
        self.export_to(target, fmt)

    def export_to(self, target: Path, fmt: str) -> None:
        if self.services is None or self.loaded is None:
            return
        self.editor.view.commit_editor()
        transcript_id = self.loaded.transcript_id

        def done(path: Path) -> None:
            self.notify(f"Exported to {path}.", "info")
            if self.editor.session is not None and self.editor.transcript_id == transcript_id:
                self.editor.session.exported(fmt)

        def export() -> Path:
            # Pending writes (the last typing) go first: the writer keeps order.
            if self.editor.session is not None:
                self.services.store.write(lambda _conn: None).result()
            return self.services.export(transcript_id, fmt, target)

        self._background(
            export,
            done=done,
            failed=lambda exc: self.notify(user_message(exc, "exporting"), "error"),
        )

    # -- deleting ------------------------------------------------------------------------
    def delete_current_recording(self) -> None:
        row = self.library_panel.current_row()
        if row is None and self.loaded is not None:
            row = next(
                (
                    r
                    for r in self.library_model.rows
                    if r.transcript_id == self.loaded.transcript_id
                ),
                None,
            )
        if row is not None:
            self.delete_recording(row)

    def delete_recording(self, row: LibraryRow) -> None:
        if self.services is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete Recording",
            f"Delete “{row.name}” from Tiro?\n\nIts transcripts, your corrections and any "
            "learning data made from it are deleted too. The original file stays where it is "
            "(recordings made in Tiro are deleted). This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        if self.loaded is not None and self.loaded.recording_id == row.recording_id:
            self._close_open_transcript()

        def done(_report) -> None:
            self.notify(f"Deleted “{row.name}” and everything made from it.", "info")
            self.refresh_library()

        self._background(
            self.services.delete_recordings,
            [row.recording_id],
            done=done,
            failed=lambda exc: self.notify(user_message(exc, "deleting"), "error"),
        )

    def _close_open_transcript(self) -> None:
        self.editor.close_transcript()
        self.player.unload()
        self.loaded = None
        self.setWindowTitle("Tiro")
        self._update_enabled()

    # -- settings and help ---------------------------------------------------------------
    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self.actions, self)
        if dialog.exec():
            self.apply_settings()

    def apply_settings(self) -> None:
        self.transcript_model.set_threshold(self.settings.unsure_threshold)
        self.player.typing_pauses = self.settings.typing_pauses_playback
        self.editor.follow_playback = self.settings.follow_playback
        for action_id, value in (
            ("typing_pauses", self.settings.typing_pauses_playback),
            ("follow_playback", self.settings.follow_playback),
        ):
            self.actions[action_id].blockSignals(True)
            self.actions[action_id].setChecked(value)
            self.actions[action_id].blockSignals(False)
        self.editor.refresh_header()

    def open_shortcuts(self) -> None:
        dialog = ShortcutsDialog(self.actions, self)
        self._shortcuts_dialog = dialog
        dialog.open()

    def _open_logs(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(log_file()).parent)))

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About Tiro",
            "<b>Tiro</b><br>A transcription editor that learns from you.<br><br>"
            "Everything runs on this computer: the model, your recordings, your corrections. "
            "Nothing is sent anywhere.",
        )

    def _toggle_show_changes(self, on: bool) -> None:
        self.settings.show_changes = on
        self.transcript_model.set_show_changes(on)

    def _toggle_follow(self, on: bool) -> None:
        self.settings.follow_playback = on
        self.editor.follow_playback = on

    def _toggle_typing_pauses(self, on: bool) -> None:
        self.settings.typing_pauses_playback = on
        self.player.typing_pauses = on

    def _speed_changed(self, speed: float) -> None:
        if speed != self.settings.speed:
            self.settings.speed = speed
            self.statusBar().showMessage(f"Speed {speed:g}×", 1500)

    # -- learning ------------------------------------------------------------------------
    def _consent_enabled(self) -> bool:
        try:
            return self.services is not None and self.services.consent_enabled()
        except Exception as exc:
            log.warning("reading consent failed: %s", exc)
            return False

    def _toggle_learning(self, on: bool) -> None:
        action = self.actions["learning"]
        if on:
            granted = self.ask_consent()
            if not granted:
                action.blockSignals(True)
                action.setChecked(False)
                action.blockSignals(False)
        else:
            self.set_learning(False)

    def ask_consent(self) -> bool:
        if self.services is None:
            return False
        text, version = self.services.consent_text()
        dialog = ConsentDialog(text, version, self)
        if dialog.exec():
            self.set_learning(True)
            return True
        return False

    def set_learning(self, enabled: bool, then=None) -> None:
        assert self.services is not None
        future = self.services.set_consent(enabled)

        def finished(f) -> None:
            error = f.exception()
            if error is not None:
                self.notify(user_message(error, "saving your choice"), "error")
            else:
                self.notify(
                    "Learning is on: Tiro learns from the segments you review."
                    if enabled
                    else "Learning is off: nothing is used for learning and the audio clips "
                    "were deleted.",
                    "info",
                )
            action = self.actions["learning"]
            action.blockSignals(True)
            action.setChecked(enabled if error is None else not enabled)
            action.blockSignals(False)
            if then is not None:
                then()

        future.add_done_callback(lambda f: self.dispatcher.post(lambda: finished(f)))

    def open_learning_data(self) -> None:
        if self.services is None:
            return
        dialog = LearningDataDialog(self)
        self._learning_dialog = dialog

        def load() -> None:
            self._background(
                self.services.learning_figures,
                done=dialog.show_figures,
                failed=lambda exc: dialog.show_error(user_message(exc, "counting")),
            )

        def toggle() -> None:
            if self._consent_enabled():
                self.set_learning(False, then=load)
            elif self.ask_consent():
                QTimer.singleShot(300, load)

        def export() -> None:
            path, _ = QFileDialog.getSaveFileName(
                dialog,
                "Export Learning Data",
                str(Path.home() / "tiro-learning-data.zip"),
                "Zip archive (*.zip)",
            )
            if path:
                self._background(
                    self.services.export_learning_data,
                    Path(path),
                    done=lambda report: self.notify(
                        f"Exported the learning data to {path}.", "info"
                    ),
                    failed=lambda exc: self.notify(user_message(exc, "exporting"), "error"),
                )

        def delete_all() -> None:
            answer = QMessageBox.question(
                dialog,
                "Delete Everything",
                "Delete every recording, transcript, correction and learning example from "
                "Tiro? Original files you imported stay where they are. This cannot be undone.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer == QMessageBox.StandardButton.Yes:
                self._close_open_transcript()
                self._background(
                    self.services.delete_recordings,
                    None,
                    done=lambda _r: (
                        self.notify("Deleted everything.", "info"),
                        self.refresh_library(),
                        load(),
                    ),
                    failed=lambda exc: self.notify(user_message(exc, "deleting"), "error"),
                )

        dialog.consentToggleRequested.connect(toggle)
        dialog.exportRequested.connect(export)
        dialog.deleteAllRequested.connect(delete_all)
        load()
        dialog.open()

    # -- closing -------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closing:
            event.accept()
            return
        if self.queue.busy:
            running = sum(1 for i in self.queue.items if i.active)
            many = running != 1
            answer = QMessageBox.question(
                self,
                "Quit Tiro",
                f"{running} transcription{'s are' if many else ' is'} still running or waiting. "
                f"Quit and cancel {'them' if many else 'it'}? Everything transcribed so far "
                "is kept.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Cancel jobs, save the last typing, stop sound, close the database."""
        if self._closing:
            return
        self._closing = True
        self.queue.cancel_all()
        self.editor.view.close_editor()
        self.editor.retry_unsaved()
        if not self.queue.wait_idle(CLOSE_WAIT_SECONDS):
            log.warning("a transcription did not stop within %.0f s", CLOSE_WAIT_SECONDS)
        self.player.close()
        self.settings.save_window_state(self.saveGeometry(), self.saveState())
        self.settings.save_splitter_state("main", self.splitter.saveState())
        self.settings.save_splitter_state("left", self.left_splitter.saveState())
        self.settings.sync()
        if self.services is not None:
            try:
                self.services.close()
            except Exception:
                log.exception("closing the store failed")

    def _restore_window(self) -> None:
        geometry, state = self.settings.window_state()
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        for name, splitter in (("main", self.splitter), ("left", self.left_splitter)):
            saved = self.settings.splitter_state(name)
            if saved is not None:
                splitter.restoreState(saved)

    # -- errors --------------------------------------------------------------------------
    def show_exception(self, exc: BaseException) -> None:
        self.notify(user_message(exc), "error")
