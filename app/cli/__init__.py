"""The ``tiro`` command.

``tiro`` alone opens the desktop app. Its subcommands run everything else
without a display. Each subcommand lives in its own module in this package,
exposing ``register(subparsers)``; the module sets ``func`` on its parser to a
callable taking the parsed arguments and returning an exit status.

Errors never show a traceback: they print one ``tiro: error: ...`` line and
exit with status 2. Details of unexpected errors go to the log file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from app.cli.errors import CliError, user_message_for
from app.logsetup import configure_logging

__all__ = ["CliError", "build_parser", "gui_main", "main"]

# Subcommand modules, in the order `tiro --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "app.cli.transcribe",
    "app.cli.import_",
    "app.cli.transcripts",
    "app.cli.data",
    "app.cli.retrain",
    "app.cli.models",
    "app.cli.self_test",
)

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130

log = logging.getLogger("tiro.cli")


class TiroArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``tiro: error:`` line and status 2."""

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"tiro: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(EXIT_ERROR)


def build_parser() -> argparse.ArgumentParser:
    parser = TiroArgumentParser(
        prog="tiro",
        description="Tiro: a transcription editor that learns from you, entirely on this machine. "
        "Run without a command to open the app.",
    )
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=TiroArgumentParser
    )
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return gui_main(argv)
    configure_logging(verbose=False)
    try:
        status = args.func(args)
    except KeyboardInterrupt:
        sys.stderr.write("tiro: error: interrupted; nothing was left half-written.\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # every failure becomes one readable line
        message = user_message_for(exc)
        if message is None:
            log.exception("unexpected error in `tiro %s`", args.command)
            message = (
                f"unexpected internal error ({type(exc).__name__}: {exc}); "
                "details are in the log file under TIRO_HOME/logs."
            )
        sys.stderr.write(f"tiro: error: {message}\n")
        return EXIT_ERROR
    return int(status or EXIT_OK)


def gui_main(argv: Sequence[str] | None = None) -> int:
    """Open the desktop app (imported lazily so headless commands never load Qt)."""
    configure_logging(verbose=False)
    try:
        from app.gui import run_app
    except ImportError as exc:
        sys.stderr.write(f"tiro: error: the desktop app is not available in this build ({exc}).\n")
        return EXIT_ERROR
    return run_app(list(argv or []))
