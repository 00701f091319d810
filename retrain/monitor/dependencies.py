"""Dependency changes (ML Test Score, Monitoring 1).

Every published version records ``retrain.environment.fingerprint()`` in its lineage
(``environment``: Python, the libraries that shape the output, the base model file).
When the running fingerprint differs from the champion's, the monitor flags it and,
before trusting the champion, re-runs its evaluation on its stored held-out set (the
``held-out`` examples of its training run, from their learning snippets, against the
text the person kept) with the champion and with the factory model, decoding afresh (no
decode cache: the cache would answer with the old libraries' output). If the champion
is worse than the factory model there, the registry rolls back to the factory model and
a ``job_runs`` row (job ``monitor``, outcome ``rolled_back``) says why. A champion that
passes is *verified* for that fingerprint; later reports carry the verification instead
of decoding again. Without held-out audio (e.g. the user opted out and the snippets are
gone) the check is ``unverifiable``: flagged, the champion stays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from engine.errors import TranscriptionCancelled
from engine.paths import snippets_dir
from retrain.environment import differences, fingerprint
from retrain.monitor.report import DependencyCheck, MonitorReport
from retrain.registry import FACTORY, Registry
from retrain.store import Store

log = logging.getLogger("tiro.monitor")

Evaluate = Callable[[Store, str], tuple[float, float, int] | None]


def heldout_set(store: Store, training_run_id: int) -> list[tuple[Path, str, str]]:
    """(snippet path, snippet sha256, kept text) of a run's held-out examples with audio."""
    rows = store.read(
        lambda c: c.execute(
            "SELECT sn.path, sn.sha256, s.text FROM training_examples AS te "
            "JOIN segments AS s ON s.id = te.segment_id "
            "JOIN snippets AS sn ON sn.segment_id = te.segment_id "
            "WHERE te.training_run_id = ? AND te.role = 'heldout' ORDER BY te.segment_id",
            (training_run_id,),
        ).fetchall()
    )
    out = []
    for path, sha, text in rows:
        full = snippets_dir() / path
        if full.is_file():
            out.append((full, sha, text))
    return out


def reevaluate(store: Store, version: str) -> tuple[float, float, int] | None:
    """(champion WER, factory WER, words) on the version's held-out set, decoded now."""
    from engine.backends.ctranslate2 import memoized_encoder
    from engine.scoring import corpus_error_counts
    from retrain.pipeline.decode import CachedDecoder, Clip, EngineDecoder
    from retrain.pipeline.run import served_by

    registry = Registry(store)
    info = registry.version(version)
    if info is None or info.training_run_id is None:
        return None
    examples = heldout_set(store, info.training_run_id)
    if not examples:
        return None
    bundle = registry.bundle_of(version)
    decoder = CachedDecoder(EngineDecoder(), None)  # in memory only: decode afresh
    champion = served_by(bundle, decoder, version)
    factory = served_by(None, decoder, FACTORY)
    references = [text for _, _, text in examples]
    with memoized_encoder():
        clips = [Clip(path, sha) for path, sha, _ in examples]
        champion_texts = [champion.transcribe(clip) for clip in clips]
        factory_texts = [factory.transcribe(clip) for clip in clips]
    mine = corpus_error_counts(references, champion_texts)
    base = corpus_error_counts(references, factory_texts)
    return mine.wer, base.wer, mine.reference_words


def check_dependencies(
    store: Store,
    previous: MonitorReport | None,
    *,
    current: dict[str, str] | None = None,
    evaluate: Evaluate = reevaluate,
) -> DependencyCheck:
    """Compare, re-evaluate and (if worse than the factory model) roll back."""
    current = dict(current if current is not None else fingerprint())
    registry = Registry(store)
    champion = registry.champion()
    if champion == FACTORY:
        changed = ()
        if previous is not None and previous.dependencies.current:
            changed = tuple(differences(previous.dependencies.current, current))
        detail = (
            "the factory model serves; changed since the last report: " + "; ".join(changed)
            if changed
            else "the factory model serves"
        )
        return DependencyCheck(current=current, changed=changed, action="none", detail=detail)
    info = registry.version(champion)
    recorded = dict((info.lineage.get("environment") if info else None) or {})
    if not recorded:
        return DependencyCheck(
            current=current,
            action="unrecorded",
            detail=f"{champion} has no record of the versions it was trained with",
        )
    changed = tuple(differences(recorded, current))
    base = DependencyCheck(current=current, recorded=recorded, changed=changed)
    if not changed:
        return replace(base, action="none", detail="same versions as at training")
    earlier = previous.dependencies if previous is not None else None
    if (
        previous is not None
        and earlier is not None
        and previous.champion_version == champion
        and earlier.action == "verified"
        and earlier.current == current
    ):
        return replace(
            base,
            action="verified",
            champion_wer=earlier.champion_wer,
            factory_wer=earlier.factory_wer,
            words=earlier.words,
            detail=earlier.detail,
        )
    try:
        result = evaluate(store, champion)
    except TranscriptionCancelled:  # the round was stopped: decide nothing
        raise
    except Exception as exc:  # a broken bundle or decoder must not stop the monitor
        log.warning("re-evaluating %s failed", champion, exc_info=True)
        return replace(
            base,
            action="unverifiable",
            detail=(
                f"{champion} was trained with other versions ({'; '.join(changed)}) and could "
                f"not be re-evaluated: {exc}"
            ),
        )
    if result is None:
        return replace(
            base,
            action="unverifiable",
            detail=(
                f"{champion} was trained with other versions ({'; '.join(changed)}) and its "
                "held-out audio is gone, so it could not be re-evaluated"
            ),
        )
    mine, factory, words = result
    if mine > factory:
        reason = (
            f"the libraries or model files changed ({'; '.join(changed)}) and {champion} now "
            f"scores {mine:.1%} WER on its held-out set against {factory:.1%} for the factory "
            "model"
        )
        registry.rollback_to_factory(f"dependency check failed: {reason}")
        return replace(
            base,
            action="rolled_back",
            champion_wer=mine,
            factory_wer=factory,
            words=words,
            detail=f"Rolled back {champion} to the factory model: {reason}.",
        )
    return replace(
        base,
        action="verified",
        champion_wer=mine,
        factory_wer=factory,
        words=words,
        detail=(
            f"re-evaluated after a dependency change ({'; '.join(changed)}): {champion} "
            f"{mine:.1%} WER against {factory:.1%} for the factory model on {words} held-out "
            "words"
        ),
    )
