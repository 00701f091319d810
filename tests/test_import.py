"""``tiro import``: the real model transcribes real speech into the store."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from app.cli import main
from engine.audio import loudness_dbfs
from engine.corpus import read_manifest
from engine.scoring import corpus_wer
from retrain.store import Store


@pytest.fixture(scope="module")
def clips(general_corpus: Path) -> list:
    items = read_manifest(general_corpus)
    return [i for i in items if i.name in ("harvard_birch_canoe.wav", "timit_ldc93s1_8k.ogg")]


def test_import_transcribes_each_file_into_the_store(tiro_home, capsys, clips):
    status = main(["import", *(str(c.path) for c in clips)])
    out, err = capsys.readouterr()
    assert status == 0, err
    ids = [int(line) for line in out.split()]
    assert len(ids) == len(clips)
    with Store.open(auto_snippets=False) as store:
        hypotheses = []
        for transcript_id, clip in zip(ids, clips, strict=True):
            view = store.load_transcript(transcript_id)
            assert view.transcript.status == "done" and view.transcript.finished_at
            assert view.recording.name == clip.name and view.recording.sha256
            assert view.recording.duration == pytest.approx(clip.seconds, abs=0.1)
            assert view.segments and all(s.words for s in view.segments)
            assert all(0.0 <= w.probability <= 1.0 for s in view.segments for w in s.words)
            assert view.transcript.model_version and view.transcript.backend
            # the monitor's input-drift check compares recordings' loudness
            assert view.recording.loudness_dbfs == pytest.approx(loudness_dbfs(clip.path))
            hypotheses.append(" ".join(s.text for s in view.segments))
        assert corpus_wer([c.text for c in clips], hypotheses) < 0.35
        runs = store.read(
            lambda c: c.execute(
                "SELECT transcript_id, rtf, audio_seconds FROM transcription_runs"
            ).fetchall()
        )
        assert sorted(r[0] for r in runs) == sorted(ids) and all(r[1] > 0 for r in runs)


def test_an_unreadable_file_is_one_error_line_and_no_transcript(tiro_home, tmp_path, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt " + b"\x00" * 64)
    status = main(["import", str(bad)])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.startswith(f"tiro: error: {bad}: ") and err.count("\n") == 1
    with Store.open(auto_snippets=False) as store:
        assert store.stats().transcripts == 0


def test_importing_the_same_content_twice_reuses_the_recording(tiro_home, tmp_path, capsys, clips):
    first = clips[0].path
    copy = tmp_path / "copy.wav"
    shutil.copyfile(first, copy)
    assert main(["import", str(first), str(copy)]) == 0
    capsys.readouterr()
    with Store.open(auto_snippets=False) as store:
        (entry,) = store.library()
        assert len(entry.transcripts) == 2 and entry.recording.name == "copy.wav"


def test_export_an_imported_and_edited_transcript(tiro_home, tmp_path, capsys, clips):
    from retrain.store import TextEdit

    assert main(["import", str(clips[0].path)]) == 0
    transcript_id = int(capsys.readouterr().out.split()[0])
    with Store.open(auto_snippets=False) as store:
        first = store.load_transcript(transcript_id).segments[0]
        store.apply_edit(transcript_id, TextEdit(first.id, first.text, "Edited by hand.")).result()
    assert main(["transcripts", "export", str(transcript_id), "--format", "txt"]) == 0
    assert capsys.readouterr().out.startswith("Edited by hand.")
    out = tmp_path / "t.srt"
    assert (
        main(["transcripts", "export", str(transcript_id), "--format", "srt", "-o", str(out)]) == 0
    )
    assert "00:00:0" in out.read_text() and "Edited by hand." in out.read_text()
    with Store.open(auto_snippets=False) as store:
        signals = store.read(
            lambda c: c.execute("SELECT kind, detail_json FROM review_signals").fetchall()
        )
    assert [kind for kind, _ in signals] == ["exported", "exported"]
    assert main(["transcripts", "export", "999", "--format", "txt"]) == 2
    assert capsys.readouterr().err.startswith("tiro: error: transcript 999 does not exist")


def test_ctrl_c_stops_the_import_and_keeps_the_transcript_marked_cancelled(
    tiro_home, tmp_path, clips, general_corpus: Path
) -> None:
    """The real command in a subprocess, a real SIGINT: the long file's transcript is kept
    as far as it got, marked cancelled, and the file after it is never started."""
    import os
    import signal
    import subprocess
    import sys

    import numpy as np
    from media_factory import write_audio

    from engine.audio import decode

    long_input = tmp_path / "long.flac"  # about 22 minutes: still running at 8 s
    write_audio(
        np.tile(decode(general_corpus / "jfk_inaugural_44k_stereo.flac"), 120),
        long_input,
        codec="flac",
    )
    tiro = Path(sys.executable).parent / "tiro"
    proc = subprocess.Popen(
        [str(tiro), "import", str(long_input), str(clips[0].path)],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(8)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().startswith("tiro: error: interrupted") and out == ""
    with Store.open(auto_snippets=False) as store:
        statuses = store.read(lambda c: c.execute("SELECT status FROM transcripts").fetchall())
    assert [s[0] for s in statuses] == ["cancelled"]
