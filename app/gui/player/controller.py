"""``PlaybackController``: the audio player as a QObject.

Decoding runs in a worker thread; a 30 Hz timer publishes the position while
playing. It also implements "typing pauses playback": a keystroke in the editor
pauses, and playback resumes a moment after the typing stops, a little earlier
than where it paused so the last words are heard again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from app.audio.devices import AudioUnavailable
from app.audio.player import Player

log = logging.getLogger(__name__)

TICK_MS = 33
RESUME_AFTER_TYPING_MS = 1200
RESUME_REWIND_SECONDS = 1.0
ENVELOPE_BUCKETS = 2000


class PlaybackController(QObject):
    positionChanged = Signal(float)
    playingChanged = Signal(bool)
    speedChanged = Signal(float)
    loopChanged = Signal(bool)
    loaded = Signal(float)  # duration
    unloaded = Signal()
    failed = Signal(str)  # one sentence for the user
    ended = Signal()
    envelopeReady = Signal(object)  # peak levels for the waveform (numpy array)

    def __init__(self, player: Player | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.player = player or Player()
        self.player.on_end = self._on_end_from_audio_thread
        self.source_key: object | None = None
        self.typing_pauses = True
        self._paused_by_typing = False
        self._loop_span: Callable[[], tuple[float, float] | None] | None = None
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._on_tick)
        self._resume = QTimer(self)
        self._resume.setSingleShot(True)
        self._resume.setInterval(RESUME_AFTER_TYPING_MS)
        self._resume.timeout.connect(self._resume_after_typing)
        self._ended_flag = False
        self._last_position = -1.0

    # -- loading -------------------------------------------------------------------------
    @property
    def is_loaded(self) -> bool:
        return self.player.loaded

    def load_samples(self, key: object, samples: np.ndarray, sample_rate: int) -> None:
        self.pause()
        self.player.load(samples, sample_rate)
        self.source_key = key
        self.loaded.emit(self.player.duration)
        self.positionChanged.emit(0.0)
        self._outline(key, samples)

    def _outline(self, key: object, samples) -> None:
        """The waveform, computed off the UI thread (a few hundred ms for three hours)."""
        from app.audio.envelope import peaks
        from app.gui.workers import run_in_thread

        def ready(envelope) -> None:
            if self.source_key == key:
                self.envelopeReady.emit(envelope)

        run_in_thread(peaks, samples, ENVELOPE_BUCKETS, done=ready, owner=self)

    def unload(self) -> None:
        self.pause()
        self.player.unload()
        self.source_key = None
        self.unloaded.emit()

    # -- transport -----------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.player.playing

    @property
    def position(self) -> float:
        return self.player.position

    def play(self) -> None:
        if not self.player.loaded or self.player.playing:
            return
        self._paused_by_typing = False
        self._resume.stop()
        try:
            self.player.play()
        except AudioUnavailable as exc:
            self.failed.emit(str(exc))
            return
        self._tick.start()
        self.playingChanged.emit(True)

    def pause(self) -> None:
        self._resume.stop()
        self._paused_by_typing = False
        if self.player.playing:
            self.player.pause()
            self._tick.stop()
            self.playingChanged.emit(False)
            self.positionChanged.emit(self.player.position)

    def toggle(self) -> None:
        if self.player.playing or self._paused_by_typing:
            self.pause()
        else:
            self.play()

    def seek(self, seconds: float) -> None:
        if not self.player.loaded:
            return
        self.player.seek(seconds)
        self.positionChanged.emit(self.player.position)

    def skip(self, delta: float) -> None:
        self.seek(self.player.position + delta)

    def set_speed(self, speed: float) -> None:
        actual = self.player.set_speed(speed)
        self.speedChanged.emit(actual)

    def step_speed(self, direction: int) -> None:
        self.speedChanged.emit(self.player.step_speed(direction))

    def set_volume(self, volume: float) -> None:
        self.player.set_volume(volume)

    @property
    def speed(self) -> float:
        return self.player.speed

    # -- loop ----------------------------------------------------------------------------
    def set_loop_source(self, span: Callable[[], tuple[float, float] | None]) -> None:
        """Where the "current segment" is, asked each time looping starts or playback moves."""
        self._loop_span = span

    def set_looping(self, on: bool) -> None:
        span = self._loop_span() if (on and self._loop_span) else None
        self.player.set_loop(span)
        self.loopChanged.emit(span is not None)

    def refresh_loop(self) -> None:
        if self.player.loop is not None and self._loop_span:
            self.player.set_loop(self._loop_span())

    @property
    def looping(self) -> bool:
        return self.player.loop is not None

    # -- typing pauses playback ----------------------------------------------------------
    def user_typing(self) -> None:
        if not self.typing_pauses:
            return
        if self.player.playing:
            self.player.pause()
            self._tick.stop()
            self._paused_by_typing = True
            self.playingChanged.emit(False)
        if self._paused_by_typing:
            self._resume.start()

    def _resume_after_typing(self) -> None:
        if not self._paused_by_typing:
            return
        self._paused_by_typing = False
        self.player.seek(max(0.0, self.player.position - RESUME_REWIND_SECONDS))
        self.play()

    # -- ticks ---------------------------------------------------------------------------
    def _on_end_from_audio_thread(self) -> None:
        self._ended_flag = True  # read by the next tick on the UI thread

    def _on_tick(self) -> None:
        position = self.player.position
        if position != self._last_position:
            self._last_position = position
            self.positionChanged.emit(position)
        if self._ended_flag or not self.player.playing:
            self._ended_flag = False
            self._tick.stop()
            self.playingChanged.emit(False)
            self.ended.emit()

    def close(self) -> None:
        self._tick.stop()
        self._resume.stop()
        self.player.close()
