"""Ctrl-C for commands that transcribe: it stops the job twice over.

As Python's ``KeyboardInterrupt``, and by setting the job's cancel event, which the
engine checks between windows. Python can lose a ``KeyboardInterrupt`` that lands while
a finalizer runs ("Exception ignored in ..."); the event is not lost, so the job still
ends within a second.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def cancelled_by_ctrl_c() -> Iterator[threading.Event]:
    """An event Ctrl-C sets (besides raising ``KeyboardInterrupt``); the engine's
    ``TranscriptionCancelled`` then leaves as ``KeyboardInterrupt``, the CLI's one way of
    saying "interrupted"."""
    from engine.errors import TranscriptionCancelled

    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel  # signal handlers belong to the main thread
        return

    def interrupted(signum, frame) -> None:
        cancel.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield cancel
    except TranscriptionCancelled:
        raise KeyboardInterrupt from None
    finally:
        signal.signal(signal.SIGINT, previous)
