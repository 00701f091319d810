"""``BusySignal``: the app says when it is transcribing; the pipeline does not start then.

The app holds the signal for the length of each transcription job
(``with busy.hold("transcription"): ...``); the scheduler asks ``busy`` before it
starts a pipeline run. Holds nest and may come from any thread.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager


class BusySignal:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holds: Counter[str] = Counter()

    @contextmanager
    def hold(self, reason: str = "transcription") -> Iterator[None]:
        with self._lock:
            self._holds[reason] += 1
        try:
            yield
        finally:
            with self._lock:
                self._holds[reason] -= 1
                if self._holds[reason] <= 0:
                    del self._holds[reason]

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._holds)

    @property
    def reasons(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(sorted(self._holds))
