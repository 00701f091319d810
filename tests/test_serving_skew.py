"""Monitoring 3 (ML Test Score), training/serving skew: the pipeline's evaluation path and
the app's transcription job must produce identical text for the same audio.

Evaluation path: ``retrain.pipeline.run.served_by`` (how the gate scores a published
champion) and the candidate form the pipeline trains (``with_rules`` over
``CachedDecoder(EngineDecoder()).decode_segments`` with the bundle's prompt).
Serving path: ``retrain.importer.import_file`` with the app's worker-process runner
(``app.transcription.process.ProcessTranscriber``), the champion picked from the registry
as for every app job; the text is read back from the store.

Real model, real clips (user-sim held-out). The personalized bundle has a lexicon, a
rendered prompt longer than the engine's default prompt budget (112 tokens; the bundle
allows 223) and two correction rules (one exact, one sounds-like) built from words the
model really writes on these clips, so the rules fire in both paths.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from app.transcription.process import ProcessTranscriber
from engine.bundle import CorrectionRule, DecodingDefaults, LexiconTerm, ModelBundle
from engine.personalize import count_prompt_tokens
from engine.textrules import is_common_word, text_words
from retrain.importer import import_file
from retrain.pipeline.decode import CachedDecoder, EngineDecoder, clip_for, with_rules
from retrain.pipeline.run import served_by
from retrain.registry import Registry
from retrain.store import Store

CLIPS = ("heldout/001.flac", "heldout/002.flac", "heldout/005.flac")


def _manifest(corpus: Path) -> list[dict[str, str]]:
    with (corpus / "manifest.tsv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _long_prompt(corpus: Path) -> str:
    """The train split's sentences, as many as fit in 200 prompt tokens (> 112)."""
    words: list[str] = []
    for row in _manifest(corpus):
        if row["split"] != "train":
            continue
        trial = [*words, *row["text"].split()]
        if count_prompt_tokens(" ".join(trial)) > 200:
            break
        words = trial
    return " ".join(words)


def _lexicon(corpus: Path) -> tuple[LexiconTerm, ...]:
    terms: dict[str, int] = {}
    for row in _manifest(corpus):
        if row["split"] == "train":
            for term in filter(None, row["terms"].split(",")):
                terms[term] = terms.get(term, 0) + 1
    return tuple(LexiconTerm(t, n) for t, n in terms.items())


def _serve_all(paths: list[Path]) -> list[str]:
    runner = ProcessTranscriber()
    out = []
    try:
        with Store.open(auto_snippets=False) as store:
            for path in paths:
                result = import_file(store, path, transcribe=runner.transcribe)
                view = store.load_transcript(result.transcript_id)
                out.append(" ".join(s.text.strip() for s in view.segments if s.text.strip()))
    finally:
        runner.close()
    return out


@pytest.fixture(scope="module")
def decoder() -> CachedDecoder:
    return CachedDecoder(EngineDecoder())


def test_base_model_evaluation_equals_serving(
    user_sim_corpus: Path, decoder: CachedDecoder
) -> None:
    paths = [user_sim_corpus / c for c in CLIPS]
    factory = served_by(None, decoder, "factory")
    evaluated = [factory.transcribe(clip_for(p)) for p in paths]
    served = _serve_all(paths)
    assert all(evaluated), "every clip has speech"
    assert served == evaluated


def test_personalized_bundle_evaluation_equals_serving(
    user_sim_corpus: Path, decoder: CachedDecoder
) -> None:
    paths = [user_sim_corpus / c for c in CLIPS]
    prompt = _long_prompt(user_sim_corpus)
    assert count_prompt_tokens(prompt) > 112, "the prompt must exceed the engine's default budget"
    # Rules from words the model really writes with this prompt, so that they fire.
    prompted = [decoder.decode(clip_for(p), prompt) for p in paths]
    first = max(text_words(prompted[0]), key=len)
    # Sounds-like rules skip common words: take the longest uncommon one.
    second = max((w for w in text_words(prompted[1]) if not is_common_word(w)), key=len)
    rules = (
        CorrectionRule((first,), "Zebrafish", support=4, precision=0.95),
        CorrectionRule((second + "x",), "Quokka", support=3, precision=0.9, similarity=0.8),
    )
    draft = ModelBundle(
        version="",
        kind="personal",
        directory=None,
        lexicon=_lexicon(user_sim_corpus),
        rules=rules,
        decoding=DecodingDefaults(max_prompt_tokens=223, prompt=prompt),
        lineage={"examples_hash": "skew-test"},
    )
    with Store.open(auto_snippets=False) as store:
        published = Registry(store).publish(draft, version="skew1")
        bundle = Registry(store).bundle_of(published.version)

    champion = served_by(bundle, decoder, "champion")
    evaluated = [champion.transcribe(clip_for(p)) for p in paths]
    candidate_form = [
        with_rules(decoder.decode_segments(clip_for(p), bundle.decoding.prompt), bundle.rules)
        for p in paths
    ]
    served = _serve_all(paths)

    assert "Zebrafish" in evaluated[0] and "Quokka" in evaluated[1], "both rules fired"
    assert candidate_form == evaluated
    assert served == evaluated
