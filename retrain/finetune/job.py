"""Run one training in its own low-priority process, cancellable, leaving nothing on cancel.

``run_training_job`` writes the examples and settings to a work folder, starts
``python -m retrain.finetune.worker WORKDIR`` (niced), relays its progress lines, and
returns the exported bundle. Setting ``cancel`` sends the worker SIGTERM: it stops at
its next check (between encoder passes and optimizer steps, well under a second for
tiny.en) and removes its partial export; if it has not exited after ``grace_seconds``
it is killed and the parent removes what it left. Either way the destination does not
exist afterwards and ``TrainingCancelled`` is raised. A worker that fails raises
``FinetuneError`` with its one-sentence reason.

The work folder (under TIRO_HOME/cache) is removed in every case. Nothing here
imports torch: the parent stays light, and a build without the fine-tuning extra can
still import it (``availability()`` says whether to call it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine import paths
from engine.bundle import ModelBundle, load_bundle
from retrain.finetune.availability import require_finetune
from retrain.finetune.config import FinetuneConfig
from retrain.finetune.errors import FinetuneError, TrainingCancelled
from retrain.finetune.examples import TrainingExample
from retrain.finetune.export import remove_partial_exports

REQUEST = "request.json"
AUDIO = "audio.npz"
RESULT = "result.json"
EXIT_CANCELLED = 3
EXIT_FAILED = 4


@dataclass(frozen=True)
class TrainingJob:
    """One training: what to learn from, from which base, with which settings, to where."""

    examples: Sequence[TrainingExample]
    base_bundle_dir: Path
    config: FinetuneConfig
    destination: Path  # the exported bundle's folder; must not exist yet
    version: str
    lineage: dict[str, Any] = field(default_factory=dict)  # merged into the trainer's


@dataclass(frozen=True)
class JobOutcome:
    bundle: ModelBundle
    epoch_losses: tuple[float, ...]
    skipped: tuple[tuple[str, str], ...]
    seconds: dict[str, float]
    peak_rss_mb: float  # the worker's own peak resident memory
    cpu_seconds: float  # the worker's CPU time (user + system)


@dataclass(frozen=True, slots=True)
class JobProgress:
    stage: str
    fraction: float
    epoch: int = 0
    step: int = 0
    loss: float | None = None


def write_request(job: TrainingJob, workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    arrays = {f"a{i}": np.asarray(e.audio, dtype=np.float32) for i, e in enumerate(job.examples)}
    np.savez(workdir / AUDIO, **arrays)
    request = {
        "examples": [
            {"id": e.example_id, "text": e.text, "role": e.role, "prompt": e.prompt}
            for e in job.examples
        ],
        "base_bundle_dir": str(job.base_bundle_dir),
        "config": job.config.to_json(),
        "destination": str(job.destination),
        "version": job.version,
        "lineage": job.lineage,
    }
    (workdir / REQUEST).write_text(json.dumps(request), encoding="utf-8")


def read_request(workdir: Path) -> tuple[TrainingJob, dict[str, Any]]:
    request = json.loads((workdir / REQUEST).read_text(encoding="utf-8"))
    with np.load(workdir / AUDIO) as audio:
        examples = [
            TrainingExample(e["id"], audio[f"a{i}"], e["text"], e["role"], e["prompt"])
            for i, e in enumerate(request["examples"])
        ]
    job = TrainingJob(
        examples=examples,
        base_bundle_dir=Path(request["base_bundle_dir"]),
        config=FinetuneConfig(**request["config"]),
        destination=Path(request["destination"]),
        version=request["version"],
        lineage=request["lineage"],
    )
    return job, request


def worker_command(workdir: Path) -> list[str]:
    return [sys.executable, "-m", "retrain.finetune.worker", str(workdir)]


def run_training_job(
    job: TrainingJob,
    *,
    cancel: threading.Event | None = None,
    progress: Callable[[JobProgress], None] | None = None,
    grace_seconds: float = 5.0,
) -> JobOutcome:
    """Train and export in a worker process (see the module docstring)."""
    require_finetune()
    if job.destination.exists():
        raise FileExistsError(f"{job.destination} already exists")
    workdir = paths.cache_dir() / "finetune-jobs" / uuid.uuid4().hex[:12]
    try:
        write_request(job, workdir)
        return _supervise(job, workdir, cancel, progress, grace_seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _supervise(
    job: TrainingJob,
    workdir: Path,
    cancel: threading.Event | None,
    progress: Callable[[JobProgress], None] | None,
    grace_seconds: float,
) -> JobOutcome:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    child = subprocess.Popen(
        worker_command(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    errors: list[str] = []
    stderr_reader = threading.Thread(
        target=lambda: errors.extend(child.stderr.read().splitlines()),  # type: ignore[union-attr]
        daemon=True,
    )
    stdout_reader = threading.Thread(target=_relay, args=(child.stdout, progress), daemon=True)
    stderr_reader.start()
    stdout_reader.start()
    cancelled = False
    deadline: float | None = None
    while child.poll() is None:
        if cancel is not None and cancel.is_set() and not cancelled:
            cancelled = True
            deadline = time.monotonic() + grace_seconds
            _terminate(child)
        if deadline is not None and time.monotonic() > deadline:
            child.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=0.1)
    stdout_reader.join(timeout=5)
    stderr_reader.join(timeout=5)
    if cancelled or child.returncode == EXIT_CANCELLED:
        _remove_export(job.destination)
        raise TrainingCancelled()
    result_file = workdir / RESULT
    if child.returncode != 0 or not result_file.exists():
        _remove_export(job.destination)
        result = json.loads(result_file.read_text("utf-8")) if result_file.exists() else {}
        reason = result.get("error") or (errors[-1] if errors else f"exit {child.returncode}")
        raise FinetuneError(f"fine-tuning failed ({reason}); the current model is unchanged.")
    result = json.loads(result_file.read_text("utf-8"))
    return JobOutcome(
        bundle=load_bundle(job.destination),
        epoch_losses=tuple(result["epoch_losses"]),
        skipped=tuple(tuple(s) for s in result["skipped"]),  # type: ignore[misc]
        seconds=result["seconds"],
        peak_rss_mb=result["peak_rss_mb"],
        cpu_seconds=result["cpu_seconds"],
    )


def _relay(stream, progress: Callable[[JobProgress], None] | None) -> None:
    for line in stream:
        if not line.startswith("{") or progress is None:
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        progress(JobProgress(**data))


def _terminate(child: subprocess.Popen) -> None:
    if os.name == "posix":
        child.send_signal(signal.SIGTERM)  # the worker stops at its next check, cleanly
    else:
        child.terminate()


def _remove_export(destination: Path) -> None:
    remove_partial_exports(destination.parent)
    if destination.exists() and not (destination / "bundle.json").exists():
        shutil.rmtree(destination, ignore_errors=True)
