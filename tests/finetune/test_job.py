"""Training in its own low-priority process: it exports a bundle the engine loads, and a
cancel (clean, or a kill after the grace period) leaves no artifact behind."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from finetune_fixtures import SHORT, decoded_encoder_outputs, environment

from engine import paths, transcribe
from engine.bundle import verify_bundle_files
from engine.types import TranscribeOptions
from retrain.finetune.availability import availability
from retrain.finetune.errors import TrainingCancelled
from retrain.finetune.job import TrainingJob, run_training_job, run_training_jobs

pytestmark = [
    pytest.mark.finetune,
    pytest.mark.skipif(not availability().available, reason=availability().reason),
]
ONE_EPOCH = replace(SHORT, max_epochs=1, min_epochs=1)


def _job(train_examples, base_bundle, destination: Path) -> TrainingJob:
    return TrainingJob(
        examples=train_examples[:5],
        base_bundle_dir=base_bundle.directory,
        config=ONE_EPOCH,
        destination=destination,
        version="ft-job",
        lineage={"requested_by": "test"},
    )


def test_a_job_trains_and_exports_in_a_worker_process(
    train_examples, base_bundle, finetune_env, tmp_path: Path, user_sim_items
) -> None:
    seen = []
    job = _job(train_examples, base_bundle, tmp_path / "ft-job")
    with environment(finetune_env):
        # the caller already has the encoder outputs of two of the five clips
        shared = decoded_encoder_outputs(job.examples[:2], base_bundle.directory)
        outcome = run_training_jobs([job], progress=seen.append, encoder_outputs=shared)[0]
        jobs = paths.cache_dir() / "finetune-jobs"
        assert not jobs.exists() or list(jobs.iterdir()) == []
        item = user_sim_items[0]
        segments, info = transcribe(item.path, TranscribeOptions(), bundle=outcome.bundle.directory)
        assert " ".join(s.text for s in segments).strip()
    assert info.model_version == "ft-job" and info.notices == ()
    assert outcome.bundle.lineage["requested_by"] == "test"
    assert outcome.bundle.lineage["examples_hash"]
    assert len(outcome.epoch_losses) == 1
    assert outcome.peak_rss_mb > 100 and outcome.cpu_seconds > 0
    assert outcome.encoder_passes == 3
    stages = [p.stage for p in seen]
    assert stages[0] == "loading" and "encoding" in stages and "training" in stages
    assert stages[-1] == "done"


@pytest.mark.parametrize("grace", [30.0, 0.0], ids=["clean-stop", "killed"])
def test_cancel_mid_training_leaves_no_artifact_and_the_champion_untouched(
    train_examples, base_bundle, finetune_env, tmp_path: Path, grace: float
) -> None:
    cancel = threading.Event()

    def progress(p) -> None:
        if p.stage == "training":
            cancel.set()

    destination = tmp_path / "models" / "ft-job"
    destination.parent.mkdir()
    with environment(finetune_env):
        with pytest.raises(TrainingCancelled):
            run_training_job(
                _job(train_examples, base_bundle, destination),
                cancel=cancel,
                progress=progress,
                grace_seconds=grace,
            )
        jobs = paths.cache_dir() / "finetune-jobs"
        assert not jobs.exists() or list(jobs.iterdir()) == []
        verify_bundle_files(base_bundle, trust_cache=False)
    assert cancel.is_set()
    assert list(destination.parent.iterdir()) == []
