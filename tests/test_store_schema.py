"""The database file and its schema: location, permissions, pragmas, immutable parts."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from storekit import add_transcript

from engine.paths import database_path
from retrain.store import SCHEMA_VERSION, Store
from retrain.store.connection import connect

TABLES = {
    "recordings",
    "transcripts",
    "asr_segments",
    "segments",
    "segments_fts",
    "edits",
    "review_signals",
    "consent",
    "snippets",
    "model_versions",
    "model_aliases",
    "training_runs",
    "training_examples",
    "job_runs",
    "monitor_reports",
    "transcription_runs",
}


def test_the_database_lives_under_tiro_home_with_mode_0600(tiro_home: Path):
    with Store.open(auto_snippets=False) as store:
        add_transcript(store, ["hello there"])
        assert store.path == database_path() == tiro_home / "tiro.sqlite"
        for suffix in ("", "-wal", "-shm"):
            mode = stat.S_IMODE(Path(f"{store.path}{suffix}").stat().st_mode)
            assert mode == 0o600, (suffix, oct(mode))


def test_an_existing_file_with_loose_permissions_is_tightened(tiro_home: Path):
    path = tiro_home / "tiro.sqlite"
    Store.open(path, auto_snippets=False).close()
    path.chmod(0o644)
    Store.open(path, auto_snippets=False).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_wal_foreign_keys_busy_timeout_and_durability(tiro_home: Path):
    with Store.open(auto_snippets=False) as store:
        mode, fk, timeout = store.read(
            lambda c: (
                c.execute("PRAGMA journal_mode").fetchone()[0],
                c.execute("PRAGMA foreign_keys").fetchone()[0],
                c.execute("PRAGMA busy_timeout").fetchone()[0],
            )
        )
        assert (mode, fk) == ("wal", 1) and timeout >= 1000
        writer = store.write(
            lambda c: (
                c.execute("PRAGMA foreign_keys").fetchone()[0],
                c.execute("PRAGMA synchronous").fetchone()[0],
            )
        ).result()
        assert writer == (1, 1)  # synchronous=NORMAL: see retrain.store.checkpointer
    with Store.open(auto_snippets=False, durability="full") as store:
        assert store.write(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]).result() == 2


def test_schema_version_and_tables(tiro_home: Path):
    with Store.open(auto_snippets=False) as store:
        assert store.schema_version() == SCHEMA_VERSION
        names = set(
            store.read(
                lambda c: [
                    n for (n,) in c.execute("SELECT name FROM sqlite_master WHERE type='table'")
                ]
            )
        )
        assert names >= TABLES
        assert (
            store.read(lambda c: c.execute("PRAGMA user_version").fetchone()[0]) == SCHEMA_VERSION
        )


def test_asr_output_is_immutable_and_the_edit_log_append_only(tiro_home: Path):
    with Store.open(auto_snippets=False) as store:
        add_transcript(store, ["hello there"])
    conn = connect(database_path())
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute("UPDATE asr_segments SET text = 'changed'")
    conn.execute(
        "INSERT INTO edits (transcript_id, kind, payload_json, created_at) "
        "VALUES (1, 'text', '{}', 'now')"
    )
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE edits SET kind = 'split'")
    conn.close()


def test_foreign_keys_cascade_from_a_recording(tiro_home: Path):
    with Store.open(auto_snippets=False) as store:
        rid, tid, _ids = add_transcript(store, ["one", "two"])
        store.mark_verified(tid).result()
        store.write(lambda c: c.execute("DELETE FROM recordings WHERE id = ?", (rid,))).result()
        counts = store.read(
            lambda c: [
                c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("transcripts", "segments", "asr_segments", "review_signals")
            ]
        )
        assert counts == [0, 0, 0, 0]


def test_fts5_is_available_in_the_bundled_sqlite():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE probe USING fts5(x)")
    conn.close()


def test_the_checkpointer_copies_commits_into_the_database_file(tiro_home: Path):
    """Commits land in the WAL; within about a second the checkpointer (not the writer,
    and not this test) copies them into the main file."""
    import time

    from retrain.store import TextEdit

    with Store.open(auto_snippets=False) as store:
        _, tid, ids = add_transcript(store, ["x"])
        time.sleep(1.5)
        main_file = store.path.stat()
        store.apply_edit(tid, TextEdit(ids[0], "x", "y" * 5000)).result()
        assert store.path.stat().st_mtime_ns == main_file.st_mtime_ns  # the commit is in the WAL
        deadline = time.monotonic() + 10
        while store.path.stat().st_mtime_ns == main_file.st_mtime_ns:
            assert time.monotonic() < deadline, "no checkpoint within 10 s"
            time.sleep(0.05)
    conn = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
    assert conn.execute("SELECT text FROM segments").fetchone()[0] == "y" * 5000
    conn.close()
