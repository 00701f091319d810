"""Importing, transcribing, cancelling, failing and recording, through the window.

The real model transcribes real speech. The microphone is faked at its boundary
(sounddevice's InputStream), because this machine has none: the fake delivers a
real corpus clip block by block through the recorder's real callback.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from gui_support import store_of, wait_idle
from PySide6.QtCore import Qt

from app.audio.recorder import Recorder
from app.gui.main_window import MainWindow
from engine.scoring import corpus_wer


def wer(reference: str, hypothesis: str) -> float:
    return corpus_wer([reference], [hypothesis])


def normalized_words(text: str) -> list[str]:
    return [w.strip(".,?!;:").lower() for w in text.split()]


def test_import_transcribes_and_shows_segments_live(
    qtbot, window: MainWindow, meeting_clip: Path, transcribed_meeting
) -> None:
    appended: list[int] = []
    window.queue.segmentsAdded.connect(lambda _tid, segments: appended.append(len(segments)))
    (item,) = window.import_files([meeting_clip])
    qtbot.waitUntil(lambda: item.status == "running", timeout=30_000)
    wait_idle(qtbot, window)
    assert item.status == "done", item.message
    assert len(appended) >= 2  # segments arrived one by one while the job ran
    document = window.editor.document
    assert window.editor.transcript_id == item.transcript_id
    assert len(document) == len(transcribed_meeting.segments)
    text = " ".join(s.text for s in document)
    assert wer(transcribed_meeting.reference, text) < 0.5
    assert all(s.words for s in document)  # word times and probabilities for playback/unsure
    qtbot.waitUntil(
        lambda: any(
            r.transcript_id == item.transcript_id and r.status == "done"
            for r in window.library_model.rows
        ),
        timeout=5000,
    )
    row = next(r for r in window.library_model.rows if r.transcript_id == item.transcript_id)
    assert row.name == meeting_clip.name and row.segment_count == len(document)
    assert store_of(window).transcript(item.transcript_id).status == "done"


def test_library_search_finds_by_name_and_by_text(
    qtbot, window: MainWindow, meeting_clip: Path
) -> None:
    window.import_files([meeting_clip])
    wait_idle(qtbot, window)
    word = next(w for w in normalized_words(window.editor.document[0].text) if len(w) > 5)
    search = window.library_panel.search
    qtbot.keyClicks(search, word)
    qtbot.waitUntil(
        lambda: len(window.library_model.rows) == 1 and bool(window.library_model.rows[0].match),
        timeout=5000,
    )
    assert word in window.library_model.rows[0].match.lower()
    search.clear()
    qtbot.keyClicks(search, "no such thing anywhere")
    qtbot.waitUntil(lambda: not window.library_model.rows, timeout=5000)
    assert window.library_panel.empty.isVisible()
    search.clear()
    qtbot.keyClicks(search, meeting_clip.stem)
    qtbot.waitUntil(lambda: len(window.library_model.rows) == 1, timeout=5000)


def test_cancel_a_running_transcription(qtbot, window: MainWindow, long_clip: Path) -> None:
    (item,) = window.import_files([long_clip])
    qtbot.waitUntil(lambda: len(window.editor.document) >= 2, timeout=120_000)
    started = time.monotonic()
    window.queue_panel.list.setFocus()
    window.queue_panel.list.setCurrentIndex(window.queue.index(0))
    qtbot.keyClick(window.queue_panel.list, Qt.Key.Key_Delete)  # Delete cancels the selected job
    qtbot.waitUntil(lambda: item.status == "cancelled", timeout=10_000)
    assert time.monotonic() - started < 5.0
    assert item.progress < 0.95
    assert store_of(window).transcript(item.transcript_id).status == "cancelled"
    kept = len(window.editor.document)
    assert kept >= 2  # what was transcribed before the cancel is kept
    assert len(store_of(window).load_transcript(item.transcript_id).segments) == kept
    assert not window.queue.busy


def test_a_corrupt_file_gives_one_sentence_and_no_crash(
    qtbot, window: MainWindow, tmp_path: Path, meeting_clip: Path
) -> None:
    garbage = tmp_path / "interview.mp3"
    garbage.write_bytes(np.random.default_rng(1).bytes(50_000))
    truncated = tmp_path / "cut-off.wav"
    truncated.write_bytes(meeting_clip.read_bytes()[:30])
    missing = tmp_path / "gone.flac"
    items = window.import_files([garbage, truncated, missing, meeting_clip])
    wait_idle(qtbot, window)
    failed = items[:3]
    assert [i.status for i in failed] == ["failed"] * 3
    for item in failed:
        message = item.message
        assert message.count(".") >= 1 and "\n" not in message and "Traceback" not in message
        assert item.request.path.name in message or "file" in message.lower()
    assert items[3].status == "done"  # the queue went on
    assert window.message_bar.kind == "error" and window.message_bar.text
    log = Path(store_of(window).path).parent / "logs" / "tiro.log"
    assert window.isVisible()
    del log


class FakeInputStream:
    """Stands in for sounddevice.InputStream: feeds a real clip to the recorder's callback
    in 20 ms blocks from a thread, in real time (this machine has no microphone)."""

    def __init__(self, samplerate, channels, device, callback, clip: np.ndarray) -> None:
        import threading

        self.callback = callback
        self.clip = clip
        self.block = samplerate // 50
        self.running = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.running = True
        self._thread.start()

    def _run(self) -> None:
        for first in range(0, len(self.clip), self.block):
            if not self.running:
                return
            chunk = self.clip[first : first + self.block].reshape(-1, 1)
            self.callback(chunk, len(chunk), None, None)
            time.sleep(0.002)  # faster than real time: the test need not wait 40 s

    def stop(self) -> None:
        self.running = False
        self._thread.join(5)

    def close(self) -> None:
        pass


def test_recording_is_saved_and_transcribed(
    qtbot, window: MainWindow, meeting_clip: Path, tiro_home: Path, transcribed_meeting
) -> None:
    from app.audio.devices import AudioDevice
    from app.gui.recorder.dialog import RecordDialog
    from engine import audio

    speech = audio.decode(meeting_clip)
    streams: list[FakeInputStream] = []

    def factory(device):
        def stream(samplerate, channels, dev, callback):
            streams.append(FakeInputStream(samplerate, channels, dev, callback, speech))
            return streams[-1]

        return Recorder(device=device, samplerate=16_000, stream_factory=stream)

    window.recorder_factory = factory
    mic = AudioDevice(3, "Test microphone", "ALSA", 16000.0, 1, 0, is_default_input=True)
    dialog = RecordDialog(window, recorder_factory=factory, devices=[mic])
    dialog.recorded.connect(window._recorded)
    dialog.show()
    assert dialog.device_box.currentText().startswith("Test microphone")
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)
    assert dialog.is_recording
    qtbot.waitUntil(
        lambda: dialog.recorder is not None and dialog.recorder.elapsed > 3.0, timeout=20_000
    )
    qtbot.waitUntil(lambda: dialog.meter.peak_db > -40, timeout=5000)
    assert dialog.elapsed.text() != "0:00.0"
    qtbot.waitUntil(lambda: not streams[0]._thread.is_alive(), timeout=60_000)
    qtbot.mouseClick(dialog.record_button, Qt.MouseButton.LeftButton)  # stop and transcribe
    assert dialog.saved_path is not None
    saved = dialog.saved_path
    assert saved.parent == tiro_home / "recordings" and saved.suffix == ".flac"
    assert audio.probe(saved).duration == pytest.approx(len(speech) / 16_000, abs=0.1)
    qtbot.waitUntil(
        lambda: window.queue.items and window.queue.items[-1].status == "done", timeout=240_000
    )
    item = window.queue.items[-1]
    assert item.request.kind == "recording"
    qtbot.waitUntil(lambda: window.editor.transcript_id == item.transcript_id, timeout=10_000)
    text = " ".join(s.text for s in window.editor.document)
    assert wer(transcribed_meeting.reference, text) < 0.5
    recording = store_of(window).recording(
        store_of(window).transcript(item.transcript_id).recording_id
    )
    assert recording.owned  # made by Tiro: a privacy delete removes the file too


def test_without_a_microphone_the_dialog_says_so(qtbot, window: MainWindow) -> None:
    from app.gui.recorder.dialog import RecordDialog

    dialog = RecordDialog(window, devices=[])
    qtbot.addWidget(dialog)
    assert not dialog.record_button.isEnabled()
    assert "No microphone was found" in dialog.message.text()


def test_closing_during_a_job_asks_then_cancels_cleanly(
    qtbot, window: MainWindow, long_clip: Path, monkeypatch
) -> None:
    from PySide6.QtWidgets import QMessageBox

    (item,) = window.import_files([long_clip])
    qtbot.waitUntil(
        lambda: item.status == "running" and item.transcript_id is not None, timeout=60_000
    )
    asked: list[str] = []

    def answer(parent, title, text, *args, **kwargs):
        asked.append(text)
        return QMessageBox.StandardButton.No if len(asked) == 1 else QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer)
    window.close()
    assert window.isVisible() and item.status == "running"  # "No": nothing happened
    started = time.monotonic()
    window.close()
    assert not window.isVisible()
    assert item.status == "cancelled" and time.monotonic() - started < 6
    assert "still running" in asked[0]
    from retrain.store import Store

    with Store.open() as store:
        assert store.transcript(item.transcript_id).status == "cancelled"


def test_process_runner_transcribes_and_cancels(
    qtbot, make_window, meeting_clip: Path, long_clip: Path, transcribed_meeting
) -> None:
    window = make_window(runner="process")
    (done,) = window.import_files([meeting_clip])
    wait_idle(qtbot, window)
    assert done.status == "done", done.message
    assert [s.text for s in window.editor.document] == [
        s.text.strip() for s in transcribed_meeting.segments
    ]
    (item,) = window.import_files([long_clip])
    qtbot.waitUntil(
        lambda: item.status == "running" and item.transcript_id is not None, timeout=60_000
    )
    window.queue.cancel(item)
    qtbot.waitUntil(lambda: item.status == "cancelled", timeout=10_000)
