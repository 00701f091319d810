"""whisper.cpp with the converted base model: float16 versus q8_0.

    python tests/benchmarks/ggml_variants.py --corpus ../shared/corpus/general [--runs 3]

Both files come from ``engine.prepare`` (the same CTranslate2 weights). Decoding is
greedy with no temperature fallback, 2 threads, through pywhispercpp directly, with
the context settings Tiro serves with (flash attention off, DTW word timings;
``--config defaults`` for pywhispercpp's defaults instead). Each
measurement runs in a fresh process so peak RSS is that variant's alone; variants
are interleaved run by run so background load hits both alike. Audio is decoded
once, before timing.

Columns:
* corpus WER: every clip transcribed on its own, scored with ``engine.scoring``;
* RTF clips: transcription time / audio time over the clips (each clip is padded
  to Whisper's 30-s window, so this is the short-clip cost);
* RTF loop: the clips concatenated (0.5 s gaps) and repeated to ``--loop-minutes``;
* CPU loop: CPU seconds (all threads) per audio second on the loop: less sensitive
  than wall time to other work on the machine, so it is shown next to RTF;
* peak RSS: of the process that ran the loop (Python + decoded audio included);
* load: model load time.
Times are medians over ``--runs``; ratios are against f16 from the same run.
The issue keeps q8_0 only if it is faster at a cost of <= 0.5 WER points.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The repo root first: tests/benchmarks/engine.py would otherwise shadow the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SAMPLE_RATE = 16000
VARIANTS = ("f16", "q8_0")


def peak_rss_kb() -> int:
    """This process's peak resident set size in KiB.

    On Linux, ``VmHWM``: ``ru_maxrss`` would include the parent's memory, which a
    child inherits across fork and exec.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    scale = 1024 if sys.platform == "darwin" else 1  # macOS reports bytes
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // scale


def context_params(config: str) -> dict:
    """whisper.cpp context settings: Tiro's serving ones, or pywhispercpp's defaults."""
    if config == "defaults":  # flash attention on, no DTW
        return {}
    import _pywhispercpp as pw

    return {  # as engine.backends.whispercpp loads a model: DTW word timings
        "use_gpu": False,
        "flash_attn": False,
        "dtw_token_timestamps": True,
        "dtw_aheads_preset": pw.whisper_alignment_heads_preset.WHISPER_AHEADS_TINY_EN,
    }


def child(model_path: str, audio_path: str, threads: int, config: str) -> None:
    """Runs in a fresh process: load the model, transcribe each clip, then the loop."""
    from pywhispercpp.model import Model

    data = np.load(audio_path)
    clips = [data[key] for key in sorted(k for k in data.files if k.startswith("clip"))]
    loop = data["loop"]
    started = time.perf_counter()
    model = Model(
        model_path,
        n_threads=threads,
        print_progress=False,
        print_realtime=False,
        redirect_whispercpp_logs_to=None,
        context_params=context_params(config),
        token_timestamps=config == "serving",
    )
    load = time.perf_counter() - started
    texts, clip_seconds = [], 0.0
    for clip in clips:
        t0 = time.perf_counter()
        segments = model.transcribe(clip, temperature_inc=0.0)
        clip_seconds += time.perf_counter() - t0
        texts.append(" ".join(s.text for s in segments))
    t0, cpu0 = time.perf_counter(), time.process_time()
    model.transcribe(loop, temperature_inc=0.0)
    loop_seconds = time.perf_counter() - t0
    loop_cpu = time.process_time() - cpu0
    peak_kb = peak_rss_kb()
    print(
        json.dumps(
            {
                "load": load,
                "texts": texts,
                "clip_seconds": clip_seconds,
                "loop_seconds": loop_seconds,
                "loop_cpu": loop_cpu,
                "peak_rss_mb": peak_kb / 1024,
            }
        )
    )


def decode_corpus(corpus: Path, loop_minutes: float) -> tuple[list, dict[str, np.ndarray]]:
    from faster_whisper.audio import decode_audio

    from engine.corpus import read_manifest

    items = read_manifest(corpus)
    clips = [decode_audio(str(item.path), sampling_rate=SAMPLE_RATE) for item in items]
    gap = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    once = np.concatenate([part for clip in clips for part in (clip, gap)])
    repeats = max(1, int(np.ceil(loop_minutes * 60 * SAMPLE_RATE / len(once))))
    arrays = {f"clip{i:04d}": clip for i, clip in enumerate(clips)}
    arrays["loop"] = np.tile(once, repeats)
    return items, arrays


def measure(model_path: Path, audio_path: Path, threads: int, config: str) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            str(model_path),
            str(audio_path),
            str(threads),
            config,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="folder with manifest.tsv")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--loop-minutes", type=float, default=10.0)
    parser.add_argument(
        "--config",
        choices=("serving", "defaults"),
        default="serving",
        help="serving: flash attention off, DTW word timings (as Tiro runs whisper.cpp); "
        "defaults: pywhispercpp's own context defaults",
    )
    parser.add_argument("--json", type=Path, help="also write every run's raw numbers here")
    args = parser.parse_args(argv)

    if "TIRO_HOME" not in os.environ:  # never write into the user's own data folder
        os.environ["TIRO_HOME"] = tempfile.mkdtemp(prefix="tiro-bench-")
        atexit.register(shutil.rmtree, os.environ["TIRO_HOME"], True)  # throwaway
    from engine.prepare import ensure_base_model
    from engine.scoring import corpus_wer

    bundle = ensure_base_model()
    paths = {variant: bundle.ggml_variant_path(variant) for variant in VARIANTS}
    items, arrays = decode_corpus(args.corpus, args.loop_minutes)
    audio_seconds = sum(len(a) for k, a in arrays.items() if k != "loop") / SAMPLE_RATE
    loop_seconds = len(arrays["loop"]) / SAMPLE_RATE
    references = [item.text for item in items]

    print(
        f"corpus: {args.corpus} ({len(items)} clips, {audio_seconds:.1f} s); "
        f"loop: {loop_seconds / 60:.1f} min; threads: {args.threads}; runs: {args.runs}; "
        f"config: {args.config}"
    )
    print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    results: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
    with tempfile.TemporaryDirectory() as scratch:
        audio_path = Path(scratch) / "audio.npz"
        np.savez(audio_path, **arrays)
        for run in range(args.runs):
            for variant in VARIANTS:
                result = measure(paths[variant], audio_path, args.threads, args.config)
                results[variant].append(result)
                print(
                    f"  run {run + 1} {variant:5s} clips RTF "
                    f"{result['clip_seconds'] / audio_seconds:.3f}  loop RTF "
                    f"{result['loop_seconds'] / loop_seconds:.3f}  loop CPU/s "
                    f"{result['loop_cpu'] / loop_seconds:.3f}",
                    flush=True,
                )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")

    def median(variant: str, key: str) -> float:
        return statistics.median(r[key] for r in results[variant])

    wer = {v: corpus_wer(references, results[v][0]["texts"]) for v in VARIANTS}
    stable = {v: all(r["texts"] == results[v][0]["texts"] for r in results[v]) for v in VARIANTS}
    rows = []
    for variant in VARIANTS:
        clip_rtf = median(variant, "clip_seconds") / audio_seconds
        loop_rtf = median(variant, "loop_seconds") / loop_seconds
        rows.append(
            (
                variant,
                f"{paths[variant].stat().st_size / 1e6:.1f}",
                f"{100 * wer[variant]:.2f}%",
                f"{100 * (wer[variant] - wer['f16']):+.2f}",
                f"{clip_rtf:.3f}",
                f"{loop_rtf:.3f}",
                f"{loop_rtf / (median('f16', 'loop_seconds') / loop_seconds):.2f}x",
                f"{median(variant, 'loop_cpu') / loop_seconds:.3f}",
                f"{median(variant, 'loop_cpu') / median('f16', 'loop_cpu'):.2f}x",
                f"{median(variant, 'peak_rss_mb'):.0f}",
                f"{median(variant, 'load'):.2f}",
            )
        )
    header = (
        "variant",
        "MB",
        "corpus WER",
        "ΔWER pts",
        "RTF clips",
        "RTF loop",
        "loop vs f16",
        "CPU loop",
        "CPU vs f16",
        "peak RSS MB",
        "load s",
    )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print()
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    between = corpus_wer(results["f16"][0]["texts"], results["q8_0"][0]["texts"])
    print(
        f"\nq8_0 vs f16 transcripts: WER {100 * between:.2f}% "
        f"(same text on every run: f16 {stable['f16']}, q8_0 {stable['q8_0']})"
    )
    faster = median("q8_0", "loop_seconds") < median("f16", "loop_seconds") and median(
        "q8_0", "loop_cpu"
    ) < median("f16", "loop_cpu")
    keep = faster and wer["q8_0"] - wer["f16"] <= 0.005
    print(
        "keep q8_0 (faster on the loop in wall and CPU time, <= 0.5 WER points worse): "
        + ("yes" if keep else "no")
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(main())
