"""``BusySignal``: Tiro says when it is transcribing; the learning pipeline does not start then.

Whoever transcribes holds the signal for the length of the work
(``with busy.hold("transcription"): ...``): the app around each transcription job,
``tiro import`` and ``tiro transcribe`` around theirs. The scheduler's gate asks
``busy`` (and ``reasons``) before it starts a pipeline run. Holds nest and may come from
any thread.

Across processes: each hold also takes a shared lock (``fcntl.flock`` ``LOCK_SH``) on
``TIRO_HOME/locks/busy-<reason>.lock`` for as long as it lasts. ``busy`` is true when
this instance holds the signal, or when an exclusive non-blocking lock on one of those
files cannot be taken: some process holds it (this process too, through another
``BusySignal`` or another open file). The OS drops a lock when its process ends, even on
``kill -9``, so a crashed transcriber never leaves Tiro busy. The lock files are never
removed (removing one races with a process about to lock it); there is one per reason.
Their descriptors are not inherited by child processes (Python's default, and Tiro's
children are spawned, never forked), so a child cannot keep a hold alive.

The lock file never makes a hold fail: if it cannot be opened or locked (an unwritable
``TIRO_HOME``, a file system without ``flock``), the hold is logged and counts in this
process only. On Windows (no ``fcntl``) the signal is in-process only: a headless run
there is not held back by a transcription in another process.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine import paths

try:
    import fcntl
except ImportError:  # Windows: in-process only (see the module docstring)
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("tiro.scheduler")

LOCK_PREFIX = "busy-"
LOCK_SUFFIX = ".lock"
HOLD_WAIT_SECONDS = 1.0  # a probe locks a file exclusively for an instant; a hold waits it out
PROBE_ATTEMPTS = 3  # an exclusive lock refused this often (10 ms apart) is a real hold
PROBE_PAUSE_SECONDS = 0.01


def lock_file_name(reason: str) -> str:
    """``busy-<reason>.lock``, with anything but letters, digits, ``_`` and ``-`` as ``_``."""
    return f"{LOCK_PREFIX}{re.sub(r'[^A-Za-z0-9_-]', '_', reason) or '_'}{LOCK_SUFFIX}"


class BusySignal:
    """Held while Tiro transcribes; ``busy`` sees holds in this process and in others.

    ``cross_process=False`` keeps it within this process (no lock files); ``lock_dir``
    overrides where the lock files are (default ``engine.paths.locks_dir()``, looked up
    at each use so that it follows ``TIRO_HOME``).
    """

    def __init__(self, *, cross_process: bool = True, lock_dir: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._holds: Counter[str] = Counter()
        self._cross_process = cross_process and fcntl is not None
        self._lock_dir = lock_dir

    @contextmanager
    def hold(self, reason: str = "transcription") -> Iterator[None]:
        fd = self._lock_shared(reason) if self._cross_process else None
        with self._lock:
            self._holds[reason] += 1
        try:
            yield
        finally:
            with self._lock:
                self._holds[reason] -= 1
                if self._holds[reason] <= 0:
                    del self._holds[reason]
            if fd is not None:
                os.close(fd)  # closing the last descriptor of the file releases its lock

    @property
    def busy(self) -> bool:
        with self._lock:
            if self._holds:
                return True
        return bool(self._held_in_files())

    @property
    def reasons(self) -> tuple[str, ...]:
        with self._lock:
            mine = set(self._holds)
        return tuple(sorted(mine | set(self._held_in_files())))

    # -- the lock files ----------------------------------------------------------------
    def _directory(self) -> Path:
        return self._lock_dir if self._lock_dir is not None else paths.locks_dir()

    def _lock_shared(self, reason: str) -> int | None:
        """A descriptor holding a shared lock on the reason's file, or None (logged)."""
        try:
            directory = self._directory()
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(directory / lock_file_name(reason), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            log.warning("the busy signal is visible in this process only (%s)", exc)
            return None
        deadline = time.monotonic() + HOLD_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:  # another process is probing it right now
                if time.monotonic() < deadline:
                    time.sleep(PROBE_PAUSE_SECONDS / 2)
                    continue
                log.warning("the busy signal's lock file stayed locked; in-process only")
            except OSError as exc:
                log.warning("the busy signal is visible in this process only (%s)", exc)
            os.close(fd)
            return None

    def _held_in_files(self) -> list[str]:
        """Reasons whose lock file some process holds."""
        if not self._cross_process:
            return []
        try:
            files = sorted(self._directory().glob(f"{LOCK_PREFIX}*{LOCK_SUFFIX}"))
        except OSError:
            return []
        return [f.name[len(LOCK_PREFIX) : -len(LOCK_SUFFIX)] for f in files if _is_held(f)]


def _is_held(path: Path) -> bool:
    """True when an exclusive lock on ``path`` is refused every time (someone holds it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        for attempt in range(PROBE_ATTEMPTS):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if attempt + 1 < PROBE_ATTEMPTS:
                    time.sleep(PROBE_PAUSE_SECONDS)
                continue
            except OSError:
                return False
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True
    finally:
        os.close(fd)
