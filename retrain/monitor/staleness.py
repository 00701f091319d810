"""Staleness (ML Test Score, Model 4): the champion's age, what it has not seen, and how
the field edit rate moves with both.

- *Since*: a personalized version serves from its publication; the factory model from
  the first transcript in the store.
- *Trained at*: the start of the version's training run (the factory model: its
  *since*).
- *New validated examples*: examples that pass the data contract and were not part of
  the last training run (``training_examples``).
- *New vocabulary*: distinct normalized words the person wrote into kept texts reviewed
  after *trained at* — words the model did not write for that segment — that appear in
  no text (kept or model output) from before it: vocabulary the model lacks.

``staleness_series``: for each (version, week) with reviewed segments, the week's field
edit rate beside the version's age at the week's last review and the new vocabulary
seen by then.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import lru_cache

from retrain.monitor.report import Staleness, StalenessPoint
from retrain.monitor.telemetry import (
    ReviewedSegment,
    TrainingRun,
    normalized,
    parse_time,
    week_of,
)
from retrain.registry import FACTORY, VersionInfo

_SAMPLE = 12


@lru_cache(maxsize=65536)
def vocabulary_of(text: str) -> frozenset[str]:
    return frozenset(w for w in normalized(text).split() if w.isalpha() and len(w) > 1)


def _days(later: str | None, earlier: str | None) -> float | None:
    a, b = parse_time(later), parse_time(earlier)
    if a is None or b is None:
        return None
    return max(0.0, (a - b).total_seconds() / 86400)


def version_times(
    version: str,
    versions: Mapping[str, VersionInfo],
    runs: Mapping[int, TrainingRun],
    first_transcript: str | None,
) -> tuple[str | None, str | None]:
    """(since, trained_at) of a version name (``"factory"`` or a personal id)."""
    if version == FACTORY or version not in versions:
        return first_transcript, first_transcript
    info = versions[version]
    run = runs.get(info.training_run_id) if info.training_run_id is not None else None
    return info.created_at, run.started_at if run else info.created_at


def known_vocabulary(reviewed: Sequence[ReviewedSegment], before: str | None) -> set[str]:
    known: set[str] = set()
    if before is None:
        return known
    for s in reviewed:
        if s.reviewed_at < before:
            known |= vocabulary_of(s.final)
        if s.transcribed_at < before and s.hypothesis:
            known |= vocabulary_of(s.hypothesis)
    return known


def new_vocabulary(
    reviewed: Sequence[ReviewedSegment], trained_at: str | None, until: str | None = None
) -> set[str]:
    known = known_vocabulary(reviewed, trained_at)
    new: set[str] = set()
    for s in reviewed:
        if trained_at is not None and s.reviewed_at < trained_at:
            continue
        if until is not None and s.reviewed_at > until:
            continue
        new |= _added_words(s) - known
    return new


def _added_words(s: ReviewedSegment) -> frozenset[str]:
    return vocabulary_of(s.final) - vocabulary_of(s.hypothesis or "")


def staleness(
    champion: str,
    now: str,
    versions: Mapping[str, VersionInfo],
    runs: Mapping[int, TrainingRun],
    first_transcript: str | None,
    reviewed: Sequence[ReviewedSegment],
    new_examples: int,
) -> Staleness:
    since, trained_at = version_times(champion, versions, runs, first_transcript)
    vocab = new_vocabulary(reviewed, trained_at) if trained_at else set()
    return Staleness(
        champion_since=since,
        champion_age_days=_days(now, since),
        trained_at=trained_at if champion != FACTORY else None,
        new_examples_since_training=new_examples,
        new_vocabulary_since_training=len(vocab),
        new_vocabulary_sample=tuple(sorted(vocab)[:_SAMPLE]),
    )


def staleness_series(
    versions: Mapping[str, VersionInfo],
    runs: Mapping[int, TrainingRun],
    first_transcript: str | None,
    reviewed: Sequence[ReviewedSegment],
) -> tuple[StalenessPoint, ...]:
    groups: dict[tuple[str, str], list[ReviewedSegment]] = defaultdict(list)
    for s in reviewed:
        groups[(s.version, week_of(s.reviewed_at))].append(s)
    known_by_version: dict[str, set[str]] = {}
    points = []
    for (version, week), group in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        since, trained_at = version_times(version, versions, runs, first_transcript)
        if version not in known_by_version:
            known_by_version[version] = known_vocabulary(reviewed, trained_at)
        known = known_by_version[version]
        last = max(s.reviewed_at for s in group)
        seen: set[str] = set()
        for s in reviewed:
            if s.reviewed_at > last or (trained_at is not None and s.reviewed_at < trained_at):
                continue
            seen |= _added_words(s) - known
        words = sum(s.counts.reference_words for s in group)
        errors = sum(s.counts.errors for s in group)
        points.append(
            StalenessPoint(
                week=week,
                version=version,
                age_days=round(_days(last, since) or 0.0, 3),
                new_vocabulary=len(seen),
                rate=errors / words if words else None,
                words=words,
            )
        )
    return tuple(points)
