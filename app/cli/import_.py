"""``tiro import FILE...``: transcribe files into the store, one transcript id per line.

Ctrl-C stops the whole command (``app.cli.interrupt``); the transcript being imported is
kept as far as it got, marked cancelled (``retrain.importer``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.errors import CliError, user_message_for
from app.cli.interrupt import cancelled_by_ctrl_c
from app.cli.storeaccess import open_store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import",
        help="transcribe audio or video files into Tiro's library",
        description="Transcribe each FILE with the current model and store the transcript, "
        "as the app's import does. Prints one transcript id per file.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", type=Path)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.errors import TranscriptionCancelled
    from retrain.importer import import_file
    from retrain.scheduler.busy import BusySignal

    missing = [f for f in args.files if not f.is_file()]
    if missing:
        raise CliError(f"no such file: {missing[0]}; check the path.")
    failed = 0
    # held while transcribing: no learning run (app or ``tiro scheduler``) starts meanwhile
    with (
        open_store() as store,
        BusySignal().hold("transcription"),
        cancelled_by_ctrl_c() as cancel,
    ):
        for path in args.files:
            try:
                result = import_file(store, path, cancel=cancel)
            except (KeyboardInterrupt, TranscriptionCancelled):
                raise  # Ctrl-C: the whole command stops
            except Exception as exc:
                message = user_message_for(exc)
                if message is None:
                    raise
                sys.stderr.write(f"tiro: error: {path}: {message}\n")
                failed += 1
                continue
            print(result.transcript_id, flush=True)
    return 2 if failed else 0
