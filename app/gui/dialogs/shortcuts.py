"""The Help dialog listing every keyboard shortcut, grouped, with a filter."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.gui.actions import ACTIONS, ActionRegistry, plain_text

EDITOR_KEYS = (
    ("Type on a segment", "Start correcting it (the text cursor goes to its end)"),
    ("Enter", "Next segment"),
    ("Shift+Enter", "Previous segment"),
    ("Up on the first line / Down on the last", "Move to the neighbouring segment"),
    ("Backspace at the start of a segment", "Merge with the previous segment"),
    ("Delete at the end of a segment", "Merge with the next segment"),
    ("Esc", "Stop editing (the text is kept)"),
    ("Click a word", "Play from that word and place the cursor there"),
)


def native(keys: str) -> str:
    return QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText)


class ShortcutsDialog(QDialog):
    def __init__(self, registry: ActionRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.setObjectName("shortcutsDialog")
        self.resize(620, 640)
        intro = QLabel(
            "Everything in Tiro works from the keyboard. Playback keys work while you type. "
            "Change them in Settings → Shortcuts.",
            self,
        )
        intro.setWordWrap(True)
        self.filter = QLineEdit(self)
        self.filter.setPlaceholderText("Filter")
        self.filter.setAccessibleName("Filter shortcuts")
        self.filter.setClearButtonEnabled(True)
        self.tree = QTreeWidget(self)
        self.tree.setObjectName("shortcutsTree")
        self.tree.setAccessibleName("Keyboard shortcuts")
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Command", "Keys"])
        self.tree.setRootIsDecorated(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        groups: dict[str, QTreeWidgetItem] = {}
        for spec in ACTIONS:
            keys = registry.keys_for(spec.id)
            if not keys:
                continue
            group = groups.get(spec.group)
            if group is None:
                group = QTreeWidgetItem(self.tree, [spec.group, ""])
                font = group.font(0)
                font.setBold(True)
                group.setFont(0, font)
                group.setFlags(Qt.ItemFlag.ItemIsEnabled)
                groups[spec.group] = group
            QTreeWidgetItem(group, [plain_text(spec.text), ", ".join(native(k) for k in keys)])
        editing = QTreeWidgetItem(self.tree, ["In the transcript", ""])
        font = editing.font(0)
        font.setBold(True)
        editing.setFont(0, font)
        for keys, what in EDITOR_KEYS:
            QTreeWidgetItem(editing, [what, keys])
        self.tree.expandAll()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)
        self.filter.textChanged.connect(self._apply_filter)

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            visible = 0
            for c in range(group.childCount()):
                child = group.child(c)
                hit = (
                    not needle or needle in child.text(0).lower() or needle in child.text(1).lower()
                )
                child.setHidden(not hit)
                visible += hit
            group.setHidden(visible == 0)

    def rows(self) -> list[tuple[str, str]]:
        """Every (command, keys) row shown, for tests."""
        out = []
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            for c in range(group.childCount()):
                out.append((group.child(c).text(0), group.child(c).text(1)))
        return out
