"""Opening the database file: permissions, pragmas, corruption recovery, migrations.

- The file is created with mode 0600 (SQLite gives its ``-wal`` and ``-shm`` files
  the same mode); an existing file with looser permissions is tightened.
- Every connection: ``journal_mode=WAL`` (readers never block the writer),
  ``foreign_keys=ON``, a busy timeout, ``synchronous`` NORMAL by default (see
  ``retrain.store.checkpointer`` for what that guarantees, and
  ``tests/benchmarks/store.py`` for the cost of FULL) and ``secure_delete=FAST``
  (deleted text is zeroed in the pages SQLite rewrites anyway).
- At startup ``PRAGMA quick_check`` runs. A file that fails it, or is not a
  database at all, is moved aside as ``tiro.sqlite.corrupt-<UTC time>`` (with its
  ``-wal``/``-shm``), a fresh database is created, and a :class:`Notice` tells the
  user where the old file went. Opening never crashes on a damaged file.
- A file Tiro may not write is opened read-only: reads work, and every write fails
  with :class:`~retrain.errors.StoreReadOnlyError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from retrain.errors import StoreCorruptError, StoreReadOnlyError
from retrain.store import failures
from retrain.store.migrations import migrate, schema_version
from retrain.store.schema import SCHEMA_VERSION

log = logging.getLogger("tiro.store")

BUSY_TIMEOUT_MS = 5_000
#: The writer leaves checkpoints to the checkpointer; SQLite's own one is only a backstop.
WRITER_AUTOCHECKPOINT_PAGES = 4000
SYNCHRONOUS = ("NORMAL", "FULL")
#: How long to wait between attempts to switch a new database to WAL while it is locked.
WAL_SWITCH_RETRY_S = 0.02
FILE_MODE = 0o600
SIDE_FILES = ("-wal", "-shm", "-journal")


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user should be told once, in one sentence (e.g. a recovered database)."""

    message: str
    moved_to: Path | None = None


@dataclass(frozen=True, slots=True)
class OpenedDatabase:
    path: Path
    read_only: bool
    notices: tuple[Notice, ...]
    migrations_applied: tuple[str, ...]


def connect(
    path: Path, *, read_only: bool = False, synchronous: str = "NORMAL", writer: bool = False
) -> sqlite3.Connection:
    """A configured connection in autocommit mode (transactions are explicit)."""
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS}")
    if read_only:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
    else:
        conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    if not read_only:
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA secure_delete = FAST")
        if writer:
            conn.execute(f"PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}")
    return conn


class _DamagedDatabase(Exception):
    """The file failed its check or is not a database (internal to opening)."""


def open_database(path: Path) -> OpenedDatabase:
    """Prepare ``path`` for use: create, recover, migrate. Returns what happened."""
    path.parent.mkdir(parents=True, exist_ok=True)
    notices: list[Notice] = []
    _create_private_file(path)
    read_only = not _writable(path)
    try:
        applied = _check_and_migrate(path, read_only)
    except _DamagedDatabase as damage:
        if read_only:
            raise StoreCorruptError() from damage
        moved = move_aside(path)
        log.warning("database %s failed its check (%s); moved to %s", path, damage, moved)
        notices.append(
            Notice(
                f"Tiro's database was damaged and could not be used; it was moved to {moved} "
                "and a fresh, empty one was started.",
                moved_to=moved,
            )
        )
        _create_private_file(path)
        applied = _check_and_migrate(path, read_only=False)
    except sqlite3.Error as exc:
        raise failures.translate(exc, path) from exc
    return OpenedDatabase(path, read_only, tuple(notices), tuple(applied))


def _check_and_migrate(path: Path, read_only: bool) -> list[str]:
    try:
        conn = connect(path, read_only=read_only)
    except sqlite3.DatabaseError as exc:
        if failures.is_corruption(exc):
            raise _DamagedDatabase(str(exc)) from exc
        raise
    try:
        try:
            if not read_only:
                mode = _switch_to_wal(conn)
                if mode != "wal":
                    log.warning("could not switch %s to WAL (journal_mode=%s)", path, mode)
            result = [tuple(row) for row in conn.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            if failures.is_corruption(exc):
                raise _DamagedDatabase(str(exc)) from exc
            raise
        if result != [("ok",)]:
            raise _DamagedDatabase(f"quick_check: {result[:3]}")
        if read_only:
            if schema_version(conn) < SCHEMA_VERSION:
                raise StoreReadOnlyError(
                    "Tiro's database is read-only and older than this version of Tiro, so it "
                    "cannot be upgraded; check the permissions of the TIRO_HOME folder."
                )
            return []
        try:
            return migrate(conn)
        except sqlite3.DatabaseError as exc:
            if failures.is_corruption(exc):
                raise _DamagedDatabase(str(exc)) from exc
            raise
    finally:
        conn.close()


def _switch_to_wal(conn: sqlite3.Connection) -> str:
    """Put the database in WAL mode (a no-op once it is; the mode is stored in the file).

    Switching takes an exclusive lock without calling the busy handler while another
    process holds the write lock on a brand-new file (several Tiro processes creating it
    at once): SQLite then answers "database is locked" at once. This waits for the lock
    as every other statement does: up to ``BUSY_TIMEOUT_MS``, then the error stands.
    """
    mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    if mode == "wal":
        return mode
    attempts = round(BUSY_TIMEOUT_MS / 1000 / WAL_SWITCH_RETRY_S)
    switched = failures.retry_while_busy(
        lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone()[0],
        [WAL_SWITCH_RETRY_S] * attempts,
    )
    return str(switched).lower()


def move_aside(path: Path) -> Path:
    """Rename the database and its side files to ``<name>.corrupt-<UTC time>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    path.replace(target)
    for suffix in SIDE_FILES:
        side = Path(f"{path}{suffix}")
        if side.exists():
            side.replace(Path(f"{target}{suffix}"))
    return target


def _create_private_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    except FileExistsError:
        _tighten_permissions(path)
        return
    except OSError as exc:
        raise failures.translate(exc, path) from exc
    os.close(fd)


def _tighten_permissions(path: Path) -> None:
    for candidate in (path, *(Path(f"{path}{s}") for s in SIDE_FILES)):
        with contextlib.suppress(OSError):
            mode = stat.S_IMODE(candidate.stat().st_mode)
            if mode & 0o077:
                candidate.chmod(mode & ~0o077 & 0o777)


def _writable(path: Path) -> bool:
    """Whether SQLite will be able to write ``path`` (tried, not guessed from mode bits)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    os.close(fd)
    return os.access(path.parent, os.W_OK)
