PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE "_sqlite_migrations" (
   "id" INTEGER PRIMARY KEY,
   "migration_set" TEXT,
   "name" TEXT,
   "applied_at" TEXT
);
CREATE UNIQUE INDEX "idx__sqlite_migrations_migration_set_name"
    ON "_sqlite_migrations" ("migration_set", "name");
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
INSERT INTO "_sqlite_migrations" (id, migration_set, name, applied_at) VALUES (1, 'tiro', '0001_initial', '2026-11-26 16:51:33.042713+00:00');
INSERT INTO "recordings" (id, path, name, sha256, size_bytes, duration, container, codec, sample_rate, channels, loudness_dbfs, owned, created_at) VALUES (1, '/media/meeting.wav', 'meeting.wav', '86d2fc1fa879324d6acdb79d490ef2592f8a0914fe75cf8b2905d4e00994244a', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, '2026-11-26T16:51:33.181314Z');
INSERT INTO "transcripts" (id, recording_id, model_version, backend, options_json, language, status, error, created_at, started_at, finished_at, updated_at) VALUES (1, 1, 'factory-test', 'ctranslate2', '{}', NULL, 'done', NULL, '2026-11-26T16:51:33.183511Z', NULL, '2026-11-26T16:51:33.188061Z', '2026-11-26T16:51:33.188061Z');
INSERT INTO "transcripts" (id, recording_id, model_version, backend, options_json, language, status, error, created_at, started_at, finished_at, updated_at) VALUES (2, 1, 'factory', 'whispercpp', '{"backend":null,"beam_size":null,"hotwords":[],"initial_prompt":null,"temperatures":null,"threads":null,"vad":null,"word_timestamps":true}', NULL, 'failed', 'the model could not be loaded', '2026-11-26T16:51:33.204253Z', NULL, '2026-11-26T16:51:33.205155Z', '2026-11-26T16:51:33.205155Z');
INSERT INTO "asr_segments" (id, transcript_id, idx, start_sec, end_sec, text, words_json, avg_logprob, no_speech_prob, compression_ratio, model_version) VALUES (1, 1, 0, 0.0, 2.0, 'first segment here', '[[" first",0.0,0.667,0.9],[" segment",0.667,1.333,0.9],[" here",1.333,2.0,0.9]]', -0.25, 0.01, 1.4, 'factory-test');
INSERT INTO "asr_segments" (id, transcript_id, idx, start_sec, end_sec, text, words_json, avg_logprob, no_speech_prob, compression_ratio, model_version) VALUES (2, 1, 1, 2.5, 4.5, 'second one', '[[" second",2.5,3.5,0.9],[" one",3.5,4.5,0.9]]', -0.25, 0.01, 1.4, 'factory-test');
INSERT INTO "asr_segments" (id, transcript_id, idx, start_sec, end_sec, text, words_json, avg_logprob, no_speech_prob, compression_ratio, model_version) VALUES (3, 1, 2, 5.0, 7.0, 'a third', '[[" a",5.0,6.0,0.9],[" third",6.0,7.0,0.9]]', -0.25, 0.01, 1.4, 'factory-test');
INSERT INTO "segments" (id, transcript_id, asr_segment_id, position, origin, start_sec, end_sec, text, speaker, reviewed, review_source, reviewed_at, hyp_text, hyp_start_sec, hyp_end_sec, hyp_words_json, updated_at) VALUES (1, 1, 1, '0000000001', 'asr', 0.0, 2.0, 'First segment, here', NULL, 1, 'edited', '2026-11-26T16:51:33.189314Z', NULL, NULL, NULL, NULL, '2026-11-26T16:51:33.199532Z');
INSERT INTO "segments" (id, transcript_id, asr_segment_id, position, origin, start_sec, end_sec, text, speaker, reviewed, review_source, reviewed_at, hyp_text, hyp_start_sec, hyp_end_sec, hyp_words_json, updated_at) VALUES (2, 1, 2, '0000000002', 'split', 2.5, 3.2, 'second', NULL, 0, NULL, NULL, 'second', 2.5, 3.2, '[[" second",2.5,3.5,0.9]]', '2026-11-26T16:51:33.199532Z');
INSERT INTO "segments" (id, transcript_id, asr_segment_id, position, origin, start_sec, end_sec, text, speaker, reviewed, review_source, reviewed_at, hyp_text, hyp_start_sec, hyp_end_sec, hyp_words_json, updated_at) VALUES (3, 1, 3, '0000000003', 'asr', 5.0, 7.0, 'a third', NULL, 1, 'verified', '2026-11-26T16:51:33.201689Z', NULL, NULL, NULL, NULL, '2026-11-26T16:51:33.201689Z');
INSERT INTO "segments" (id, transcript_id, asr_segment_id, position, origin, start_sec, end_sec, text, speaker, reviewed, review_source, reviewed_at, hyp_text, hyp_start_sec, hyp_end_sec, hyp_words_json, updated_at) VALUES (4, 1, 2, '00000000025', 'split', 3.2, 4.5, 'one', NULL, 0, NULL, NULL, 'one', 3.2, 4.5, '[[" one",3.5,4.5,0.9]]', '2026-11-26T16:51:33.191840Z');
INSERT INTO "edits" (id, transcript_id, kind, segment_id, target_edit_id, payload_json, created_at) VALUES (1, 1, 'text', 1, NULL, '{"op":{"segment_id":1,"before":"first segment here","after":"First segment, here"},"changes":[{"id":1,"before":{"text":"first segment here","reviewed":0,"review_source":null,"reviewed_at":null},"after":{"text":"First segment, here","reviewed":1,"review_source":"edited","reviewed_at":"2026-11-26T16:51:33.189314Z"}}]}', '2026-11-26T16:51:33.189314Z');
INSERT INTO "edits" (id, transcript_id, kind, segment_id, target_edit_id, payload_json, created_at) VALUES (2, 1, 'split', 2, NULL, '{"op":{"segment_id":2,"at_char":7,"at_time":3.2,"new_segment_id":4},"changes":[{"id":2,"before":{"text":"second one","end_sec":4.5,"origin":"asr","hyp_text":null,"hyp_start_sec":null,"hyp_end_sec":null,"hyp_words_json":null},"after":{"text":"second","end_sec":3.2,"origin":"split","hyp_text":"second","hyp_start_sec":2.5,"hyp_end_sec":3.2,"hyp_words_json":"[[\" second\",2.5,3.5,0.9]]"}},{"id":4,"before":null,"after":{"transcript_id":1,"asr_segment_id":2,"position":"00000000025","origin":"split","start_sec":3.2,"end_sec":4.5,"text":"one","speaker":null,"hyp_text":"one","hyp_start_sec":3.2,"hyp_end_sec":4.5,"hyp_words_json":"[[\" one\",3.5,4.5,0.9]]","reviewed":0,"review_source":null,"reviewed_at":null}}]}', '2026-11-26T16:51:33.191840Z');
INSERT INTO "edits" (id, transcript_id, kind, segment_id, target_edit_id, payload_json, created_at) VALUES (3, 1, 'merge', 1, NULL, '{"op":{"segment_id":1,"next_segment_id":2},"changes":[{"id":1,"before":{"text":"First segment, here","end_sec":2.0,"reviewed":1,"review_source":"edited","reviewed_at":"2026-11-26T16:51:33.189314Z","origin":"asr","hyp_text":null,"hyp_start_sec":null,"hyp_end_sec":null,"hyp_words_json":null},"after":{"text":"First segment, here second","end_sec":3.2,"reviewed":0,"review_source":null,"reviewed_at":null,"origin":"merge","hyp_text":"first segment here second","hyp_start_sec":0.0,"hyp_end_sec":3.2,"hyp_words_json":"[[\" first\",0.0,0.667,0.9],[\" segment\",0.667,1.333,0.9],[\" here\",1.333,2.0,0.9],[\" second\",2.5,3.5,0.9]]"}},{"id":2,"before":{"transcript_id":1,"asr_segment_id":2,"position":"0000000002","origin":"split","start_sec":2.5,"end_sec":3.2,"text":"second","speaker":null,"hyp_text":"second","hyp_start_sec":2.5,"hyp_end_sec":3.2,"hyp_words_json":"[[\" second\",2.5,3.5,0.9]]","reviewed":0,"review_source":null,"reviewed_at":null},"after":null}]}', '2026-11-26T16:51:33.195324Z');
INSERT INTO "edits" (id, transcript_id, kind, segment_id, target_edit_id, payload_json, created_at) VALUES (4, 1, 'undo', 1, 3, '{}', '2026-11-26T16:51:33.199532Z');
INSERT INTO "review_signals" (id, transcript_id, segment_id, kind, detail_json, created_at) VALUES (1, 1, 3, 'verified', NULL, '2026-11-26T16:51:33.201689Z');
INSERT INTO "review_signals" (id, transcript_id, segment_id, kind, detail_json, created_at) VALUES (2, 1, 1, 'played', NULL, '2026-11-26T16:51:33.202606Z');
INSERT INTO "review_signals" (id, transcript_id, segment_id, kind, detail_json, created_at) VALUES (3, 1, NULL, 'exported', '{"format": "srt"}', '2026-11-26T16:51:33.203554Z');
INSERT INTO "consent" (id, enabled, consent_text_version, created_at) VALUES (1, 1, '1', '2026-11-26T16:51:33.176407Z');
INSERT INTO "snippets" (id, segment_id, recording_id, path, sha256, start_sec, end_sec, sample_rate, size_bytes, created_at) VALUES (1, 3, 1, '1/3-5000-7000.flac', '0000000000000000000000000000000000000000000000000000000000000000', 5.0, 7.0, 16000, 1, '2026-01-01T00:00:00.000000Z');
INSERT INTO "training_runs" (id, started_at, finished_at, status, contract_version, examples_hash, example_count, candidate_version, champion_before, champion_after, reasons_json, report_json, code_version) VALUES (1, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', 'promoted', 1, 'abc', 2, 'p1', 'factory', 'p1', '[]', '{}', 'dev');
INSERT INTO "training_examples" (training_run_id, example_id, recording_id, segment_id, role) VALUES (1, 'ex1', 1, 1, 'train');
INSERT INTO "model_versions" (version, kind, path, parent_version, training_run_id, lineage_json, status, status_reason, trained_on_deleted_data, created_at, updated_at) VALUES ('p1', 'personal', 'models/p1', 'factory', 1, '{}', 'active', NULL, 0, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z');
INSERT INTO "model_aliases" (alias, version, updated_at) VALUES ('champion', 'p1', '2026-01-01T00:00:00.000000Z');
INSERT INTO "job_runs" (id, job, started_at, finished_at, outcome, message, pid) VALUES (1, 'monitor', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', 'ok', NULL, 1);
INSERT INTO "monitor_reports" (id, created_at, champion_version, report_json, flags_json) VALUES (1, '2026-01-01T00:00:00.000000Z', 'p1', '{}', '[]');
INSERT INTO "transcription_runs" (id, transcript_id, model_version, backend, audio_seconds, wall_seconds, rtf, peak_rss_mb, created_at) VALUES (1, 1, 'factory', 'ctranslate2', 7.5, 0.9, 0.12000000000000001, 310.0, '2026-11-26T16:51:33.206026Z');
DELETE FROM sqlite_sequence WHERE name = 'asr_segments';
INSERT INTO sqlite_sequence (name, seq) VALUES ('asr_segments', 3);
DELETE FROM sqlite_sequence WHERE name = 'edits';
INSERT INTO sqlite_sequence (name, seq) VALUES ('edits', 4);
DELETE FROM sqlite_sequence WHERE name = 'recordings';
INSERT INTO sqlite_sequence (name, seq) VALUES ('recordings', 1);
DELETE FROM sqlite_sequence WHERE name = 'segments';
INSERT INTO sqlite_sequence (name, seq) VALUES ('segments', 4);
DELETE FROM sqlite_sequence WHERE name = 'transcripts';
INSERT INTO sqlite_sequence (name, seq) VALUES ('transcripts', 2);
COMMIT;
PRAGMA user_version = 1;
