"""Running work off the UI thread and getting answers back onto it.

``run_in_thread`` runs a plain function in Qt's thread pool (superqt's
FunctionWorker) and calls ``done`` or ``failed`` on the UI thread. ``UiDispatcher``
lets any Python thread (the store's writer, a job) hand a callable to the UI
thread. Both keep workers referenced until they finish.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QThreadPool, Signal, Slot
from superqt.utils import FunctionWorker

log = logging.getLogger(__name__)

_running: set[FunctionWorker] = set()


def _alive(owner: object | None) -> bool:
    """False once the widget the answer was for is closing or gone."""
    if owner is None:
        return True
    return shiboken6.isValid(owner) and not getattr(owner, "_closing", False)


def run_in_thread(
    fn: Callable[..., Any],
    *args: Any,
    done: Callable[[Any], None] | None = None,
    failed: Callable[[BaseException], None] | None = None,
    owner: object | None = None,
) -> FunctionWorker:
    """Run ``fn(*args)`` in the pool; ``done``/``failed`` run on the UI thread, unless
    ``owner`` has closed in the meantime."""
    worker = FunctionWorker(fn, *args)
    _running.add(worker)
    if done is not None:
        worker.returned.connect(lambda value: _alive(owner) and done(value))
    if failed is not None:
        worker.errored.connect(lambda exc: _alive(owner) and failed(exc))
    else:
        worker.errored.connect(lambda exc: log.error("background task failed", exc_info=exc))
    worker.finished.connect(lambda: _running.discard(worker))
    worker.start()
    return worker


def wait_for_workers(timeout_ms: int = 3000) -> bool:
    return QThreadPool.globalInstance().waitForDone(timeout_ms)


class UiDispatcher(QObject):
    """``post(fn)`` from any thread runs ``fn()`` on the thread that owns the dispatcher."""

    _call = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._call.connect(self._run)

    def post(self, fn: Callable[[], None]) -> None:
        self._call.emit(fn)

    @Slot(object)
    def _run(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:
            log.exception("a posted UI callback failed")
