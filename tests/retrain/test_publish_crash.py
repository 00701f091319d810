"""Atomic publish under SIGKILL: 20+ trials of a process publishing versions as fast as it
can, killed at a random moment. Afterwards the database passes ``PRAGMA integrity_check``,
the champion is the last acknowledged version or the one being published, and it loads
and transcribes real speech."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import engine
from engine.corpus import reference_set
from retrain.registry import FACTORY, Registry, personal_dir
from retrain.store import Store

CHILD = Path(__file__).resolve().parent.parent / "registrychild.py"
TRIALS = 20


def test_publish_survives_sigkill_at_random_points(tiro_home: Path) -> None:
    rng = random.Random(20240611)
    clip = reference_set()[0].path
    acknowledged: list[str] = []
    outcomes = {"last acknowledged": 0, "in flight": 0}
    for trial in range(TRIALS):
        child = subprocess.Popen(
            [sys.executable, str(CHILD), "publish", f"v{trial:02d}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TIRO_HOME": str(tiro_home)},
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.02, 0.6))
        child.send_signal(signal.SIGKILL)
        out, err = child.communicate(timeout=30)
        assert "Traceback" not in err, err
        acknowledged += [line for line in out.split() if line.startswith("v")]

        conn = sqlite3.connect(tiro_home / "tiro.sqlite")
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",), trial
        finally:
            conn.close()
        with Store.open(auto_snippets=False) as store:
            registry = Registry(store)
            champion = registry.champion()
            last = acknowledged[-1] if acknowledged else FACTORY
            if champion == last:
                outcomes["last acknowledged"] += 1
            else:  # committed but killed before it could say so: the very next version
                assert champion not in acknowledged, (trial, champion, last)
                assert last == FACTORY or champion > last, (trial, champion, last)
                outcomes["in flight"] += 1
                acknowledged.append(champion)
            if champion != FACTORY:
                bundle = registry.bundle_of(champion)  # checksums verified
                assert bundle.decoding.prompt and bundle.rules
                segments, info = engine.transcribe(clip, bundle=bundle.directory)
                text = " ".join(s.text for s in segments)
                assert info.model_version == champion and not info.notices
                assert "country" in text.lower()
            registry.sweep()  # the next run's housekeeping: no half-written directory stays
            assert not any(p.name.startswith(".tmp-") for p in personal_dir().iterdir())
    assert len(acknowledged) >= TRIALS  # every trial got some publishes through
    print(outcomes)
