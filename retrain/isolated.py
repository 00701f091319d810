"""Run a command in its own low-priority process, with a timeout and a clean cancel.

Used for the learning pipeline (``retrain.scheduler.pipeline_job``) and for the
fine-tuning worker it starts (``retrain.finetune.job``). With ``new_session`` (the
default) the child runs in a new session, its own process group, so that when it must
be killed, whatever it started (e.g. the fine-tuning worker) goes with it; a child
started from inside such a group (``new_session=False``) stays in it.

- cancel (``cancel`` set, e.g. the app quits): SIGTERM to the child, which stops at its
  next check; SIGKILL (to the group, with ``new_session``) after ``grace_seconds``.
  Outcome ``cancelled``.
- hang (still running after ``timeout_seconds``; ``None``: no limit): the same, outcome
  ``timed_out``.
- crash (non-zero exit, a signal): outcome ``failed`` with the last lines of stderr.

``on_stdout_line`` receives each line the child prints (e.g. progress), on a reader
thread; without it the child's output is discarded.
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
    timeout_seconds: float | None,
    cancel: threading.Event | None = None,
    grace_seconds: float = 10.0,
    niceness: int = 10,
    env: Mapping[str, str] | None = None,
    on_started: Callable[[int], None] | None = None,
    on_stdout_line: Callable[[str], None] | None = None,
    new_session: bool = True,
    poll_seconds: float = 0.1,
) -> ChildOutcome:
    """Run ``command`` to the end, or until it is cancelled or times out (see module doc)."""
    started = time.monotonic()
    group = new_session and os.name == "posix"
    child = subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if on_stdout_line is not None else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env) if env is not None else None,
        preexec_fn=lower_priority(niceness),
        start_new_session=group,
    )
    tail: list[str] = []

    def read_stderr() -> None:
        for line in child.stderr:  # type: ignore[union-attr]
            tail.append(line.rstrip("\n"))
            del tail[:-STDERR_LINES]

    readers = [threading.Thread(target=read_stderr, name="tiro-isolated-stderr", daemon=True)]
    if on_stdout_line is not None:
        relay = on_stdout_line

        def read_stdout() -> None:
            for line in child.stdout:  # type: ignore[union-attr]
                relay(line.rstrip("\n"))

        readers.append(threading.Thread(target=read_stdout, name="tiro-isolated-out", daemon=True))
    for reader in readers:
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
            elif timeout_seconds is not None and now - started > timeout_seconds:
                stopping = "timed_out"
            if stopping is not None:
                _terminate(child)
                kill_at = now + grace_seconds
        elif kill_at is not None and now > kill_at:
            _kill(child, group)
            kill_at = None
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=poll_seconds)
    if group and stopping is not None:
        _kill(child, group)  # anything the child started and left behind
    for reader in readers:
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


def _kill(child: subprocess.Popen, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        if group:
            os.killpg(child.pid, signal.SIGKILL)
        else:
            child.kill()
