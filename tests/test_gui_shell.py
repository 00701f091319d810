"""The window's shell without a transcript: shortcuts, accessibility, settings location."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QComboBox,
    QLineEdit,
    QToolButton,
    QWidget,
)

from app.gui.actions import ACTIONS, ActionRegistry, plain_text
from app.gui.dialogs.shortcuts import ShortcutsDialog, native
from app.gui.main_window import MainWindow
from app.gui.settings import Settings
from app.gui.theme import apply_theme

CONTROLS = (QAbstractButton, QLineEdit, QAbstractItemView, QAbstractSlider, QComboBox)


@pytest.fixture
def bare_window(qtbot, tiro_home: Path) -> MainWindow:
    """The main window with no database behind it (what a user sees if it cannot open)."""
    from PySide6.QtWidgets import QApplication

    apply_theme(QApplication.instance())
    window = MainWindow(services=None, settings=Settings())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.shutdown()


def test_default_shortcuts_do_not_collide(bare_window: MainWindow) -> None:
    assert bare_window.actions.conflicts() == {}


def test_help_lists_every_shortcut(qtbot, bare_window: MainWindow) -> None:
    dialog = ShortcutsDialog(bare_window.actions, bare_window)
    qtbot.addWidget(dialog)
    rows = dict(dialog.rows())
    for spec in ACTIONS:
        if spec.keys:
            assert rows[plain_text(spec.text)].startswith(native(spec.keys[0]))
    assert "Merge with the previous segment" in rows
    dialog.filter.setText("loop")
    visible = [
        dialog.tree.topLevelItem(g).child(c).text(0)
        for g in range(dialog.tree.topLevelItemCount())
        for c in range(dialog.tree.topLevelItem(g).childCount())
        if not dialog.tree.topLevelItem(g).child(c).isHidden()
    ]
    assert visible == ["Loop Current Segment"]


def test_every_control_has_an_accessible_name(bare_window: MainWindow) -> None:
    unnamed = []
    for widget in bare_window.findChildren(QWidget):
        if not widget.isVisibleTo(bare_window):
            continue
        if isinstance(widget, CONTROLS):
            label = widget.accessibleName()
            if isinstance(widget, QAbstractButton):
                label = label or widget.text()
            if isinstance(widget, QToolButton) and widget.defaultAction() is not None:
                label = label or widget.defaultAction().text()
            if not label.strip():
                unnamed.append(f"{type(widget).__name__} in {type(widget.parent()).__name__}")
    assert unnamed == []


def test_settings_live_under_tiro_home(tiro_home: Path) -> None:
    settings = Settings()
    settings.unsure_threshold = 0.35
    settings.set_shortcut("play_pause", "F9")
    settings.sync()
    assert Path(settings.qsettings.fileName()) == tiro_home / "settings.ini"
    again = Settings()
    assert again.unsure_threshold == pytest.approx(0.35)
    owner = QWidget()
    registry = ActionRegistry(owner, again)
    assert [s.toString() for s in registry["play_pause"].shortcuts()] == ["F9"]


def test_without_a_database_the_window_says_so(bare_window: MainWindow) -> None:
    bare_window._after_show()
    assert bare_window.message_bar.kind == "error"
    assert "database" in bare_window.message_bar.text


def test_without_a_display_tiro_says_so_instead_of_aborting(monkeypatch, capsys) -> None:
    import sys

    from app.gui import run_app

    if not sys.platform.startswith("linux"):
        pytest.skip("Qt needs no display server on this platform")
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    assert run_app([]) == 2
    assert "no display found" in capsys.readouterr().err
