"""The single background writer: every write to the database goes through it.

The rule (for everyone using the store):

- Writes are *submitted*: ``submit(job)`` puts ``job`` on a queue and returns a
  ``concurrent.futures.Future`` at once. The caller (often the UI thread) never
  waits on disk. One thread, ``tiro-store-writer``, owns the only writing
  connection in the process and runs the jobs in submission order, each in its own
  ``BEGIN IMMEDIATE`` ... ``COMMIT`` transaction. The future resolves after the
  commit: an acknowledged write survives the app being killed (and, within about a
  second, a power cut; see ``retrain.store.checkpointer``).
- A failed job is rolled back completely and its future raises a typed
  :class:`~retrain.errors.RetrainError` (``StoreFullError``, ``StoreReadOnlyError``,
  ``EditConflictError``, ...). The writer keeps running; later jobs are unaffected.
- Future callbacks (``add_done_callback``) run on the writer thread: keep them short
  (a Qt app should only emit a signal from them).
- Reads never go through the writer; they use their own connections (see
  ``retrain.store.reads``), so they neither wait for nor block writes (WAL).
- Other processes (the pipeline, the CLI) have their own writer. Cross-process
  writers queue on SQLite's lock: ``BEGIN IMMEDIATE`` waits up to the busy timeout,
  and the writer retries a few times before reporting ``StoreBusyError``.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from retrain.errors import StoreClosedError
from retrain.store import failures

log = logging.getLogger("tiro.store.writer")

T = TypeVar("T")

BUSY_RETRIES = 3

Job = Callable[[sqlite3.Connection], Any]


@dataclass(slots=True)
class _Task:
    job: Job
    future: Future
    transaction: bool
    after_commit: Callable[[Any], None] | None


_STOP = object()


class Writer:
    """Runs write jobs on one thread with one connection, in order."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        database: Path | None = None,
        name: str = "tiro-store-writer",
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._connect = connect
        self._database = database
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Task | object] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._open_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._open_error is not None:
            raise self._open_error

    def submit(
        self,
        job: Callable[[sqlite3.Connection], T],
        *,
        transaction: bool = True,
        after_commit: Callable[[T], None] | None = None,
    ) -> Future[T]:
        """Queue ``job(connection)``; its return value becomes the future's result.

        ``transaction=False`` runs the job outside a transaction (for ``VACUUM`` and
        checkpoints). ``after_commit(result)`` runs on the writer thread after a
        successful commit and before the future resolves (for file clean-up).
        """
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                future.set_exception(StoreClosedError())
                return future
            self._queue.put(_Task(job, future, transaction, after_commit))
        return future

    def close(self, timeout: float | None = 30.0) -> None:
        """Finish every queued job, then close the connection."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            self._open_error = failures.translate(exc, self._database)
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                task = self._queue.get()
                if task is _STOP:
                    return
                assert isinstance(task, _Task)
                if not task.future.set_running_or_notify_cancel():
                    continue
                self._execute(conn, task)
        finally:
            conn.close()

    def _execute(self, conn: sqlite3.Connection, task: _Task) -> None:
        try:
            result = self._run_job(conn, task)
            if task.after_commit is not None:
                try:
                    task.after_commit(result)
                except Exception:  # clean-up must not turn a committed write into a failure
                    log.exception("after-commit step failed")
        except BaseException as exc:
            error = failures.translate(exc, self._database)
            if error is exc:
                log.debug("write job failed", exc_info=True)
            else:
                log.warning("write failed: %s (%s)", type(error).__name__, exc)
            task.future.set_exception(error)
            return
        task.future.set_result(result)

    def _run_job(self, conn: sqlite3.Connection, task: _Task) -> Any:
        if not task.transaction:
            return task.job(conn)
        failures.retry_while_busy(
            lambda: conn.execute("BEGIN IMMEDIATE"),
            [0.05 * attempt for attempt in range(1, BUSY_RETRIES + 1)],
        )
        try:
            result = task.job(conn)
            conn.execute("COMMIT")
            if self._on_commit is not None:
                self._on_commit()
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    log.exception("rollback failed")
            raise
        return result
