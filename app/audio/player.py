"""Playback of decoded audio: a sounddevice output stream fed by a WSOLA renderer.

``Player`` owns the play/pause state, the position clock, the speed (0.5x-2x,
pitch preserved), an optional loop range and the volume. The audio itself is
produced by ``PlaybackRenderer.render`` on PortAudio's callback thread; UI-side
calls (seek, speed, loop) take a short lock. ``Player.position`` interpolates
between callbacks with the stream's reported output latency, so a word
highlight follows what is heard rather than what was last computed.

The stream is the system boundary: ``Player`` takes a ``stream_factory`` so tests
can drive the callback without a sound card.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from app.audio.devices import NO_OUTPUT, AudioUnavailable, sounddevice_module
from app.audio.timestretch import WsolaStretcher, clamp_speed

log = logging.getLogger(__name__)

SPEED_STEPS = (0.5, 0.6, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0)


class OutputStream(Protocol):
    samplerate: float

    def start(self) -> None: ...
    def abort(self) -> None: ...
    def close(self) -> None: ...


# (samplerate, device, callback, finished_callback) -> an unstarted stream
StreamFactory = Callable[[int, int | None, Callable[..., None], Callable[[], None]], OutputStream]


class PlaybackEnded(Exception):
    """Raised by the renderer's owner to stop the stream from inside its callback."""


class LinearResampler:
    """Streaming linear-interpolation resampler (for devices that refuse the source rate)."""

    def __init__(self, source_rate: int, target_rate: int) -> None:
        self.step = source_rate / target_rate
        self._phase = 0.0
        self._last = np.zeros(1, dtype=np.float32)

    def input_needed(self, frames: int) -> int:
        return math.floor(self._phase + frames * self.step)

    def process(self, block: np.ndarray, frames: int) -> np.ndarray:
        signal = np.concatenate([self._last, block])
        positions = self._phase + np.arange(frames) * self.step
        out = np.interp(positions, np.arange(len(signal)), signal).astype(np.float32)
        consumed = len(block)
        self._phase = self._phase + frames * self.step - consumed
        self._last = signal[-1:]
        return out

    def reset(self) -> None:
        self._phase = 0.0
        self._last = np.zeros(1, dtype=np.float32)


class PlaybackRenderer:
    """Turns the source into output blocks: speed, loop range and volume. No I/O."""

    def __init__(self, samples: np.ndarray, sample_rate: int) -> None:
        self.sample_rate = int(sample_rate)
        self.stretcher = WsolaStretcher(samples, sample_rate)
        self.loop: tuple[float, float] | None = None  # seconds
        self.volume = 1.0

    @property
    def length(self) -> int:
        return len(self.stretcher.source)

    @property
    def duration(self) -> float:
        return self.length / self.sample_rate

    @property
    def position(self) -> float:
        return self.stretcher.position / self.sample_rate

    @property
    def speed(self) -> float:
        return self.stretcher.speed

    def seek(self, seconds: float) -> None:
        self.stretcher.reset(seconds * self.sample_rate)

    def set_speed(self, speed: float) -> None:
        self.stretcher.reset(self.stretcher.position, speed)

    @property
    def at_end(self) -> bool:
        return self.loop is None and self.stretcher.at_end

    def render(self, frames: int) -> np.ndarray:
        """``frames`` output samples; past the end (without a loop) they are silence."""
        pieces = []
        remaining = frames
        while remaining > 0:
            count = remaining
            if self.loop is not None:
                start, end = (round(t * self.sample_rate) for t in self.loop)
                if end - start < 1:
                    self.loop = None
                    continue
                if not start <= self.stretcher.position < end:
                    self.stretcher.reset(start)
                left = end - self.stretcher.position
                count = max(1, min(remaining, math.ceil(left / self.stretcher.speed)))
            pieces.append(self.stretcher.read(count))
            remaining -= count
        block = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
        if self.volume != 1.0:
            block = block * np.float32(self.volume)
        return block


def default_stream_factory(
    samplerate: int,
    device: int | None,
    callback: Callable[..., None],
    finished: Callable[[], None],
) -> OutputStream:
    sd = sounddevice_module()
    return sd.OutputStream(
        samplerate=samplerate,
        channels=1,
        dtype="float32",
        device=device,
        callback=callback,
        finished_callback=finished,
        latency="high",
    )


class Player:
    """Play, pause, seek, speed, loop and a position clock over one decoded recording."""

    def __init__(
        self,
        stream_factory: StreamFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
        device: int | None = None,
    ) -> None:
        self._factory = stream_factory or default_stream_factory
        self._clock = clock
        self.device = device
        self._lock = threading.Lock()
        self._renderer: PlaybackRenderer | None = None
        self._resampler: LinearResampler | None = None
        self._stream: OutputStream | None = None
        self._playing = False
        self._ended = False
        # (source seconds at the block start, clock time it is heard, source seconds at block end)
        self._anchor: tuple[float, float, float] | None = None
        self.on_end: Callable[[], None] | None = None

    # -- loading -------------------------------------------------------------------------
    def load(self, samples: np.ndarray, sample_rate: int) -> None:
        self.stop_stream()
        with self._lock:
            volume = self._renderer.volume if self._renderer else 1.0
            speed = self._renderer.speed if self._renderer else 1.0
            self._renderer = PlaybackRenderer(samples, sample_rate)
            self._renderer.volume = volume
            self._renderer.set_speed(speed)
            self._anchor = None
            self._ended = False

    def unload(self) -> None:
        self.stop_stream()
        with self._lock:
            self._renderer = None
            self._anchor = None

    @property
    def loaded(self) -> bool:
        return self._renderer is not None

    @property
    def duration(self) -> float:
        return self._renderer.duration if self._renderer else 0.0

    # -- state ---------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def speed(self) -> float:
        return self._renderer.speed if self._renderer else 1.0

    @property
    def loop(self) -> tuple[float, float] | None:
        return self._renderer.loop if self._renderer else None

    @property
    def volume(self) -> float:
        return self._renderer.volume if self._renderer else 1.0

    @property
    def position(self) -> float:
        """Seconds into the recording of what the listener hears now."""
        with self._lock:
            if self._renderer is None:
                return 0.0
            if not self._playing or self._anchor is None:
                return self._renderer.position
            start, heard_at, end = self._anchor
            speed = self._renderer.speed
        elapsed = max(0.0, self._clock() - heard_at)
        if end < start:  # the block wrapped around a loop
            return start
        return min(end, start + elapsed * speed)

    # -- commands (UI thread) ------------------------------------------------------------
    def play(self) -> None:
        """Start or resume; raises AudioUnavailable with a sentence if there is no output."""
        if self._renderer is None or self._playing:
            return
        with self._lock:
            if self._renderer.at_end or self._ended:
                self._renderer.seek(0.0 if self._renderer.loop is None else self._renderer.loop[0])
                self._ended = False
            self._anchor = None
        stream = self._open_stream()
        self._playing = True
        try:
            stream.start()
        except Exception as exc:
            self._playing = False
            self.stop_stream()
            raise _output_error(exc) from exc

    def pause(self) -> None:
        if not self._playing:
            return
        heard = self.position
        self._playing = False
        self.stop_stream()
        with self._lock:
            if self._renderer is not None:
                self._renderer.seek(heard)
                if self._resampler:
                    self._resampler.reset()
            self._anchor = None

    def toggle(self) -> None:
        if self._playing:
            self.pause()
        else:
            self.play()

    def seek(self, seconds: float) -> None:
        with self._lock:
            if self._renderer is None:
                return
            seconds = min(max(0.0, seconds), self._renderer.duration)
            self._renderer.seek(seconds)
            if self._resampler:
                self._resampler.reset()
            self._anchor = None
            self._ended = False

    def skip(self, delta: float) -> None:
        self.seek(self.position + delta)

    def set_speed(self, speed: float) -> float:
        heard = self.position
        with self._lock:
            if self._renderer is None:
                return clamp_speed(speed)
            self._renderer.seek(heard)
            self._renderer.set_speed(speed)
            self._anchor = None
            return self._renderer.speed

    def step_speed(self, direction: int) -> float:
        current = self.speed
        if direction > 0:
            faster = [s for s in SPEED_STEPS if s > current + 1e-6]
            return self.set_speed(faster[0] if faster else SPEED_STEPS[-1])
        slower = [s for s in SPEED_STEPS if s < current - 1e-6]
        return self.set_speed(slower[-1] if slower else SPEED_STEPS[0])

    def set_loop(self, span: tuple[float, float] | None) -> None:
        with self._lock:
            if self._renderer is None:
                return
            self._renderer.loop = span if span and span[1] > span[0] else None

    def set_volume(self, volume: float) -> None:
        with self._lock:
            if self._renderer is not None:
                self._renderer.volume = float(min(1.0, max(0.0, volume)))

    def close(self) -> None:
        self.unload()

    # -- the stream ----------------------------------------------------------------------
    def _open_stream(self) -> OutputStream:
        if self._stream is not None:
            return self._stream
        assert self._renderer is not None
        rate = self._renderer.sample_rate
        try:
            stream = self._factory(rate, self.device, self._callback, self._finished)
            self._resampler = None
        except AudioUnavailable:
            raise
        except Exception as first:
            # Some devices refuse 16 kHz: open at the device's own rate and resample.
            device_rate = _device_rate(self.device)
            if device_rate is None or device_rate == rate:
                raise _output_error(first) from first
            try:
                stream = self._factory(device_rate, self.device, self._callback, self._finished)
            except Exception as exc:
                raise _output_error(exc) from exc
            self._resampler = LinearResampler(rate, device_rate)
        self._stream = stream
        return stream

    def stop_stream(self) -> None:
        stream, self._stream = self._stream, None
        self._playing = False
        if stream is not None:
            try:
                stream.abort()
            except Exception:  # an already-stopped stream may complain; nothing to save
                log.debug("aborting the output stream failed", exc_info=True)
            try:
                stream.close()
            except Exception:
                log.debug("closing the output stream failed", exc_info=True)

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        with self._lock:
            renderer = self._renderer
            if renderer is None or not self._playing:
                outdata.fill(0)
                return
            start = renderer.position
            if self._resampler is None:
                block = renderer.render(frames)
            else:
                block = self._resampler.process(
                    renderer.render(self._resampler.input_needed(frames)), frames
                )
            end = renderer.position
            latency = _latency(time_info)
            self._anchor = (start, self._clock() + latency, end)
            ended = renderer.at_end
        outdata[:, 0] = block
        if ended:
            self._ended = True
            raise _stop_exception()

    def _finished(self) -> None:
        if self._ended:
            self._playing = False
            self._anchor = None
            callback = self.on_end
            if callback is not None:
                callback()


def _latency(time_info: Any) -> float:
    try:
        return max(0.0, float(time_info.outputBufferDacTime - time_info.currentTime))
    except (AttributeError, TypeError):
        return 0.0


def _stop_exception() -> BaseException:
    try:
        return sounddevice_module().CallbackStop()
    except AudioUnavailable:
        return PlaybackEnded()


def _device_rate(device: int | None) -> int | None:
    try:
        sd = sounddevice_module()
        info = sd.query_devices(device if device is not None else sd.default.device[1])
        return int(info["default_samplerate"])
    except Exception:
        return None


def _output_error(exc: BaseException) -> AudioUnavailable:
    if isinstance(exc, AudioUnavailable):
        return exc
    log.warning("opening the audio output failed: %s", exc)
    return AudioUnavailable(NO_OUTPUT)
