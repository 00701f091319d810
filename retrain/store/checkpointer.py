"""The background checkpointer: moves committed pages from the WAL into the database.

With ``synchronous=NORMAL`` (the store's default durability) a commit appends to the
WAL without waiting for the disk, so the writer acknowledges an edit in a
millisecond or two even when the disk stalls; the WAL is made durable when it is
checkpointed. This thread does that about once a second after writes (SQLite fsyncs
the WAL before copying it), on its own connection, so the writer never pays for a
checkpoint. A PASSIVE checkpoint never blocks the writer or the readers.

What this means: an acknowledged write survives the app being killed at any moment
(the WAL is in the operating system's cache; ``tests/test_store_reliability.py``
kills a writer 50 times); after a power cut or an operating-system crash, at most
about the last second of writes can be missing. ``Store.open(durability="full")``
fsyncs on every commit instead (slower when the disk is busy; see the benchmark).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger("tiro.store.checkpoint")

INTERVAL_S = 1.0


class Checkpointer:
    def __init__(
        self, connect: Callable[[], sqlite3.Connection], interval: float = INTERVAL_S
    ) -> None:
        self._connect = connect
        self._interval = interval
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tiro-store-checkpoint", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Called after a commit: a checkpoint is due within ``interval`` seconds."""
        self._dirty.set()

    def close(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._dirty.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop.is_set():
                self._dirty.wait()
                if self._stop.wait(self._interval):
                    break
                self._dirty.clear()
                conn = conn or self._connect()
                self._checkpoint(conn)
            if conn is not None or self._dirty.is_set():
                conn = conn or self._connect()
                self._checkpoint(conn)
        except Exception:
            log.warning(
                "the checkpointer stopped; SQLite's own checkpoints take over", exc_info=True
            )
        finally:
            if conn is not None:
                conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # busy, disk full: try again after the next write
            log.info("checkpoint skipped: %s", exc)
