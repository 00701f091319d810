"""What one fine-tuning run costs: wall time, CPU time and peak memory, on a corpus's clips.

    python tests/benchmarks/finetune_cost.py --corpus PATH [--runs 3] [--threads 2,1]
        [--json OUT]

Each run trains on every ``train`` clip of the corpus plus the shipped reference set as
replay, with the default settings, in the worker process the pipeline uses
(``retrain.finetune.job``: encoder outputs computed once, decoder trained, both serving
formats exported), so its peak RSS is the worker's own. Runs of the rows are
interleaved, so background load hits every row alike.

The peer, measured in the same run: transcribing the same clips once with the serving
engine (factory model, default options) in a child process. The ratio column says how
many such transcription passes one training costs.

CPU time is reported beside wall time: on a busy machine wall time grows with the load,
CPU time much less.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PEER = r"""
import json, os, sys, time
from engine import transcribe
from engine.corpus import read_manifest
items = [i for i in read_manifest(sys.argv[1]) if i.split == "train"]
wall, cpu = time.perf_counter(), time.process_time()
for item in items:
    segments, _ = transcribe(item.path)
    list(segments)
t = os.times()
peak = 0.0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        peak = int(line.split()[1]) / 1024
elapsed = time.perf_counter() - wall
print(json.dumps({"wall": elapsed, "cpu": t.user + t.system, "peak_rss_mb": peak}))
"""


def run_training(corpus: Path, threads: int, home: Path) -> dict:
    from engine import audio
    from engine.corpus import REPLAY, read_manifest, reference_set
    from engine.prepare import ensure_base_model
    from retrain.finetune.config import FinetuneConfig
    from retrain.finetune.examples import TrainingExample
    from retrain.finetune.job import TrainingJob, run_training_job

    items = [i for i in read_manifest(corpus) if i.split == "train"]
    examples = [TrainingExample(i.path.name, audio.decode(i.path), i.text) for i in items]
    examples += [
        TrainingExample("ref:" + i.path.name, audio.decode(i.path), i.text, "replay")
        for i in reference_set(REPLAY)
    ]
    base = ensure_base_model()
    destination = home / "bench-out" / f"ft-{time.time_ns()}"
    started = time.perf_counter()
    outcome = run_training_job(
        TrainingJob(
            examples,
            base.directory,
            replace(FinetuneConfig(), threads=threads),
            destination,
            destination.name,
        )
    )
    wall = time.perf_counter() - started
    import shutil

    shutil.rmtree(destination, ignore_errors=True)
    return {
        "wall": wall,
        "cpu": outcome.cpu_seconds,
        "peak_rss_mb": outcome.peak_rss_mb,
        "epochs": len(outcome.epoch_losses),
        "phases": outcome.seconds,
        "examples": len(examples),
        "audio_seconds": sum(len(e.audio) for e in examples) / 16000,
    }


def run_peer(corpus: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PEER, str(corpus)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", default="2,1")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="tiro-ft-cost-"))
    atexit.register(shutil.rmtree, home, True)  # a throwaway data folder
    os.environ["TIRO_HOME"] = str(home)
    rows: dict[str, list[dict]] = {"peer: transcribe the train clips once": []}
    thread_counts = [int(t) for t in args.threads.split(",")]
    for t in thread_counts:
        rows[f"fine-tune, {t} thread{'s' if t > 1 else ''}"] = []
    for run in range(args.runs):
        rows["peer: transcribe the train clips once"].append(run_peer(args.corpus))
        for t in thread_counts:
            result = run_training(args.corpus, t, home)
            rows[f"fine-tune, {t} thread{'s' if t > 1 else ''}"].append(result)
            print(f"run {run + 1}, {t} threads: {json.dumps(result)}", flush=True)
    peer = statistics.median(r["wall"] for r in rows["peer: transcribe the train clips once"])
    print()
    print("| row | wall s (median) | CPU s (median) | peak RSS MB (max) | wall / peer |")
    print("|---|---|---|---|---|")
    summary = {}
    for name, results in rows.items():
        wall = statistics.median(r["wall"] for r in results)
        cpu = statistics.median(r["cpu"] for r in results)
        peak = max(r["peak_rss_mb"] for r in results)
        summary[name] = {"wall": wall, "cpu": cpu, "peak_rss_mb": peak, "runs": results}
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {peak:.0f} | {wall / peer:.2f} |")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"\nload average at the end: {load}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
