"""``tiro models explain SEGMENT_ID`` (ML Test Score, Infrastructure 5): one segment,
step by step, with the real model on a real clip (user-sim held-out 001)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import engine
from app.cli import main
from engine.bundle import CorrectionRule, DecodingDefaults, LexiconTerm, ModelBundle
from engine.textrules import text_words
from engine.transcriber import serving_prompt
from engine.types import TranscribeOptions
from retrain.explain import segment_audio
from retrain.importer import import_file
from retrain.registry import Registry
from retrain.store import Store


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _text(pcm: np.ndarray, bundle: ModelBundle | None) -> str:
    segments, _ = engine.transcribe(pcm, TranscribeOptions(), bundle=bundle)
    return " ".join(s.text.strip() for s in segments if s.text.strip())


def test_explain_shows_each_step_of_a_personalized_model(
    tiro_home: Path, user_sim_corpus: Path, capsys
) -> None:
    lexicon = (LexiconTerm("Kästner", 4), LexiconTerm("Project Halcyon", 3))
    prompt_only = ModelBundle(
        version="probe",
        kind="personal",
        directory=None,
        lexicon=lexicon,
        decoding=DecodingDefaults(max_prompt_tokens=223),
    )
    with Store.open(auto_snippets=False) as store:
        result = import_file(store, user_sim_corpus / "heldout" / "001.flac")
        segment_id = store.load_transcript(result.transcript_id).segments[0].id
        pcm, source = segment_audio(store, segment_id)
    assert source == "recording"
    # A rule on the longest word the prompted model really writes here, so that it fires.
    prompted = _text(pcm, prompt_only)
    word = max(text_words(prompted), key=len)
    rule = CorrectionRule((word,), "Zebrafish", support=5, precision=0.96)
    draft = ModelBundle(
        version="",
        kind="personal",
        directory=None,
        lexicon=lexicon,
        rules=(rule,),
        decoding=DecodingDefaults(max_prompt_tokens=223),
    )
    with Store.open(auto_snippets=False) as store:
        Registry(store).publish(draft, version="v1")

    status, out, err = run(capsys, "models", "explain", str(segment_id), "--json")
    assert status == 0, err
    shown = json.loads(out)
    assert shown["champion_version"] == "v1"
    assert shown["audio_source"] == "recording"
    assert shown["base_text"] == _text(pcm, None) and shown["base_text"]
    assert shown["prompt"] == serving_prompt(draft) and "Kästner" in shown["prompt"]
    assert shown["lexicon"] == [
        {"term": "Kästner", "evidence": 4},
        {"term": "Project Halcyon", "evidence": 3},
    ]
    assert shown["decoded_text"] == prompted
    assert shown["has_finetuned_weights"] is False and shown["finetuned_text"] is None
    fired = shown["rules_fired"]
    assert len(fired) >= 1 and fired[0]["source"] == [word] and fired[0]["support"] == 5
    assert text_words(fired[0]["matched"]) == (word,)
    assert "Zebrafish" in fired[0]["replaced_by"] and "precision 0.96" in fired[0]["why"]
    assert "Zebrafish" in shown["final_text"] and "Zebrafish" not in shown["decoded_text"]
    words = shown["words"]
    assert " ".join(w["text"] for w in words) == shown["final_text"]
    assert all(0.0 <= w["probability"] <= 1.0 for w in words)

    status, out, _ = run(capsys, "models", "explain", str(segment_id))
    assert status == 0
    assert "1. base model:" in out and "Zebrafish" in out and "rules fired:" in out
    assert "Kästner" in out and "[0." in out  # word probabilities


def test_explain_with_the_factory_model(tiro_home: Path, user_sim_corpus: Path, capsys) -> None:
    with Store.open(auto_snippets=False) as store:
        result = import_file(store, user_sim_corpus / "heldout" / "002.flac")
        segment = store.load_transcript(result.transcript_id).segments[0]
    status, out, err = run(capsys, "models", "explain", str(segment.id), "--json")
    assert status == 0, err
    shown = json.loads(out)
    assert shown["champion_version"] == "factory" and shown["prompt"] is None
    assert shown["rules_fired"] == [] and shown["final_text"] == shown["base_text"]


def test_explain_unknown_segment_is_one_error_line(tiro_home: Path, capsys) -> None:
    status, out, err = run(capsys, "models", "explain", "987654")
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("tiro: error: ") and "987654" in err


def _with_factory_weights(**fields) -> ModelBundle:
    """A draft with its own weights: a bit-exact copy of the factory CTranslate2 weights
    under a fine-tuned bundle's layout."""
    from engine import models

    base = models.base_bundle()
    weights = {k: v for k, v in base.files.items() if k.startswith("weights/ct2/")}
    assert weights, "the factory bundle has CTranslate2 weights"
    return ModelBundle(
        version="",
        kind="personal",
        directory=base.directory,
        base_weights="finetuned",
        files=weights,
        **fields,
    )


def _published_beside_a_segment(
    draft: ModelBundle, version: str, user_sim_corpus: Path
) -> tuple[int, ModelBundle, np.ndarray]:
    """Import user-sim held-out 002 and publish ``draft`` as the champion ``version``:
    the first segment's id, the published bundle and that segment's audio."""
    with Store.open(auto_snippets=False) as store:
        result = import_file(store, user_sim_corpus / "heldout" / "002.flac")
        segment_id = store.load_transcript(result.transcript_id).segments[0].id
        published = Registry(store).publish(draft, version=version)
        bundle = Registry(store).bundle_of(published.version)
        pcm, _ = segment_audio(store, segment_id)
    return segment_id, bundle, pcm


def test_explain_shows_the_output_of_a_bundles_own_weights(
    tiro_home: Path, user_sim_corpus: Path, capsys
) -> None:
    """A bundle with its own weights: here a bit-exact copy of the factory CTranslate2
    weights under a fine-tuned bundle's layout (real fine-tuned exports are tested in
    tests/finetune/test_serving.py); what matters is that explain decodes with the
    bundle's weights and labels that step as the fine-tuned model's output."""
    draft = _with_factory_weights(
        lexicon=(LexiconTerm("Okonkwo", 3),), decoding=DecodingDefaults(max_prompt_tokens=223)
    )
    segment_id, bundle, pcm = _published_beside_a_segment(draft, "ft1", user_sim_corpus)
    assert bundle.has_own_weights and bundle.ct2_dir is not None
    status, out, err = run(capsys, "models", "explain", str(segment_id), "--json")
    assert status == 0, err
    shown = json.loads(out)
    assert shown["has_finetuned_weights"] is True
    assert shown["finetuned_text"] == shown["decoded_text"] == _text(pcm, bundle)
    assert "Okonkwo" in shown["prompt"]
    status, out, _ = run(capsys, "models", "explain", str(segment_id))
    assert "3. fine-tuned model:" in out


def test_explain_and_show_a_model_guarded_by_the_users_vocabulary(
    tiro_home: Path, user_sim_corpus: Path, capsys
) -> None:
    """Own weights guarded by a vocabulary (``engine.guard``): here the factory's own
    CTranslate2 weights, so both texts agree; what matters is that explain shows the
    fine-tuned model's own text and the guarded one, and ``models show`` the words."""
    vocabulary = ("Okonkwo", "Przybylski", "Zephyrine")
    draft = _with_factory_weights(decoding=DecodingDefaults(guard_terms=vocabulary))
    segment_id, bundle, pcm = _published_beside_a_segment(draft, "ft-guarded", user_sim_corpus)
    assert bundle.decoding.guard_terms == vocabulary
    status, out, err = run(capsys, "models", "explain", str(segment_id), "--json")
    assert status == 0, err
    shown = json.loads(out)
    assert shown["guard_terms"] == list(vocabulary)
    assert shown["unguarded_text"] == shown["decoded_text"] == _text(pcm, bundle)
    status, out, _ = run(capsys, "models", "explain", str(segment_id))
    assert "3. fine-tuned model:" in out and "   guarded:" in out and "Zephyrine" in out
    status, out, _ = run(capsys, "models", "show", "ft-guarded")
    assert status == 0 and "guarded by" in out and "3 words" in out and "Przybylski" in out
