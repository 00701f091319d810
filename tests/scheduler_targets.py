"""Stand-in pipeline targets for the scheduler's isolation tests only: they test the
process boundary (a crash, a hang), not the pipeline. The pipeline process imports them
by name (``SchedulerConfig.pipeline_target``), with ``tests/`` on PYTHONPATH."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

STARTED = "target-started"


def _started() -> None:
    """Tell the test the target is running (its signal handling is in place)."""
    (Path(os.environ["TIRO_HOME"]) / STARTED).touch()


def crashes(store, *, cancel=None):
    """Dies the way a native library does: a segmentation fault, no Python traceback."""
    os.kill(os.getpid(), signal.SIGSEGV)
    time.sleep(30)


def raises(store, *, cancel=None):
    raise RuntimeError("the disk is full")


def hangs(store, *, cancel=None):
    """Never returns and ignores SIGTERM: only SIGKILL ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _started()
    while True:
        time.sleep(1)


def hangs_until_cancelled(store, *, cancel=None):
    """Keeps going until the cancel event (SIGTERM) is set, then stops like the pipeline."""
    from retrain.pipeline.run import PipelineCancelled

    _started()
    while cancel is None or not cancel.is_set():
        time.sleep(0.05)
    raise PipelineCancelled()


def half_written_run(store, *, cancel=None):
    """Starts a training run (as the pipeline does) and then hangs, ignoring SIGTERM."""
    from retrain.registry import utc_now

    store.write(
        lambda conn: conn.execute(
            "INSERT INTO training_runs (started_at, status, contract_version, examples_hash, "
            "example_count, champion_before, code_version) "
            "VALUES (?, 'running', 1, 'x', 0, 'factory', 'test')",
            (utc_now(),),
        )
    ).result()
    hangs(store, cancel=cancel)
