"""``tiro data``: the learning opt-in, what Tiro would learn from, export and delete."""

from __future__ import annotations

import argparse
import json
import sys

from app.cli.errors import CliError
from app.cli.storeaccess import open_store
from retrain import privacy


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        help="learning data: opt in or out, statistics, export, delete",
        description="Manage what Tiro keeps to learn from your corrections. Nothing leaves "
        "this computer.",
    )
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    consent = commands.add_parser("consent", help="turn learning from your corrections on or off")
    consent.add_argument("state", choices=("on", "off"))
    consent.set_defaults(func=run_consent)

    stats = commands.add_parser("stats", help="what is stored and what would be learned from")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(func=run_stats)

    export = commands.add_parser("export", help="write everything Tiro would learn from to a zip")
    export.add_argument("path", metavar="PATH", help="the zip file to write")
    export.set_defaults(func=run_export)

    delete = commands.add_parser(
        "delete", help="delete a recording and everything derived from it (or everything)"
    )
    which = delete.add_mutually_exclusive_group(required=True)
    which.add_argument("--recording", type=int, metavar="ID", action="append", help="recording id")
    which.add_argument("--all", action="store_true", help="every recording")
    delete.set_defaults(func=run_delete)


def run_consent(args: argparse.Namespace) -> int:
    enabled = args.state == "on"
    with open_store() as store:
        store.set_consent(enabled, privacy.CONSENT_TEXT_VERSION).result()
        if enabled:  # keep the audio of what was already reviewed
            store.capture_snippets().result()
    if enabled:
        print(privacy.consent_text())
        print("Learning is on.")
    else:
        print("Learning is off; the audio clips kept for learning were deleted.")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    with open_store() as store:
        stats = privacy.data_stats(store)
    if args.json:
        json.dump(stats.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    rows = [
        ("learning", "on" if stats.consent_enabled else "off"),
        ("recordings", stats.recordings),
        ("transcripts", stats.transcripts),
        ("segments", stats.segments),
        ("reviewed segments", stats.reviewed_segments),
        (
            "learning examples",
            f"{stats.examples} ({stats.corrections} corrections, "
            f"{stats.unchanged} confirmed unchanged)",
        ),
        ("audio clips", f"{stats.snippets} ({stats.snippet_bytes / 1e6:.1f} MB)"),
        ("data contract", f"version {stats.contract_version}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if stats.rejections:
        print("\nleft out, by reason:")
        for reason, count in privacy.rejection_table(stats.rejections):
            print(f"  {reason:<{width}}  {count}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    with open_store() as store:
        report = privacy.export_learning_data(store, args.path)
    print(f"wrote {report.path}: {report.examples} examples, {report.audio_files} audio clips")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    ids = None if args.all else sorted(set(args.recording))
    if ids is not None and any(i <= 0 for i in ids):
        raise CliError("recording ids are positive numbers; see `tiro transcripts list`.")
    with open_store() as store:
        report = store.delete_recordings(ids).result()
    print(
        f"deleted {report.recordings} recording(s), {report.transcripts} transcript(s), "
        f"{report.segments} segment(s), {report.snippet_files} audio clip(s)"
    )
    if report.models_marked:
        print(
            "personal models trained on them are marked and will be retired: "
            + ", ".join(report.models_marked)
        )
    return 0
