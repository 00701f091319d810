"""``tiro retrain``: run the learning pipeline once (what the scheduler runs in the background)."""

from __future__ import annotations

import argparse
import json
import sys

from app.cli.storeaccess import open_store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "retrain",
        help="learn from your reviewed corrections now; promote the result only if it is better",
        description="Run the learning pipeline once: snapshot the reviewed corrections, train "
        "a personalized model, evaluate it on data it was not trained on, and make it the "
        "model in use only if the gate finds it clearly better. Everything stays on this "
        "computer.",
    )
    parser.add_argument("--json", action="store_true", help="print the run report as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from retrain.pipeline.run import run_pipeline

    def progress(step: str) -> None:
        if not args.json:
            sys.stderr.write(f"tiro: {step}...\n")

    with open_store() as store:
        result = run_pipeline(store, progress=progress)
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    print(f"decision: {result.decision}")
    for reason in result.reasons:
        print(f"  - {reason}")
    print(f"model in use: {result.champion_after} (before: {result.champion_before})")
    print(
        f"examples: {result.corrections} corrections, {result.unchanged} unchanged; "
        f"{result.split} with {result.folds} fold(s); {result.seconds:.1f} s"
    )
    for notice in result.notices:
        print(f"note: {notice}")
    return 0
