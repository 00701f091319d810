"""``tiro models``: the personalized model versions, and which one is in use."""

from __future__ import annotations

import argparse
import json
import sys

from app.cli.errors import CliError
from app.cli.storeaccess import open_store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="personalized model versions: list, show, roll back, use the factory model",
        description="The model versions Tiro learned from your corrections (the last few are "
        "kept) and which one transcribes for you.",
    )
    commands = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = commands.add_parser("list", help="every version, newest first")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=run_list)
    show = commands.add_parser("show", help="one version: lexicon, rules, lineage")
    show.add_argument("version", metavar="ID")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=run_show)
    rollback = commands.add_parser("rollback", help="go back to the version used before")
    rollback.set_defaults(func=run_rollback)
    base = commands.add_parser("use-base", help="transcribe with the factory model")
    base.set_defaults(func=run_use_base)
    explain = commands.add_parser(
        "explain",
        help="debug one segment: base output, prompt, rules fired, final words",
        description="Re-decode one segment's audio with the model in use, step by step: the "
        "base model's output, the prompt and lexicon, the fine-tuned weights' output, the "
        "correction rules that fired and why, and the final text with word probabilities.",
    )
    explain.add_argument("segment_id", metavar="SEGMENT_ID", type=int)
    explain.add_argument("--json", action="store_true", help="print JSON")
    explain.set_defaults(func=run_explain)


def _info_json(info, champion: str, previous: str | None) -> dict:
    return {
        "version": info.version,
        "status": info.status,
        "status_reason": info.status_reason,
        "in_use": info.version == champion,
        "previous": info.version == previous,
        "parent_version": info.parent_version,
        "training_run_id": info.training_run_id,
        "trained_on_deleted_data": info.trained_on_deleted_data,
        "created_at": info.created_at,
        "lineage": dict(info.lineage),
    }


def run_list(args: argparse.Namespace) -> int:
    from retrain.registry import FACTORY, PREVIOUS, Registry

    with open_store() as store:
        registry = Registry(store)
        champion = registry.champion()
        previous = registry.alias(PREVIOUS)
        versions = registry.versions()
    if args.json:
        payload = {
            "in_use": champion,
            "versions": [_info_json(v, champion, previous) for v in versions],
        }
        json.dump(payload, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    marker = "*" if champion == FACTORY else " "
    print(f"{marker} {FACTORY:24s} the factory model (always available)")
    for v in versions:
        marker = "*" if v.version == champion else " "
        print(
            f"{marker} {v.version:24s} {v.status:12s} {v.created_at[:19]}  {v.status_reason or ''}"
        )
    return 0


def run_show(args: argparse.Namespace) -> int:
    from engine.errors import ModelError
    from retrain.registry import PREVIOUS, Registry

    with open_store() as store:
        registry = Registry(store)
        info = registry.version(args.version)
        if info is None:
            raise CliError(f"there is no model version {args.version}; see `tiro models list`.")
        payload = _info_json(info, registry.champion(), registry.alias(PREVIOUS))
        try:
            bundle = registry.bundle_of(args.version)
            payload["lexicon"] = [{"text": t.text, "evidence": t.evidence} for t in bundle.lexicon]
            payload["rules"] = [
                {
                    "source": " ".join(r.source),
                    "target": r.target,
                    "support": r.support,
                    "similarity": r.similarity,
                }
                for r in bundle.rules
            ]
            payload["prompt"] = bundle.decoding.prompt
            payload["guard_terms"] = list(bundle.decoding.guard_terms)
        except ModelError as exc:
            payload["problem"] = str(exc)
    if args.json:
        json.dump(payload, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    for key in ("version", "status", "status_reason", "in_use", "parent_version", "created_at"):
        print(f"{key:16s} {payload[key]}")
    if "problem" in payload:
        print(f"{'problem':16s} {payload['problem']}")
    if payload.get("lexicon"):
        terms = ", ".join(t["text"] for t in payload["lexicon"])
        print(f"{'lexicon':16s} {terms}")
    if payload.get("guard_terms"):
        words = payload["guard_terms"]
        print(
            f"{'guarded by':16s} {len(words)} words of your vocabulary (fine-tuned words stand "
            f"only there): {', '.join(words)}"
        )
    for rule in payload.get("rules", []):
        kind = "sounds like" if rule["similarity"] < 1 else "exact"
        print(f"{'rule':16s} {rule['source']!r} -> {rule['target']!r} ({kind})")
    for key, value in payload["lineage"].items():
        print(f"{'lineage':16s} {key}: {value}")
    return 0


def run_rollback(_args: argparse.Namespace) -> int:
    from retrain.registry import Registry

    with open_store() as store:
        now = Registry(store).rollback()
    print(f"model in use: {now}")
    return 0


def run_use_base(_args: argparse.Namespace) -> int:
    from retrain.registry import Registry

    with open_store() as store:
        Registry(store).use_base()
    print("model in use: factory")
    return 0


def run_explain(args: argparse.Namespace) -> int:
    from retrain.errors import NotFoundError
    from retrain.explain import explain_segment, render

    with open_store() as store:
        try:
            explanation = explain_segment(store, args.segment_id)
        except NotFoundError as exc:
            raise CliError(
                f"no segment with id {args.segment_id}; see `tiro transcripts list`."
            ) from exc
    if args.json:
        json.dump(explanation.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(render(explanation))
    return 0
