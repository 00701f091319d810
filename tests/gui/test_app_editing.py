"""Correcting a transcript in the app, with simulated keys, against the real store.

Transcripts are real model output for real speech (transcribed once per session
and put into each test's fresh store the way an import does).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gui_support import answer_dialog, open_and_wait, seed_transcript, settle, store_of
from PySide6.QtCore import QPoint, Qt

from app.gui.editor.model import COL_TEXT
from app.gui.main_window import MainWindow


def click_text_end(qtbot, window: MainWindow, row: int):
    """Click at the end of a segment's text, as a person would to correct its last word."""
    view = window.editor.view
    view.scrollTo(view.model().index(row, COL_TEXT))
    rect = view.visualRect(view.model().index(row, COL_TEXT))
    text_layout, _ = view.delegate._layout(row, view.delegate.text_width())
    last_line = text_layout.lineAt(text_layout.lineCount() - 1)
    origin = view.delegate.text_origin(rect)
    x = int(origin.x() + last_line.naturalTextWidth()) + 2
    y = int(origin.y() + last_line.y() + last_line.height() / 2)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    qtbot.waitUntil(lambda: view.current_editor() is not None, timeout=3000)
    return view.current_editor()


def replace_last_word(qtbot, editor, new_word: str) -> str:
    """Backspace over the last word and type another; returns the word removed."""
    last = editor.toPlainText().split()[-1]
    qtbot.keyClick(editor, Qt.Key.Key_End)
    for _ in last:
        qtbot.keyClick(editor, Qt.Key.Key_Backspace)
    qtbot.keyClicks(editor, new_word)
    return last


def edit_log(window: MainWindow, transcript_id: int):
    return store_of(window).edit_log(transcript_id)


def signals(window: MainWindow, kind: str) -> list[tuple]:
    return store_of(window).read(
        lambda conn: conn.execute(
            "SELECT segment_id, detail_json FROM review_signals WHERE kind = ? ORDER BY id", (kind,)
        ).fetchall()
    )


def test_typing_a_correction_is_logged_reviewed_and_becomes_a_learning_example(
    qtbot, window: MainWindow, transcribed_meeting
) -> None:
    from retrain.contract import build_examples

    transcript_id = seed_transcript(window.services, transcribed_meeting)
    window.services.set_consent(True).result()
    open_and_wait(qtbot, window, transcript_id)
    first = window.editor.document[0]
    editor = click_text_end(qtbot, window, 0)
    removed = replace_last_word(qtbot, editor, "rollout.")
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # commit and move to the next segment
    settle(qtbot, window)
    expected = first.text[: first.text.rindex(removed)] + "rollout."

    stored = store_of(window).segment(first.id)
    assert stored.text == expected
    assert stored.reviewed and stored.review_source == "edited"
    (entry,) = [e for e in edit_log(window, transcript_id) if e.kind == "text"]
    assert entry.segment_id == first.id
    assert json.dumps(entry.payload).count("rollout.") >= 1
    assert window.editor.document[0].text == expected
    assert window.editor.view.current_row() == 1  # Enter moved on

    store_of(window).capture_snippets(transcript_id).result(timeout=60)
    result = build_examples(store_of(window))
    (example,) = [e for e in result.examples if e.segment_id == first.id]
    assert example.reference == expected
    assert example.hypothesis == first.original_text
    assert example.is_correction and example.audio.path.exists()


def test_mark_verified_and_verify_all(qtbot, window: MainWindow, transcribed_meeting) -> None:
    transcript_id = seed_transcript(window.services, transcribed_meeting)
    open_and_wait(qtbot, window, transcript_id)
    view = window.editor.view
    view.select_row(2)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, window)
    segment = window.editor.document[2]
    assert segment.reviewed and segment.review_source == "verified"
    assert store_of(window).segment(segment.id).review_source == "verified"
    assert view.current_row() == 3  # verify, then on to the next
    assert [row[0] for row in signals(window, "verified")] == [segment.id]
    qtbot.keyClick(
        view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    settle(qtbot, window)
    assert all(s.reviewed for s in window.editor.document)
    n = len(window.editor.document)
    progress = window.editor_panel.header.progress
    qtbot.waitUntil(lambda: progress.text() == f"{n} of {n} checked", timeout=2000)


def test_undo_and_redo_also_after_a_restart(qtbot, make_window, transcribed_meeting) -> None:
    window = make_window()
    transcript_id = seed_transcript(window.services, transcribed_meeting)
    open_and_wait(qtbot, window, transcript_id)
    original = window.editor.document[0].text
    editor = click_text_end(qtbot, window, 0)
    replace_last_word(qtbot, editor, "tomorrow.")
    qtbot.keyClick(editor, Qt.Key.Key_Escape)  # keep the text, stop editing
    settle(qtbot, window)
    edited = window.editor.document[0].text
    assert edited != original
    assert window.actions["undo"].isEnabled()
    assert window.actions["undo"].text() == "&Undo Typing"

    view = window.editor.view
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, window)
    assert window.editor.document[0].text == original
    qtbot.keyClick(
        view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    settle(qtbot, window)
    assert window.editor.document[0].text == edited
    qtbot.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, window)
    assert store_of(window).segment(window.editor.document[0].id).text == original

    window.close()  # quit; the undo/redo stacks live in the edit log
    again = make_window()
    open_and_wait(qtbot, again, transcript_id)
    assert again.editor.document[0].text == original
    assert again.actions["redo"].isEnabled() and again.actions["redo"].text() == "&Redo Typing"
    again.editor.view.setFocus()
    qtbot.keyClick(again.editor.view, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, again)
    assert again.editor.document[0].text == edited
    kinds = [e.kind for e in edit_log(again, transcript_id)]
    assert kinds == ["text", "undo", "redo", "undo", "redo"]


def test_split_merge_and_retime(qtbot, window: MainWindow, transcribed_meeting) -> None:
    transcript_id = seed_transcript(window.services, transcribed_meeting)
    open_and_wait(qtbot, window, transcript_id)
    document = window.editor.document
    count = len(document)
    first = document[0]
    words = first.text.split()
    assert len(words) >= 4
    cut = len(" ".join(words[:3]))  # after the third word

    view = window.editor.view
    view.edit_at_char(0, cut)
    qtbot.waitUntil(lambda: view.current_editor() is not None, timeout=3000)
    qtbot.wait(20)
    qtbot.keyClick(view.current_editor(), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(window.editor.document) == count + 1, timeout=5000)
    left, right = window.editor.document[0], window.editor.document[1]
    assert left.text == " ".join(words[:3])
    assert right.text == " ".join(words[3:])
    assert left.end <= right.start and first.start == left.start and right.end == first.end
    qtbot.waitUntil(lambda: view.current_row() == 1, timeout=3000)  # the caret follows the cut

    view.close_editor()
    view.select_row(0)
    qtbot.keyClick(view, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(window.editor.document) == count, timeout=5000)
    merged = window.editor.document[0]
    assert merged.text == first.text and (merged.start, merged.end) == (first.start, first.end)

    # Retime the second segment through its dialog, typing the new times.
    view.close_editor()
    view.select_row(1)
    second = window.editor.document[1]
    new_start, new_end = round(second.start + 0.25, 3), round(second.end - 0.2, 3)

    def fill_dialog(dialog) -> None:
        dialog.start_field.setText(f"{new_start:.3f}")
        dialog.end_field.setText(f"{new_end:.3f}")
        qtbot.keyClick(dialog.end_field, Qt.Key.Key_Return)

    answer_dialog("retimeDialog", fill_dialog)
    qtbot.keyClick(view, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, window)
    retimed = store_of(window).segment(second.id)
    assert (retimed.start, retimed.end) == (pytest.approx(new_start), pytest.approx(new_end))
    assert window.editor.document[1].start == pytest.approx(new_start)
    kinds = [e.kind for e in edit_log(window, transcript_id)]
    assert kinds == ["split", "merge", "retime"]


def test_find_and_replace_all_is_one_undoable_step(
    qtbot, window: MainWindow, transcribed_meeting
) -> None:
    transcript_id = seed_transcript(window.services, transcribed_meeting)
    open_and_wait(qtbot, window, transcript_id)
    before = [s.text for s in window.editor.document]
    needle = "the"
    hits = sum(t.lower().split().count(needle) for t in before)
    assert hits >= 2, "the clip should say 'the' more than once"

    window.editor.view.setFocus()
    qtbot.keyClick(window.editor.view, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    bar = window.editor_panel.find_bar
    assert bar.isVisible() and bar.replace_field.isVisible()
    qtbot.keyClicks(bar.find_field, needle)
    bar.words_box.setChecked(True)
    qtbot.waitUntil(
        lambda: bar.count_label.text().endswith(str(len(window.editor.matches))), timeout=2000
    )
    assert len(window.editor.matches) == hits
    qtbot.keyClicks(bar.replace_field, "THE")
    qtbot.mouseClick(bar.replace_all_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    after = [s.text for s in window.editor.document]
    assert sum(t.split().count("THE") for t in after) == hits
    batches = [e for e in edit_log(window, transcript_id) if e.kind == "batch"]
    assert len(batches) == 1
    assert window.actions["undo"].text() == "&Undo Replace All"

    qtbot.keyClick(bar.find_field, Qt.Key.Key_Escape)
    assert not bar.isVisible()
    qtbot.keyClick(window.editor.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, window)
    assert [s.text for s in window.editor.document] == before


def test_export_writes_the_corrected_text_and_counts_as_review(
    qtbot, window: MainWindow, transcribed_meeting, tmp_path: Path
) -> None:
    import srt

    transcript_id = seed_transcript(window.services, transcribed_meeting)
    open_and_wait(qtbot, window, transcript_id)
    editor = click_text_end(qtbot, window, 0)
    replace_last_word(qtbot, editor, "exported.")
    target = tmp_path / "standup.srt"
    window.export_to(target, "srt")  # what File → Export does after its file dialog
    qtbot.waitUntil(target.exists, timeout=10_000)
    subtitles = list(srt.parse(target.read_text(encoding="utf-8")))
    assert [s.content for s in subtitles] == [seg.text for seg in window.editor.document]
    assert subtitles[0].content.endswith("exported.")
    qtbot.waitUntil(lambda: bool(signals(window, "exported")), timeout=5000)
    assert json.loads(signals(window, "exported")[0][1]) == {"format": "srt"}
    for fmt in ("txt", "vtt", "json"):
        out = tmp_path / f"standup.{fmt}"
        window.export_to(out, fmt)
        qtbot.waitUntil(out.exists, timeout=10_000)
        assert "exported." in out.read_text(encoding="utf-8")


def test_switching_transcripts_mid_edit_saves_it_and_keeps_them_apart(
    qtbot, window: MainWindow, transcribed_meeting
) -> None:
    first_id = seed_transcript(window.services, transcribed_meeting)
    second_id = (
        store_of(window)
        .create_transcript(
            store_of(window).transcript(first_id).recording_id, "other", "none", status="running"
        )
        .result()
    )
    store_of(window).append_segments(second_id, transcribed_meeting.segments[:2]).result()
    open_and_wait(qtbot, window, first_id)
    editor = click_text_end(qtbot, window, 0)
    qtbot.keyClicks(editor, " (switching)")
    edited_id = window.editor.document[0].id
    window.open_transcript(second_id)  # before the pause that would commit the typing
    qtbot.waitUntil(lambda: window.editor.transcript_id == second_id, timeout=5000)
    settle(qtbot, window)
    qtbot.wait(300)
    assert store_of(window).segment(edited_id).text.endswith("(switching)")
    assert len(window.editor.document) == 2
    assert edited_id not in {s.id for s in window.editor.document}


def test_quitting_right_after_typing_loses_nothing(qtbot, make_window, transcribed_meeting) -> None:
    window = make_window()
    transcript_id = seed_transcript(window.services, transcribed_meeting)
    open_and_wait(qtbot, window, transcript_id)
    editor = click_text_end(qtbot, window, 0)
    qtbot.keyClicks(editor, " last words")
    segment_id = window.editor.document[0].id
    window.close()  # no pause, no Enter: the typing is still in the box
    again = make_window()
    open_and_wait(qtbot, again, transcript_id)
    assert again.editor.document.by_id(segment_id).text.endswith("last words")
