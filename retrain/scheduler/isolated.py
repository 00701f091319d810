"""Run a command in its own low-priority process group, with a timeout and a clean cancel.

The pattern of ``retrain.finetune.job`` (a niced worker, SIGTERM to cancel, killed after a
grace period), made general for the scheduler: the child runs in a new session (its
own process group), so that when it must be killed, whatever it started (e.g. the
fine-tuning worker) goes with it.

- cancel (``cancel`` set, e.g. the app quits): SIGTERM to the child, which stops at its
  next check; SIGKILL to the group after ``grace_seconds``. Outcome ``cancelled``.
- hang (still running after ``timeout_seconds``): the same, outcome ``timed_out``.
- crash (non-zero exit, a signal): outcome ``failed`` with the last line of stderr.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

STDERR_LINES = 40


@dataclass(frozen=True)
class ChildOutcome:
    outcome: str  # ok | failed | timed_out | cancelled
    returncode: int | None
    seconds: float
    stderr_tail: tuple[str, ...] = ()

    @property
    def last_error(self) -> str:
        lines = [line.strip() for line in self.stderr_tail if line.strip()]
        return lines[-1] if lines else ""


def lower_priority(niceness: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that lowers the child's priority (POSIX only)."""
    if os.name != "posix" or niceness <= 0:
        return None

    def nice() -> None:
        with contextlib.suppress(OSError):
            os.nice(niceness)

    return nice


def run_isolated(
    command: Sequence[str],
    *,
    timeout_seconds: float,
    cancel: threading.Event | None = None,
    grace_seconds: float = 10.0,
    niceness: int = 10,
    env: Mapping[str, str] | None = None,
    on_started: Callable[[int], None] | None = None,
    poll_seconds: float = 0.1,
) -> ChildOutcome:
    """Run ``command`` to the end, or until it is cancelled or times out (see module doc)."""
    started = time.monotonic()
    posix = os.name == "posix"
    child = subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env) if env is not None else None,
        preexec_fn=lower_priority(niceness),
        start_new_session=posix,
    )
    tail: list[str] = []

    def read_stderr() -> None:
        for line in child.stderr:  # type: ignore[union-attr]
            tail.append(line.rstrip("\n"))
            del tail[:-STDERR_LINES]

    reader = threading.Thread(target=read_stderr, name="tiro-isolated-stderr", daemon=True)
    reader.start()
    if on_started is not None:
        on_started(child.pid)
    stopping: str | None = None  # why we are stopping it: cancelled | timed_out
    kill_at: float | None = None
    while child.poll() is None:
        now = time.monotonic()
        if stopping is None:
            if cancel is not None and cancel.is_set():
                stopping = "cancelled"
            elif now - started > timeout_seconds:
                stopping = "timed_out"
            if stopping is not None:
                _terminate(child)
                kill_at = now + grace_seconds
        elif kill_at is not None and now > kill_at:
            _kill_group(child)
            kill_at = None
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=poll_seconds)
    if posix and stopping is not None:
        _kill_group(child)  # anything the child started and left behind
    reader.join(timeout=5)
    seconds = time.monotonic() - started
    if stopping is not None:
        return ChildOutcome(stopping, child.returncode, seconds, tuple(tail))
    outcome = "ok" if child.returncode == 0 else "failed"
    return ChildOutcome(outcome, child.returncode, seconds, tuple(tail))


def _terminate(child: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        if os.name == "posix":
            child.send_signal(signal.SIGTERM)
        else:
            child.terminate()


def _kill_group(child: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if os.name == "posix":
            os.killpg(child.pid, signal.SIGKILL)
        else:
            child.kill()
