"""Turning exceptions into the one sentence the user sees."""

from __future__ import annotations

import errno

from engine.errors import EngineError


class CliError(Exception):
    """A usage problem found after parsing, with a message for the user."""


def user_message_for(exc: BaseException) -> str | None:
    """The user-facing sentence for an expected failure, or None if unexpected."""
    if isinstance(exc, (CliError, EngineError)):
        return str(exc)
    try:  # the learning side is optional at import time of this module
        from retrain.errors import RetrainError
    except ImportError:  # pragma: no cover - retrain always ships
        RetrainError = ()  # type: ignore[assignment]  # noqa: N806
    if RetrainError and isinstance(exc, RetrainError):
        return str(exc)
    if isinstance(exc, OSError):
        return os_error_message(exc)
    return None


def os_error_message(exc: OSError) -> str:
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    if exc.errno == errno.ENOSPC:
        return f"the disk is full{where}; free some space and try again."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"permission denied{where}; choose a place you can write to."
    if exc.errno == errno.ENOENT:
        return f"no such file or directory{where}; check the path."
    return f"{exc.strerror or exc}{where}."
