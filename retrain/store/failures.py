"""Translating SQLite's exceptions into the store's typed errors.

SQLite reports a full disk as ``SQLITE_FULL`` when a write comes up short, but as
``SQLITE_IOERR_WRITE`` when the very first byte cannot be written (for instance a
file-size limit, ``EFBIG``). Both mean "no room"; an I/O error is reported as
:class:`StoreFullError` when the disk really has no room left or the process's
file-size limit is reached, and as :class:`StoreIOError` otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from retrain.errors import (
    StoreBusyError,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreIOError,
    StoreReadOnlyError,
)

SQLITE_PERM = 3
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26

LOW_SPACE_BYTES = 1 << 20

log = logging.getLogger("tiro.store")
T = TypeVar("T")

try:  # POSIX only; Windows has no file-size limit to check
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]


def primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_corruption(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) and primary_code(exc) in (
        SQLITE_CORRUPT,
        SQLITE_NOTADB,
    )


def is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and primary_code(exc) in (
        SQLITE_BUSY,
        SQLITE_LOCKED,
    )


def retry_while_busy(run: Callable[[], T], pauses: Iterable[float]) -> T:
    """``run()``, tried again after each of ``pauses`` (seconds) while another process
    keeps the database busy or locked; any other error, or the last busy one once the
    pauses run out, is raised. For the statements SQLite does not wait out with the busy
    timeout itself."""
    for pause in pauses:
        try:
            return run()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            log.debug("database busy in another process; retrying in %.2f s", pause)
            time.sleep(pause)
    return run()


def translate(exc: BaseException, database: Path | None = None) -> BaseException:
    """The typed store error for a SQLite or OS failure, or ``exc`` itself if it is not one."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, OSError):
        return _translate_os_error(exc, database)
    if not isinstance(exc, sqlite3.Error):
        return exc
    code = primary_code(exc)
    if code == SQLITE_FULL:
        return StoreFullError()
    if code in (SQLITE_READONLY, SQLITE_PERM):
        return StoreReadOnlyError()
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return StoreBusyError()
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return StoreCorruptError()
    if code == SQLITE_IOERR:
        return StoreFullError() if no_room_left(database) else StoreIOError()
    if code == SQLITE_CANTOPEN:
        return StoreReadOnlyError(
            "Tiro could not open its database file; check that the TIRO_HOME folder "
            "exists and that you may write to it."
        )
    return exc


def _translate_os_error(exc: OSError, database: Path | None) -> BaseException:
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return StoreFullError()
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StoreReadOnlyError()
    if exc.errno == errno.EIO:
        return StoreFullError() if no_room_left(database) else StoreIOError()
    return exc


def no_room_left(database: Path | None) -> bool:
    """True when the disk holding ``database`` is (nearly) full or a file-size limit is hit."""
    if database is None:
        return False
    folder = database.parent
    with contextlib.suppress(OSError):
        if shutil.disk_usage(folder).free < LOW_SPACE_BYTES:
            return True
    if resource is None:  # pragma: no cover - Windows
        return False
    soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft == resource.RLIM_INFINITY:
        return False
    for suffix in ("", "-wal", "-journal"):
        candidate = Path(f"{database}{suffix}")
        with contextlib.suppress(OSError):
            if candidate.stat().st_size + 65536 >= soft:
                return True
    return False
