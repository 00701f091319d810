"""Splitting examples by recording, deterministically and without leaks.

Two regimes, chosen by how much held-out evidence a fixed split would have:

- **Cross-validation** (the usual case: a few dozen corrected recordings). Recordings are
  ordered by a salted hash of their id and dealt round-robin into ``k`` folds (``k`` is
  at most the number of recordings). Each fold's examples are scored by a candidate
  trained on the other folds only; the final candidate is trained on every example and
  scores nothing. The estimate is of the training *procedure*, which is what the final
  candidate runs.
- **Fixed held-out** (plenty of data). Every recording is assigned, when first seen, to
  ``heldout`` with probability ``holdout_fraction`` (a salted hash, so the assignment is
  reproducible), and the assignment is persisted: once held out, always held out, even if
  the fraction is changed later. The regime switches on once the held-out recordings
  alone hold ``holdout_min_words`` reference words; the candidate is then trained on the
  other recordings only.

Either way two segments of one recording never sit on both sides of a split, and no
example is scored by a candidate trained on it (``check_leak_free``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

SplitMode = Literal["cross_validation", "holdout"]


@dataclass(frozen=True, slots=True)
class SplitConfig:
    folds: int = 5
    holdout_fraction: float = 0.2
    holdout_min_words: int = 2000
    salt: str = "tiro-split-1"


@dataclass(frozen=True, slots=True)
class Fold:
    index: int
    train: frozenset[str]  # recording ids a candidate is trained on
    test: frozenset[str]  # recording ids it is scored on


@dataclass(frozen=True, slots=True)
class SplitPlan:
    mode: SplitMode
    folds: tuple[Fold, ...]
    final_train: frozenset[str]  # what the published candidate is trained on

    def fold_of(self, recording_id: str) -> Fold | None:
        return next((f for f in self.folds if recording_id in f.test), None)


class AssignmentStore(Protocol):
    """Where held-out assignments persist (a JSON file now; the telemetry store later)."""

    def load(self) -> dict[str, bool]: ...

    def save(self, assignments: Mapping[str, bool]) -> None: ...


class JsonAssignmentStore:
    """Held-out assignments in one JSON file, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, bool]:
        if not self.path.exists():
            return {}
        return {str(k): bool(v) for k, v in json.loads(self.path.read_text("utf-8")).items()}

    def save(self, assignments: Mapping[str, bool]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(dict(sorted(assignments.items())), handle)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.path)


def _unit(salt: str, recording_id: str) -> float:
    digest = hashlib.sha256(f"{salt}\0{recording_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_holdout(
    recording_ids: Iterable[str], known: Mapping[str, bool], config: SplitConfig
) -> dict[str, bool]:
    """Known assignments kept as they are; new recordings assigned by salted hash."""
    out = dict(known)
    for rid in recording_ids:
        if rid not in out:
            out[rid] = _unit(config.salt, rid) < config.holdout_fraction
    return out


def cross_validation_folds(recording_ids: Iterable[str], config: SplitConfig) -> tuple[Fold, ...]:
    ids = sorted(set(recording_ids), key=lambda rid: (_unit(config.salt, rid), rid))
    k = min(config.folds, len(ids))
    if k < 2:
        return ()
    everything = frozenset(ids)
    folds = []
    for index in range(k):
        test = frozenset(ids[index::k])
        folds.append(Fold(index, everything - test, test))
    return tuple(folds)


def plan_split(
    words_by_recording: Mapping[str, int],
    config: SplitConfig = SplitConfig(),
    store: AssignmentStore | None = None,
) -> SplitPlan:
    """The split for this run. ``words_by_recording``: reference words per recording."""
    recordings = sorted(words_by_recording)
    known = store.load() if store is not None else {}
    assignments = assign_holdout(recordings, known, config)
    if store is not None and assignments != known:
        store.save(assignments)
    heldout = frozenset(r for r in recordings if assignments[r])
    heldout_words = sum(words_by_recording[r] for r in heldout)
    if heldout_words >= config.holdout_min_words and len(heldout) < len(recordings):
        train = frozenset(recordings) - heldout
        return SplitPlan("holdout", (Fold(0, train, heldout),), train)
    return SplitPlan(
        "cross_validation", cross_validation_folds(recordings, config), frozenset(recordings)
    )


def check_leak_free(plan: SplitPlan) -> None:
    """Raise if any recording could be scored by a candidate trained on it."""
    for fold in plan.folds:
        overlap = fold.train & fold.test
        if overlap:
            raise AssertionError(f"fold {fold.index} trains and tests on {sorted(overlap)[:3]}")
    if plan.mode == "holdout":
        for fold in plan.folds:
            if fold.test & plan.final_train:
                raise AssertionError("the final candidate is trained on held-out recordings")
