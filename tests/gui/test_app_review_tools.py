"""More of the editor: insert and delete, the next unsure word, re-transcription, drag and
drop, settings, and the learning opt-in with its data page. Real store, real model."""

from __future__ import annotations

from pathlib import Path

import pytest
from gui_support import (
    activate,
    answer_dialog,
    open_and_wait,
    seed_transcript,
    settle,
    store_of,
    wait_idle,
)
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox, QPlainTextEdit

from app.gui.main_window import MainWindow

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


@pytest.fixture
def opened(qtbot, window: MainWindow, transcribed_meeting) -> MainWindow:
    transcript_id = seed_transcript(window.services, transcribed_meeting)
    open_and_wait(qtbot, window, transcript_id)
    window.editor.view.setFocus()
    return window


def test_insert_and_delete_segments(qtbot, opened: MainWindow) -> None:
    view, document = opened.editor.view, opened.editor.document
    count = len(document)
    view.select_row(2)
    after = document[2]

    def fill(dialog) -> None:
        qtbot.keyClicks(dialog.text_field, "Someone coughs.")
        qtbot.keyClick(dialog.text_field, Qt.Key.Key_Return)

    answer_dialog("insertDialog", fill)
    qtbot.keyClick(view, Qt.Key.Key_Return, CTRL | SHIFT)
    activate(qtbot, opened)
    qtbot.waitUntil(lambda: len(opened.editor.document) == count + 1, timeout=5000)
    inserted = opened.editor.document[3]
    assert inserted.text == "Someone coughs." and inserted.start >= after.start
    assert store_of(opened).segment(inserted.id).origin == "insert"

    view.close_editor()
    view.select_row(3)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Delete, CTRL | SHIFT)
    qtbot.waitUntil(lambda: len(opened.editor.document) == count, timeout=5000)
    assert inserted.id not in {s.id for s in opened.editor.document}
    assert "Undo" in opened.message_bar.text


def test_next_unsure_word_jumps_and_selects_it(qtbot, opened: MainWindow) -> None:
    model = opened.transcript_model
    model.set_threshold(0.95)  # the setting: mark anything the model was not nearly sure of
    unsure = [
        (row, t) for row in range(len(opened.editor.document)) for t in model.unsure_tokens(row)
    ]
    assert len(unsure) >= 2
    opened.editor.view.select_row(0)
    qtbot.keyClick(opened.editor.view, Qt.Key.Key_F8)
    editor = opened.editor.view.current_editor()
    qtbot.waitUntil(lambda: editor.textCursor().hasSelection(), timeout=2000)
    row, token = unsure[0]
    assert opened.editor.view.current_row() == row
    assert (
        editor.textCursor().selectedText()
        == opened.editor.document[row].text[token.first : token.last]
    )
    assert opened.player.position == pytest.approx(token.start, abs=0.01)
    qtbot.keyClick(editor, Qt.Key.Key_F8)
    row2, _ = unsure[1]
    qtbot.waitUntil(lambda: opened.editor.view.current_row() == row2, timeout=2000)


def test_retranscribe_selected_segments(qtbot, opened: MainWindow) -> None:
    document = opened.editor.document
    target = document[1]
    view = opened.editor.view
    view.edit_row(1, -1)
    qtbot.keyClicks(view.current_editor(), " scribbles")
    qtbot.keyClick(view.current_editor(), Qt.Key.Key_Escape)
    settle(qtbot, opened)
    assert opened.editor.document[1].text.endswith("scribbles")
    view.select_row(1)
    qtbot.keyClick(view, Qt.Key.Key_T, CTRL | SHIFT)
    wait_idle(qtbot, opened)
    item = opened.queue.items[-1]
    assert item.request.kind == "retranscribe" and item.status == "done", item.message
    settle(qtbot, opened)
    redone = store_of(opened).segment(target.id)
    assert not redone.text.endswith("scribbles")  # the model's new output replaced it
    assert not redone.reviewed  # new model output is not a review
    qtbot.waitUntil(lambda: opened.editor.document[1].text == redone.text, timeout=5000)
    assert opened.actions["undo"].text() == "&Undo Re-transcription"


def test_dropping_files_imports_them(qtbot, window: MainWindow, meeting_clip: Path) -> None:
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(meeting_clip))])
    event = QDropEvent(
        QPoint(400, 300).toPointF(),
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    assert [i.request.path for i in window.queue.items] == [meeting_clip]
    wait_idle(qtbot, window)
    assert window.queue.items[0].status == "done"


def test_threshold_setting_changes_what_is_marked(qtbot, opened: MainWindow) -> None:
    from app.gui.dialogs.settings_dialog import SettingsDialog

    model = opened.transcript_model
    before = model.unsure_total()
    dialog = SettingsDialog(opened.settings, opened.actions, opened)
    qtbot.addWidget(dialog)
    dialog.threshold_box.setValue(0.99)
    dialog._save_and_accept()
    opened.apply_settings()
    assert opened.settings.unsure_threshold == pytest.approx(0.99)
    assert model.unsure_total() > before
    assert "99%" in dialog.threshold_hint.text()


def test_learning_opt_in_asks_consent_and_the_data_page_counts(qtbot, opened: MainWindow) -> None:
    from app.gui.dialogs.consent import ConsentDialog
    from app.gui.dialogs.learning_data import LearningDataDialog

    shown: list[str] = []

    def accept_consent(dialog: ConsentDialog) -> None:
        shown.append(dialog.findChild(QPlainTextEdit, "consentText").toPlainText())
        dialog.accept_button.click()

    answer_dialog("consentDialog", accept_consent)
    opened.actions["learning"].trigger()
    activate(qtbot, opened)
    qtbot.waitUntil(lambda: opened.services.consent_enabled(), timeout=5000)
    assert opened.actions["learning"].isChecked()
    home = str(Path(store_of(opened).path).parent)
    assert home in shown[0] and "snippets" in shown[0] and "delete" in shown[0]

    view = opened.editor.view
    view.select_row(0)
    qtbot.keyClick(view, Qt.Key.Key_D, CTRL)  # one verified segment: a learning example
    settle(qtbot, opened)
    store_of(opened).capture_snippets().result(timeout=60)
    opened.open_learning_data()
    dialog = opened.findChild(LearningDataDialog)
    qtbot.waitUntil(lambda: dialog.count_labels["examples"].text() == "1", timeout=10_000)
    assert dialog.count_labels["reviewed_segments"].text() == "1"
    assert "Learning is on" in dialog.status.text()
    reasons = [dialog.rejections.item(r, 0).text() for r in range(dialog.rejections.rowCount())]
    assert any("Not reviewed" in r for r in reasons)

    answer_dialog("", lambda box: box.button(QMessageBox.StandardButton.Yes).click())
    dialog.delete_button.click()
    qtbot.waitUntil(lambda: dialog.count_labels["recordings"].text() == "0", timeout=20_000)
    assert not opened.editor.is_open
    assert store_of(opened).stats().recordings == 0


def test_naming_the_speaker_of_segments(qtbot, opened: MainWindow) -> None:
    from PySide6.QtWidgets import QInputDialog

    view = opened.editor.view
    view.select_row(0)
    view.selectionModel().select(
        opened.transcript_model.index(1, 0),
        view.selectionModel().SelectionFlag.Select | view.selectionModel().SelectionFlag.Rows,
    )

    def name(dialog: QInputDialog) -> None:
        dialog.setTextValue("Priya")
        dialog.accept()

    answer_dialog("", name)
    qtbot.keyClick(view, Qt.Key.Key_S, CTRL | SHIFT)
    settle(qtbot, opened)
    first, second = opened.editor.document[0], opened.editor.document[1]
    assert (first.speaker, second.speaker) == ("Priya", "Priya")
    assert store_of(opened).segment(first.id).speaker == "Priya"
    assert opened.transcript_model.show_speakers
    assert opened.actions["undo"].text() == "&Undo Speaker Change"
