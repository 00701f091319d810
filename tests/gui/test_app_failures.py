"""Failures while editing reach the user as one sentence and lose nothing.

A full disk is simulated with a file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored):
SQLite's next write past the limit fails as it would on a full disk. The store
turns that into its typed error; the editor shows the sentence, keeps the typed
text on screen (pending) and saves it once writing works again.
"""

from __future__ import annotations

import resource
import signal
import sys

import pytest
from gui_support import open_and_wait, seed_transcript, settle, store_of
from PySide6.QtCore import Qt

from app.gui.main_window import MainWindow

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")


def test_a_full_disk_keeps_the_edit_and_saves_it_later(
    qtbot, window: MainWindow, transcribed_meeting
) -> None:
    transcript_id = seed_transcript(window.services, transcribed_meeting)
    open_and_wait(qtbot, window, transcript_id)
    store = store_of(window)
    first = window.editor.document[0]
    limit = 1024  # no file may grow past 1 KB: the database's next page write fails
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        view = window.editor.view
        view.edit_row(0, -1)
        qtbot.keyClicks(view.current_editor(), " and more")
        qtbot.keyClick(view.current_editor(), Qt.Key.Key_Escape)
        qtbot.waitUntil(lambda: window.message_bar.kind == "error", timeout=10_000)
        message = window.message_bar.text
        assert "disk" in message.lower() or "space" in message.lower()
        assert "\n" not in message and "Traceback" not in message
        shown = window.editor.document[0]
        assert shown.text.endswith("and more") and shown.pending  # still on screen, unsaved
        assert store.segment(first.id).text == first.text  # the store is unchanged
        assert window.editor.session.unsaved() == {first.id: shown.text}
        assert window.editor._retry_timer.isActive()  # it will try again by itself
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    window.editor.retry_unsaved()  # what the retry timer does
    settle(qtbot, window)
    assert store.segment(first.id).text.endswith("and more")
    assert not window.editor.document[0].pending
    assert window.editor.session.unsaved() == {}
    assert window.isVisible()
