"""A recording's loudness outline for the waveform under the playback position.

``peaks(samples, buckets)`` reduces any length of audio to ``buckets`` peak levels
(0..1), reading it in chunks so a memory-mapped three-hour recording is never
loaded whole.
"""

from __future__ import annotations

import numpy as np

CHUNK = 16_000 * 30


def peaks(samples, buckets: int) -> np.ndarray:
    """Peak absolute level per bucket, float32 in 0..1 (``samples``: array or Int16Samples)."""
    total = len(samples)
    out = np.zeros(max(1, buckets), dtype=np.float32)
    if total == 0 or buckets <= 0:
        return out
    edges = np.linspace(0, total, buckets + 1).astype(np.int64)
    for start in range(0, total, CHUNK):
        stop = min(total, start + CHUNK)
        chunk = np.abs(np.asarray(samples[start:stop], dtype=np.float32))
        first = int(np.searchsorted(edges, start, side="right")) - 1
        last = int(np.searchsorted(edges, stop, side="left"))
        for b in range(max(0, first), min(buckets, last)):
            lo, hi = max(edges[b], start), min(edges[b + 1], stop)
            if hi > lo:
                out[b] = max(out[b], float(chunk[lo - start : hi - start].max()))
    top = float(out.max())
    return out / top if top > 0 else out
