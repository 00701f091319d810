"""Decoded audio for playback, kept on disk rather than in memory.

A three-hour recording is 690 MB as float32 samples. Instead, the recording is
decoded once (16 kHz mono) into ``TIRO_HOME/cache/recordings/<id>/playback-16k.pcm``
as 16-bit samples and memory-mapped: the player reads any span at once, and the
operating system keeps only what is played in memory. The store's privacy delete
removes that folder with the recording.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from engine.paths import cache_dir

RATE = 16_000
SCALE = np.float32(1.0 / 32768.0)
PCM_NAME = "playback-16k.pcm"
META_NAME = "playback-16k.json"


class Int16Samples:
    """A read-only float32 view of 16-bit samples (an array or a memory map)."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: slice) -> np.ndarray:
        return np.asarray(self.data[index], dtype=np.float32) * SCALE


def recording_cache(recording_id: int) -> Path:
    return cache_dir() / "recordings" / str(recording_id)


def _fingerprint(source: Path) -> dict[str, float | int]:
    stat = source.stat()
    return {"size": stat.st_size, "mtime": stat.st_mtime}


def cached_samples(recording_id: int, source: Path) -> Int16Samples | None:
    folder = recording_cache(recording_id)
    pcm, meta = folder / PCM_NAME, folder / META_NAME
    try:
        info = json.loads(meta.read_text())
        if info.get("source") != _fingerprint(source) or not pcm.exists():
            return None
        if pcm.stat().st_size != 2 * int(info["samples"]):
            return None
        if int(info["samples"]) == 0:
            return Int16Samples(np.zeros(0, dtype=np.int16))
        return Int16Samples(np.memmap(pcm, dtype="<i2", mode="r"))
    except (OSError, ValueError, KeyError):
        return None


def playback_samples(
    recording_id: int,
    source: Path,
    blocks: Callable[[Path], Iterable[np.ndarray]],
) -> Int16Samples:
    """The recording's samples for playback, decoding it (with ``blocks``) on first use."""
    cached = cached_samples(recording_id, source)
    if cached is not None:
        return cached
    folder = recording_cache(recording_id)
    folder.mkdir(parents=True, exist_ok=True)
    pcm, meta = folder / PCM_NAME, folder / META_NAME
    partial = pcm.with_suffix(".part")
    fingerprint = _fingerprint(source)
    count = 0
    try:
        with partial.open("wb") as out:
            for block in blocks(source):
                pcm16 = (np.clip(block, -1.0, 1.0) * 32767.0).astype("<i2")
                out.write(pcm16.tobytes())
                count += len(pcm16)
        partial.replace(pcm)
    finally:
        partial.unlink(missing_ok=True)
    meta.write_text(json.dumps({"source": fingerprint, "samples": count, "rate": RATE}))
    if count == 0:
        return Int16Samples(np.zeros(0, dtype=np.int16))
    return Int16Samples(np.memmap(pcm, dtype="<i2", mode="r"))
