"""The learning pipeline end to end: real model, real clips, real store.

A simulated user corrects the 40 ``train`` clips of the user-sim corpus through the
store API (as the editor does); each of its terms occurs in three of them, so a term
learned from two recordings can be checked on the third. The pipeline then runs for
real: snapshot, split, train, evaluate, gate, publish. The store is built once per
session and copied into each test's TIRO_HOME; so is the data folder after one learning
run (``promoted``), for the tests that start from a promoted champion.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from homes import building_home, copy_home
from usersim import correct_clip, link_decodes, sharing_decodes

from engine.corpus import read_manifest
from engine.paths import models_dir
from retrain.pipeline.decode import CachedDecoder, EngineDecoder
from retrain.pipeline.run import (
    PipelineCancelled,
    PipelineConfig,
    RunReport,
    default_trainers,
    run_pipeline,
)
from retrain.registry import FACTORY, Registry
from retrain.store import Store

# The default gate; tier-1 candidates only (the fine-tuned candidate has its own tests
# in test_pipeline_finetune.py, which keep these fast), and one round of the decoding-cost
# measurement instead of two (the lexicon prompt costs 4-6x, against 2x allowed).
SMALL = PipelineConfig(finetune_enabled=False, cost_rounds=1)


@dataclass(frozen=True)
class Promoted:
    home: Path  # the simulated user's data folder after the run; copy it, never modify it
    report: RunReport


@pytest.fixture(scope="module")
def promoted(
    tmp_path_factory, corrected_home: Path, prepared_models_dir: Path, shared_decodes: Path
) -> Promoted:
    """One learning run on the simulated user's corrections, shared by the tests below that
    start from its promoted champion (each copies the data folder into its own home)."""
    home = tmp_path_factory.mktemp("promoted-home")
    with building_home(home, prepared_models_dir):
        copy_home(corrected_home, home)
        with sharing_decodes(home, shared_decodes), Store.open(auto_snippets=False) as store:
            report = run_pipeline(store, SMALL)
    return Promoted(home, report)


@pytest.fixture
def promoted_home(promoted: Promoted, tiro_home: Path, shared_decodes: Path) -> Iterator[Path]:
    copy_home(promoted.home, tiro_home)
    with sharing_decodes(tiro_home, shared_decodes):
        yield tiro_home


def test_corrections_become_a_promoted_champion_that_serves_the_next_job(
    promoted: Promoted, promoted_home: Path, user_sim_corpus: Path
) -> None:
    report = promoted.report
    with Store.open(auto_snippets=False) as store:
        registry = Registry(store)
        assert report.decision == "promoted", report.reasons
        assert report.promoted_candidate in ("lexicon_rules", "rules")
        assert {c.name for c in report.candidates} == {"lexicon_rules", "rules"}
        assert all(c.decision.reasons for c in report.candidates)
        assert report.champion_before == FACTORY
        assert registry.champion() == report.champion_after != FACTORY
        # the model's decodes are timed apart from the learning (the decoding-cost
        # measurement always decodes afresh, so there are some even with a warm cache)
        assert report.transcription_decodes > 0
        assert 0 < report.transcription_seconds < report.seconds
        assert report.split == "cross_validation" and report.folds == 5
        winner = next(c for c in report.candidates if c.name == report.promoted_candidate)
        figures = winner.evidence_summary["heldout"]
        assert figures["candidate_wer"] < figures["champion_wer"]
        # every gate check is recorded, passed or not
        names = {c.name for c in winner.decision.checks}
        assert {"enough evidence", "held-out WER improves", "insertion rate"} <= names
        bundle = registry.serving_bundle().bundle
        assert bundle is not None and bundle.rules
        # the lexicon travels in the bundle only when it is prompted (else it would be)
        assert bool(bundle.lexicon) == (report.promoted_candidate == "lexicon_rules")
        assert bundle.lineage["examples_hash"] == report.examples_hash
        run = store.read(
            lambda c: c.execute(
                "SELECT status, champion_after, examples_hash FROM training_runs WHERE id = ?",
                (report.run_id,),
            ).fetchone()
        )
        assert run == ("promoted", report.champion_after, report.examples_hash)
        roles = store.read(
            lambda c: c.execute(
                "SELECT role, COUNT(*) FROM training_examples GROUP BY role"
            ).fetchall()
        )
        assert dict(roles)["train"] == report.corrections

        # Hot swap: the next import (no restart) is transcribed by the new champion and
        # the transcript records it.
        clip = next(i for i in read_manifest(user_sim_corpus) if i.split == "heldout")
        recording = correct_clip(store, clip)
        version = store.read(
            lambda c: c.execute(
                "SELECT t.model_version FROM transcripts t WHERE t.recording_id = ?",
                (recording,),
            ).fetchone()
        )[0]
        assert version == report.champion_after

        # Fallback: a champion whose files fail their checksum serves the factory model.
        manifest = Path(registry.version(report.champion_after).path) / "bundle.json"
        tampered = json.loads(manifest.read_text())
        tampered["lineage"]["examples_hash"] = "0" * 64  # the checksum no longer matches
        manifest.write_text(json.dumps(tampered))
        second = next(
            i for i in read_manifest(user_sim_corpus) if i.split == "heldout" and i != clip
        )
        recording = correct_clip(store, second)
        version = store.read(
            lambda c: c.execute(
                "SELECT model_version FROM transcripts WHERE recording_id = ?", (recording,)
            ).fetchone()
        )[0]
        assert version != report.champion_after and version.startswith("base")


def test_deleting_training_data_retires_the_model_at_the_next_run(
    promoted: Promoted, promoted_home: Path, shared_decodes: Path
) -> None:
    first = promoted.report
    assert first.decision == "promoted", first.reasons
    decodes = promoted_home / "cache" / "decodes"  # this test's own (usersim.sharing_decodes)
    with Store.open(auto_snippets=False) as store:
        recording = store.read(
            lambda c: c.execute("SELECT MIN(recording_id) FROM training_examples").fetchone()
        )[0]
        assert any(decodes.glob("*.json")), "the first run cached its decodes"
        store.delete_recordings([recording]).result()
        # the decode cache may hold the deleted recording's text under any name: all gone
        assert not any(decodes.glob("*.json"))
        registry = Registry(store)
        assert registry.version(first.champion_after).trained_on_deleted_data
        # The second run is about the retirement, so it is kept short: it reads the
        # session's decodes again (the deleted recording is no longer in the snapshot, so
        # none of its decodes is read) and trains the rules candidate only (the lexicon
        # candidate's prompts change with the folds, and every prompted decode is new).
        link_decodes(shared_decodes, decodes)
        rules_only = [t for t in default_trainers(SMALL) if t.name == "rules"]
        second = run_pipeline(store, SMALL, trainers=rules_only)
        assert first.champion_after in second.retired
        assert registry.version(first.champion_after).status == "retired"
        assert not (models_dir() / "personal" / first.champion_after).exists()
        # the new run trained without the deleted recording; its champion (if any) is new
        assert second.champion_before == FACTORY
        assert registry.champion() in (FACTORY, second.champion_after)
        assert second.champion_after != first.champion_after
        path = store.path
    # after two runs, a retirement and a privacy delete, the database is intact
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


def test_too_little_data_is_insufficient_evidence_and_changes_nothing(user_home: Path) -> None:
    with Store.open(auto_snippets=False) as store:
        # keep the first 12 recordings: no term occurs in three of them
        keep = store.read(
            lambda c: [r for (r,) in c.execute("SELECT id FROM recordings ORDER BY id")]
        )
        store.delete_recordings(keep[12:]).result()
        report = run_pipeline(store, SMALL)  # default gate: >= 20 lexicon-term occurrences
        assert report.decision == "insufficient evidence", report.reasons
        assert "lexicon-term occurrences" in report.reasons[0]
        assert Registry(store).champion() == FACTORY
        assert Registry(store).versions() == []
        status = store.read(
            lambda c: c.execute(
                "SELECT status FROM training_runs WHERE id = ?", (report.run_id,)
            ).fetchone()
        )
        assert status == ("insufficient evidence",)


def test_a_cancelled_run_stops_in_the_middle_of_a_step(user_home: Path) -> None:
    """Cancel (the app quitting) stops the decode in progress, not at the step's end.

    The decoder is the real one (fresh, in memory: no cached decodes); this test only
    counts its calls and sets ``cancel`` as the third decode starts.
    """
    cancel = threading.Event()

    class CancelOnThirdDecode(EngineDecoder):
        calls = 0

        def decode_segments(self, clip, prompt):
            self.calls += 1
            if self.calls == 3:
                cancel.set()
            return super().decode_segments(clip, prompt)

    inner = CancelOnThirdDecode()
    with Store.open(auto_snippets=False) as store:
        with pytest.raises(PipelineCancelled):
            run_pipeline(store, SMALL, decoder=CachedDecoder(inner, None), cancel=cancel)
        assert inner.calls == 3  # the third decode stopped; no other started
        assert Registry(store).champion() == FACTORY
        status = store.read(
            lambda c: c.execute("SELECT status FROM training_runs ORDER BY id DESC").fetchone()
        )
        assert status == ("cancelled",)
