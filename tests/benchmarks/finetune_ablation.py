"""Which fine-tuning settings pay, chosen by cross-validated WER: the evidence behind the defaults.

    python tests/benchmarks/finetune_ablation.py --corpus PATH [--folds 5] [--only "NAME;..."]
        [--epochs 2,3,4] [--final [--seeds 0,1,2,3]] [--guarded] [--general PATH] [--json OUT]

Every ``train`` clip of the corpus is a corrected recording (its reference text is the
user's correction). For each variant of the training settings, and for each epoch count
in ``--epochs`` (checkpoints of one training), it prints

- the cross-validated WER and term recall on ``train``: k folds by recording, each clip
  transcribed by the model fine-tuned on the other folds (plus the replay set), through
  the serving path (``engine.transcribe``, default options, the exported bundle);
- the WER of those fold models on the ``--general`` corpus (default: the shipped
  reference set), split into the clips the training replayed and those it never saw:
  the no-harm side;
- training time (wall and CPU) per fold.

With ``--final`` it also trains each variant on all of ``train`` and reports ``heldout``,
``heldout_control`` and the general corpus per epoch: what a user would get. Choose
settings on the cross-validated columns, not on these. ``--seeds`` trains that final
model once per seed (only the order of the examples differs) and prints each and the
median: a difference between variants smaller than that spread is noise.

With ``--guarded`` every model is also served as the pipeline's ``finetuned_guarded``
candidate serves it (rows ``<epoch>+guarded``): guarded by the vocabulary of the
corrections it was trained on (``retrain.learn.vocabulary``, ``engine.guard``).

The manifest's ``terms`` are used for scoring term recall only.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from retrain.finetune.availability import prepare_process  # noqa: E402

prepare_process()

from engine import audio, transcribe  # noqa: E402
from engine.bundle import ModelBundle  # noqa: E402
from engine.corpus import REPLAY, CorpusItem, read_manifest, reference_set  # noqa: E402
from engine.prepare import ensure_base_model  # noqa: E402
from engine.scoring import ZERO, error_counts, term_hits  # noqa: E402
from retrain.finetune.config import FinetuneConfig  # noqa: E402
from retrain.finetune.examples import TrainingExample  # noqa: E402
from retrain.finetune.export import export_bundle  # noqa: E402
from retrain.finetune.trainer import EncoderCache, train_decoder  # noqa: E402
from retrain.learn.vocabulary import user_vocabulary  # noqa: E402

DEFAULT = FinetuneConfig(max_epochs=4, min_epochs=4, stop_loss=0.0)


def variants() -> dict[str, tuple[FinetuneConfig, bool]]:
    """name -> (config, replay the reference set). The variant ``SEGMENT_SPANS`` trains
    on each clip cut to the base model's segment span (see ``cut_to_segments``)."""
    return {
        "default": (DEFAULT, True),
        SEGMENT_SPANS: (DEFAULT, True),
        "no replay": (DEFAULT, False),
        "replay targets: references": (replace(DEFAULT, replay_targets="reference"), True),
        "lr 1e-5": (replace(DEFAULT, learning_rate=1e-5, max_epochs=6, min_epochs=6), True),
        "lr 1e-4": (replace(DEFAULT, learning_rate=1e-4), True),
        "embeddings frozen": (replace(DEFAULT, train_embeddings=False), True),
        "torch float32 encoder outputs": (replace(DEFAULT, encoder="torch"), True),
        "batch 8": (replace(DEFAULT, batch_size=8, max_epochs=6, min_epochs=6), True),
        "replay repeated 3 times": (replace(DEFAULT, replay_repeats=3), True),
        REPLAY_AUGMENTED: (DEFAULT, True),
        "label smoothing 0.1": (replace(DEFAULT, label_smoothing=0.1), True),
        "dropout 0.1": (replace(DEFAULT, dropout=0.1), True),
        ANCHORED: (replace(DEFAULT, anchor_weight=1.0), True),
        "cross-attention only": (replace(DEFAULT, trained_parts="cross_attention"), True),
        "cross-attention only, lr 1e-4": (
            replace(DEFAULT, trained_parts="cross_attention", learning_rate=1e-4),
            True,
        ),
        "cross-attention and token embedding, lr 1e-4": (
            replace(DEFAULT, trained_parts="cross_attention_and_tokens", learning_rate=1e-4),
            True,
        ),
        "cross-attention and missed tokens, lr 1e-4": (
            replace(DEFAULT, trained_parts="cross_attention_and_missed_tokens", learning_rate=1e-4),
            True,
        ),
        "cross-attention only, lr 3e-4": (
            replace(DEFAULT, trained_parts="cross_attention", learning_rate=3e-4),
            True,
        ),
    }


SEGMENT_SPANS = "audio cut to the segment spans"
ANCHORED = "anchored to the base where it is right, weight 1"
_EXPORTS = itertools.count(1)
REPLAY_AUGMENTED = "replay plus telephone-band and speed-changed copies"


def augmented(ex: TrainingExample) -> list[TrainingExample]:
    """The clip, band-limited to 300-3400 Hz (telephone), and played at 0.9x and 1.1x."""
    spectrum = np.fft.rfft(ex.audio)
    hz = np.fft.rfftfreq(len(ex.audio), 1 / audio.SAMPLE_RATE)
    spectrum[(hz < 300) | (hz > 3400)] = 0
    phone = np.fft.irfft(spectrum, len(ex.audio)).astype(np.float32)
    out = [ex, replace(ex, example_id=f"{ex.example_id}#phone", audio=phone)]
    for rate in (0.9, 1.1):
        n = round(len(ex.audio) / rate)
        warped = np.interp(np.arange(n) * rate, np.arange(len(ex.audio)), ex.audio)
        out.append(
            replace(ex, example_id=f"{ex.example_id}#x{rate}", audio=warped.astype(np.float32))
        )
    return out


def replay_for(name: str, replay: list[TrainingExample]) -> list[TrainingExample]:
    if name == REPLAY_AUGMENTED:
        return [a for ex in replay for a in augmented(ex)]
    return replay


def cut_to_segments(ex: TrainingExample) -> TrainingExample:
    """The clip cut to the span of the base model's segments, as a snippet of exactly
    the segment's span holds it: words the model dropped at the end may be cut off."""
    segments = list(transcribe(ex.audio)[0])
    if not segments:
        return ex
    start, end = (round(t * audio.SAMPLE_RATE) for t in (segments[0].start, segments[-1].end))
    return replace(ex, audio=ex.audio[start:end])


def base_whisper_weights(ct2_dir: Path) -> dict:
    from retrain.finetune.model import load_whisper, whisper_weights

    return whisper_weights(load_whisper(ct2_dir))


def fold_of(item: CorpusItem, folds: int) -> int:
    return int(hashlib.sha256(item.path.name.encode()).hexdigest(), 16) % folds


def example(item: CorpusItem, role: str = "correction") -> TrainingExample:
    return TrainingExample(item.path.name, audio.decode(item.path), item.text, role)  # type: ignore[arg-type]


def decode(items: list[CorpusItem], bundle: Path | ModelBundle | None) -> list[str]:
    out = []
    for item in items:
        segments, _ = transcribe(item.path, bundle=bundle)
        out.append(" ".join(s.text for s in segments))
    return out


class Tally:
    """Errors and term hits, summed over clips."""

    def __init__(self) -> None:
        self.counts = ZERO
        self.terms = 0
        self.hits = 0

    def add(self, item: CorpusItem, hypothesis: str) -> None:
        self.counts = self.counts + error_counts(item.text, hypothesis)
        self.terms += len(item.terms)
        self.hits += term_hits(item.terms, hypothesis)

    def row(self) -> dict[str, float | None]:
        return {
            "wer": self.counts.wer,
            "insertions": self.counts.insertion_rate,
            "term_recall": self.hits / self.terms if self.terms else None,
            "words": self.counts.reference_words,
        }


def train_and_score(
    train: list[TrainingExample],
    config: FinetuneConfig,
    epochs: list[int],
    scored: dict[str, list[CorpusItem]],
    cache: EncoderCache,
    workdir: Path,
    mixes: Sequence[float] = (),
    guarded: bool = False,
) -> tuple[dict[str, dict[str, list[str]]], dict[str, float]]:
    """Train once; at each epoch in ``epochs`` export and transcribe every set in ``scored``,
    and also each weight-space mix ``base + a * (tuned - base)`` for ``a`` in ``mixes``
    (labelled ``"<epoch>~<a>"``) and, with ``guarded``, the model guarded by the vocabulary
    of the corrections in ``train`` (``"<epoch>+guarded"``)."""
    base = ensure_base_model()
    texts: dict[str, dict[str, list[str]]] = {}
    base_weights = base_whisper_weights(base.ct2_dir) if mixes else {}
    vocabulary = user_vocabulary([e.text for e in train if e.role == "correction"])

    def score(label: str, weights: dict) -> None:
        # a fresh folder and version for every export: each is a new model to the engine
        name = f"ablation-{next(_EXPORTS)}-{label}"
        target = workdir / name
        bundle = export_bundle(weights, base, target, version=name, lineage={}, ggml_variants=())
        texts[label] = {name: decode(items, bundle.directory) for name, items in scored.items()}
        if guarded and "~" not in label:
            terms = replace(bundle.decoding, guard_terms=vocabulary)
            served = replace(bundle, decoding=terms)
            texts[f"{label}+guarded"] = {
                name: decode(items, served) for name, items in scored.items()
            }
        shutil.rmtree(target)

    def on_epoch(epoch: int, loss: float, weights) -> None:
        if epoch not in epochs:
            return
        tuned = weights()
        score(str(epoch), tuned)
        for a in mixes:
            score(
                f"{epoch}~{a:g}",
                {k: base_weights[k] + a * (v - base_weights[k]) for k, v in tuned.items()},
            )

    wall, cpu = time.perf_counter(), time.process_time()
    result = train_decoder(
        train, base.ct2_dir, replace(config, max_epochs=max(epochs)), cache=cache, on_epoch=on_epoch
    )
    timing = {
        "wall_with_evaluation": time.perf_counter() - wall,
        "cpu_with_evaluation": time.process_time() - cpu,
        **{f"train_{k}": v for k, v in result.seconds.items()},
        "epoch_losses": list(result.epoch_losses),
    }
    return texts, timing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--general", type=Path, help="a corpus for the no-harm columns")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", default="2,3,4")
    parser.add_argument("--only", default="", help="variant names, separated by ;")
    parser.add_argument("--final", action="store_true")
    parser.add_argument(
        "--diff",
        action="store_true",
        help="with --final: print each no-harm clip whose text the final model changed",
    )
    parser.add_argument(
        "--guarded",
        action="store_true",
        help="also serve each model guarded by its corrections' vocabulary, as the pipeline does",
    )
    parser.add_argument("--mix", default="", help="weight-space mixes with the base, e.g. 0.5,0.7")
    parser.add_argument(
        "--seeds",
        default="",
        help="with --final: train the final model once per seed, e.g. 0,1,2,3, and print "
        "each and the median (the spread a difference between variants must exceed)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    items = read_manifest(args.corpus)
    split = {s: [i for i in items if i.split == s] for s in ("train", "heldout", "heldout_control")}
    general = read_manifest(args.general) if args.general else reference_set()
    replayed_names = {i.path.name for i in reference_set(REPLAY)}
    general_sets = {
        "general_replayed": [i for i in general if i.path.name in replayed_names],
        "general_unseen": [i for i in general if i.path.name not in replayed_names],
    }
    general_sets = {k: v for k, v in general_sets.items() if v}
    replay = [example(i, "replay") for i in reference_set(REPLAY)]
    examples = {i.path.name: example(i) for i in split["train"]}
    chosen = [n.strip() for n in args.only.split(";") if n.strip()]
    epoch_list = sorted(int(e) for e in args.epochs.split(","))
    mixes = [float(a) for a in args.mix.split(",") if a.strip()]
    seeds = [int(a) for a in args.seeds.split(",") if a.strip()]
    labels = [
        label
        for e in epoch_list
        for label in (str(e), *(f"{e}~{a:g}" for a in mixes), *[f"{e}+guarded"] * args.guarded)
    ]
    cache = EncoderCache()
    results: dict[str, Any] = {}

    base_texts = {
        "train": decode(split["train"], None),
        **{k: decode(v, None) for k, v in general_sets.items()},
    }
    if args.final:
        base_texts |= {s: decode(split[s], None) for s in ("heldout", "heldout_control")}
    results["base"] = {
        name: _score(_items(name, split, general_sets), t) for name, t in base_texts.items()
    }
    print_row("base", results["base"], results["base"] if args.final else None, flush=True)

    with tempfile.TemporaryDirectory(prefix="tiro-ft-ablation-") as tmp:
        workdir = Path(tmp)
        for name, (config, with_replay) in variants().items():
            if chosen and name not in chosen:
                continue
            corrections = (
                {n: cut_to_segments(e) for n, e in examples.items()}
                if name == SEGMENT_SPANS
                else examples
            )
            cv: dict[str, dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
            timings = []
            for fold in range(args.folds):
                held = [i for i in split["train"] if fold_of(i, args.folds) == fold]
                train = [corrections[i.path.name] for i in split["train"] if i not in held]
                train += replay_for(name, replay) if with_replay else []
                texts, timing = train_and_score(
                    train,
                    config,
                    epoch_list,
                    {"train": held, **general_sets},
                    cache,
                    workdir,
                    mixes,
                    args.guarded,
                )
                timings.append(timing)
                scored = {"train": held, **general_sets}
                for epoch, sets in texts.items():
                    for set_name, hyps in sets.items():
                        for item, hyp in zip(scored[set_name], hyps, strict=True):
                            cv[epoch][set_name].add(item, hyp)
                print(
                    f"  {name}: fold {fold + 1}/{args.folds} {timing['train_total']:.0f} s",
                    flush=True,
                )
            entry: dict[str, Any] = {
                "config": config.to_json(),
                "replay": with_replay,
                "timing": timings,
            }
            entry["cv"] = {e: {k: t.row() for k, t in sets.items()} for e, sets in cv.items()}
            by_seed: dict[int, dict] = {}
            if args.final:
                full = [corrections[i.path.name] for i in split["train"]] + (
                    replay_for(name, replay) if with_replay else []
                )
                scored = {s: split[s] for s in ("heldout", "heldout_control")} | general_sets
                for seed in seeds or [config.seed]:
                    texts, timing = train_and_score(
                        full,
                        replace(config, seed=seed),
                        epoch_list,
                        scored,
                        cache,
                        workdir,
                        mixes,
                        args.guarded,
                    )
                    by_seed[seed] = {
                        e: {k: _score(_items(k, split, general_sets), v) for k, v in sets.items()}
                        for e, sets in texts.items()
                    }
                    entry.setdefault("final_timing", timing)
                    if args.diff:
                        print_changes(name, texts, base_texts, split, general_sets)
                entry["final"] = next(iter(by_seed.values()))
                if len(by_seed) > 1:
                    entry["final_by_seed"] = {str(k): v for k, v in by_seed.items()}
                    entry["final_median"] = {
                        label: median_rows([f[label] for f in by_seed.values()]) for label in labels
                    }
            results[name] = entry
            for label in labels:
                print_row(
                    f"{name} @{label}",
                    entry["cv"].get(label, {}),
                    entry.get("final", {}).get(label),
                    flush=True,
                )
                if len(by_seed) > 1:
                    for seed, final in by_seed.items():
                        print_row(f"  final model, seed {seed}", {}, final.get(label), flush=True)
                    print_row(
                        f"  final model, median of {len(by_seed)} seeds",
                        {},
                        entry["final_median"][label],
                        flush=True,
                    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


def _items(
    name: str, split: dict[str, list[CorpusItem]], general_sets: dict[str, list[CorpusItem]]
):
    return split.get(name) or general_sets[name]


def _score(items: list[CorpusItem], hyps: list[str]) -> dict[str, float | None]:
    tally = Tally()
    for item, hyp in zip(items, hyps, strict=True):
        tally.add(item, hyp)
    return tally.row()


def _fmt(row: dict | None, key: str = "wer", pct: bool = True) -> str:
    if not row or row.get(key) is None:
        return "   -  "
    value = row[key]
    return f"{100 * value:5.1f}%" if pct else f"{value:5.2f}"


def print_changes(
    name: str,
    texts: dict[str, dict[str, list[str]]],
    base_texts: dict[str, list[str]],
    split: dict[str, list[CorpusItem]],
    general_sets: dict[str, list[CorpusItem]],
) -> None:
    """The no-harm clips whose text a final model changed: reference, base, tuned, errors."""
    for label, sets in texts.items():
        for set_name in ("heldout_control", *general_sets):
            items = _items(set_name, split, general_sets)
            for item, before, after in zip(
                items, base_texts[set_name], sets[set_name], strict=True
            ):
                if before.strip() == after.strip():
                    continue
                errors = (error_counts(item.text, before), error_counts(item.text, after))
                print(
                    f"  {name} @{label} {set_name} {item.path.name}: errors "
                    f"{errors[0].errors} -> {errors[1].errors}\n"
                    f"      reference: {item.text}\n      base:  {before.strip()}\n"
                    f"      tuned: {after.strip()}",
                    flush=True,
                )


def median_rows(finals: Sequence[dict[str, dict]]) -> dict[str, dict]:
    """Per set, the median of each figure over several final models (same sets)."""
    out: dict[str, dict] = {}
    for set_name in finals[0]:
        rows = [f[set_name] for f in finals]
        out[set_name] = {
            key: None if rows[0][key] is None else float(np.median([r[key] for r in rows]))
            for key in rows[0]
        }
    return out


def print_row(name: str, cv: dict, final: dict | None = None, flush: bool = False) -> None:
    train = cv.get("train")
    line = (
        f"{name:52s} cv WER {_fmt(train)} TR {_fmt(train, 'term_recall', False)}"
        f" | general replayed {_fmt(cv.get('general_replayed'))}"
        f" unseen {_fmt(cv.get('general_unseen'))}"
    )
    if final:
        held = final.get("heldout")
        line += (
            f" || heldout {_fmt(held)} TR {_fmt(held, 'term_recall', False)}"
            f" control {_fmt(final.get('heldout_control'))}"
            f" general {_fmt(final.get('general_replayed'))}/{_fmt(final.get('general_unseen'))}"
        )
    print(line, flush=flush)


if __name__ == "__main__":
    sys.exit(main())
