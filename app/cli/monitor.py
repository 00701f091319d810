"""``tiro monitor``: how the model in use is doing (field edit rate, drift, health, canary)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from app.cli.errors import CliError
from app.cli.storeaccess import open_store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "monitor",
        help="check how the model in use is doing; roll back a model that hurts",
        description="Run the monitor once over your telemetry: the field edit rate per "
        "model version and week, confidence calibration, input drift, output health, "
        "performance, data quality, staleness, the canary of the last promotion and "
        "dependency changes. A personalized model that is significantly worse is rolled "
        "back. Everything stays on this computer.",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--html",
        metavar="PATH",
        type=Path,
        help="also write a self-contained HTML report with plots to PATH",
    )
    parser.add_argument(
        "--latest",
        action="store_true",
        help="show the newest stored report instead of running the monitor",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from retrain.monitor import decide_retraining, latest_report, report_history, run_monitor
    from retrain.monitor.render import render_html, render_text

    if args.html is not None:
        target = args.html.expanduser()
        if target.is_dir():
            raise CliError(f"{target} is a folder; give a file name such as {target}/report.html.")
        if not target.parent.is_dir():
            raise CliError(f"the folder {target.parent} does not exist; create it first.")
    with open_store() as store:
        if args.latest:
            report = latest_report(store)
            if report is None:
                raise CliError("the monitor has not run yet; run `tiro monitor` first.")
        else:
            report = run_monitor(store)
        history = report_history(store, 20)
        decision = decide_retraining(store, report)
    if args.html is not None:
        html = render_html(report, history)
        temporary = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        temporary.write_text(html, encoding="utf-8")
        temporary.replace(target)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(report))
        verdict = "due" if decision.retrain else "not due"
        print(f"Retraining: {verdict} — " + "; ".join(decision.reasons))
        if args.html is not None:
            print(f"HTML report written to {target}")
    return 0
