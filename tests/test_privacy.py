"""Privacy: opt-in, export of learning data, and delete that leaves no trace under TIRO_HOME."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import zipfile
from pathlib import Path

import pytest
from storekit import add_transcript
from test_contract import give_snippet

from engine.digests import file_digest
from engine.paths import cache_dir, logs_dir, snippets_dir
from retrain import privacy
from retrain.contract import build_examples
from retrain.errors import NotFoundError
from retrain.store import Store, TextEdit


@pytest.fixture
def store(tiro_home):
    with Store.open(auto_snippets=False) as opened:
        yield opened


def every_file(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def found_anywhere(root: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for path in every_file(root):
        data = path.read_bytes()
        hits += [f"{path.relative_to(root)}: {n[:30]!r}" for n in needles if n in data]
    return hits


def test_learning_is_off_until_the_user_opts_in(store):
    assert not store.consent().enabled
    state = store.set_consent(True, privacy.CONSENT_TEXT_VERSION).result()
    assert state.enabled and state.consent_text_version == privacy.CONSENT_TEXT_VERSION
    assert store.consent() == state
    assert "snippets" in privacy.consent_text() and "delete" in privacy.consent_text()


def test_opting_out_deletes_every_snippet(store):
    store.set_consent(True, "1").result()
    _, tid, ids = add_transcript(store, ["one two", "three four"])
    store.mark_verified(tid).result()
    paths = [snippets_dir() / give_snippet(store, sid) for sid in ids]
    assert all(p.exists() for p in paths)
    store.set_consent(False, "1").result()
    assert not any(p.exists() for p in paths)
    assert store.stats().snippets == 0


def test_export_holds_everything_tiro_would_learn_from(store, tmp_path):
    store.set_consent(True, "1").result()
    rid, tid, ids = add_transcript(store, ["we use cooper netties", "all good here", "not seen"])
    store.apply_edit(tid, TextEdit(ids[0], "we use cooper netties", "We use Kubernetes")).result()
    store.mark_verified(tid, ids[:2]).result()
    audio = {sid: os.urandom(2048) for sid in ids[:2]}
    for sid, data in audio.items():
        give_snippet(store, sid, data)
    report = privacy.export_learning_data(store, tmp_path / "mine.zip")
    assert report.examples == 2 and report.audio_files == 2
    with zipfile.ZipFile(tmp_path / "mine.zip") as archive:
        names = set(archive.namelist())
        examples = json.loads(archive.read("examples.json"))["examples"]
        assert {e["reference"] for e in examples} == {"We use Kubernetes", "all good here"}
        for entry in examples:
            assert entry["audio"] in names
            assert archive.read(entry["audio"]) == audio[entry["segment_id"]]
        assert json.loads(archive.read("rejections.json")) == {"unreviewed": 1}
        assert json.loads(archive.read("consent.json"))[0]["enabled"] is True
        assert json.loads(archive.read("recordings.json"))[0]["id"] == rid
        assert "README.txt" in names


def test_stats_for_the_learning_data_page(store):
    store.set_consent(True, "1").result()
    _, tid, ids = add_transcript(store, ["a b c", "d e f", "g h i"])
    store.apply_edit(tid, TextEdit(ids[0], "a b c", "a b see")).result()
    store.mark_verified(tid, ids[:2]).result()
    for sid in ids[:2]:
        give_snippet(store, sid)
    stats = privacy.data_stats(store)
    assert stats.consent_enabled and stats.recordings == 1 and stats.reviewed_segments == 2
    assert (stats.examples, stats.corrections, stats.unchanged) == (2, 1, 1)
    assert stats.rejections == {"unreviewed": 1}
    assert json.dumps(stats.to_json())


def _make_traces(store: Store, tiro_home: Path, word: str) -> dict:
    """A recording with text, edits, review signals, snippets, owned media, cache, logs,
    and a model version trained on it. Returns the needles to search for afterwards."""
    media = tiro_home / "recordings" / f"{word}.wav"
    media.parent.mkdir(exist_ok=True)
    media_bytes = os.urandom(4096)
    media.write_bytes(media_bytes)
    texts = [f"the {word} budget meeting", f"we talked about {word} again"]
    real_sha = hashlib.sha256(media_bytes).hexdigest()
    rid, tid, ids = add_transcript(store, texts, name=f"{word}.wav", path=media, sha256=real_sha)
    store.write(
        lambda c: c.execute("UPDATE recordings SET owned = 1 WHERE id = ?", (rid,))
    ).result()
    draft = f"the {word} budgets meeting draft"
    store.apply_edit(tid, TextEdit(ids[0], texts[0], draft)).result()
    final = f"The {word.title()} budget meeting."
    store.apply_edit(tid, TextEdit(ids[0], draft, final)).result()
    store.mark_verified(tid).result()
    snippet_bytes = [os.urandom(3000) for _ in ids]
    for sid, data in zip(ids, snippet_bytes, strict=True):
        give_snippet(store, sid, data)
    sha = store.recording(rid).sha256
    assert file_digest(media) == sha  # remembered with its path, as import and capture do
    cached = cache_dir() / "waveforms" / f"{sha}.peaks"
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(media_bytes[:1000])
    logging.getLogger("tiro.test").warning("careless component quoted: %s", texts[1])

    def trained_on_it(conn: sqlite3.Connection) -> None:
        run = conn.execute(
            "INSERT INTO training_runs (started_at, status) VALUES ('now', 'promoted')"
        ).lastrowid
        conn.execute(
            "INSERT INTO training_examples VALUES (?, ?, ?, ?, 'train')",
            (run, f"example-{rid}", rid, ids[0]),
        )
        conn.execute(
            "INSERT INTO model_versions (version, kind, training_run_id, created_at, updated_at) "
            "VALUES (?, 'personal', ?, 'now', 'now')",
            (f"personal-{rid}", run),
        )

    store.write(trained_on_it).result()
    needles = [t.encode() for t in (*texts, draft, final)] + [word.encode()]
    needles += [media_bytes[:64], media_bytes[-64:]]
    needles += [b[:64] for b in snippet_bytes] + [b[-64:] for b in snippet_bytes]
    return {"rid": rid, "tid": tid, "needles": needles, "media": media, "model": f"personal-{rid}"}


@pytest.fixture
def log_file(tiro_home):
    handler = logging.FileHandler(logs_dir() / "tiro.log", encoding="utf-8")
    root = logging.getLogger()
    root.addHandler(handler)
    yield logs_dir() / "tiro.log"
    root.removeHandler(handler)
    handler.close()


def test_deleting_a_recording_leaves_none_of_its_text_or_audio_under_tiro_home(
    store, tiro_home, log_file
):
    store.set_consent(True, "1").result()
    gone = _make_traces(store, tiro_home, "zanzibarquux")
    kept = _make_traces(store, tiro_home, "kilimanjarox")
    logging.getLogger("tiro.test").warning("an unrelated line that must stay")
    assert found_anywhere(tiro_home, gone["needles"])  # the traces are really there

    report = store.delete_recordings([gone["rid"]]).result()

    assert found_anywhere(tiro_home, gone["needles"]) == []
    assert report.recordings == 1 and report.transcripts == 1 and report.segments == 2
    assert report.snippet_files == 2 and report.media_files == 1 and report.cache_entries == 2
    assert report.log_lines_scrubbed == 1 and report.models_marked == [gone["model"]]
    # the other recording is untouched and still works
    assert len(found_anywhere(tiro_home, kept["needles"])) >= len(kept["needles"]) - 2
    assert [e.recording.id for e in store.library("kilimanjarox")] == [kept["rid"]]
    assert store.library("zanzibarquux") == []
    assert [e.recording_id for e in build_examples(store).examples] == [kept["rid"]] * 2
    marked = store.read(
        lambda c: dict(c.execute("SELECT version, trained_on_deleted_data FROM model_versions"))
    )
    assert marked == {gone["model"]: 1, kept["model"]: 0}
    assert store.read(lambda c: c.execute("PRAGMA integrity_check").fetchone()[0]) == "ok"
    log_text = log_file.read_text()
    assert "an unrelated line that must stay" in log_text and "kilimanjarox" in log_text
    logging.getLogger("tiro.test").warning("the log still works after scrubbing")
    assert "still works" in log_file.read_text()


def test_delete_all_removes_every_recording_and_damaged_copies(store, tiro_home, log_file):
    store.set_consent(True, "1").result()
    first = _make_traces(store, tiro_home, "zanzibarquux")
    second = _make_traces(store, tiro_home, "kilimanjarox")
    damaged = tiro_home / "tiro.sqlite.corrupt-20240101T000000Z"
    damaged.write_bytes(b"old damaged copy mentioning zanzibarquux")
    report = store.delete_recordings().result()
    assert report.recordings == 2 and report.corrupt_copies_removed == 1
    assert found_anywhere(tiro_home, first["needles"] + second["needles"]) == []
    stats = store.stats()
    assert (stats.recordings, stats.segments, stats.edits, stats.snippets) == (0, 0, 0, 0)
    assert store.consent().enabled  # a setting, not data


def test_deleting_an_unknown_recording_is_a_clear_error(store):
    with pytest.raises(NotFoundError):
        store.delete_recordings([77]).result()
