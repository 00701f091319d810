"""Every command of the app, with its name, group and default keys, in one table.

Menus, toolbars, the shortcut settings and the Help dialog are all built from
``ACTIONS``, so a shortcut cannot be listed in one place and bound differently in
another. Playback keys avoid the ones a text field uses (Ctrl+Left, Home, ...),
so they work while typing in a segment.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence

from app.gui.settings import Settings


@dataclass(frozen=True, slots=True)
class ActionSpec:
    id: str
    text: str
    group: str
    keys: tuple[str, ...] = ()
    tip: str = ""
    checkable: bool = False


FILE, EDIT, VIEW, PLAY, LEARN, HELP = "File", "Edit", "View", "Playback", "Learning", "Help"


def _alt(arrow: str) -> tuple[str, ...]:
    """Alt+arrow for playback, except on macOS, where Option+arrow moves by word in text:
    there Cmd+Option+arrow (Qt's Ctrl is the Command key)."""
    if sys.platform == "darwin":
        return (f"Ctrl+Alt+{arrow}",)
    return (f"Alt+{arrow}", f"Ctrl+Alt+{arrow}")


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("import", "&Import Audio or Video…", FILE, ("Ctrl+O",), "Add files to transcribe"),
    ActionSpec("record", "&Record…", FILE, ("Ctrl+R",), "Record from a microphone"),
    ActionSpec("export", "&Export Transcript…", FILE, ("Ctrl+E",), "Save as TXT, SRT, VTT or JSON"),
    ActionSpec(
        "delete_recording", "&Delete Recording…", FILE, (), "Delete it and all data from it"
    ),
    ActionSpec("settings", "&Settings…", FILE, ("Ctrl+,",)),
    ActionSpec("quit", "&Quit", FILE, ("Ctrl+Q",)),
    ActionSpec("undo", "&Undo", EDIT, ("Ctrl+Z",)),
    ActionSpec("redo", "&Redo", EDIT, ("Ctrl+Shift+Z", "Ctrl+Y")),
    ActionSpec("find", "&Find…", EDIT, ("Ctrl+F",)),
    ActionSpec("replace", "Find and &Replace…", EDIT, ("Ctrl+H",)),
    ActionSpec("find_next", "Find &Next", EDIT, ("F3",)),
    ActionSpec("find_previous", "Find Pre&vious", EDIT, ("Shift+F3",)),
    ActionSpec("next_unsure", "Next &Unsure Word", EDIT, ("F8",), "Jump to the next word to check"),
    ActionSpec("previous_unsure", "Previous Unsure Word", EDIT, ("Shift+F8",)),
    ActionSpec("split", "&Split Segment at Cursor", EDIT, ("Ctrl+Return",)),
    ActionSpec("merge", "&Merge with Next Segment", EDIT, ("Ctrl+J",)),
    ActionSpec("insert", "&Insert Segment After", EDIT, ("Ctrl+Shift+Return",)),
    ActionSpec("delete_segment", "&Delete Segment", EDIT, ("Ctrl+Shift+Delete",)),
    ActionSpec("retime", "Edit Start and &End…", EDIT, ("Ctrl+T",)),
    ActionSpec("speaker", "Set S&peaker…", EDIT, ("Ctrl+Shift+S",), "Name who speaks"),
    ActionSpec("set_start", "Set Start to Playback Position", EDIT, ("Ctrl+[",)),
    ActionSpec("set_end", "Set End to Playback Position", EDIT, ("Ctrl+]",)),
    ActionSpec(
        "verify", "Mark Segment &Verified", EDIT, ("Ctrl+D",), "You checked it: it is right"
    ),
    ActionSpec("verify_all", "Mark &Whole Transcript Verified", EDIT, ("Ctrl+Shift+D",)),
    ActionSpec("retranscribe", "Re-&transcribe Selected Segments", EDIT, ("Ctrl+Shift+T",)),
    ActionSpec("show_changes", "Show &Changes", VIEW, ("Ctrl+Shift+C",), checkable=True),
    ActionSpec("follow_playback", "&Follow Playback", VIEW, (), checkable=True),
    ActionSpec("focus_library", "Go to &Library", VIEW, ("Ctrl+1",)),
    ActionSpec("focus_editor", "Go to &Transcript", VIEW, ("Ctrl+2",)),
    ActionSpec("focus_queue", "Go to &Queue", VIEW, ("Ctrl+3",)),
    ActionSpec("search_library", "&Search Library", VIEW, ("Ctrl+K",)),
    ActionSpec("play_pause", "&Play / Pause", PLAY, ("Ctrl+Space", "Media Play")),
    ActionSpec("play_segment", "Play from &Segment Start", PLAY, ("Ctrl+Shift+Space",)),
    ActionSpec("rewind", "&Rewind", PLAY, _alt("Left")),
    ActionSpec("forward", "&Forward", PLAY, _alt("Right")),
    ActionSpec("slower", "S&lower", PLAY, _alt("Down")),
    ActionSpec("faster", "F&aster", PLAY, _alt("Up")),
    ActionSpec("normal_speed", "&Normal Speed", PLAY, ("Alt+0",)),
    ActionSpec("loop", "&Loop Current Segment", PLAY, ("Ctrl+L",), checkable=True),
    ActionSpec("typing_pauses", "&Typing Pauses Playback", PLAY, (), checkable=True),
    ActionSpec("learning", "&Learn from My Corrections…", LEARN, (), checkable=True),
    ActionSpec("learning_data", "Learning &Data…", LEARN, ()),
    ActionSpec("shortcuts", "&Keyboard Shortcuts", HELP, ("F1",)),
    ActionSpec("open_logs", "Open &Log Folder", HELP, ()),
    ActionSpec("about", "&About Tiro", HELP, ()),
)

SPECS = {spec.id: spec for spec in ACTIONS}
# Keys a text field handles itself (the editor decides when to pass them on).
TEXT_EDITING = frozenset({"undo", "redo", "quit"})


def plain_text(text: str) -> str:
    return text.replace("&", "").replace("…", "")


class ActionRegistry(QObject):
    """The QActions of one window, with the user's shortcuts applied."""

    def __init__(self, parent: QObject, settings: Settings) -> None:
        super().__init__(parent)
        self.settings = settings
        self.actions: dict[str, QAction] = {}
        self.by_keys: dict[str, QAction] = {}  # key sequence text -> action (not text editing)
        for spec in ACTIONS:
            action = QAction(spec.text, parent)
            action.setObjectName(f"action_{spec.id}")
            action.setCheckable(spec.checkable)
            if spec.tip:
                action.setStatusTip(spec.tip)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.actions[spec.id] = action
        self.apply_shortcuts()

    def __getitem__(self, action_id: str) -> QAction:
        return self.actions[action_id]

    def connect(self, action_id: str, slot: Callable[..., object]) -> None:
        action = self.actions[action_id]
        if action.isCheckable():
            action.toggled.connect(slot)
        else:
            action.triggered.connect(lambda _checked=False: slot())

    def keys_for(self, action_id: str) -> tuple[str, ...]:
        custom = self.settings.shortcut(action_id)
        if custom is not None:
            return tuple(k for k in custom.split(";") if k)
        return SPECS[action_id].keys

    def apply_shortcuts(self) -> None:
        self.by_keys = {}
        for action_id, action in self.actions.items():
            sequences = [QKeySequence(k) for k in self.keys_for(action_id)]
            action.setShortcuts(sequences)
            if action_id not in TEXT_EDITING:
                for sequence in sequences:
                    self.by_keys[sequence.toString()] = action
            tip = plain_text(SPECS[action_id].text)
            if sequences:
                native = sequences[0].toString(QKeySequence.SequenceFormat.NativeText)
                tip = f"{tip} ({native})"
            action.setToolTip(tip)

    def conflicts(self) -> dict[str, list[str]]:
        """Key sequences bound to more than one action."""
        seen: dict[str, list[str]] = {}
        for action_id in self.actions:
            for keys in self.keys_for(action_id):
                normalized = QKeySequence(keys).toString()
                seen.setdefault(normalized, []).append(action_id)
        return {k: v for k, v in seen.items() if len(v) > 1}
