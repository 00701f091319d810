"""Fixtures for the desktop app's tests: a real store, the real model, real speech.

The only fakes are at system boundaries this machine does not have: the sound
card (sounddevice streams) and file dialogs (the tests call the methods the
dialogs would call).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gui_support import RATE, Clip, FakeOutputStream, write_wav

from app.audio.player import Player
from app.gui.main_window import MainWindow
from app.gui.player.controller import PlaybackController
from app.gui.settings import Settings
from app.gui.theme import apply_theme
from app.services import Services, TranscriptionSettings
from engine.corpus import read_manifest


def _standup(user_sim_corpus: Path, count: int) -> tuple[np.ndarray, str]:
    from engine import audio

    items = [i for i in read_manifest(user_sim_corpus) if i.split == "train"][:count]
    gap = np.zeros(RATE // 2, dtype=np.float32)
    samples = np.concatenate([np.concatenate([audio.decode(i.path), gap]) for i in items])
    return samples, " ".join(i.text for i in items)


@pytest.fixture(scope="session")
def meeting_clip(user_sim_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 40 s of real speech: eight stand-up notes from the corpus, one after another."""
    samples, _ = _standup(user_sim_corpus, 8)
    return write_wav(tmp_path_factory.mktemp("clips") / "standup.wav", samples)


@pytest.fixture(scope="session")
def long_clip(user_sim_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About three minutes of real speech, for cancelling a transcription half-way."""
    samples, _ = _standup(user_sim_corpus, 40)
    return write_wav(tmp_path_factory.mktemp("clips") / "long-standup.wav", samples)


@pytest.fixture(scope="session")
def transcribed_meeting(meeting_clip: Path, user_sim_corpus: Path) -> Clip:
    """The meeting clip through the real model, once per session."""
    import engine

    segments, info = engine.transcribe(meeting_clip)
    _, reference = _standup(user_sim_corpus, 8)
    return Clip(meeting_clip, reference, tuple(segments), info)


@pytest.fixture
def make_window(qtbot, tiro_home: Path):
    """Build main windows on the real store (several, to test restarts); shut down at the end."""
    from PySide6.QtWidgets import QApplication

    apply_theme(QApplication.instance())
    windows: list[MainWindow] = []

    def build(runner: str = "thread") -> MainWindow:
        settings = Settings()
        settings.runner = runner
        services = Services.open(lambda: TranscriptionSettings("auto", 0, settings.runner))
        player = PlaybackController(Player(stream_factory=FakeOutputStream))
        window = MainWindow(services, settings, player=player)
        qtbot.addWidget(window)
        window.resize(1280, 800)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield build
    for window in windows:
        window.shutdown()


@pytest.fixture
def window(make_window) -> MainWindow:
    return make_window()
