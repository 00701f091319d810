"""The training worker process: ``python -m retrain.finetune.worker WORKDIR``.

Reads the job ``retrain.finetune.job`` wrote, lowers its own priority, trains, exports
the bundle, and writes ``result.json``. Progress goes to stdout as JSON lines. SIGTERM
sets the cancel event: the trainer (or the export) stops at its next check and leaves
nothing behind; the exit code is then ``EXIT_CANCELLED``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from retrain.finetune.availability import prepare_process

prepare_process()


def _peak_rss_mb() -> float:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _lower_priority() -> None:
    # os.nice is not on Windows; where lowering is refused, run as is
    with contextlib.suppress(AttributeError, OSError):
        os.nice(10)


def main(argv: list[str]) -> int:
    from engine.bundle import load_bundle
    from retrain.finetune.errors import FinetuneError, TrainingCancelled
    from retrain.finetune.export import export_bundle
    from retrain.finetune.job import EXIT_CANCELLED, EXIT_FAILED, RESULT, read_request

    workdir = Path(argv[0])
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    _lower_priority()
    job, _ = read_request(workdir)

    def progress(p) -> None:
        print(json.dumps(asdict(p)), flush=True)

    try:
        from retrain.finetune.trainer import train_decoder

        base = load_bundle(job.base_bundle_dir)
        model_sha = base.files.get("weights/ct2/model.bin", "")
        result = train_decoder(
            job.examples,
            base.ct2_dir,
            job.config,
            base_version=base.version,
            base_sha256=model_sha,
            cancel=cancel,
            progress=progress,
        )
        lineage = {**result.lineage, **job.lineage}
        export_bundle(
            result.weights,
            base,
            job.destination,
            version=job.version,
            lineage=lineage,
            cancel=cancel,
        )
    except TrainingCancelled:
        return EXIT_CANCELLED
    except FinetuneError as exc:
        (workdir / RESULT).write_text(json.dumps({"error": str(exc)}), encoding="utf-8")
        return EXIT_FAILED
    times = os.times()
    (workdir / RESULT).write_text(
        json.dumps(
            {
                "epoch_losses": list(result.epoch_losses),
                "skipped": [list(s) for s in result.skipped],
                "seconds": result.seconds,
                "peak_rss_mb": _peak_rss_mb(),
                "cpu_seconds": times.user + times.system,
                "finished_at": time.time(),
            }
        ),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
