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
        source = str(source) if hasattr(source, "__fspath__") else source
        try:
            self._conn.send(("job", source, options, bundle))
            info = self._until_info(progress, cancel)
        except BaseException:
            self._busy = False
            raise
        return self._segments(progress, cancel), info

    def _receive(self, cancel: threading.Event | None, cancel_sent: list[bool]) -> tuple:
        while True:
            if cancel is not None and cancel.is_set() and not cancel_sent[0]:
                with contextlib.suppress(OSError):
                    self._conn.send(("cancel",))
                cancel_sent[0] = True
            try:
                if self._conn.poll(POLL_SECONDS):
                    return self._conn.recv()
            except (EOFError, OSError) as exc:
                self._discard()
                raise WorkerCrashed(CRASHED) from exc
            if not self.running:
                self._discard()
                raise WorkerCrashed(CRASHED)

    def _until_info(self, progress, cancel) -> Any:
        sent = [False]
        while True:
            message = self._receive(cancel, sent)
            kind = message[0]
            if kind == "info":
                self._cancel_sent = sent
                return message[1]
            if kind == "progress" and progress is not None:
                progress(message[1])
            elif kind == "error":
                raise message[1]
            elif kind == "cancelled":
                raise TranscriptionCancelled("The transcription was cancelled.")

    def _segments(self, progress, cancel) -> Iterator[Any]:
        sent = getattr(self, "_cancel_sent", [False])
        finished = False
        try:
            while True:
                message = self._receive(cancel, sent)
                kind = message[0]
                if kind == "segment":
                    yield message[1]
                elif kind == "progress":
                    if progress is not None:
                        progress(message[1])
                elif kind == "done":
                    finished = True
                    return
                elif kind == "cancelled":
                    finished = True
                    raise TranscriptionCancelled("The transcription was cancelled.")
                elif kind == "error":
                    finished = True
                    raise message[1]
        except WorkerCrashed:
            finished = True
            raise
        finally:
            if not finished:
                self._abandon()
            self._busy = False

    def _abandon(self, timeout: float = 5.0) -> None:
        """The caller stopped reading: cancel the child's job and drain what it still sends."""
        import time

        try:
            self._conn.send(("cancel",))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self._conn.poll(POLL_SECONDS) and self._conn.recv()[0] in (
                    "done",
                    "cancelled",
                    "error",
                ):
                    return
        except (EOFError, OSError):
            pass
        log.warning("the transcription worker did not stop in time; replacing it")
        self._discard()

    def close(self, timeout: float = 3.0) -> None:
        with self._lock:
            if self._conn is not None and self.running:
                with contextlib.suppress(OSError):
                    self._conn.send(("quit",))
                self._process.join(timeout)
            self._discard()
