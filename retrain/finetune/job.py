"""Run trainings in their own low-priority process, cancellable, leaving nothing on cancel.

``run_training_job`` writes the examples and settings to a work folder, starts
``python -m retrain.finetune.worker WORKDIR`` (niced), relays its progress lines, and
returns the exported bundle. ``run_training_jobs`` runs several trainings on subsets
of the same examples (cross-validation folds and the final model) in one worker,
which computes each clip's encoder output once for all of them.

Setting ``cancel`` sends the worker SIGTERM: it stops at its next check (between
encoder passes and optimizer steps, well under a second for tiny.en) and removes its
partial export; if it has not exited after ``grace_seconds`` it is killed and the
parent removes what it left. Either way no destination exists afterwards (all or
nothing) and ``TrainingCancelled`` is raised. A worker that fails raises
``FinetuneError`` with its one-sentence reason.

The work folder (under TIRO_HOME/cache) is removed in every case. Nothing here
imports torch: the parent stays light, and a build without the fine-tuning extra can
still import it (``availability()`` says whether to call it).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.bundle import ModelBundle, load_bundle
from retrain.finetune.availability import require_finetune
from retrain.finetune.config import FinetuneConfig
from retrain.finetune.errors import FinetuneError, TrainingCancelled
from retrain.finetune.examples import TrainingExample
from retrain.finetune.export import remove_partial_exports
from retrain.isolated import run_isolated
from retrain.staging import staging_folder

REQUEST = "request.json"
AUDIO = "audio.npz"
RESULT = "result.json"
ENCODER = "encoder.npz"  # serving encoder outputs the caller already had, by example
EXIT_CANCELLED = 3
EXIT_FAILED = 4
# glibc returns memory blocks over this size to the system as soon as they are freed, so
# that the members' decoder tensors of varying sizes (one per batch length) do not
# fragment the heap: the pipeline's three trainings peaked at 2,228 MB instead of
# 2,494 MB, for about 6% more training time (2 runs each, AMD EPYC, 2 cores). Other C
# libraries ignore it.
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(4 * 1024 * 1024)}


@dataclass(frozen=True)
class TrainingJob:
    """One training: what to learn from, from which base, with which settings, to where."""

    examples: Sequence[TrainingExample]
    base_bundle_dir: Path
    config: FinetuneConfig
    destination: Path  # the exported bundle's folder; must not exist yet
    version: str
    lineage: dict[str, Any] = field(default_factory=dict)  # merged into the trainer's
    ggml_variants: tuple[str, ...] | None = None  # None: the export's default (f16)


@dataclass(frozen=True)
class JobOutcome:
    bundle: ModelBundle
    epoch_losses: tuple[float, ...]
    skipped: tuple[tuple[str, str], ...]
    seconds: dict[str, float]
    peak_rss_mb: float  # the worker's own peak resident memory
    cpu_seconds: float  # the worker's CPU time (user + system)
    encoder_passes: int = 0  # clips the worker encoded itself (for all jobs)


@dataclass(frozen=True, slots=True)
class JobProgress:
    stage: str
    fraction: float
    epoch: int = 0
    step: int = 0
    loss: float | None = None
    training: int = 0  # which training of the request (0-based)
    trainings: int = 1


def write_request(
    jobs: Sequence[TrainingJob],
    workdir: Path,
    encoder_outputs: Mapping[str, np.ndarray] | None = None,
) -> None:
    """The union of the jobs' examples (by id, stored once), each job's settings, and
    the serving encoder outputs given for some of the examples (by example id)."""
    workdir.mkdir(parents=True, exist_ok=True)
    union: dict[str, TrainingExample] = {}
    for job in jobs:
        for e in job.examples:
            known = union.setdefault(e.example_id, e)
            if known is not e and known.digest() != e.digest():
                raise ValueError(f"two different examples share the id {e.example_id}")
    examples = list(union.values())
    arrays = {f"a{i}": np.asarray(e.audio, dtype=np.float32) for i, e in enumerate(examples)}
    np.savez(workdir / AUDIO, **arrays)
    known = encoder_outputs or {}
    shared = {f"e{i}": known[e.example_id] for i, e in enumerate(examples) if e.example_id in known}
    if shared:
        np.savez(workdir / ENCODER, **shared)
    request = {
        "examples": [
            {"id": e.example_id, "text": e.text, "role": e.role, "prompt": e.prompt}
            for e in examples
        ],
        "trainings": [
            {
                "ids": [e.example_id for e in job.examples],
                "base_bundle_dir": str(job.base_bundle_dir),
                "config": job.config.to_json(),
                "destination": str(job.destination),
                "version": job.version,
                "lineage": job.lineage,
                "ggml_variants": (
                    list(job.ggml_variants) if job.ggml_variants is not None else None
                ),
            }
            for job in jobs
        ],
    }
    (workdir / REQUEST).write_text(json.dumps(request), encoding="utf-8")


def read_request(workdir: Path) -> tuple[list[TrainingJob], dict[str, np.ndarray]]:
    """The jobs ``write_request`` wrote, and the serving encoder outputs it stored, by
    example id (the request file is read once)."""
    request = json.loads((workdir / REQUEST).read_text(encoding="utf-8"))
    with np.load(workdir / AUDIO) as audio:
        by_id = {
            e["id"]: TrainingExample(e["id"], audio[f"a{i}"], e["text"], e["role"], e["prompt"])
            for i, e in enumerate(request["examples"])
        }
    jobs = [
        TrainingJob(
            examples=[by_id[i] for i in t["ids"]],
            base_bundle_dir=Path(t["base_bundle_dir"]),
            config=FinetuneConfig(**t["config"]),
            destination=Path(t["destination"]),
            version=t["version"],
            lineage=t["lineage"],
            ggml_variants=tuple(t["ggml_variants"]) if t["ggml_variants"] is not None else None,
        )
        for t in request["trainings"]
    ]
    encoder_outputs: dict[str, np.ndarray] = {}
    if (workdir / ENCODER).exists():
        with np.load(workdir / ENCODER) as stored:
            encoder_outputs = {
                e["id"]: stored[f"e{i}"]
                for i, e in enumerate(request["examples"])
                if f"e{i}" in stored.files
            }
    return jobs, encoder_outputs


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
    return run_training_jobs([job], cancel=cancel, progress=progress, grace_seconds=grace_seconds)[
        0
    ]


def run_training_jobs(
    jobs: Sequence[TrainingJob],
    *,
    cancel: threading.Event | None = None,
    progress: Callable[[JobProgress], None] | None = None,
    grace_seconds: float = 5.0,
    encoder_outputs: Mapping[str, np.ndarray] | None = None,
) -> list[JobOutcome]:
    """Run ``jobs`` one after the other in one worker process, sharing encoder outputs.

    ``encoder_outputs`` (example id -> the serving encoder's output for its window,
    (audio_ctx, d)) are used instead of encoding those clips again: the learning
    pipeline has them from decoding the same clips. All or nothing: on cancel or
    failure no job's destination exists afterwards.
    ``JobOutcome.peak_rss_mb`` and ``cpu_seconds`` are the worker's (for all jobs).
    """
    require_finetune()
    if not jobs:
        return []
    for job in jobs:
        if job.destination.exists():
            raise FileExistsError(f"{job.destination} already exists")
    workdir = staging_folder("finetune-jobs")
    try:
        write_request(jobs, workdir, encoder_outputs)
        return _supervise(jobs, workdir, cancel, progress, grace_seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _supervise(
    jobs: Sequence[TrainingJob],
    workdir: Path,
    cancel: threading.Event | None,
    progress: Callable[[JobProgress], None] | None,
    grace_seconds: float,
) -> list[JobOutcome]:
    # The worker lowers its own priority; it stays in the caller's process group, so
    # that a scheduler killing the pipeline's group takes the worker with it.
    child = run_isolated(
        worker_command(workdir),
        timeout_seconds=None,
        cancel=cancel,
        grace_seconds=grace_seconds,
        niceness=0,
        env=dict(os.environ, PYTHONUNBUFFERED="1", **WORKER_MALLOC),
        on_stdout_line=lambda line: _relay(line, progress),
        new_session=False,
    )
    if child.outcome == "cancelled" or child.returncode == EXIT_CANCELLED:
        _remove_exports(jobs, completed=True)
        raise TrainingCancelled()
    result_file = workdir / RESULT
    if child.outcome != "ok" or not result_file.exists():
        _remove_exports(jobs, completed=True)
        result = json.loads(result_file.read_text("utf-8")) if result_file.exists() else {}
        reason = result.get("error") or child.last_error or f"exit {child.returncode}"
        raise FinetuneError(f"fine-tuning failed ({reason}); the current model is unchanged.")
    result = json.loads(result_file.read_text("utf-8"))
    return [
        JobOutcome(
            bundle=load_bundle(job.destination),
            epoch_losses=tuple(r["epoch_losses"]),
            skipped=tuple(tuple(s) for s in r["skipped"]),  # type: ignore[misc]
            seconds=r["seconds"],
            peak_rss_mb=result["peak_rss_mb"],
            cpu_seconds=result["cpu_seconds"],
            encoder_passes=result.get("encoder_passes", 0),
        )
        for job, r in zip(jobs, result["trainings"], strict=True)
    ]


def _relay(line: str, progress: Callable[[JobProgress], None] | None) -> None:
    if not line.startswith("{") or progress is None:
        return
    try:
        data = json.loads(line)
    except ValueError:
        return
    progress(JobProgress(**data))


def _remove_export(destination: Path, completed: bool = False) -> None:
    """Remove a partial export (and, with ``completed``, a finished one too)."""
    remove_partial_exports(destination.parent)
    if destination.exists() and (completed or not (destination / "bundle.json").exists()):
        shutil.rmtree(destination, ignore_errors=True)


def _remove_exports(jobs: Sequence[TrainingJob], completed: bool) -> None:
    for job in jobs:
        _remove_export(job.destination, completed)
