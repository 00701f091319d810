"""What a killed learning run staged (the fine-tuning worker's copy of the user's audio,
candidate weights trained on it) is removed by the next run and by a privacy delete;
a live run's staging is never touched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine.paths import cache_dir
from retrain import staging
from retrain.store import Store


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _staged(kind: str, owner: int, secret: bytes) -> Path:
    folder = cache_dir() / kind / f"{owner}-0123456789ab"
    folder.mkdir(parents=True)
    (folder / "audio.npz").write_bytes(secret)
    return folder


def test_only_folders_of_runs_that_are_gone_are_removed(tiro_home: Path) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        orphan_job = _staged("finetune-jobs", _dead_pid(), b"audio of a killed run")
        orphan_candidate = _staged("finetune-candidates", _dead_pid(), b"weights")
        other_run = _staged("finetune-jobs", live.pid, b"audio of a running run")
        this_run = staging.staging_folder("finetune-candidates")
        this_run.mkdir(parents=True)
        older_version = cache_dir() / "finetune-jobs" / "3fa9c2d41b7e"  # named without a pid
        older_version.mkdir()

        assert staging.remove_orphans() == 3

        assert not orphan_job.exists() and not orphan_candidate.exists()
        assert not older_version.exists()
        assert other_run.exists() and this_run.exists()
    finally:
        live.kill()
        live.wait()


def test_a_learning_run_removes_what_a_killed_run_staged(tiro_home: Path) -> None:
    from retrain.pipeline.run import run_pipeline

    orphan = _staged("finetune-jobs", _dead_pid(), b"audio of a killed run")
    with Store.open(auto_snippets=False) as store:
        report = run_pipeline(store)  # learning is off: the run ends early, after the sweep
    assert report.decision == "insufficient evidence"
    assert not orphan.exists()


def test_a_privacy_delete_removes_what_a_killed_run_staged(tiro_home: Path) -> None:
    from storekit import add_transcript

    with Store.open(auto_snippets=False) as store:
        rid, _tid, _ids = add_transcript(store, ["a private sentence"], name="private.wav")
        orphan = _staged("finetune-candidates", _dead_pid(), json.dumps([rid]).encode())
        mine = staging.staging_folder("finetune-jobs")
        mine.mkdir(parents=True)
        store.delete_recordings([rid]).result()
    assert not orphan.exists()
    assert mine.exists()  # this process is alive: a running run removes its own
