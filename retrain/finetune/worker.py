"""The training worker process: ``python -m retrain.finetune.worker WORKDIR``.

Reads the jobs ``retrain.finetune.job`` wrote, lowers its own priority, trains and
exports each (sharing encoder outputs), and writes ``result.json``. Progress goes
to stdout as JSON lines. SIGTERM sets the cancel event: the trainer (or the export)
stops at its next check and leaves nothing behind; the exit code is then ``EXIT_CANCELLED``.
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
    from retrain.finetune.export import GGML_VARIANTS, export_bundle
    from retrain.finetune.job import (
        EXIT_CANCELLED,
        EXIT_FAILED,
        RESULT,
        read_request,
    )

    workdir = Path(argv[0])
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    _lower_priority()
    jobs, shared = read_request(workdir)
    results = []
    try:
        from retrain.finetune.trainer import EncoderCache, train_decoder

        cache = EncoderCache()  # frozen encoder: one pass per clip for every training
        for example in {e.example_id: e for job in jobs for e in job.examples}.values():
            if example.example_id in shared:
                cache.share_serving_output(example, shared[example.example_id])
        for index, job in enumerate(jobs):

            def progress(p, index=index) -> None:
                line = {**asdict(p), "training": index, "trainings": len(jobs)}
                print(json.dumps(line), flush=True)

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
                cache=cache,
            )
            lineage = {**result.lineage, **job.lineage}
            export_bundle(
                result.weights,
                base,
                job.destination,
                version=job.version,
                lineage=lineage,
                cancel=cancel,
                ggml_variants=GGML_VARIANTS if job.ggml_variants is None else job.ggml_variants,
            )
            results.append(
                {
                    "epoch_losses": list(result.epoch_losses),
                    "skipped": [list(s) for s in result.skipped],
                    "seconds": result.seconds,
                }
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
                "trainings": results,
                "peak_rss_mb": _peak_rss_mb(),
                "cpu_seconds": times.user + times.system,
                "encoder_passes": cache.passes,
                "finished_at": time.time(),
            }
        ),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
