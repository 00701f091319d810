"""Benchmark: Tiro's engine against faster-whisper's own ``WhisperModel.transcribe``.

    python tests/benchmarks/engine.py --corpus PATH [--minutes 10] [--runs 3] [--explore]

The corpus (any folder in the shared manifest format) is concatenated, clips
half a second apart, and looped into one FLAC file of at least ``--minutes``
minutes, made in a temporary folder. Each row then transcribes that file
``--runs`` times; every run is its own subprocess (clean peak RSS, cold model),
and runs of the rows are interleaved so background load hits every row alike.

Columns: corpus WER (``engine.scoring``: Whisper normalizer + jiwer, on the
concatenated text), real-time factor (median wall time over the audio length,
model loading included), time to the first segment (median, from the start of
the run, model loading included), peak RSS (largest over runs), and the ratios
to the peer measured in the same run.

Rows: Tiro's default engine, Tiro with each backend (its defaults otherwise),
and the peer: ``faster_whisper.WhisperModel(model_dir, compute_type="int8")
.transcribe(file)`` with default options. ``--explore`` adds the variants that
chose the defaults (beam size, conditioning on previous text, VAD, threads).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GAP_SECONDS = 0.5


@dataclass(frozen=True)
class Row:
    name: str
    kind: str  # "tiro" or "peer"
    options: dict[str, Any] = field(default_factory=dict)  # TranscribeOptions fields
    defaults: dict[str, Any] = field(default_factory=dict)  # EngineDefaults overrides


def main_rows(ggml_variants: list[str]) -> list[Row]:
    rows = [
        Row("tiro default", "tiro"),
        Row("tiro ctranslate2", "tiro", {"backend": "ctranslate2"}),
        Row("tiro whispercpp", "tiro", {"backend": "whispercpp"}),
    ]
    rows += [
        Row(f"tiro whispercpp {v}", "tiro", {"backend": "whispercpp"}, {"ggml_variant": v})
        for v in ggml_variants
        if v != "f16"
    ]
    rows.append(Row("peer faster-whisper int8", "peer"))
    return rows


def explore_rows() -> list[Row]:
    """Variants around the default (CTranslate2 int8, greedy with temperature fallback,
    conditioned on the previous text, word timestamps, no VAD, 600-s chunks)."""
    ct2 = {"backend": "ctranslate2"}
    return [
        Row("ct2 beam 5", "tiro", {**ct2, "beam_size": 5}),
        Row("ct2 beam 2", "tiro", {**ct2, "beam_size": 2}),
        Row(
            "ct2 greedy, not conditioned on previous text",
            "tiro",
            ct2,
            {"condition_on_previous_text": False},
        ),
        Row("ct2 greedy, no temperature fallback", "tiro", {**ct2, "temperatures": [0.0]}),
        Row("ct2 greedy + silero VAD", "tiro", {**ct2, "vad": True}),
        Row("ct2 greedy, no word timestamps", "tiro", {**ct2, "word_timestamps": False}),
        Row("ct2 greedy, 1 thread", "tiro", {**ct2, "threads": 1}),
        Row(
            "ct2 greedy, 120-s chunks",
            "tiro",
            ct2,
            {"first_chunk_seconds": 120.0, "chunk_seconds": 120.0},
        ),
        Row("whispercpp f16, 1 thread", "tiro", {"backend": "whispercpp", "threads": 1}),
    ]


# ----------------------------------------------------------------------------- the long file


def build_long_file(corpus: Path, minutes: float, directory: Path) -> tuple[Path, str, float]:
    import numpy as np

    from engine.audio import SAMPLE_RATE, decode, encode_flac
    from engine.corpus import read_manifest

    items = read_manifest(corpus)
    gap = np.zeros(int(GAP_SECONDS * SAMPLE_RATE), np.float32)
    clips = [(np.concatenate([decode(i.path), gap]), i.text) for i in items]
    pieces, texts, total = [], [], 0
    while total < minutes * 60 * SAMPLE_RATE:
        for pcm, text in clips:
            pieces.append(pcm)
            texts.append(text)
            total += len(pcm)
    path = directory / "corpus-loop.flac"
    encode_flac(np.concatenate(pieces), path)
    return path, " ".join(texts), total / SAMPLE_RATE


# ----------------------------------------------------------------------------- one run (child)


def _peak_rss_mb() -> float:
    """This process's peak RSS.

    On Linux from ``VmHWM`` (this process's own address space), not from
    ``getrusage``: after fork and exec, ``ru_maxrss`` also counts the parent's pages
    the child held before exec.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    first: float | None = None
    texts: list[str] = []
    if spec["kind"] == "peer":
        from faster_whisper import WhisperModel

        from engine.models import base_bundle

        model = WhisperModel(str(base_bundle().ct2_dir), compute_type="int8")
        segments, info = model.transcribe(spec["audio"])
        for segment in segments:
            first = first if first is not None else time.perf_counter() - started
            texts.append(segment.text)
        duration = info.duration
    else:
        import dataclasses

        import engine.transcriber as transcriber
        from engine import transcribe
        from engine.types import TranscribeOptions

        if spec["defaults"]:
            transcriber.DEFAULTS = dataclasses.replace(transcriber.DEFAULTS, **spec["defaults"])
        options = dict(spec["options"])
        if "temperatures" in options:
            options["temperatures"] = tuple(options["temperatures"])
        segments, info = transcribe(spec["audio"], TranscribeOptions(**options))
        for segment in segments:
            first = first if first is not None else time.perf_counter() - started
            texts.append(segment.text)
        duration = info.duration
    elapsed = time.perf_counter() - started
    return {
        "elapsed": elapsed,
        "first": first if first is not None else elapsed,
        "duration": duration,
        "text": " ".join(texts),
        "peak_rss_mb": _peak_rss_mb(),
    }


def measure(row: Row, audio: Path) -> dict[str, Any]:
    spec = {"kind": row.kind, "options": row.options, "defaults": row.defaults, "audio": str(audio)}
    result = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
    )
    if result.returncode != 0:
        raise RuntimeError(f"{row.name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- table


def summarize(rows: list[Row], results: dict[str, list[dict]], reference: str) -> list[dict]:
    from engine.scoring import corpus_wer

    table = []
    for row in rows:
        runs = results[row.name]
        duration = runs[0]["duration"]
        table.append(
            {
                "name": row.name,
                "wer": corpus_wer([reference], [runs[0]["text"]]),
                "rtf": statistics.median(r["elapsed"] / duration for r in runs),
                "first": statistics.median(r["first"] for r in runs),
                "rss": max(r["peak_rss_mb"] for r in runs),
                "runs": len(runs),
                "rtfs": [r["elapsed"] / duration for r in runs],
            }
        )
    return table


def render(table: list[dict], minutes: float, runs: int) -> str:
    peer = next((t for t in table if t["name"].startswith("peer")), None)
    lines = [
        f"Corpus loop: {minutes:.1f} min; {runs} runs per row, each in its own process; "
        f"{os.cpu_count()} CPUs.",
        "",
        "| Setup | WER | RTF (median) | RTF vs peer | first segment | peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for t in table:
        ratio = f"{t['rtf'] / peer['rtf']:.2f}x" if peer else "-"
        lines.append(
            f"| {t['name']} | {t['wer']:.2%} | {t['rtf']:.4f} | {ratio} | "
            f"{t['first']:.2f} s | {t['rss']:.0f} MB |"
        )
    default = next((t for t in table if t["name"] == "tiro default"), None)
    if default and peer:
        lines += [
            "",
            "Targets for the default engine: "
            f"RTF {default['rtf'] / peer['rtf']:.2f}x the peer's (goal <= 0.8x), "
            f"WER {100 * (default['wer'] - peer['wer']):+.2f} points vs the peer (goal <= +0.5), "
            f"peak RSS {default['rss']:.0f} MB (goal <= 500), "
            f"first segment {default['first']:.2f} s (goal <= 5 s).",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="a corpus folder with manifest.tsv")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--explore", action="store_true", help="add the exploration rows")
    parser.add_argument("--only", action="append", help="run only rows whose name contains this")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_child(json.loads(args.child))))
        return 0
    if args.corpus is None or not (args.corpus / "manifest.tsv").is_file():
        parser.error("--corpus must be a folder with a manifest.tsv")
    if args.runs < 3:
        parser.error("--runs must be at least 3 (medians)")

    from engine.models import base_bundle

    base = base_bundle()
    variants = [v for v in ("f16", "q8_0") if base.ggml_variant_path(v) is not None]
    rows = main_rows(variants) + (explore_rows() if args.explore else [])
    if args.only:
        rows = [r for r in rows if any(o in r.name for o in args.only)]
    with tempfile.TemporaryDirectory(prefix="tiro-bench-") as tmp:
        audio, reference, seconds = build_long_file(args.corpus, args.minutes, Path(tmp))
        results: dict[str, list[dict]] = {r.name: [] for r in rows}
        for run in range(args.runs):
            for row in rows:
                result = measure(row, audio)
                results[row.name].append(result)
                print(
                    f"[run {run + 1}/{args.runs}] {row.name}: "
                    f"RTF {result['elapsed'] / result['duration']:.4f}, "
                    f"first {result['first']:.2f} s, RSS {result['peak_rss_mb']:.0f} MB",
                    file=sys.stderr,
                    flush=True,
                )
    table = summarize(rows, results, reference)
    print(render(table, seconds / 60, args.runs))
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
