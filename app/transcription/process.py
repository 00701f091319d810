"""``engine.transcribe`` in a long-lived worker process.

``ProcessTranscriber.transcribe`` has the engine's signature and returns the same
lazy ``(segments, info)`` pair, so a job does not care where the model runs. The
child process is started once (spawn) and reused, so the model loads once. A
cancel is forwarded to the child, whose engine stops within a second; a child
that dies is reported as one sentence and replaced on the next job.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import logging.handlers
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from engine.errors import EngineError, TranscriptionCancelled

log = logging.getLogger(__name__)

DEFAULT_TARGET = "engine:transcribe"
POLL_SECONDS = 0.1
CRASHED = (
    "The transcription worker stopped unexpectedly; try again, and if it happens again "
    "the details are in the log file."
)


class WorkerCrashed(EngineError):
    """The worker process died while transcribing."""


def _resolve(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _child_logging() -> None:
    from engine.paths import logs_dir

    handler = logging.handlers.RotatingFileHandler(
        logs_dir() / "tiro-worker.log", maxBytes=2_000_000, backupCount=2, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _portable(exc: BaseException) -> BaseException:
    """An exception that survives pickling: engine errors as they are, others summarized."""
    if isinstance(exc, (EngineError, OSError)):
        return exc
    return RuntimeError(f"{type(exc).__name__}: {exc}")


WORKER_NICENESS = 5


def _lower_priority() -> None:
    """The model may use every core; the window must still get one the moment it needs it."""
    # Windows has no nice(); failing to lower the priority only costs smoothness.
    with contextlib.suppress(AttributeError, OSError):
        os.nice(WORKER_NICENESS)


def _child_main(conn, target: str) -> None:  # runs in the worker process
    _child_logging()
    _lower_priority()
    jobs: queue.Queue[tuple | None] = queue.Queue()
    cancel = threading.Event()

    def listen() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                jobs.put(None)
                return
            if message[0] == "cancel":
                cancel.set()
            elif message[0] == "quit":
                cancel.set()
                jobs.put(None)
                return
            else:
                jobs.put(message)

    threading.Thread(target=listen, name="tiro-worker-listen", daemon=True).start()
    transcribe = _resolve(target)
    conn.send(("ready",))
    while (job := jobs.get()) is not None:
        _, source, options, bundle = job
        cancel.clear()
        try:
            segments, info = transcribe(
                source,
                options,
                bundle=bundle,
                progress=lambda fraction: conn.send(("progress", float(fraction))),
                cancel=cancel,
            )
            conn.send(("info", info))
            for segment in segments:
                conn.send(("segment", segment))
            conn.send(("done",))
        except TranscriptionCancelled:
            conn.send(("cancelled",))
        except BaseException as exc:
            logging.getLogger("tiro.worker").exception("transcription failed in the worker")
            conn.send(("error", _portable(exc)))


class ProcessTranscriber:
    """Runs one transcription at a time in a reusable child process."""

    def __init__(self, target: str = DEFAULT_TARGET) -> None:
        self.target = target
        self._context = mp.get_context("spawn")
        self._process: Any = None
        self._conn: Any = None
        self._lock = threading.Lock()
        self._busy = False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def start(self) -> None:
        """Start the worker now (e.g. while the user looks at the window) to save time later."""
        with self._lock:
            self._ensure_started()

    def _ensure_started(self) -> None:
        if self.running:
            return
        self._discard()
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_child_main, args=(child, self.target), name="tiro-transcriber", daemon=True
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent

    def _discard(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(2)
        self._process = self._conn = None

    def transcribe(
        self,
        source: Any,
        options: Any = None,
        *,
        bundle: Any = None,
        progress: Callable[[float], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> tuple[Iterator[Any], Any]:
        with self._lock:
            if self._busy:
                raise RuntimeError("the transcription worker is busy")
            self._ensure_started()
            self._busy = True
            job = _Job(self, self._conn, self._process, progress, cancel)
        source = str(source) if hasattr(source, "__fspath__") else source
        try:
            job.conn.send(("job", source, options, bundle))
            info = job.until_info()
        except BaseException:
            self._busy = False
            raise
        return job.segments(), info

    def _job_ended(self, job: _Job, crashed: bool) -> None:
        with self._lock:
            if crashed and self._conn is job.conn:
                self._discard()
            self._busy = False

    def close(self, timeout: float = 3.0) -> None:
        with self._lock:
            if self._conn is not None and self.running:
                with contextlib.suppress(OSError):
                    self._conn.send(("quit",))
                self._process.join(timeout)
            self._discard()


class _Job:
    """One transcription's conversation with the worker, on the connection it started on
    (so a late clean-up can never talk to a newer worker)."""

    def __init__(self, owner: ProcessTranscriber, conn, process, progress, cancel) -> None:
        self.owner = owner
        self.conn = conn
        self.process = process
        self.progress = progress
        self.cancel = cancel
        self.cancel_sent = False

    def receive(self) -> tuple:
        while True:
            if self.cancel is not None and self.cancel.is_set() and not self.cancel_sent:
                with contextlib.suppress(OSError):
                    self.conn.send(("cancel",))
                self.cancel_sent = True
            try:
                if self.conn.poll(POLL_SECONDS):
                    return self.conn.recv()
            except (EOFError, OSError) as exc:
                raise WorkerCrashed(CRASHED) from exc
            if not self.process.is_alive():
                raise WorkerCrashed(CRASHED)

    def until_info(self) -> Any:
        try:
            while True:
                kind, *payload = self.receive()
                if kind == "info":
                    return payload[0]
                if kind == "progress" and self.progress is not None:
                    self.progress(payload[0])
                elif kind == "error":
                    raise payload[0]
                elif kind == "cancelled":
                    raise TranscriptionCancelled("The transcription was cancelled.")
        except WorkerCrashed:
            self.owner._job_ended(self, crashed=True)
            raise

    def segments(self) -> Iterator[Any]:
        finished = crashed = False
        try:
            while True:
                kind, *payload = self.receive()
                if kind == "segment":
                    yield payload[0]
                elif kind == "progress":
                    if self.progress is not None:
                        self.progress(payload[0])
                elif kind == "done":
                    finished = True
                    return
                elif kind == "cancelled":
                    finished = True
                    raise TranscriptionCancelled("The transcription was cancelled.")
                elif kind == "error":
                    finished = True
                    raise payload[0]
        except WorkerCrashed:
            finished = crashed = True
            raise
        finally:
            if not finished:
                crashed = not self.abandon()
            self.owner._job_ended(self, crashed)

    def abandon(self, timeout: float = 5.0) -> bool:
        """The caller stopped reading: cancel the child's job and drain what it still sends.
        False if the worker did not settle (it is then replaced)."""
        try:
            self.conn.send(("cancel",))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.conn.poll(POLL_SECONDS) and self.conn.recv()[0] in (
                    "done",
                    "cancelled",
                    "error",
                ):
                    return True
        except (EOFError, OSError):
            pass
        log.warning("the transcription worker did not stop in time; replacing it")
        return False
