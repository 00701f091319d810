"""Recording from a microphone into a file under TIRO_HOME.

PortAudio's callback thread only copies each block into a queue and updates the
level; a writer thread streams the blocks to a 16-bit WAV file, so a crash
loses at most the last block. ``stop()`` then converts the WAV to FLAC (about
half the size) with PyAV, keeping the WAV if that fails.

The input stream is the system boundary: ``Recorder`` takes a ``stream_factory``
so tests can feed it audio without a microphone.
"""

from __future__ import annotations

import logging
import queue
import threading
import wave
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from app.audio.devices import NO_INPUT, AudioUnavailable, sounddevice_module
from engine.paths import tiro_home

log = logging.getLogger(__name__)

SILENCE_DB = -90.0


class InputStream(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...


# (samplerate, channels, device, callback) -> an unstarted stream
InputStreamFactory = Callable[[int, int, int | None, Callable[..., None]], InputStream]


def recordings_dir() -> Path:
    path = tiro_home() / "recordings"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_input_factory(
    samplerate: int, channels: int, device: int | None, callback: Callable[..., None]
) -> InputStream:
    sd = sounddevice_module()
    return sd.InputStream(
        samplerate=samplerate, channels=channels, dtype="float32", device=device, callback=callback
    )


def level_db(block: np.ndarray) -> float:
    """Peak level of a block in dBFS (0 is full scale)."""
    peak = float(np.max(np.abs(block))) if block.size else 0.0
    return SILENCE_DB if peak <= 10 ** (SILENCE_DB / 20) else 20.0 * np.log10(peak)


class Recorder:
    """One recording session: ``start()``, watch ``level_db``/``elapsed``, ``stop()`` -> file."""

    def __init__(
        self,
        device: int | None = None,
        samplerate: int | None = None,
        stream_factory: InputStreamFactory | None = None,
        directory: Path | None = None,
    ) -> None:
        self.device = device
        self.samplerate = samplerate
        self._factory = stream_factory or default_input_factory
        self._directory = directory
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue()
        self._stream: InputStream | None = None
        self._writer: threading.Thread | None = None
        self._wav_path: Path | None = None
        self._frames = 0
        self._level = SILENCE_DB
        self._peak_hold = SILENCE_DB
        self._write_error: BaseException | None = None
        self.overflows = 0

    @property
    def recording(self) -> bool:
        return self._stream is not None

    @property
    def elapsed(self) -> float:
        return self._frames / self.samplerate if self.samplerate else 0.0

    @property
    def level_db(self) -> float:
        return self._level

    def take_peak_db(self) -> float:
        """The highest level since the last call (for a meter that must not miss peaks)."""
        peak, self._peak_hold = self._peak_hold, SILENCE_DB
        return peak

    def start(self) -> None:
        if self._stream is not None:
            return
        rate = self.samplerate or _default_input_rate(self.device)
        self.samplerate = rate
        directory = self._directory or recordings_dir()
        stamp = datetime.now().strftime("%Y-%m-%d %H-%M-%S")
        self._wav_path = _unique(directory / f"Recording {stamp}.wav")
        try:
            stream = self._factory(rate, 1, self.device, self._callback)
        except AudioUnavailable:
            raise
        except Exception as exc:
            log.warning("opening the microphone failed: %s", exc)
            raise AudioUnavailable(NO_INPUT) from exc
        self._writer = threading.Thread(
            target=self._write_loop, args=(self._wav_path, rate), name="tiro-recorder", daemon=True
        )
        self._writer.start()
        try:
            stream.start()
        except Exception as exc:
            self._queue.put(None)
            self._writer.join()
            log.warning("starting the microphone failed: %s", exc)
            raise AudioUnavailable(NO_INPUT) from exc
        self._stream = stream

    def stop(self, encode_flac: bool = True) -> Path:
        """Stop, finish the file and return its path (FLAC unless encoding failed)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:
                log.debug("closing the input stream failed", exc_info=True)
        self._queue.put(None)
        if self._writer is not None:
            self._writer.join()
        if self._write_error is not None:
            raise self._write_error
        assert self._wav_path is not None
        if not encode_flac:
            return self._wav_path
        return wav_to_flac(self._wav_path)

    def cancel(self) -> None:
        """Stop and throw the recording away."""
        try:
            path = self.stop(encode_flac=False)
        except Exception:
            path = self._wav_path
        if path is not None:
            path.unlink(missing_ok=True)

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status:
            self.overflows += 1
        block = np.array(indata[:, 0], dtype=np.float32, copy=True)
        self._frames += frames
        self._level = level_db(block)
        self._peak_hold = max(self._peak_hold, self._level)
        self._queue.put(block)

    def _write_loop(self, path: Path, rate: int) -> None:
        try:
            with wave.open(str(path), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(rate)
                while (block := self._queue.get()) is not None:
                    pcm = (np.clip(block, -1.0, 1.0) * 32767.0).astype("<i2")
                    out.writeframes(pcm.tobytes())
        except BaseException as exc:  # a full disk must reach the user, not kill the thread
            log.exception("writing the recording failed")
            self._write_error = exc
            while self._queue.get() is not None:
                pass


def wav_to_flac(wav_path: Path) -> Path:
    """Re-encode a WAV as FLAC next to it; returns the WAV itself if encoding fails."""
    import av

    flac_path = wav_path.with_suffix(".flac")
    try:
        with av.open(str(wav_path)) as source, av.open(str(flac_path), "w", format="flac") as sink:
            in_stream = source.streams.audio[0]
            out_stream = sink.add_stream("flac", rate=in_stream.rate, layout="mono")
            for frame in source.decode(in_stream):
                frame.pts = None
                for packet in out_stream.encode(frame):
                    sink.mux(packet)
            for packet in out_stream.encode(None):
                sink.mux(packet)
    except Exception:
        log.warning("FLAC encoding failed; keeping the WAV recording", exc_info=True)
        flac_path.unlink(missing_ok=True)
        return wav_path
    wav_path.unlink(missing_ok=True)
    return flac_path


def _default_input_rate(device: int | None) -> int:
    try:
        sd = sounddevice_module()
        info = sd.query_devices(device if device is not None else sd.default.device[0])
        rate = int(info["default_samplerate"])
        return rate if rate > 0 else 16_000
    except AudioUnavailable:
        raise
    except Exception:
        return 16_000


def _unique(path: Path) -> Path:
    candidate, n = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        n += 1
    return candidate
