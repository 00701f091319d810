"""Helpers for the app's tests (imported by the tests in this folder and by its conftest)."""

from __future__ import annotations

import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.gui.main_window import MainWindow
from app.services import Services
from engine.types import Segment, TranscriptionInfo
from retrain.contract import file_sha256

RATE = 16_000


@dataclass(frozen=True)
class Clip:
    path: Path
    reference: str
    segments: tuple[Segment, ...]
    info: TranscriptionInfo


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def seed_transcript(services: Services, clip: Clip) -> int:
    """Put a real transcription into the store the way an import does (without re-running it)."""
    from engine import audio

    store = services.store
    info = clip.info
    recording_id = store.add_recording(
        clip.path,
        sha256=file_sha256(clip.path),
        media=audio.probe(clip.path),
        size_bytes=clip.path.stat().st_size,
    ).result()
    transcript_id = store.create_transcript(
        recording_id, info.model_version, info.backend, info.options, status="running"
    ).result()
    store.append_segments(transcript_id, clip.segments, model_version=info.model_version).result()
    store.set_transcript_status(transcript_id, "done").result()
    return transcript_id


class FakeOutputStream:
    """Stands in for sounddevice.OutputStream (this machine has no sound card): a thread
    pulls 20 ms blocks through the player's real callback in real time."""

    def __init__(self, samplerate, device, callback, finished) -> None:
        self.samplerate = int(samplerate)
        self.callback = callback
        self.finished = finished
        self.active = False
        self.pulled = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.active = True
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        frames = self.samplerate // 50
        out = np.zeros((frames, 1), dtype=np.float32)
        while self.active:
            try:
                self.callback(out, frames, None, None)
            except Exception:
                self.active = False
                self.finished()
                return
            self.pulled += frames
            time.sleep(frames / self.samplerate)

    def abort(self) -> None:
        self.active = False
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(1)

    def close(self) -> None:
        self.active = False


def store_of(window: MainWindow):
    assert window.services is not None
    return window.services.store


def open_and_wait(qtbot, window: MainWindow, transcript_id: int) -> None:
    window.open_transcript(transcript_id)
    qtbot.waitUntil(lambda: window.editor.transcript_id == transcript_id, timeout=10_000)
    qtbot.waitUntil(lambda: window.player.is_loaded, timeout=30_000)


def wait_idle(qtbot, window: MainWindow, timeout: int = 240_000) -> None:
    qtbot.waitUntil(lambda: not window.queue.busy, timeout=timeout)


def settle(qtbot, window: MainWindow) -> None:
    """Wait until every write submitted so far is committed and its answer applied."""
    store_of(window).write(lambda _conn: None).result(timeout=10)
    qtbot.wait(50)


def answer_dialog(object_name: str, act, attempts: int = 100) -> None:
    """When the modal dialog named ``object_name`` shows up, run ``act(dialog)`` on it."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    def poll(left: int) -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is not None and (not object_name or dialog.objectName() == object_name):
            act(dialog)
        elif left > 0:
            QTimer.singleShot(50, lambda: poll(left - 1))

    QTimer.singleShot(50, lambda: poll(attempts))


def activate(qtbot, window) -> None:
    """Make the window the active one again (after a modal dialog closed), so its
    window-wide shortcuts apply."""
    from PySide6.QtWidgets import QApplication

    window.activateWindow()
    window.raise_()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
