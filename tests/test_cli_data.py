"""``tiro data`` and ``tiro transcripts list``, run through the real CLI entry point."""

from __future__ import annotations

import json
import zipfile

import pytest
from storekit import add_transcript
from test_contract import give_snippet

from app.cli import main
from retrain.store import Store, TextEdit


@pytest.fixture
def filled(tiro_home):
    with Store.open(auto_snippets=False) as store:
        store.set_consent(True, "1").result()
        rid, tid, ids = add_transcript(store, ["we use cooper netties", "all good"], name="a.wav")
        store.apply_edit(tid, TextEdit(ids[0], "we use cooper netties", "we use Kubernetes"))
        store.mark_verified(tid).result()
        for sid in ids:
            give_snippet(store, sid)
        other = add_transcript(store, ["something else entirely"], name="b.wav")
    return {"rid": rid, "tid": tid, "other": other}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_consent_on_and_off(tiro_home, capsys):
    status, out, _ = run(capsys, "data", "consent", "on")
    assert status == 0 and "Learning is on" in out and str(tiro_home) in out
    with Store.open(auto_snippets=False) as store:
        assert store.consent().enabled
    status, out, _ = run(capsys, "data", "consent", "off")
    assert status == 0 and "off" in out
    with Store.open(auto_snippets=False) as store:
        assert not store.consent().enabled


def test_stats_in_text_and_json(filled, capsys):
    status, out, _ = run(capsys, "data", "stats")
    assert status == 0 and "learning examples" in out and "unreviewed" in out
    status, out, _ = run(capsys, "data", "stats", "--json")
    stats = json.loads(out)
    assert stats["recordings"] == 2 and stats["reviewed_segments"] == 2
    assert stats["examples"] == 2 and stats["corrections"] == 1
    assert stats["rejections"] == {"unreviewed": 1}


def test_export(filled, tmp_path, capsys):
    status, out, _ = run(capsys, "data", "export", str(tmp_path / "out.zip"))
    assert status == 0 and "2 examples" in out
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        assert len(json.loads(archive.read("examples.json"))["examples"]) == 2


def test_delete_one_recording_then_all(filled, capsys):
    status, out, _ = run(capsys, "data", "delete", "--recording", str(filled["rid"]))
    assert status == 0 and "deleted 1 recording(s)" in out
    _, out, _ = run(capsys, "transcripts", "list", "--json")
    assert [row["file"] for row in json.loads(out)] == ["b.wav"]
    status, out, _ = run(capsys, "data", "delete", "--all")
    assert status == 0 and "deleted 1 recording(s)" in out
    _, out, _ = run(capsys, "transcripts", "list")
    assert "no transcripts yet" in out


def test_delete_unknown_recording_is_one_error_line(filled, capsys):
    status, out, err = run(capsys, "data", "delete", "--recording", "999")
    assert status == 2 and out == ""
    assert err.startswith("tiro: error: recording 999 does not exist") and err.count("\n") == 1


def test_transcripts_list(filled, capsys):
    status, out, _ = run(capsys, "transcripts", "list")
    lines = out.splitlines()
    assert status == 0 and lines[0].split()[:3] == ["ID", "REC", "STATUS"]
    assert "a.wav" in out and "b.wav" in out
    _, out, _ = run(capsys, "transcripts", "list", "--json")
    rows = json.loads(out)
    assert {r["id"] for r in rows} == {filled["tid"], filled["other"][1]}
    first = next(r for r in rows if r["id"] == filled["tid"])
    assert (first["segments"], first["reviewed"], first["status"]) == (2, 2, "done")


def test_a_damaged_database_is_reported_once_and_replaced(tiro_home, capsys):
    (tiro_home / "tiro.sqlite").write_bytes(b"garbage" * 1000)
    status, out, err = run(capsys, "transcripts", "list")
    assert status == 0 and "no transcripts yet" in out
    assert err.startswith("tiro: notice: Tiro's database was damaged")
