"""Monitor benchmark: how long one ``run_monitor`` takes as the telemetry grows.

    python tests/benchmarks/monitor.py [--segments 1000 4000] [--repeats 3]

For each size, a temporary store gets that many reviewed segments (10 words each, drawn
at random from a vocabulary, a third of them corrected, spread over 8 weeks and two
model versions; one transcription run per recording). Then, in this process:

- ``run_monitor`` cold: the first run (every text normalized for the first time);
- ``run_monitor`` warm: the median of ``--repeats`` further runs (the scheduler runs the
  monitor every few minutes in a long-lived process, where the caches are warm);
- peer: ``retrain.contract.build_examples`` on the same store, median of ``--repeats``
  (one piece of every monitor run, and what every pipeline run starts with; learning is
  on, so every segment goes through the text rules; no snippets exist, so none is
  hashed).

No model is loaded: the monitor only reads telemetry (the canary and the dependency
check decode audio only after a promotion or a dependency change, which this data does
not contain).
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

WORDS = (
    *("the", "project", "meeting", "budget", "review", "quarter", "numbers", "team", "we"),
    *("design", "model", "data", "customer", "release", "schedule", "feature", "testing"),
    *("deploy", "server", "cluster", "kubernetes", "migration", "database", "latency"),
    *("report", "decision", "action", "item", "follow", "up", "tomorrow", "friday", "plan"),
)
PER_RECORDING = 20


def seed(store, segments: int, rng: random.Random) -> None:
    from monitorkit import add_reviewed

    for r in range(max(1, segments // PER_RECORDING)):
        pairs = []
        for _ in range(PER_RECORDING):
            final = [rng.choice(WORDS) for _ in range(10)]
            hyp = list(final)
            if rng.random() < 1 / 3:
                hyp[rng.randrange(10)] = rng.choice(WORDS)
            pairs.append((" ".join(hyp), " ".join(final)))
        week = r * 8 // max(1, segments // PER_RECORDING)
        version = "base" if week < 4 else "p-bench"
        add_reviewed(
            store,
            version,
            pairs,
            at=f"2026-{9 + week // 4:02d}-{1 + (week % 4) * 7:02d}T10:00:00.000000Z",
            probability=rng.uniform(0.5, 1.0),
        )
        store.record_transcription_run(
            transcript_id=None,
            model_version=version,
            backend="ctranslate2",
            audio_seconds=60.0,
            wall_seconds=rng.uniform(5, 7),
            peak_rss_mb=300.0,
        ).result()


def measure(segments: int, repeats: int) -> dict[str, float]:
    os.environ["TIRO_HOME"] = tempfile.mkdtemp(prefix="tiro-monitor-bench-")
    atexit.register(shutil.rmtree, os.environ["TIRO_HOME"], True)  # throwaway
    from monitorkit import add_version

    from retrain.contract import ContractConfig, build_examples
    from retrain.monitor import run_monitor
    from retrain.store import Store

    with Store.open(auto_snippets=False) as store:
        from retrain.privacy import CONSENT_TEXT_VERSION

        store.set_consent(True, CONSENT_TEXT_VERSION).result()  # the contract's text rules run
        add_version(store, "p-bench", created_at="2026-10-01T00:00:00.000000Z")
        seed(store, segments, random.Random(segments))
        started = time.perf_counter()
        run_monitor(store)
        cold = time.perf_counter() - started
        warm = []
        for _ in range(repeats):
            started = time.perf_counter()
            run_monitor(store)
            warm.append(time.perf_counter() - started)
        peer = []
        for _ in range(repeats):
            started = time.perf_counter()
            build_examples(store, config=ContractConfig(verify_audio_hash=False))
            peer.append(time.perf_counter() - started)
    return {"cold": cold, "warm": statistics.median(warm), "peer": statistics.median(peer)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        "| reviewed segments | run_monitor cold (s) | run_monitor warm, median (s) "
        "| peer: build_examples, median (s) | warm / peer |"
    )
    print("|---:|---:|---:|---:|---:|")
    for n in args.segments:
        r = measure(n, args.repeats)
        print(
            f"| {n} | {r['cold']:.2f} | {r['warm']:.2f} | {r['peer']:.2f} | "
            f"{r['warm'] / r['peer']:.1f}x |",
            flush=True,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the benchmark process: {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
