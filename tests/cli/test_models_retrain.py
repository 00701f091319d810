"""``tiro models`` and ``tiro retrain`` from the command line (real store, no display)."""

from __future__ import annotations

import json
from pathlib import Path

from app.cli import main
from engine.bundle import CorrectionRule, DecodingDefaults, LexiconTerm, ModelBundle
from retrain.registry import Registry
from retrain.store import Store


def publish(version: str) -> None:
    draft = ModelBundle(
        version="",
        kind="personal",
        directory=None,
        lexicon=(LexiconTerm("Kubectl", 3),),
        rules=(CorrectionRule(("cube", "control"), "kubectl", 3, 1.0),),
        decoding=DecodingDefaults(prompt="We use kubectl."),
        lineage={"examples_hash": "abc"},
    )
    with Store.open(auto_snippets=False) as store:
        Registry(store).publish(draft, version=version)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_models_list_show_rollback_use_base(tiro_home: Path, capsys) -> None:
    status, out, _ = run(capsys, "models", "list", "--json")
    assert status == 0 and json.loads(out) == {"in_use": "factory", "versions": []}
    publish("v1")
    publish("v2")
    status, out, _ = run(capsys, "models", "list", "--json")
    listing = json.loads(out)
    assert listing["in_use"] == "v2"
    assert [v["version"] for v in listing["versions"]] == ["v2", "v1"]
    status, out, _ = run(capsys, "models", "list")
    assert status == 0 and "* v2" in out and "factory" in out
    status, out, _ = run(capsys, "models", "show", "v1", "--json")
    shown = json.loads(out)
    assert shown["lexicon"] == [{"text": "Kubectl", "evidence": 3}]
    assert shown["rules"][0]["target"] == "kubectl" and shown["prompt"] == "We use kubectl."
    status, out, _ = run(capsys, "models", "show", "v1")
    assert status == 0 and "cube control" in out and "examples_hash" in out
    status, out, _ = run(capsys, "models", "rollback")
    assert status == 0 and out.strip() == "model in use: v1"
    status, out, _ = run(capsys, "models", "use-base")
    assert status == 0 and out.strip() == "model in use: factory"
    with Store.open(auto_snippets=False) as store:
        assert Registry(store).champion() == "factory"


def test_models_show_unknown_version_is_one_error_line(tiro_home: Path, capsys) -> None:
    status, out, err = run(capsys, "models", "show", "nope")
    assert status == 2 and out == ""
    assert err.startswith("tiro: error: there is no model version nope") and err.count("\n") == 1


def test_retrain_with_nothing_learned_is_insufficient_evidence(tiro_home: Path, capsys) -> None:
    status, out, _ = run(capsys, "retrain", "--json")
    assert status == 0
    report = json.loads(out)
    assert report["gate"]["decision"] == "insufficient evidence"
    assert report["champion_after"] == report["champion_before"] == "factory"
    assert report["gate"]["reasons"] == ["learning is off: the user has not opted in"]
    status, out, _ = run(capsys, "retrain")
    assert status == 0 and "decision: insufficient evidence" in out
