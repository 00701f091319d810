"""A model fine-tuned on the 40 user-sim corrections (with the shipped reference set as
replay), exported, then served by the engine like every bundle: both backends load it,
it learned the user's speech, and, guarded by the user's vocabulary as the pipeline
serves it, general speech stays within the gate's no-harm bound."""

from __future__ import annotations

from pathlib import Path

import pytest
from finetune_fixtures import environment

from engine import transcribe
from engine.bundle import MANIFEST_NAME
from engine.corpus import GATE, read_manifest, reference_set
from engine.models import load_bundle
from engine.scoring import corpus_error_counts
from engine.types import TranscribeOptions
from retrain.finetune.availability import availability

pytestmark = [
    pytest.mark.finetune,
    pytest.mark.slow,
    pytest.mark.skipif(not availability().available, reason=availability().reason),
]
# The gate's no-harm bound (issue 5): at most 0.5 WER points worse than the factory model.
MAX_HARM_POINTS = 0.005
CATASTROPHIC_HARM_POINTS = 3 * MAX_HARM_POINTS


def _texts(items, bundle, backend: str = "ctranslate2") -> list[str]:
    out = []
    for item in items:
        segments, info = transcribe(item.path, TranscribeOptions(backend=backend), bundle=bundle)
        out.append(" ".join(s.text for s in segments))
        assert info.notices == ()
    return out


def test_the_exported_bundle_verifies_and_lists_both_formats(full_run) -> None:
    bundle = load_bundle(full_run.bundle.directory)
    assert bundle.kind == "personal" and bundle.has_own_weights
    assert bundle.ct2_dir is not None and bundle.ggml_path is not None
    assert (bundle.directory / MANIFEST_NAME).is_file()
    assert bundle.lineage["examples"] == {"correction": 40, "replay": 5}


@pytest.mark.parametrize("backend", ["ctranslate2", "whispercpp"])
def test_both_backends_serve_the_fine_tuned_weights_raw_and_guarded(
    full_run, finetune_env, user_sim_items, backend: str
) -> None:
    from dataclasses import replace

    from retrain.learn.vocabulary import user_vocabulary

    heldout = [i for i in user_sim_items if i.split == "heldout"][:6]
    vocabulary = user_vocabulary([i.text for i in user_sim_items if i.split == "train"])
    with environment(finetune_env):
        bundle = load_bundle(full_run.bundle.directory)
        guarded = replace(bundle, decoding=replace(bundle.decoding, guard_terms=vocabulary))
        base = _texts(heldout, None, backend)
        tuned = _texts(heldout, full_run.bundle.directory, backend)
        kept = _texts(heldout, guarded, backend)
        _, info = transcribe(
            heldout[0].path, TranscribeOptions(backend=backend), bundle=full_run.bundle.directory
        )
        _, guarded_info = transcribe(
            heldout[0].path, TranscribeOptions(backend=backend), bundle=guarded
        )
    expected_file = (
        "weights/ct2/model.bin" if backend == "ctranslate2" else "weights/ggml-model.bin"
    )
    for served in (info, guarded_info):
        assert served.model_version == full_run.bundle.version and served.backend == backend
        assert served.model_sha256 == full_run.bundle.files[expected_file]
    references = [i.text for i in heldout]
    before = corpus_error_counts(references, base).wer
    after = corpus_error_counts(references, tuned).wer
    assert after < 0.6 * before, (before, after)
    assert corpus_error_counts(references, kept).wer < 0.6 * before, (before, kept)


def test_raw_fine_tuned_weights_do_not_go_wrong_on_general_speech(
    full_run, finetune_env, general_corpus: Path
) -> None:
    """On real speech: the shared general corpus plus the shipped reference set's gate clips
    (which fine-tuning never replays), the gate's own no-harm set; 377 words, so that one
    changed word weighs about 0.27 points.

    The raw fine-tuned weights drift a little on ordinary speech: the user's corrections
    join words the base model hyphenates ("post-gress" -> "Postgres"), and the model
    carries that over ("cold-hearted" -> "coldhearted", 2 scored errors); it also writes
    "justly" as "just". On this AMD EPYC machine one training (seed 0) makes 17 errors
    against the base model's 15 (+0.53 points, above the gate's 0.5), one with seed 1
    makes 18; the default, the mean of both, makes 19 (+1.06 points): it keeps the drift of
    each ("wash water" -> "wash for" from one, "woodcutters" -> "wood cutters" from the
    other). That drift is what the guard removes: served as the pipeline serves them
    (``finetuned_guarded``), the same weights keep the gate's bound, see the next test.
    Here the raw weights must stay within three times the gate's bound: a training that
    goes wrong (forgetting, repetition) costs far more (finetune_ablation: the anchored
    variant cost 2.9 points on the gate clips)."""
    items = read_manifest(general_corpus)
    names = {i.path.name for i in items}
    items += [i for i in reference_set(GATE) if i.path.name not in names]
    references = [i.text for i in items]
    with environment(finetune_env):
        base = corpus_error_counts(references, _texts(items, None))
        tuned = corpus_error_counts(references, _texts(items, full_run.bundle.directory))
    print(
        f"raw fine-tuned weights: {tuned.errors} errors, base {base.errors}, "
        f"of {base.reference_words} words"
    )
    assert base.reference_words >= 350
    assert tuned.wer <= base.wer + CATASTROPHIC_HARM_POINTS, (base, tuned)
    assert tuned.insertion_rate <= base.insertion_rate + 0.01


def test_guarded_by_the_users_vocabulary_it_keeps_the_gain_and_general_speech_is_the_factorys(
    full_run, finetune_env, general_corpus: Path, user_sim_items
) -> None:
    """Served guarded (``engine.guard``) as the pipeline's ``finetuned_guarded`` candidate
    serves it: the factory model decodes too, and the fine-tuned text stands only where it
    writes a word of the user's vocabulary (the uncommon words of the 40 corrections). The
    held-out gain stays, and general speech keeps the factory's words (figures: README,
    "Fine-tuning")."""
    from dataclasses import replace

    from engine.scoring import term_hits
    from retrain.learn.vocabulary import user_vocabulary

    train = [i for i in user_sim_items if i.split == "train"]
    heldout = [i for i in user_sim_items if i.split == "heldout"]
    general = read_manifest(general_corpus)
    names = {i.path.name for i in general}
    general += [i for i in reference_set(GATE) if i.path.name not in names]
    terms = user_vocabulary([i.text for i in train])
    with environment(finetune_env):
        bundle = load_bundle(full_run.bundle.directory)
        guarded = replace(bundle, decoding=replace(bundle.decoding, guard_terms=terms))
        base_general = _texts(general, None)
        guarded_general = _texts(general, guarded)
        base_heldout = _texts(heldout, None)
        guarded_heldout = _texts(heldout, guarded)
        _, info = transcribe(heldout[0].path, bundle=guarded)
    assert len(terms) >= 5 and info.model_version == bundle.version
    references = [i.text for i in general]
    before = corpus_error_counts(references, base_general)
    after = corpus_error_counts(references, guarded_general)
    assert after.wer <= before.wer + MAX_HARM_POINTS, (before, after)
    assert after.insertion_rate <= before.insertion_rate + 0.01
    held_refs = [i.text for i in heldout]
    assert corpus_error_counts(held_refs, guarded_heldout).wer < 0.5 * (
        corpus_error_counts(held_refs, base_heldout).wer
    )
    occurrences = sum(len(i.terms) for i in heldout)
    hits = sum(term_hits(i.terms, t) for i, t in zip(heldout, guarded_heldout, strict=True))
    held = corpus_error_counts(held_refs, guarded_heldout)
    print(
        f"guarded: general {after.errors} errors (base {before.errors}) of "
        f"{before.reference_words}; held-out {100 * held.wer:.1f}%, term recall "
        f"{hits / occurrences:.2f}"
    )
    assert hits / occurrences >= 0.9, (hits, occurrences)


def test_a_damaged_fine_tuned_model_falls_back_to_the_base_model(
    full_run, finetune_env, tmp_path: Path, general_corpus: Path
) -> None:
    import shutil

    copy = tmp_path / "damaged"
    shutil.copytree(full_run.bundle.directory, copy)
    model = copy / "weights" / "ct2" / "model.bin"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with environment(finetune_env):
        segments, info = transcribe(general_corpus / "harvard_birch_canoe.wav", bundle=copy)
        text = " ".join(s.text for s in segments)
    assert "birch canoe" in text.lower()
    assert info.model_version != full_run.bundle.version
    assert len(info.notices) == 1 and "base model" in info.notices[0]
