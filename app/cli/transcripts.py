"""``tiro transcripts``: list the transcripts in the store (and export one)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.cli.storeaccess import open_store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "transcripts", help="list and export transcripts", description="Transcripts in the store."
    )
    commands = parser.add_subparsers(dest="transcripts_command", metavar="ACTION", required=True)
    listing = commands.add_parser("list", help="list every transcript, newest first")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=run_list)

    export = commands.add_parser("export", help="write a transcript as TXT, SRT, VTT or JSON")
    export.add_argument("id", type=int, metavar="ID", help="transcript id")
    export.add_argument("--format", required=True, choices=("txt", "srt", "vtt", "json"))
    export.add_argument(
        "-o", "--output", type=Path, metavar="OUT", help="the file to write (default: print it)"
    )
    export.set_defaults(func=run_export)


def run_list(args: argparse.Namespace) -> int:
    with open_store() as store:
        entries = store.library()
    rows = [
        {
            "id": t.id,
            "recording_id": entry.recording.id,
            "file": entry.recording.name,
            "path": entry.recording.path,
            "status": t.status,
            "error": t.error,
            "model_version": t.model_version,
            "backend": t.backend,
            "created_at": t.created_at,
            "segments": t.segment_count,
            "reviewed": t.reviewed_count,
        }
        for entry in entries
        for t in entry.transcripts
    ]
    rows.sort(key=lambda row: row["id"], reverse=True)
    if args.json:
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print("no transcripts yet; import a file with `tiro import FILE`.")
        return 0
    header = ("ID", "REC", "STATUS", "SEGMENTS", "REVIEWED", "MODEL", "FILE")
    table = [
        (
            str(r["id"]),
            str(r["recording_id"]),
            r["status"],
            str(r["segments"]),
            str(r["reviewed"]),
            r["model_version"],
            r["file"],
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


def run_export(args: argparse.Namespace) -> int:
    """The current (edited) text; word timings only where a segment is as the model wrote it.

    Exporting counts as a review signal for the transcript (it does not mark segments
    reviewed; see ``retrain.contract``).
    """
    from engine import export
    from engine.types import Segment

    with open_store() as store:
        view = store.load_transcript(args.id)
        segments = [
            Segment(
                start=s.start,
                end=s.end,
                text=s.text,
                words=() if s.edited else s.words,
                avg_logprob=s.avg_logprob or 0.0,
                no_speech_prob=s.no_speech_prob or 0.0,
                compression_ratio=s.compression_ratio or 0.0,
            )
            for s in view.segments
        ]
        if args.output is None:
            sys.stdout.write(export.render(args.format, segments, None))
        else:
            export.export(args.format, segments, None, args.output)
        store.record_review_signal(
            args.id, "exported", detail={"format": args.format, "via": "cli"}
        ).result()
    return 0
