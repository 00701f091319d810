"""Every failure as one sentence for the user; the details go to the log file."""

from __future__ import annotations

import logging

from app.audio.devices import AudioUnavailable
from app.cli.errors import user_message_for
from engine.paths import logs_dir

log = logging.getLogger("tiro.gui")


def log_file() -> str:
    try:
        return str(logs_dir() / "tiro.log")
    except OSError:
        return "the log file"


def as_sentence(message: str, subject: str | None = None) -> str:
    """Capitalized and ending with a full stop, unless it starts with a name (a file)."""
    message = message.strip()
    if not message:
        return message
    first = message.split()[0]
    names_something = subject is not None and first.startswith(subject)
    if first.isalpha() and first.islower() and not names_something:
        message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else message + "."


def user_message(exc: BaseException, doing: str | None = None, subject: str | None = None) -> str:
    """The sentence to show; unexpected errors are logged with their traceback."""
    if isinstance(exc, AudioUnavailable):
        return str(exc)
    message = user_message_for(exc)
    if message is not None:
        return as_sentence(message, subject)
    log.error("unexpected error%s", f" while {doing}" if doing else "", exc_info=exc)
    what = f"Something went wrong while {doing}" if doing else "Something went wrong"
    return f"{what} ({type(exc).__name__}); details are in {log_file()}."
