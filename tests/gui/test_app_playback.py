"""Playback in the editor: keys, click-to-seek, the playing word, loop, speed, typing pauses,
and "played through" as a review signal.

The sound card is the one fake (this machine has none): ``FakeOutputStream`` pulls
audio through the player's real callback in real time, so the clock, the
time-stretch and the highlight run as they would with speakers.
"""

from __future__ import annotations

import itertools

import pytest
from gui_support import open_and_wait, seed_transcript, settle, store_of
from PySide6.QtCore import QPoint, Qt

from app.gui.editor.model import COL_TEXT
from app.gui.main_window import MainWindow

CTRL = Qt.KeyboardModifier.ControlModifier
ALT = Qt.KeyboardModifier.AltModifier


@pytest.fixture
def opened(qtbot, window: MainWindow, transcribed_meeting) -> MainWindow:
    transcript_id = seed_transcript(window.services, transcribed_meeting)
    open_and_wait(qtbot, window, transcript_id)
    window.editor.view.setFocus()
    return window


def test_play_pause_and_the_playing_word_follows(qtbot, opened: MainWindow) -> None:
    view, player, model = opened.editor.view, opened.player, opened.transcript_model
    qtbot.keyClick(view, Qt.Key.Key_Space, CTRL)
    assert player.playing
    qtbot.wait(1500)
    qtbot.keyClick(view, Qt.Key.Key_Space, CTRL)
    assert not player.playing
    position = player.position
    assert 1.0 < position < 2.5
    row, token = model.playing
    tokens = model.tokens(row)
    assert tokens[token].start <= position + 0.05
    assert token + 1 == len(tokens) or tokens[token + 1].start > position - 0.05
    assert opened.actions["play_pause"].text() == "&Play"


def test_clicking_a_word_seeks_there_and_keys_skip(qtbot, opened: MainWindow) -> None:
    view, player, model = opened.editor.view, opened.player, opened.transcript_model
    row = 2
    token = model.tokens(row)[2]
    rect = view.visualRect(model.index(row, COL_TEXT))
    layout, _ = view.delegate._layout(row, view.delegate.text_width())
    line = layout.lineForTextPosition(token.first)
    origin = view.delegate.text_origin(rect)
    x = int(origin.x() + line.cursorToX(token.first)[0]) + 3
    y = int(origin.y() + line.y() + line.height() / 2)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    assert player.position == pytest.approx(token.start, abs=0.01)
    editor = view.current_editor()
    assert editor is not None and abs(editor.textCursor().position() - token.first) <= 1
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    qtbot.keyClick(view, Qt.Key.Key_Left, ALT)  # rewind three seconds
    assert player.position == pytest.approx(max(0.0, token.start - 3.0), abs=0.01)
    qtbot.keyClick(view, Qt.Key.Key_Right, ALT)
    assert player.position == pytest.approx(max(0.0, token.start - 3.0) + 3.0, abs=0.01)


def test_speed_keys_keep_pitch_range_and_loop_stays_in_the_segment(
    qtbot, opened: MainWindow
) -> None:
    view, player = opened.editor.view, opened.player
    qtbot.keyClick(view, Qt.Key.Key_Up, ALT)
    qtbot.keyClick(view, Qt.Key.Key_Up, ALT)
    assert player.speed == pytest.approx(1.25)
    for _ in range(8):
        qtbot.keyClick(view, Qt.Key.Key_Down, ALT)
    assert player.speed == pytest.approx(0.5)  # the floor
    qtbot.keyClick(view, Qt.Key.Key_0, ALT)
    assert player.speed == 1.0
    view.select_row(1)
    segment = opened.editor.document[1]
    qtbot.keyClick(view, Qt.Key.Key_L, CTRL)
    assert player.looping and opened.actions["loop"].isChecked()
    player.seek(segment.start)
    player.set_speed(2.0)
    player.play()
    seen = []
    for _ in range(int((segment.end - segment.start) / 2 * 1000 / 50) + 30):
        qtbot.wait(50)
        seen.append(player.position)
    player.pause()
    assert min(seen) >= segment.start - 0.01 and max(seen) <= segment.end + 0.01
    assert any(b < a for a, b in itertools.pairwise(seen))  # it went round


def test_typing_pauses_playback_then_resumes(qtbot, opened: MainWindow) -> None:
    view, player = opened.editor.view, opened.player
    assert opened.actions["typing_pauses"].isChecked()
    view.edit_row(3, -1)
    qtbot.waitUntil(lambda: view.current_editor() is not None, timeout=2000)
    player.play()
    qtbot.wait(300)
    qtbot.keyClicks(view.current_editor(), " ok")
    assert not player.playing
    qtbot.waitUntil(lambda: player.playing, timeout=3000)  # resumes a moment after typing stops
    player.pause()


def test_listening_to_segments_unchanged_marks_them_reviewed(qtbot, opened: MainWindow) -> None:
    document, player = opened.editor.document, opened.player
    first, second = document[0], document[1]
    player.seek(max(0.0, first.start - 0.1))
    player.set_speed(2.0)
    player.play()
    qtbot.waitUntil(lambda: player.position > second.end + 0.2, timeout=30_000)
    player.pause()
    settle(qtbot, opened)
    played = store_of(opened).read(
        lambda conn: [
            row[0]
            for row in conn.execute("SELECT segment_id FROM review_signals WHERE kind = 'played'")
        ]
    )
    assert first.id in played and second.id in played
    qtbot.waitUntil(lambda: opened.editor.document[0].review_source == "played", timeout=2000)
    assert store_of(opened).segment(first.id).review_source == "played"
    assert opened.editor.document[2].id not in played  # not heard to its end
