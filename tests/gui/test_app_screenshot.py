"""Renders the main window with a transcript loaded to a PNG, so a person can look at it.

The picture is written to ``build/screenshots/`` (or ``$TIRO_SCREENSHOTS``): a real
transcription of real speech, one segment corrected, one verified, playback
paused on a word, the unsure words marked.
"""

from __future__ import annotations

import os
from pathlib import Path

from gui_support import open_and_wait, seed_transcript, settle
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from app.gui.main_window import MainWindow

REPO = Path(__file__).resolve().parents[2]


def screenshot_dir() -> Path:
    folder = Path(os.environ.get("TIRO_SCREENSHOTS", REPO / "build" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def distinct_colours(image: QImage, step: int = 7) -> int:
    seen = set()
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            seen.add(image.pixel(x, y))
    return len(seen)


def test_main_window_screenshot(qtbot, window: MainWindow, transcribed_meeting) -> None:
    transcript_id = seed_transcript(window.services, transcribed_meeting)
    window.refresh_library()
    open_and_wait(qtbot, window, transcript_id)
    view = window.editor.view
    document = window.editor.document
    # One correction, one explicit check, and playback paused on a word of segment 3.
    window.editor.session.set_text(document[1], document[1].text.replace(",", "", 1) + " Thanks.")
    view.select_row(0)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, window)
    target = document[3]
    token = window.transcript_model.tokens(3)[min(4, len(window.transcript_model.tokens(3)) - 1)]
    window.player.seek((token.start + token.end) / 2)
    view.select_row(3)
    qtbot.waitUntil(lambda: window.transcript_model.playing is not None, timeout=2000)
    qtbot.waitUntil(lambda: bool(window.library_model.rows), timeout=5000)
    window.library_panel.select_transcript(transcript_id)
    qtbot.wait(200)

    image = window.grab().toImage()
    path = screenshot_dir() / "main-window.png"
    assert image.save(str(path))
    assert path.stat().st_size > 20_000
    assert image.width() >= 1200 and image.height() >= 700
    assert distinct_colours(image) > 40  # text, chips, marks: not a blank or one-colour window
    assert window.transcript_model.playing[0] == 3 and target.id == document[3].id

    window.editor.open_find(replace=True)
    qtbot.keyClicks(window.editor_panel.find_bar.find_field, "the")
    qtbot.waitUntil(lambda: bool(window.editor.matches), timeout=2000)
    window.actions["show_changes"].setChecked(True)
    qtbot.wait(100)
    assert window.grab().toImage().save(str(screenshot_dir() / "main-window-find-changes.png"))
