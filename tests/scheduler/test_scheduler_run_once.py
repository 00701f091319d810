"""`tiro scheduler run-once` on a prepared database promotes a model when it should.

A simulated user corrects the 40 ``train`` clips of the user-sim corpus through the store
API the editor uses (``tests/usersim.py``: real model, real audio) and opts in. Then the
command runs as a user would run it: with the default trigger (50 new examples) it only
monitors; with the trigger at 40 the monitor says retraining is due, and the real
pipeline runs in its own process and promotes a personalized model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from retrain.finetune.availability import DISABLE_ENV
from retrain.registry import FACTORY, Registry
from retrain.scheduler import job_history
from retrain.store import Store


@pytest.fixture
def user_home(user_home: Path, child_path: None, monkeypatch) -> Path:
    # The scheduler's round is under test here, not fine-tuning: the pipeline process runs
    # its tier-1 candidates only (tests/retrain/test_pipeline_finetune.py runs fine-tuning
    # in the pipeline). The variable reaches the pipeline's own process through its env.
    monkeypatch.setenv(DISABLE_ENV, "1")
    return user_home


def run_once_json(capsys, *args: str) -> dict:
    capsys.readouterr()
    status = main(["scheduler", "run-once", "--json", *args])
    out = capsys.readouterr().out
    assert status == 0, out
    return json.loads(out)


def test_run_once_promotes_a_model_when_retraining_is_due(user_home: Path, capsys) -> None:
    # 40 new examples, default threshold 50: the monitor runs, nothing trains
    first = run_once_json(capsys)
    assert first["monitor"]["outcome"] == "ok"
    assert first["monitor"]["trigger"]["retrain"] is False
    assert first["monitor"]["trigger"]["new_examples"] == 40
    assert first["pipeline"] is None and first["pipeline_gate"]["run"] is False
    assert "threshold 50" in first["pipeline_gate"]["reasons"][0]

    second = run_once_json(capsys, "--min-new-examples", "40")
    assert second["monitor"]["trigger"]["retrain"] is True
    pipeline = second["pipeline"]
    assert pipeline["outcome"] == "ok", pipeline["message"]
    assert pipeline["promoted"] is True, pipeline["report"]["gate"]
    assert pipeline["champion_before"] == FACTORY
    assert pipeline["champion_after"] != FACTORY
    assert pipeline["message"].startswith(f"promoted {pipeline['champion_after']}")
    with Store.open(auto_snippets=False) as store:
        assert Registry(store).champion() == pipeline["champion_after"]
        jobs = [(j.job, j.outcome) for j in job_history(store)]
        runs = store.read(
            lambda c: c.execute("SELECT status, champion_after FROM training_runs").fetchall()
        )
    assert jobs == [("pipeline", "ok"), ("monitor", "ok"), ("monitor", "ok")]
    assert runs == [("promoted", pipeline["champion_after"])]

    # right after a run, the interval holds the next one back even though it is "due"
    third = run_once_json(capsys, "--min-new-examples", "0")
    assert third["pipeline"] is None
    assert "at most one every" in third["pipeline_gate"]["reasons"][0]
