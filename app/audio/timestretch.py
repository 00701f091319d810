"""Pitch-preserving time-stretch by WSOLA (waveform-similarity overlap-add), streaming.

Speech played at 0.5x-2x keeps its pitch: the source is cut into overlapping
Hann-windowed frames taken every ``hop * speed`` source samples and laid down
every ``hop`` output samples. Each frame is shifted by up to ``tolerance``
samples to the offset whose waveform best continues the previous frame, which
is what keeps the result free of phasing and clicks.

At speed 1.0 the source is copied unchanged, sample for sample.
"""

from __future__ import annotations

import numpy as np

FRAME_SECONDS = 0.030
TOLERANCE_SECONDS = 0.008
MIN_SPEED = 0.5
MAX_SPEED = 2.0


def clamp_speed(speed: float) -> float:
    return float(min(MAX_SPEED, max(MIN_SPEED, speed)))


class WsolaStretcher:
    """Reads a mono float32 source from a position at a speed, one block at a time.

    ``position`` is the source sample the next output sample corresponds to.
    Call ``reset(position)`` after a seek or a speed change.
    """

    def __init__(self, source, sample_rate: int) -> None:
        """``source``: a float32 array, or anything sliceable to float32 arrays with a length
        (such as a memory-mapped file of 16-bit samples)."""
        if isinstance(source, np.ndarray):
            source = np.ascontiguousarray(source, dtype=np.float32)
        self.source = source
        self.sample_rate = int(sample_rate)
        frame = max(64, round(FRAME_SECONDS * sample_rate) // 2 * 2)
        self.frame = frame
        self.hop = frame // 2
        self.tolerance = max(8, round(TOLERANCE_SECONDS * sample_rate))
        # A periodic Hann window: copies shifted by frame/2 sum to exactly one.
        n = np.arange(frame, dtype=np.float64)
        self.window = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / frame)).astype(np.float32)
        self.speed = 1.0
        self.position = 0.0
        self._pending = np.zeros(0, dtype=np.float32)  # finished output not yet handed out
        self._overlap = np.zeros(frame, dtype=np.float32)  # the tail still being added to
        self._previous: int | None = None  # source start of the last frame laid down
        self._analysis = 0.0  # source position of the next frame's nominal start

    def reset(self, position: float, speed: float | None = None) -> None:
        if speed is not None:
            self.speed = clamp_speed(speed)
        self.position = float(min(max(position, 0.0), len(self.source)))
        self._pending = np.zeros(0, dtype=np.float32)
        self._overlap = np.zeros(self.frame, dtype=np.float32)
        self._previous = None
        self._analysis = self.position

    @property
    def at_end(self) -> bool:
        return self.position >= len(self.source)

    def read(self, count: int) -> np.ndarray:
        """The next ``count`` output samples (zeros past the end of the source)."""
        if self.speed == 1.0:
            return self._read_direct(count)
        return self._read_stretched(count)

    def _read_direct(self, count: int) -> np.ndarray:
        start = int(self.position)
        out = np.zeros(count, dtype=np.float32)
        chunk = self.source[start : start + count]
        out[: len(chunk)] = chunk
        self.position = float(min(len(self.source), start + count))
        self._analysis = self.position
        return out

    def _read_stretched(self, count: int) -> np.ndarray:
        produced = [self._pending]
        have = len(self._pending)
        while have < count:
            hop_out = self._next_hop()
            produced.append(hop_out)
            have += len(hop_out)
        out = np.concatenate(produced)
        self._pending = out[count:]
        # The position is the source time of the first sample still to be handed out.
        behind = len(self._pending) * self.speed
        self.position = float(min(len(self.source), max(0.0, self._analysis - behind)))
        return out[:count]

    def _next_hop(self) -> np.ndarray:
        target = round(self._analysis)
        start = target if self._previous is None else self._best_offset(target)
        frame = self._frame_at(start) * self.window
        self._overlap += frame
        done = self._overlap[: self.hop].copy()
        self._overlap = np.concatenate([self._overlap[self.hop :], np.zeros(self.hop, np.float32)])
        self._previous = start
        self._analysis += self.hop * self.speed
        return done

    def _frame_at(self, start: int) -> np.ndarray:
        frame = np.zeros(self.frame, dtype=np.float32)
        if start < len(self.source) and start + self.frame > 0:
            lo = max(0, start)
            chunk = self.source[lo : start + self.frame]
            frame[lo - start : lo - start + len(chunk)] = chunk
        return frame

    def _best_offset(self, target: int) -> int:
        """The frame start near ``target`` that best continues the previous frame."""
        assert self._previous is not None
        natural = self._frame_at(self._previous + self.hop)
        lo = target - self.tolerance
        region = self._frame_at_len(lo, self.frame + 2 * self.tolerance)
        if not natural.any() or not region.any():
            return target
        scores = np.correlate(region, natural, mode="valid")
        energy = np.cumsum(np.concatenate([[0.0], region.astype(np.float64) ** 2]))
        window_energy = energy[self.frame :] - energy[: -self.frame]
        scores = scores / np.sqrt(np.maximum(window_energy, 1e-12))
        return lo + int(np.argmax(scores))

    def _frame_at_len(self, start: int, length: int) -> np.ndarray:
        out = np.zeros(length, dtype=np.float32)
        if start < len(self.source) and start + length > 0:
            lo = max(0, start)
            chunk = self.source[lo : start + length]
            out[lo - start : lo - start + len(chunk)] = chunk
        return out
