"""``tiro scheduler run-once``: one scheduler round headless (what the app does in the
background): the monitor, then the learning pipeline if the user opted in and the
monitor's trigger says it pays (or ``--force``), in its own low-priority process."""

from __future__ import annotations

import argparse
import json
import sys

from app.cli.storeaccess import open_store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scheduler",
        help="run the background jobs (monitor, learning) once, without the app",
        description="The scheduler's jobs, run by hand. The app runs them by itself.",
    )
    commands = parser.add_subparsers(dest="scheduler_command", metavar="COMMAND", required=True)
    once = commands.add_parser(
        "run-once",
        help="run the monitor, then the learning pipeline if it is due",
        description="Run one round: the monitor (field edit rate, drift, health, canary "
        "rollback), then, if you opted in to learning and retraining is due, the learning "
        "pipeline in a separate low-priority process. Every job is recorded in the job "
        "history the app shows.",
    )
    once.add_argument("--json", action="store_true", help="print the round as JSON")
    once.add_argument(
        "--force",
        action="store_true",
        help="run the pipeline even if the monitor says it is not due (still needs opt-in)",
    )
    once.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop a pipeline run that takes longer than this (default 3 hours)",
    )
    once.add_argument(
        "--min-new-examples",
        type=int,
        default=None,
        metavar="N",
        help="retraining is due once N new reviewed examples exist (default 50)",
    )
    once.set_defaults(func=run_once_command)


def run_once_command(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from retrain.scheduler import SchedulerConfig, run_once

    config = SchedulerConfig()
    if args.timeout is not None:
        config = replace(config, pipeline_timeout_seconds=args.timeout)
    if args.min_new_examples is not None:
        trigger = replace(config.trigger, min_new_examples=args.min_new_examples)
        config = replace(config, trigger=trigger)
    with open_store() as store:
        result = run_once(store, config=config, force=args.force)
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    monitor = result.monitor
    print(f"monitor: {monitor.outcome}: {monitor.message}")
    for message in monitor.rollbacks:
        print(f"  rolled back: {message}")
    if result.pipeline is None:
        print(f"pipeline: not run: {'; '.join(result.gate.reasons)}")
    else:
        p = result.pipeline
        print(f"pipeline: {p.outcome} in {p.seconds:.1f} s: {p.message}")
        print(f"model in use: {p.champion_after} (before: {p.champion_before})")
    failed = monitor.outcome != "ok" or (
        result.pipeline is not None and result.pipeline.outcome != "ok"
    )
    return 1 if failed else 0
