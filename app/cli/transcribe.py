"""``tiro transcribe FILE...``: transcripts on the command line, no display needed.

Text goes to stdout, or to ``-o OUT`` (a file, or a folder for several inputs),
written atomically once a transcript is complete. A progress bar goes to
stderr only when stderr is a terminal. Every input and the output place are
checked before any transcription starts, so a bad argument costs nothing.
Ctrl-C also cancels the job (``app.cli.interrupt``).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from app.cli.errors import CliError
from app.cli.interrupt import cancelled_by_ctrl_c

FORMATS = ("txt", "srt", "vtt", "json")
BACKENDS = ("whispercpp", "ctranslate2")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "transcribe",
        help="transcribe audio or video files",
        description="Transcribe audio or video files on this machine, with the bundled model.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio or video files")
    parser.add_argument(
        "--format", "-f", choices=FORMATS, default="txt", help="output format (default: txt)"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="write to this file (or, for several files, this folder) instead of stdout",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="inference backend (default: measured best)",
    )
    parser.add_argument("--prompt", metavar="TEXT", help="words or style to prime the model with")
    parser.add_argument("--threads", type=_positive_int, metavar="N", help="CPU threads to use")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar or notes")
    parser.set_defaults(func=run)


class ProgressBar:
    """A one-line bar on a terminal; silent when the stream is not a terminal."""

    WIDTH = 30

    def __init__(self, stream: TextIO, label: str, enabled: bool):
        self._stream = stream
        self._label = label
        self._enabled = enabled and stream.isatty()
        self._last_draw = 0.0
        self._lock = threading.Lock()

    def update(self, fraction: float) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        with self._lock:
            if fraction < 1.0 and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            filled = round(self.WIDTH * fraction)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self._stream.write(f"\r[{bar}] {fraction * 100:5.1f}% {self._label}")
            self._stream.flush()

    def finish(self) -> None:
        if self._enabled:
            self._stream.write("\r\033[K")
            self._stream.flush()


def _outputs(files: list[Path], output: str | None, fmt: str) -> list[Path | None]:
    from engine.export import check_writable

    if output is None:
        return [None] * len(files)
    out = Path(output)
    if out.is_dir():
        targets = [out / f"{f.stem}.{fmt}" for f in files]
    elif len(files) > 1:
        raise CliError(
            f"with several input files, -o must be an existing folder ({out} is not); "
            "create the folder or transcribe one file at a time."
        )
    else:
        targets = [out]
    if len(set(targets)) != len(targets):
        raise CliError("two input files have the same name; transcribe them into separate folders.")
    for target in targets:
        check_writable(target)
    return list(targets)


def run(args: argparse.Namespace) -> int:
    from engine import audio, transcribe
    from engine.export import export, render
    from engine.types import TranscribeOptions
    from retrain.scheduler.busy import BusySignal

    files = [Path(f) for f in args.files]
    for f in files:  # every input is checked before any work starts
        audio.probe(f)
    targets = _outputs(files, args.output, args.format)
    options = TranscribeOptions(
        backend=args.backend, initial_prompt=args.prompt, threads=args.threads
    )
    # held while transcribing: no learning run (app or ``tiro scheduler``) starts meanwhile
    with BusySignal().hold("transcription"), cancelled_by_ctrl_c() as cancel:
        for path, target in zip(files, targets, strict=True):
            bar = ProgressBar(sys.stderr, path.name, enabled=not args.quiet)
            segments, info = transcribe(path, options, progress=bar.update, cancel=cancel)
            if not args.quiet:
                for notice in info.notices:
                    sys.stderr.write(f"tiro: note: {notice}\n")
            try:
                if target is None and args.format != "json":
                    _stream_to_stdout(args.format, segments)
                else:
                    collected = list(segments)
                    if target is None:
                        sys.stdout.write(render(args.format, collected, info))
                    else:
                        export(args.format, collected, info, target)
            finally:
                bar.finish()
            sys.stdout.flush()
    return 0


def _stream_to_stdout(fmt: str, segments) -> None:
    """txt/srt/vtt cue by cue as segments arrive (stdout may be a pipe to another tool)."""
    from engine.export import VTT_HEADER, srt_cue, to_txt, vtt_cue

    if fmt == "vtt":
        sys.stdout.write(VTT_HEADER)
    for index, segment in enumerate(segments, start=1):
        if fmt == "txt":
            sys.stdout.write(to_txt([segment]))
        elif fmt == "srt":
            sys.stdout.write(srt_cue(index, segment))
        else:
            sys.stdout.write(vtt_cue(segment))
        sys.stdout.flush()
