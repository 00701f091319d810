"""The database schema, as an ordered list of sqlite-utils migrations.

The schema version of a database is the number of these migrations applied to it
(mirrored in ``PRAGMA user_version``). Released migrations are never edited: a
change is a new function appended at the end (use sqlite-utils' ``table.transform()``
for what ``ALTER TABLE`` cannot do). ``tests/test_store_migrations.py`` upgrades a
frozen dump of every earlier version (``tests/data/store/v<N>.sql``) to the current
one, so adding a migration means adding the dump of the version it leaves behind
(``python tests/data/store/make_dump.py``).

Version 1, table by table (times are ISO-8601 UTC text, durations and media times
are seconds as REAL):

``recordings``
    One media file: ``path``, ``name`` (file name, searchable), ``sha256`` of the
    content (unique: importing the same content again reuses the row), ``size_bytes``,
    ``duration``, ``container``, ``codec``, ``sample_rate``, ``channels``,
    ``loudness_dbfs`` (for the monitor's drift check; NULL if unknown), ``owned``
    (1 when Tiro made the file itself, e.g. a microphone recording under TIRO_HOME,
    so deleting the recording deletes the file).
``transcripts``
    One transcription of a recording: ``model_version`` and ``backend`` that produced
    it, ``options_json`` (the ``TranscribeOptions``), ``language``, ``status``
    (queued, running, done, failed, cancelled) with ``error``, and timings
    ``created_at``/``started_at``/``finished_at``.
``asr_segments``
    The immutable ASR output, exactly as the model produced it (a trigger refuses
    updates): ``idx`` (order of production), ``start_sec``/``end_sec``, ``text``,
    ``words_json`` (see ``retrain.store.words``), ``avg_logprob``,
    ``no_speech_prob``, ``compression_ratio``, ``model_version``. Re-transcribing a
    segment adds rows (with the model version that made them); it never changes one.
``segments``
    The mutable current state the editor shows, one row per segment: ``position``
    (a text key that orders segments; see ``retrain.store.positions``),
    ``start_sec``/``end_sec``, ``text``, ``speaker``, ``reviewed`` with
    ``review_source`` (verified, played, edited) and ``reviewed_at``, ``origin``
    (asr, split, merge, insert) and ``asr_segment_id``. The *hypothesis* for the
    segment's span is ``asr_segments``' text, times and words, except for split and
    merged segments, whose own ``hyp_*`` columns hold the ASR words that fall in their
    span (NULL means "same as the ASR segment"). Inserted segments have no hypothesis.
``segments_fts``
    FTS5 index over ``segments.text`` (external content, kept by triggers) for the
    library search.
``edits``
    The append-only log (a trigger refuses updates) of every edit: ``kind`` (text,
    speaker, split, merge, retime, insert, delete, retranscribe, batch, undo, redo),
    ``segment_id`` (the main segment), ``target_edit_id`` (for undo/redo: the edit
    they revert or re-apply) and ``payload_json`` (the edit's parameters and the
    before/after state of every row it touched; see ``retrain.store.edits``).
``review_signals``
    Evidence that a person looked at a segment or transcript: ``kind`` (played:
    played through without a change; verified / unverified: explicit marks;
    exported), ``segment_id`` (NULL: the whole transcript), ``detail_json``.
``consent``
    Append-only history of the learning opt-in: ``enabled``, ``consent_text_version``
    (the version of the text the user was shown), ``created_at``. No row means off.
``snippets``
    16 kHz mono FLAC of a reviewed segment's audio, kept only while opted in:
    ``segment_id``, ``recording_id``, ``path`` (relative to ``engine.paths.snippets_dir()``),
    ``sha256`` of the file, ``start_sec``/``end_sec`` it covers in the recording,
    ``sample_rate``, ``size_bytes``.
``model_versions``, ``model_aliases``, ``training_runs``, ``training_examples``
    The registry the pipeline fills: versions (``version`` key, ``kind`` base or
    personal, ``path``, ``parent_version``, ``training_run_id``, ``lineage_json``,
    ``status`` such as candidate / active / retired / rejected with
    ``status_reason``, ``trained_on_deleted_data``); aliases (``champion``,
    ``previous`` → version; ``factory`` is the base model); training runs (timings,
    ``status``, contract version, examples hash and count, champion before/after,
    ``reasons_json``, ``report_json``, ``code_version``); and which examples a run
    used (``role``: train / heldout / unchanged) with their ``recording_id``, so a
    deleted recording marks the versions trained on it.
``job_runs``, ``monitor_reports``, ``transcription_runs``
    For the scheduler and monitor: every background job (``job``, start, end,
    ``outcome``, ``message``, ``pid``); monitor reports (``report_json``,
    ``flags_json``, ``champion_version``); and per-transcription performance
    (``audio_seconds``, ``wall_seconds``, ``rtf``, ``peak_rss_mb``, model version,
    backend).

Ids of recordings, transcripts, segments, ASR segments and edits are never reused
(``AUTOINCREMENT``): a log entry, a review signal or a training run that names an
id always means the same thing, even after deletes.

Transcript text is kept out of every ``*_json`` column other than ``edits`` and
the hypothesis words, so that deleting a recording's rows deletes its text.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # sqlite-utils is imported only when a migration is pending (startup time)
    from sqlite_utils import Database, Migrations

MIGRATION_SET = "tiro"


def _run(db: Database, statements: str) -> None:
    """Run ``;``-separated statements one by one (``executescript`` would COMMIT)."""
    for statement in _split_statements(statements):
        db.execute(statement)


def _split_statements(script: str) -> list[str]:
    """Split a script on ``;`` at the end of lines, keeping trigger bodies whole."""
    statements: list[str] = []
    current: list[str] = []
    depth = 0
    for line in script.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line)
        upper = stripped.upper()
        if upper.startswith("CREATE TRIGGER"):
            depth += 1
        if depth and upper.startswith("END;"):
            depth -= 1
        if stripped.endswith(";") and depth == 0:
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current:
        statements.append("\n".join(current))
    return statements


V1 = """
CREATE TABLE recordings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    size_bytes INTEGER,
    duration REAL,
    container TEXT,
    codec TEXT,
    sample_rate INTEGER,
    channels INTEGER,
    loudness_dbfs REAL,
    owned INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE transcripts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    model_version TEXT NOT NULL,
    backend TEXT NOT NULL,
    options_json TEXT NOT NULL DEFAULT '{}',
    language TEXT,
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    error TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX transcripts_by_recording ON transcripts(recording_id);

CREATE TABLE asr_segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transcript_id INTEGER NOT NULL REFERENCES transcripts(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start_sec REAL NOT NULL,
    end_sec REAL NOT NULL,
    text TEXT NOT NULL,
    words_json TEXT NOT NULL DEFAULT '[]',
    avg_logprob REAL,
    no_speech_prob REAL,
    compression_ratio REAL,
    model_version TEXT NOT NULL,
    UNIQUE (transcript_id, idx)
);
CREATE TRIGGER asr_segments_are_immutable BEFORE UPDATE ON asr_segments
BEGIN
    SELECT RAISE(ABORT, 'asr_segments rows are immutable');
END;

CREATE TABLE segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transcript_id INTEGER NOT NULL REFERENCES transcripts(id) ON DELETE CASCADE,
    asr_segment_id INTEGER REFERENCES asr_segments(id) ON DELETE SET NULL,
    position TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('asr', 'split', 'merge', 'insert')),
    start_sec REAL NOT NULL,
    end_sec REAL NOT NULL,
    text TEXT NOT NULL,
    speaker TEXT,
    reviewed INTEGER NOT NULL DEFAULT 0 CHECK (reviewed IN (0, 1)),
    review_source TEXT,
    reviewed_at TEXT,
    hyp_text TEXT,
    hyp_start_sec REAL,
    hyp_end_sec REAL,
    hyp_words_json TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX segments_in_order ON segments(transcript_id, position);
CREATE INDEX segments_by_asr_segment ON segments(asr_segment_id);

CREATE VIRTUAL TABLE segments_fts USING fts5(
    text, content='segments', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER segments_fts_insert AFTER INSERT ON segments
BEGIN
    INSERT INTO segments_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER segments_fts_delete AFTER DELETE ON segments
BEGIN
    INSERT INTO segments_fts(segments_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER segments_fts_update AFTER UPDATE OF text ON segments
BEGIN
    INSERT INTO segments_fts(segments_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO segments_fts(rowid, text) VALUES (new.id, new.text);
END;

CREATE TABLE edits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transcript_id INTEGER NOT NULL REFERENCES transcripts(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN (
        'text', 'speaker', 'split', 'merge', 'retime', 'insert', 'delete',
        'retranscribe', 'batch', 'undo', 'redo'
    )),
    segment_id INTEGER,
    target_edit_id INTEGER,
    payload_json TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX edits_by_transcript ON edits(transcript_id, id);
CREATE TRIGGER edits_are_append_only BEFORE UPDATE ON edits
BEGIN
    SELECT RAISE(ABORT, 'the edit log is append-only');
END;

CREATE TABLE review_signals (
    id INTEGER PRIMARY KEY,
    transcript_id INTEGER NOT NULL REFERENCES transcripts(id) ON DELETE CASCADE,
    segment_id INTEGER,
    kind TEXT NOT NULL CHECK (kind IN ('played', 'verified', 'unverified', 'exported')),
    detail_json TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX review_signals_by_transcript ON review_signals(transcript_id);

CREATE TABLE consent (
    id INTEGER PRIMARY KEY,
    enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    consent_text_version TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE snippets (
    id INTEGER PRIMARY KEY,
    segment_id INTEGER NOT NULL UNIQUE REFERENCES segments(id) ON DELETE CASCADE,
    recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    start_sec REAL NOT NULL,
    end_sec REAL NOT NULL,
    sample_rate INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX snippets_by_recording ON snippets(recording_id);

CREATE TABLE training_runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL DEFAULT 'running',
    contract_version INTEGER,
    examples_hash TEXT,
    example_count INTEGER,
    candidate_version TEXT,
    champion_before TEXT,
    champion_after TEXT,
    reasons_json TEXT NOT NULL DEFAULT '[]',
    report_json TEXT NOT NULL DEFAULT '{}',
    code_version TEXT
);

CREATE TABLE training_examples (
    training_run_id INTEGER NOT NULL REFERENCES training_runs(id) ON DELETE CASCADE,
    example_id TEXT NOT NULL,
    recording_id INTEGER NOT NULL,
    segment_id INTEGER NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (training_run_id, example_id)
);
CREATE INDEX training_examples_by_recording ON training_examples(recording_id);

CREATE TABLE model_versions (
    version TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('base', 'personal')),
    path TEXT,
    parent_version TEXT,
    training_run_id INTEGER REFERENCES training_runs(id) ON DELETE SET NULL,
    lineage_json TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'candidate',
    status_reason TEXT,
    trained_on_deleted_data INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE model_aliases (
    alias TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE job_runs (
    id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT NOT NULL DEFAULT 'running',
    message TEXT,
    pid INTEGER
);
CREATE INDEX job_runs_by_job ON job_runs(job, started_at);

CREATE TABLE monitor_reports (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    champion_version TEXT,
    report_json TEXT NOT NULL,
    flags_json TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE transcription_runs (
    id INTEGER PRIMARY KEY,
    transcript_id INTEGER REFERENCES transcripts(id) ON DELETE SET NULL,
    model_version TEXT NOT NULL,
    backend TEXT NOT NULL,
    audio_seconds REAL NOT NULL,
    wall_seconds REAL NOT NULL,
    rtf REAL,
    peak_rss_mb REAL,
    created_at TEXT NOT NULL
);
CREATE INDEX transcription_runs_by_model ON transcription_runs(model_version, created_at);
"""


def m0001_initial(db: Database) -> None:
    _run(db, V1)


#: Every migration, in order: (name recorded in ``_sqlite_migrations``, function).
MIGRATIONS: tuple[tuple[str, Callable[[Database], None]], ...] = (("0001_initial", m0001_initial),)

SCHEMA_VERSION = len(MIGRATIONS)


def migration_names() -> list[str]:
    """Names of every migration this code knows, in order."""
    return [name for name, _ in MIGRATIONS]


@cache
def migration_set() -> Migrations:
    """The sqlite-utils ``Migrations`` object holding ``MIGRATIONS``."""
    from sqlite_utils import Migrations

    migrations = Migrations(MIGRATION_SET)
    for name, function in MIGRATIONS:
        migrations(name=name)(function)
    return migrations
