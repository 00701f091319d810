"""Which tier-1 learning choices pay, measured on a corpus: the evidence behind the defaults.

    python tests/benchmarks/learning_ablation.py --corpus PATH [--folds 5] [--cache DIR]
        [--json OUT] [--only NAME,...]

Every ``train`` clip of the corpus is a corrected recording (hypothesis: the factory
model's decode; reference: the manifest text). For each variant of the learning
algorithms it prints

- the cross-validated WER and term recall on ``train`` (k-fold by recording: each clip is
  scored by a candidate trained on the other folds; this is what the pipeline's gate
  sees), and
- the WER and term recall on ``heldout`` and ``heldout_control`` of the candidate trained
  on all of ``train`` (what the user would get).

"default" is ``TierOneConfig()``: the examples+glossary prompt (223 tokens), exact rules
and sounds-like rules mined from the factory (original) hypotheses. The manifest's
``terms`` are used for scoring term recall only; nothing is learned from them.
``vocabulary.txt``, when present, gives the "oracle prompt" reference row.
Decodes are cached on disk (``--cache``), so a rerun costs only the new variants.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine.backends.ctranslate2 import memoized_encoder  # noqa: E402
from engine.corpus import CorpusItem, read_manifest  # noqa: E402
from engine.scoring import corpus_error_counts, term_recall  # noqa: E402
from retrain.learn.lexicon import LexiconConfig, PromptConfig, render_prompt  # noqa: E402
from retrain.learn.rules import RuleConfig  # noqa: E402
from retrain.pipeline.decode import CachedDecoder, EngineDecoder, clip_for  # noqa: E402
from retrain.pipeline.personalize import (  # noqa: E402
    Example,
    RuleValidation,
    TierOneConfig,
    cross_validate,
    factory_pairs,
    keep_validated_rules,
    serve,
    train_tier_one,
)
from retrain.pipeline.split import SplitConfig, SplitPlan, cross_validation_folds  # noqa: E402

NONE = TierOneConfig(use_lexicon=False, use_rules=False, use_term_rules=False)
PROMPT_ONLY = TierOneConfig(use_rules=False, use_term_rules=False)
DEFAULT = TierOneConfig()
STRICT = RuleValidation(require_heldout_evidence=True)


def variants() -> dict[str, tuple[TierOneConfig, RuleValidation | None]]:
    """name -> (config, rule validation on held-out folds or None)."""
    out: dict[str, tuple[TierOneConfig, RuleValidation | None]] = {"base": (NONE, None)}
    out["exact rules only (no prompt)"] = (
        TierOneConfig(use_prompt=False, use_term_rules=False),
        None,
    )
    out["exact + sounds-like rules (no prompt)"] = (TierOneConfig(use_prompt=False), None)
    for style, budget in (
        ("glossary", 223),
        ("sentence", 223),
        ("examples", 223),
        ("examples+glossary", 223),
        ("glossary", 64),
        ("examples", 96),
    ):
        out[f"prompt {style} {budget}"] = (
            replace(PROMPT_ONLY, prompt=PromptConfig(style, budget)),
            None,
        )
    for origin in ("original", "prompted"):
        out[f"prompt + exact rules ({origin} hyps)"] = (
            replace(DEFAULT, use_term_rules=False, rules_from=origin),
            None,
        )
        out[f"prompt + sounds-like rules ({origin} hyps)"] = (
            replace(DEFAULT, use_rules=False, rules_from=origin),
            None,
        )
        out[f"prompt + exact + sounds-like ({origin} hyps)"] = (
            replace(DEFAULT, rules_from=origin),
            None,
        )
    out["default, rules validated (drop on counter-evidence)"] = (DEFAULT, RuleValidation())
    out["default, rules validated (strict: need held-out evidence)"] = (DEFAULT, STRICT)
    out["default with glossary prompt"] = (
        replace(DEFAULT, prompt=PromptConfig("glossary", 223)),
        None,
    )
    for support in (1, 3):
        out[f"default, lexicon support {support}"] = (
            replace(DEFAULT, lexicon=LexiconConfig(min_support=support)),
            None,
        )
    out["default, exact-rule support 2"] = (replace(DEFAULT, rules=RuleConfig(min_support=2)), None)
    return out


def examples_for(items: list[CorpusItem]) -> list[Example]:
    return [
        Example(
            example_id=item.path.name,
            recording_id=item.path.name,
            clip=clip_for(item.path),
            reference=item.text,
        )
        for item in items
    ]


def score(items: list[CorpusItem], hyps: list[str]) -> dict[str, float]:
    counts = corpus_error_counts([i.text for i in items], hyps)
    out = {"wer": counts.wer, "ins": counts.insertion_rate}
    if any(i.terms for i in items):
        out["term_recall"] = term_recall([(i.terms, h) for i, h in zip(items, hyps, strict=True)])
    return out


def main(argv: list[str] | None = None) -> int:
    with memoized_encoder():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "tiro-decodes")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--only", default="")
    args = parser.parse_args(argv)

    items = read_manifest(args.corpus)
    split = {s: [i for i in items if i.split == s] for s in ("train", "heldout", "heldout_control")}
    decoder = CachedDecoder(EngineDecoder(), args.cache)
    train = examples_for(split["train"])
    factory = factory_pairs(train, decoder)
    plan = SplitPlan(
        "cross_validation",
        cross_validation_folds([e.recording_id for e in train], SplitConfig(folds=args.folds)),
        frozenset(e.recording_id for e in train),
    )
    evaluation = {s: examples_for(split[s]) for s in ("heldout", "heldout_control")}
    results: dict[str, dict] = {}
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]

    vocabulary = args.corpus / "vocabulary.txt"
    if vocabulary.exists():
        words = [w.strip() for w in vocabulary.read_text("utf-8").splitlines() if w.strip()]
        from engine.bundle import LexiconTerm

        oracle = render_prompt(
            [LexiconTerm(w) for w in words],
            PromptConfig("glossary", 223),
            decoder.count_prompt_tokens,
        )
        row = {}
        for s, exs in evaluation.items():
            row[s] = score(split[s], [decoder.decode(e.clip, oracle) for e in exs])
        results["oracle prompt (vocabulary.txt)"] = {"heldout": row, "cv": None}

    for name, (config, validation) in variants().items():
        if chosen and name not in chosen:
            continue
        started = time.perf_counter()
        misses = decoder.misses
        cv = cross_validate(train, plan, decoder, config, factory)
        cv_score = score(split["train"], [cv.served[e.example_id] for e in train])
        final = train_tier_one(train, decoder, config, factory)
        dropped = []
        if validation is not None:
            final, dropped = keep_validated_rules(final, cv.rule_outcomes, validation)
        row = {}
        for s, exs in evaluation.items():
            row[s] = score(split[s], [serve(final, e.clip, decoder) for e in exs])
        results[name] = {
            "cv": cv_score,
            "heldout": row,
            "lexicon_terms": len(final.lexicon),
            "prompt_tokens": decoder.count_prompt_tokens(final.prompt) if final.prompt else 0,
            "rules": len(final.rules),
            "similarity": final.term_similarity,
            "rules_dropped": len(dropped),
            "fold_rules": sum(len(m.rules) for m in cv.fold_models.values()),
            "seconds": time.perf_counter() - started,
            "decodes": decoder.misses - misses,
        }
        print_row(name, results[name], flush=True)

    print()
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def _fmt(value: float | None, pct: bool = True) -> str:
    if value is None:
        return "   -  "
    return f"{100 * value:5.1f}%" if pct else f"{value:5.2f}"


def print_row(name: str, r: dict, flush: bool = False) -> None:
    cv = r.get("cv") or {}
    h = r["heldout"].get("heldout", {})
    c = r["heldout"].get("heldout_control", {})
    extra = ""
    if "rules" in r:
        extra = (
            f"  terms={r['lexicon_terms']:3d} ptok={r['prompt_tokens']:3d} rules={r['rules']:3d}"
            f" sim={r['similarity']}"
            f" (dropped {r['rules_dropped']}, folds {r['fold_rules']}) {r['seconds']:5.1f}s"
        )
    print(
        f"{name:44s} cv WER {_fmt(cv.get('wer'))} TR {_fmt(cv.get('term_recall'), False)}"
        f" | heldout WER {_fmt(h.get('wer'))} TR {_fmt(h.get('term_recall'), False)}"
        f" ins {_fmt(h.get('ins'))} | control WER {_fmt(c.get('wer'))}{extra}",
        flush=flush,
    )


def print_table(results: dict[str, dict]) -> None:
    print(
        "| variant | CV WER | CV term recall | held-out WER | held-out term recall "
        "| control WER | terms | rules |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        cv = r.get("cv") or {}
        h = r["heldout"].get("heldout", {})
        c = r["heldout"].get("heldout_control", {})
        print(
            f"| {name} | {_fmt(cv.get('wer'))} | {_fmt(cv.get('term_recall'), False)} "
            f"| {_fmt(h.get('wer'))} | {_fmt(h.get('term_recall'), False)} "
            f"| {_fmt(c.get('wer'))} | {r.get('lexicon_terms', '-')} | {r.get('rules', '-')} |"
        )


if __name__ == "__main__":
    sys.exit(main())
