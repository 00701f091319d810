"""``tiro self-test``: prove this installation transcribes correctly, offline.

Transcribes the bundled JFK clip (``engine.corpus.SELF_TEST_CLIP``) with each
backend, normalizes the text and compares it with the clip's reference
transcript. Exit status 0 only if every backend's word error rate is within
``MAX_WER``; 1 if a transcript does not match; 2 for errors (as every command).
"""

from __future__ import annotations

import argparse
import sys
import time

MAX_WER = 0.10
BACKENDS = ("ctranslate2", "whispercpp")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "self-test",
        help="check that transcription works on this machine",
        description="Transcribe a bundled clip with each backend and compare with its reference.",
    )
    parser.add_argument(
        "--backend", choices=BACKENDS, action="append", help="check only this backend (repeatable)"
    )
    parser.set_defaults(func=run)


def finetune_line() -> str:
    """Whether this installation can fine-tune (informational: the test does not need it)."""
    from retrain.finetune.availability import availability

    state = availability()
    if not state.available:
        return f"fine-tuning: {state.reason}"
    versions = ", ".join(f"{name} {version}" for name, version in state.versions.items())
    return f"fine-tuning: available ({versions})"


def run(args: argparse.Namespace) -> int:
    from engine import transcribe
    from engine.corpus import SELF_TEST_CLIP, reference_set
    from engine.scoring import error_counts, normalize
    from engine.types import TranscribeOptions

    item = next(i for i in reference_set() if i.name == SELF_TEST_CLIP)
    out = sys.stdout
    out.write(
        f"self-test: {item.name} ({item.seconds:.1f} s, {item.sample_rate} Hz, "
        f"{item.channels} channel(s))\n"
    )
    out.write(f"  expected: {normalize(item.text)}\n")
    passed = True
    for backend in args.backend or BACKENDS:
        started = time.perf_counter()
        segments, info = transcribe(item.path, TranscribeOptions(backend=backend))
        text = " ".join(s.text for s in segments)
        elapsed = time.perf_counter() - started
        counts = error_counts(item.text, text)
        ok = counts.wer <= MAX_WER
        passed &= ok
        out.write(
            f"  {backend} (model {info.model_version}, {elapsed:.1f} s): {normalize(text)}\n"
            f"    word error rate {counts.wer:.1%} ({counts.errors} of {counts.reference_words} "
            f"words; limit {MAX_WER:.0%}): {'OK' if ok else 'FAILED'}\n"
        )
        for notice in info.notices:
            out.write(f"    note: {notice}\n")
    out.write(f"  {finetune_line()}\n")
    out.write("self-test passed\n" if passed else "self-test FAILED\n")
    return 0 if passed else 1
