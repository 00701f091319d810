"""Rollbacks end to end: the real model on real clips of the user-sim corpus, a real store.

A simulated user transcribes three short clips with the factory model and corrects them
to their references (the store is built once per session and copied into each test's
TIRO_HOME). Then a deliberately harmful personalized model is published — correction
rules that rewrite common words into nonsense — and:

- the canary: the next clips are transcribed by it and corrected by the user; the
  monitor sees the field edit rate jump, rolls back, and the next job uses the factory
  model again;
- Monitoring 1: the harmful model records other library versions than the running ones;
  the monitor re-runs its held-out evaluation (decoding the stored snippets afresh),
  finds it worse than the factory model and rolls back. A harmless model in the same
  situation is verified once and then trusted.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from homes import building_home, copy_home
from usersim import correct_clip

from engine.bundle import CorrectionRule, ModelBundle
from engine.corpus import read_manifest
from retrain.environment import fingerprint
from retrain.monitor import CanaryConfig, run_monitor
from retrain.monitor.canary import PAIRED, UNPAIRED
from retrain.monitor.run import MonitorConfig
from retrain.privacy import CONSENT_TEXT_VERSION
from retrain.registry import FACTORY, Registry
from retrain.scheduler.round import monitor_step
from retrain.store import Store

BAD_RULES = tuple(
    CorrectionRule((word,), target, support=3)
    for word, target in (
        ("the", "zebra"),
        ("and", "quark"),
        ("to", "walrus"),
        ("we", "marmalade"),
        ("i", "obelisk"),
        ("a", "fjord"),
        ("is", "gnome"),
        ("of", "kazoo"),
        ("for", "pelican"),
        ("on", "tundra"),
        ("so", "banjo"),
        ("can", "yeti"),
        ("me", "xenon"),
        ("be", "quasar"),
    )
)


def short_clips(corpus: Path, split: str, n: int) -> list:
    items = [i for i in read_manifest(corpus) if i.split == split]
    return sorted(items, key=lambda i: i.seconds)[:n]


@pytest.fixture(scope="session")
def reviewed_home(tmp_path_factory, user_sim_corpus: Path, prepared_models_dir: Path) -> Path:
    home = tmp_path_factory.mktemp("monitor-home")
    with building_home(home, prepared_models_dir), Store.open(auto_snippets=False) as store:
        for item in short_clips(user_sim_corpus, "heldout_control", 3):
            correct_clip(store, item)
        store.set_consent(True, CONSENT_TEXT_VERSION).result()
        store.capture_snippets().result()
    return home


@pytest.fixture
def home(reviewed_home: Path, tiro_home: Path) -> Path:
    return copy_home(reviewed_home, tiro_home)


def publish(store: Store, rules=(), environment=None, training_run_id=None) -> str:
    lineage = {"note": "crafted for a test"}
    if environment is not None:
        lineage["environment"] = environment
    draft = ModelBundle(version="", kind="personal", directory=None, rules=rules, lineage=lineage)
    return Registry(store).publish(draft, training_run_id=training_run_id).version


def transcript_version(store: Store, recording_id: int) -> str:
    return store.read(
        lambda c: c.execute(
            "SELECT model_version FROM transcripts WHERE recording_id = ? ORDER BY id DESC",
            (recording_id,),
        ).fetchone()
    )[0]


def test_canary_rolls_back_a_harmful_model(home: Path, user_sim_corpus: Path) -> None:
    config = MonitorConfig(canary=CanaryConfig(segments=3, min_predecessor_words=30))
    # ordinary speech after the three the fixture corrected, then one more clip
    clips = short_clips(user_sim_corpus, "heldout_control", 6)[3:]
    clips.append(short_clips(user_sim_corpus, "heldout", 1)[0])
    with Store.open(auto_snippets=False) as store:
        bad = publish(store, BAD_RULES)
        assert Registry(store).champion() == bad
        first = correct_clip(store, clips[0])
        assert transcript_version(store, first) == bad
        pending = run_monitor(store, config=config)
        assert pending.canary is not None and pending.canary.state == "pending"
        assert Registry(store).champion() == bad
        for item in clips[1:3]:
            correct_clip(store, item)
        store.capture_snippets().result()  # the user opted in: reviewed audio is kept
        report = run_monitor(store, config=config)
        canary = report.canary
        assert canary is not None and canary.rolled_back, canary
        print(canary)  # the figures, for `pytest -s`
        # the factory model decoded the same three snippets again (paired comparison)
        assert canary.test == PAIRED
        assert canary.predecessor_words == canary.version_words >= 30
        assert canary.version_rate > canary.predecessor_rate + 0.1
        assert canary.p_value < 0.05
        assert canary.predecessor == FACTORY
        assert Registry(store).champion() == FACTORY
        assert report.champion_version == FACTORY
        assert report.events and report.events[0].kind == "rollback"
        rates = {v.version: v.rate for v in report.version_rates}
        assert rates[bad] > rates[FACTORY]
        message = store.read(
            lambda c: c.execute("SELECT message FROM job_runs WHERE job = 'canary'").fetchone()
        )[0]
        assert bad in message and "field edit rate" in message
        # the next job is transcribed by the factory model again
        after = correct_clip(store, clips[3])
        assert transcript_version(store, after).startswith("base")


def test_canary_keeps_a_harmless_model_and_decides_once(home: Path, user_sim_corpus: Path) -> None:
    config = CanaryConfig(segments=3, min_predecessor_words=30)
    with Store.open(auto_snippets=False) as store:
        harmless = publish(store, ())  # no rules, no prompt: serves like the factory model
        for item in short_clips(user_sim_corpus, "heldout_control", 6)[3:]:
            correct_clip(store, item)
        store.capture_snippets().result()
        canary = run_monitor(store, config=MonitorConfig(canary=config)).canary
        assert canary is not None and canary.state == "passed" and not canary.rolled_back
        assert canary.test == PAIRED and canary.p_value > 0.05
        assert canary.version_errors == canary.predecessor_errors  # same decoder, same audio

        def must_not_decode(*_args):
            raise AssertionError("a decided canary is not decoded again")

        again = run_monitor(
            store, config=MonitorConfig(canary=replace(config, redecode=must_not_decode))
        ).canary
        assert again is not None and again.state == "passed" and again.p_value == canary.p_value
        assert Registry(store).champion() == harmless


def test_canary_without_audio_compares_with_the_predecessors_recent_segments(
    home: Path, user_sim_corpus: Path
) -> None:
    config = MonitorConfig(canary=CanaryConfig(segments=3, min_predecessor_words=30))
    with Store.open(auto_snippets=False) as store:
        bad = publish(store, BAD_RULES)
        for item in short_clips(user_sim_corpus, "heldout", 3):
            correct_clip(store, item)  # no snippets captured for these
        canary = run_monitor(store, config=config).canary
        assert canary is not None and canary.rolled_back and canary.test == UNPAIRED, canary
        print(canary)
        assert canary.version == bad and canary.predecessor_words >= 30
        assert Registry(store).champion() == FACTORY


def heldout_run(store: Store) -> int:
    """A training run whose held-out examples are the three reviewed clips."""
    from retrain.registry import utc_now

    segments = store.read(
        lambda c: [r[0] for r in c.execute("SELECT segment_id FROM snippets ORDER BY segment_id")]
    )
    assert len(segments) == 3

    def job(conn) -> int:
        run = conn.execute(
            "INSERT INTO training_runs (started_at, finished_at, status) VALUES (?, ?, 'promoted')",
            (utc_now(), utc_now()),
        ).lastrowid
        for sid in segments:
            recording = conn.execute(
                "SELECT t.recording_id FROM segments s "
                "JOIN transcripts t ON t.id = s.transcript_id WHERE s.id = ?",
                (sid,),
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO training_examples VALUES (?, ?, ?, ?, 'heldout')",
                (run, f"ex{sid}", recording, sid),
            )
        return int(run)

    return store.write(job).result()


def old_environment() -> dict[str, str]:
    return {**fingerprint(), "ctranslate2": "3.0.0"}


def test_dependency_change_reevaluates_and_rolls_back_a_worse_champion(home: Path) -> None:
    with Store.open(auto_snippets=False) as store:
        bad = publish(store, BAD_RULES, old_environment(), heldout_run(store))
        report = run_monitor(store)
        deps = report.dependencies
        print(deps)
        assert deps.changed == (f"ctranslate2: 3.0.0 -> {fingerprint()['ctranslate2']}",)
        assert deps.action == "rolled_back", deps
        assert deps.words >= 30 and deps.champion_wer > deps.factory_wer
        assert Registry(store).champion() == FACTORY
        assert Registry(store).version(bad).status == "rolled_back"
        assert report.champion_version == FACTORY
        assert report.events[0].kind == "rollback" and bad in report.events[0].message
        outcome = store.read(
            lambda c: c.execute("SELECT outcome FROM job_runs WHERE job = 'monitor'").fetchone()
        )
        assert outcome == ("rolled_back",)


def test_a_cancelled_monitor_round_stops_its_decoding_and_changes_nothing(home: Path) -> None:
    """The app quitting while the monitor re-evaluates the champion (real decoding)."""
    cancel = threading.Event()
    cancel.set()
    with Store.open(auto_snippets=False) as store:
        bad = publish(store, BAD_RULES, old_environment(), heldout_run(store))
        step = monitor_step(store, cancel=cancel)
        assert step.outcome == "cancelled", step.message
        assert Registry(store).champion() == bad  # not rolled back on half an evaluation
        outcome = store.read(
            lambda c: c.execute("SELECT outcome FROM job_runs WHERE job = 'monitor'").fetchone()
        )
        assert outcome == ("cancelled",)
        assert run_monitor(store).dependencies.action == "rolled_back"  # the next round acts


def test_dependency_change_verifies_a_harmless_champion_once(home: Path) -> None:
    with Store.open(auto_snippets=False) as store:
        good = publish(store, (), old_environment(), heldout_run(store))
        first = run_monitor(store)
        assert first.dependencies.action == "verified", first.dependencies
        assert first.dependencies.champion_wer == pytest.approx(first.dependencies.factory_wer)
        assert Registry(store).champion() == good
        assert any("libraries or model files changed" in f for f in first.flags)

        def must_not_decode(_store, _version):
            raise AssertionError("a verified champion is not evaluated again")

        second = run_monitor(store, config=MonitorConfig(evaluate=must_not_decode))
        assert second.dependencies.action == "verified"
        assert Registry(store).champion() == good


def test_published_versions_record_their_environment(home: Path) -> None:
    with Store.open(auto_snippets=False) as store:
        version = publish(store)
        assert Registry(store).version(version).lineage["environment"] == fingerprint()
        assert run_monitor(store).dependencies.action == "none"
