"""Monitoring 1 on crafted registry rows: what the monitor says when it cannot re-evaluate.

The re-evaluation itself (real model, stored held-out snippets) is in test_rollback_e2e.
"""

from __future__ import annotations

import pytest
from monitorkit import add_version, set_champion

from retrain.environment import differences, fingerprint
from retrain.monitor import run_monitor
from retrain.monitor.run import MonitorConfig
from retrain.registry import FACTORY, Registry
from retrain.store import Store


@pytest.fixture
def store(tiro_home):
    with Store.open(auto_snippets=False) as s:
        yield s


def test_fingerprint_names_libraries_and_the_base_model() -> None:
    current = fingerprint()
    assert {"ctranslate2", "pywhispercpp", "faster-whisper", "base_model", "python"} <= set(current)
    assert current["base_model"].startswith("base-")
    assert differences(current, dict(current)) == []
    assert differences({**current, "numpy": "1.0"}, current) == [
        f"numpy: 1.0 -> {current['numpy']}"
    ]


def test_without_held_out_audio_the_change_is_flagged_and_the_champion_stays(
    store: Store,
) -> None:
    add_version(store, "p-old", lineage={"environment": {**fingerprint(), "numpy": "1.26.0"}})
    set_champion(store, "p-old")
    report = run_monitor(store)  # the real re-evaluation: no training run, no snippets
    deps = report.dependencies
    assert deps.action == "unverifiable" and deps.changed == (
        f"numpy: 1.26.0 -> {fingerprint()['numpy']}",
    )
    assert Registry(store).champion() == "p-old"
    assert any("could not be re-evaluated" in f for f in report.flags)
    assert any("libraries or model files changed" in f for f in report.flags)


def test_a_failing_re_evaluation_does_not_stop_the_monitor(store: Store) -> None:
    add_version(store, "p-old", lineage={"environment": {**fingerprint(), "av": "9.0"}})
    set_champion(store, "p-old")

    def broken(_store, _version):
        raise RuntimeError("the bundle does not load")

    report = run_monitor(store, config=MonitorConfig(evaluate=broken))
    assert report.dependencies.action == "unverifiable"
    assert "the bundle does not load" in report.dependencies.detail
    assert Registry(store).champion() == "p-old"


def test_unrecorded_versions_and_the_factory_model(store: Store) -> None:
    assert run_monitor(store).dependencies.action == "none"
    add_version(store, "p-legacy")  # published before versions recorded their environment
    set_champion(store, "p-legacy")
    deps = run_monitor(store).dependencies
    assert deps.action == "unrecorded" and deps.current == fingerprint()
    Registry(store).use_base()
    # the factory model serves: a change since the last report is noted, nothing rolls back
    report = run_monitor(store, config=MonitorConfig(environment={**fingerprint(), "av": "99"}))
    assert report.champion_version == FACTORY
    assert report.dependencies.changed == (f"av: {fingerprint()['av']} -> 99",)
    assert report.dependencies.action == "none"
