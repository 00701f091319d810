"""Bringing a database to the current schema version.

We use sqlite-utils' own ``Migrations`` (built into sqlite-utils 4; the older
``sqlite-migrate`` package is now only a deprecated shim that re-exports it), so
migrations are plain Python functions that may use sqlite-utils' table tools and
are recorded by name in ``_sqlite_migrations``. What this runner adds:

- All pending migrations run inside one ``BEGIN IMMEDIATE`` transaction, each in
  its own savepoint (sqlite-utils nests ``atomic()`` that way). Taking the write
  lock first means two Tiro processes opening a fresh database at the same time
  (the app and the scheduler's pipeline process) cannot both apply migration 1; a
  failure leaves the database exactly as it was.
- ``PRAGMA user_version`` mirrors the number of applied migrations, so the version
  is visible to any SQLite tool (and set in the same transaction).
- A database that has migrations this code does not know was written by a newer
  Tiro: it is refused with :class:`StoreTooNewError` instead of being changed.
"""

from __future__ import annotations

import sqlite3

from retrain.errors import StoreTooNewError
from retrain.store.schema import MIGRATION_SET, SCHEMA_VERSION, migration_names, migration_set

MIGRATIONS_TABLE = "_sqlite_migrations"


def applied_names(conn: sqlite3.Connection) -> list[str]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MIGRATIONS_TABLE,)
    ).fetchone()
    if not exists:
        return []
    rows = conn.execute(
        f"SELECT name FROM {MIGRATIONS_TABLE} WHERE migration_set = ? ORDER BY rowid",
        (MIGRATION_SET,),
    )
    return [name for (name,) in rows]


def schema_version(conn: sqlite3.Connection) -> int:
    """How many of the known migrations this database has (0 for an empty file)."""
    return len(applied_names(conn))


def migrate(conn: sqlite3.Connection, *, target: int | None = None) -> list[str]:
    """Apply pending migrations (up to version ``target``, default the latest).

    ``conn`` must be in autocommit mode (``isolation_level=None``). Returns the
    names of the migrations applied.
    """
    known = migration_names()
    target = SCHEMA_VERSION if target is None else target
    applied = applied_names(conn)  # without the write lock: usually nothing is pending
    if any(name not in known for name in applied):
        raise StoreTooNewError()
    if len(applied) >= target:
        return []
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = applied_names(conn)
        unknown = [name for name in before if name not in known]
        if unknown:
            raise StoreTooNewError()
        if len(before) >= target:
            conn.execute("ROLLBACK")
            return []
        from sqlite_utils import Database

        db = Database(conn, recursive_triggers=False, execute_plugins=False)
        stop_before = known[target] if target < len(known) else None
        migration_set().apply(db, stop_before=stop_before)
        after = applied_names(conn)
        conn.execute(f"PRAGMA user_version = {len(after)}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return after[len(before) :]
