"""Frozen databases of every released schema version, as SQL text.

``tests/data/store/v<N>.sql`` is a database at schema version N with data in every
table. ``tests/test_store_migrations.py`` loads each one and upgrades it to the
current version. When you add a migration, first write the dump of the version it
upgrades from (if it is not there yet), then add the migration:

    .venv/bin/python tests/storedumps.py     # writes tests/data/store/v<current>.sql

A dump is plain SQL: the schema objects in creation order, then every row of every
ordinary table (FTS shadow tables are refilled by the triggers as rows go in), then
``PRAGMA user_version``. Never edit a released dump.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from pathlib import Path

DUMPS = Path(__file__).resolve().parent / "data" / "store"


def dump_path(version: int) -> Path:
    return DUMPS / f"v{version}.sql"


def _quote(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return "X'" + value.hex() + "'"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def dump(conn: sqlite3.Connection) -> str:
    objects = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
    ).fetchall()
    virtual = [name for kind, name, sql in objects if sql.upper().startswith("CREATE VIRTUAL")]

    def shadow(name: str) -> bool:
        return any(name.startswith(f"{v}_") for v in virtual)

    lines = ["PRAGMA foreign_keys = OFF;", "BEGIN;"]
    tables = []
    for kind, name, sql in objects:
        if name.startswith("sqlite_") or (kind == "table" and shadow(name)):
            continue
        lines.append(f"{sql};")
        if kind == "table" and not sql.upper().startswith("CREATE VIRTUAL"):
            tables.append(name)
    for table in tables:
        columns = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]
        for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):
            values = ", ".join(_quote(v) for v in row)
            lines.append(f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({values});')
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        for name, seq in conn.execute("SELECT name, seq FROM sqlite_sequence ORDER BY name"):
            lines.append(f"DELETE FROM sqlite_sequence WHERE name = {_quote(name)};")
            lines.append(f"INSERT INTO sqlite_sequence (name, seq) VALUES ({_quote(name)}, {seq});")
    lines.append("COMMIT;")
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    lines.append(f"PRAGMA user_version = {version};")
    return "\n".join(lines) + "\n"


def load(sql: str, path: Path) -> None:
    """Create the database file ``path`` from a dump."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.executescript(sql)
    finally:
        conn.close()


def seed(store) -> None:
    """Representative data in every table, written the way Tiro writes it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from storekit import add_transcript

    from engine.types import TranscribeOptions
    from retrain.store import MergeSegments, SplitSegment, TextEdit

    store.set_consent(True, "1").result()
    rid, tid, ids = add_transcript(store, ["first segment here", "second one", "a third"])
    store.apply_edit(tid, TextEdit(ids[0], "first segment here", "First segment, here")).result()
    store.apply_edit(tid, SplitSegment(ids[1], 7, 3.2)).result()
    store.apply_edit(tid, MergeSegments(ids[0], ids[1])).result()
    store.undo(tid).result()
    store.mark_verified(tid, [ids[2]]).result()
    store.record_review_signal(tid, "played", [ids[0]]).result()
    store.record_review_signal(tid, "exported", detail={"format": "srt"}).result()
    other = store.create_transcript(rid, "factory", "whispercpp", TranscribeOptions()).result()
    store.set_transcript_status(other, "failed", "the model could not be loaded").result()
    store.record_transcription_run(
        transcript_id=tid,
        model_version="factory",
        backend="ctranslate2",
        audio_seconds=7.5,
        wall_seconds=0.9,
        peak_rss_mb=310.0,
    ).result()

    def pipeline_tables(conn: sqlite3.Connection) -> None:
        now = "2026-01-01T00:00:00.000000Z"
        conn.execute(
            "INSERT INTO snippets (segment_id, recording_id, path, sha256, start_sec, end_sec, "
            "sample_rate, size_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (ids[2], rid, f"{rid}/{ids[2]}-5000-7000.flac", "0" * 64, 5.0, 7.0, 16000, 1, now),
        )
        run = conn.execute(
            "INSERT INTO training_runs (started_at, finished_at, status, contract_version, "
            "examples_hash, example_count, candidate_version, champion_before, champion_after, "
            "reasons_json, report_json, code_version) VALUES "
            "(?, ?, 'promoted', 1, 'abc', 2, 'p1', 'factory', 'p1', '[]', '{}', 'dev')",
            (now, now),
        ).lastrowid
        conn.execute(
            "INSERT INTO training_examples VALUES (?, 'ex1', ?, ?, 'train')", (run, rid, ids[0])
        )
        conn.execute(
            "INSERT INTO model_versions (version, kind, path, parent_version, training_run_id, "
            "lineage_json, status, created_at, updated_at) VALUES "
            "('p1', 'personal', 'models/p1', 'factory', ?, '{}', 'active', ?, ?)",
            (run, now, now),
        )
        conn.execute("INSERT INTO model_aliases VALUES ('champion', 'p1', ?)", (now,))
        conn.execute(
            "INSERT INTO job_runs (job, started_at, finished_at, outcome, message, pid) "
            "VALUES ('monitor', ?, ?, 'ok', NULL, 1)",
            (now, now),
        )
        conn.execute(
            "INSERT INTO monitor_reports (created_at, champion_version, report_json) "
            "VALUES (?, 'p1', '{}')",
            (now,),
        )

    store.write(pipeline_tables).result()


def write_current_dump() -> Path:
    from retrain.store import SCHEMA_VERSION, Store

    with tempfile.TemporaryDirectory() as home:
        os.environ["TIRO_HOME"] = home
        path = Path(home) / "tiro.sqlite"
        with Store.open(path, auto_snippets=False) as store:
            seed(store)
        conn = sqlite3.connect(path)
        try:
            text = dump(conn)
        finally:
            conn.close()
    DUMPS.mkdir(parents=True, exist_ok=True)
    target = dump_path(SCHEMA_VERSION)
    target.write_text(text, encoding="utf-8")
    return target


if __name__ == "__main__":
    print(write_current_dump())
