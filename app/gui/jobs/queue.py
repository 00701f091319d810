"""``TranscriptionQueue``: imports, recordings and re-transcriptions, one at a time.

It is also the list model of the queue panel. A job is a blocking function
``run_job(request, cancel, emit)`` run in a superqt ``FunctionWorker`` (a
QThreadPool thread); what it emits (started, progress, segments) crosses to the UI
thread as a queued signal. Cancelling sets the job's event: the engine stops
within a second and the job ends "cancelled".
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QAbstractListModel, QCoreApplication, QModelIndex, QObject, Qt, Signal
from superqt.utils import FunctionWorker

from app.gui.errors import user_message
from app.transcription.events import (
    JobEvent,
    JobProgress,
    JobRequest,
    JobStarted,
    SegmentsAdded,
    SegmentsChanged,
)
from engine.errors import TranscriptionCancelled

log = logging.getLogger(__name__)

JobFunction = Callable[[JobRequest, threading.Event, Callable[[JobEvent], None]], None]


class _Events(QObject):
    """Carries a job's events from its worker thread to the UI thread (a queued signal)."""

    event = Signal(object)


ACTIVE = ("queued", "running")
ItemRole = Qt.ItemDataRole.UserRole + 1


@dataclass(eq=False)
class QueueItem:
    id: int
    request: JobRequest
    name: str
    status: str = "queued"  # queued, running, done, failed, cancelled
    progress: float = 0.0
    message: str = ""
    transcript_id: int | None = None
    duration: float = 0.0
    notices: tuple[str, ...] = ()
    cancel: threading.Event = field(default_factory=threading.Event)
    started_at: float = 0.0

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def status_text(self) -> str:
        if self.status == "queued":
            return "Waiting"
        if self.status == "running":
            if self.cancel.is_set():
                return "Cancelling…"
            verb = "Re-transcribing" if self.request.kind == "retranscribe" else "Transcribing"
            return f"{verb} · {self.progress:.0%}"
        if self.status == "done":
            return "Done"
        if self.status == "cancelled":
            return "Cancelled"
        return self.message or "Failed"


class TranscriptionQueue(QAbstractListModel):
    jobStarted = Signal(object)  # QueueItem
    segmentsAdded = Signal(int, object)  # transcript id, tuple[SegmentState]
    segmentsChanged = Signal(int, object)
    jobFinished = Signal(object)  # QueueItem (status done/failed/cancelled)
    busyChanged = Signal(bool)

    def __init__(self, run_job: JobFunction, parent=None) -> None:
        super().__init__(parent)
        self.run_job = run_job
        self.items: list[QueueItem] = []
        self._ids = itertools.count(1)
        self._worker: FunctionWorker | None = None
        self._current: QueueItem | None = None
        self._last_progress_emit = 0.0

    # -- model ---------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.items)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        item = self.items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.name
        if role == ItemRole:
            return item
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            return f"{item.name}: {item.status_text()}"
        return None

    def _changed(self, item: QueueItem) -> None:
        row = self.items.index(item)
        self.dataChanged.emit(self.index(row), self.index(row))

    # -- commands ------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return any(item.active for item in self.items)

    def add(self, request: JobRequest, name: str | None = None) -> QueueItem:
        item = QueueItem(next(self._ids), request, name or request.path.name)
        self.beginInsertRows(QModelIndex(), len(self.items), len(self.items))
        self.items.append(item)
        self.endInsertRows()
        was_busy = self._current is not None
        self._start_next()
        if not was_busy:
            self.busyChanged.emit(True)
        return item

    def cancel(self, item: QueueItem) -> None:
        if item.status == "queued":
            item.status = "cancelled"
            self._changed(item)
            self.jobFinished.emit(item)
        elif item.status == "running":
            item.cancel.set()  # the engine stops within a second and the job ends "cancelled"
            self._changed(item)

    def cancel_all(self) -> None:
        for item in list(self.items):
            if item.active:
                self.cancel(item)

    def clear_finished(self) -> None:
        keep = [item for item in self.items if item.active]
        if len(keep) != len(self.items):
            self.beginResetModel()
            self.items = keep
            self.endResetModel()

    def wait_idle(self, timeout: float) -> bool:
        """Process events until no job runs (for closing the window). True if idle."""
        deadline = time.monotonic() + timeout
        while self._current is not None and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            time.sleep(0.01)
        return self._current is None

    # -- running -------------------------------------------------------------------------
    def _start_next(self) -> None:
        if self._current is not None:
            return
        item = next((i for i in self.items if i.status == "queued"), None)
        if item is None:
            self.busyChanged.emit(False)
            return
        item.status = "running"
        item.started_at = time.monotonic()
        self._current = item
        self._changed(item)
        relay = _Events(self)
        relay.event.connect(lambda event, it=item: self._on_event(it, event))
        worker = FunctionWorker(self.run_job, item.request, item.cancel, relay.event.emit)
        worker.errored.connect(lambda exc, it=item: self._on_error(it, exc))
        worker.returned.connect(lambda _value, it=item: self._on_returned(it))
        worker.finished.connect(lambda it=item, r=relay: self._on_finished(it, r))
        self._worker = worker
        worker.start()

    def _on_event(self, item: QueueItem, event: JobEvent) -> None:
        if isinstance(event, JobProgress):
            item.progress = max(item.progress, min(1.0, event.fraction))
            now = time.monotonic()
            if now - self._last_progress_emit > 0.1:
                self._last_progress_emit = now
                self._changed(item)
        elif isinstance(event, SegmentsAdded):
            self.segmentsAdded.emit(event.transcript_id, event.segments)
        elif isinstance(event, SegmentsChanged):
            self.segmentsChanged.emit(event.transcript_id, event.segments)
        elif isinstance(event, JobStarted):
            item.transcript_id = event.transcript_id
            item.duration = event.duration
            item.notices = event.notices
            if event.name:
                item.name = event.name
            self._changed(item)
            self.jobStarted.emit(item)

    def _on_error(self, item: QueueItem, exc: BaseException) -> None:
        if isinstance(exc, TranscriptionCancelled) or item.cancel.is_set():
            item.status = "cancelled"
        else:
            item.status = "failed"
            name = item.request.path.name
            item.message = user_message(exc, doing=f"transcribing {name}", subject=name)
            log.info("job %s failed: %s", item.name, exc, exc_info=exc)

    def _on_returned(self, item: QueueItem) -> None:
        item.status = "done"  # it finished before a late cancel could stop it
        item.progress = 1.0

    def _on_finished(self, item: QueueItem, relay: _Events) -> None:
        relay.deleteLater()
        if item.status == "running":  # finished without a verdict: treat as cancelled
            item.status = "cancelled"
        self._current = None
        self._worker = None
        self._changed(item)
        self.jobFinished.emit(item)
        self._start_next()
