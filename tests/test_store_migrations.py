"""Schema versions: every earlier version upgrades to the current one, data intact.

Earlier versions come from frozen dumps (``tests/data/store/v<N>.sql``, see
``tests/storedumps.py``) plus version 0, an empty file. Adding a migration without
the dump of the version before it fails ``test_a_dump_exists_for_every_version``.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest
import storedumps

from retrain.errors import StoreTooNewError
from retrain.store import SCHEMA_VERSION, Store
from retrain.store import migrations as runner
from retrain.store.connection import connect
from retrain.store.schema import migration_names

VERSIONS = list(range(SCHEMA_VERSION + 1))


def schema_of(path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
            "AND name != 'sqlite_sequence' ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()
    return [(t, n, " ".join(s.split())) for t, n, s in rows]


def row_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            n
            for (n,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND sql NOT LIKE 'CREATE VIRTUAL%' "
                "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%fts_%'"
            )
        ]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()


def build(version: int, path: Path) -> None:
    if version == 0:
        path.touch()
        return
    storedumps.load(storedumps.dump_path(version).read_text(encoding="utf-8"), path)


def test_a_dump_exists_for_every_version():
    missing = [v for v in VERSIONS[1:] if not storedumps.dump_path(v).exists()]
    assert not missing, f"write the dump of version(s) {missing}: python tests/storedumps.py"


@pytest.mark.parametrize("version", VERSIONS)
def test_every_version_upgrades_to_the_current_schema(version, tmp_path):
    fresh = tmp_path / "fresh.sqlite"
    Store.open(fresh, auto_snippets=False).close()
    old = tmp_path / f"v{version}.sqlite"
    build(version, old)
    counts_before = row_counts(old) if version else {}
    with Store.open(old, auto_snippets=False) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.notices == ()
    assert schema_of(old) == schema_of(fresh)
    conn = sqlite3.connect(old)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()
    counts_after = row_counts(old)
    for table, count in counts_before.items():
        if table != "_sqlite_migrations":
            assert counts_after.get(table, 0) >= count, table


@pytest.mark.parametrize("version", VERSIONS[1:])
def test_released_migrations_were_not_edited(version, tmp_path):
    """Migrating an empty file to version N gives exactly the frozen version-N schema."""
    frozen = tmp_path / "frozen.sqlite"
    build(version, frozen)
    rebuilt = tmp_path / "rebuilt.sqlite"
    conn = connect(rebuilt)
    try:
        runner.migrate(conn, target=version)
    finally:
        conn.close()
    assert schema_of(rebuilt) == schema_of(frozen)


def test_an_upgraded_dump_still_works(tmp_path):
    path = tmp_path / "old.sqlite"
    build(SCHEMA_VERSION, path)
    with Store.open(path, auto_snippets=False) as store:
        entries = store.library("first")
        assert entries and entries[0].transcripts
        view = store.load_transcript(entries[0].transcripts[-1].id)
        assert view.history.can_redo  # the dump's last step was an undo
        store.redo(view.transcript.id).result()


def test_a_database_from_a_newer_tiro_is_refused_unchanged(tmp_path):
    path = tmp_path / "newer.sqlite"
    Store.open(path, auto_snippets=False).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
        "VALUES ('tiro', '9999_from_the_future', 'x')"
    )
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreTooNewError):
        Store.open(path, auto_snippets=False)
    assert path.read_bytes() == before


def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path, monkeypatch):
    from sqlite_utils import Migrations

    path = tmp_path / "fail.sqlite"
    Store.open(path, auto_snippets=False).close()
    broken = Migrations("tiro")
    from retrain.store import schema

    for name, function in schema.MIGRATIONS:
        broken(name=name)(function)

    @broken(name="9000_half_done")
    def half_done(db):
        db.execute("CREATE TABLE half (x)")
        db.execute("INSERT INTO no_such_table VALUES (1)")

    monkeypatch.setattr(runner, "migration_set", lambda: broken)
    monkeypatch.setattr(runner, "migration_names", lambda: [*migration_names(), "9000_half_done"])
    monkeypatch.setattr(runner, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    conn = connect(path)
    with pytest.raises(sqlite3.OperationalError):
        runner.migrate(conn)
    assert runner.schema_version(conn) == SCHEMA_VERSION
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def _open_and_close(path: str) -> None:
    Store.open(path, auto_snippets=False).close()


def test_two_processes_creating_the_database_at_once_apply_each_migration_once(tmp_path):
    path = tmp_path / "race.sqlite"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_open_and_close, args=(str(path),)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    conn = sqlite3.connect(path)
    names = [n for (n,) in conn.execute("SELECT name FROM _sqlite_migrations")]
    conn.close()
    assert names == migration_names()


def test_opening_a_new_database_waits_while_another_process_writes_it(tmp_path):
    # The race above, made deterministic. Another process (here a plain connection) has
    # begun writing a brand-new, still empty file: it holds the write lock for 0.3 s, and
    # until its first write the file is in SQLite's default journal mode. Switching to
    # WAL then fails at once, without the busy timeout; Tiro must wait for the lock as
    # it does for every other one, not report the database busy.
    path = tmp_path / "new.sqlite"
    path.touch()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        store = Store.open(path, auto_snippets=False)
    finally:
        release.join()
        other.close()
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [n for (n,) in conn.execute("SELECT name FROM _sqlite_migrations")] == migration_names()
    conn.close()
