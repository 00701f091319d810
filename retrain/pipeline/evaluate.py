"""Evaluate a candidate against the champion and the factory model, for the gate.

Three sets, each scored for all three models through the same serving path:

- **held-out**: every learning example, served by a candidate that was not trained on it
  (its cross-validation fold's candidate, or the candidate trained on the fixed training
  recordings); champion and factory decode the same clips;
- **reviewed-unchanged**: segments the user reviewed and left as they were ("did we break
  what worked?"); the final candidate serves them (it never trains on them);
- **general reference set**: the real-speech clips that ship with Tiro.

Term occurrences are counted per held-out segment as the occurrences, in its reference,
of the lexicon terms of the candidate that scored it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from engine.bundle import LexiconTerm
from engine.scoring import error_counts, normalize
from retrain.pipeline.decode import Clip
from retrain.pipeline.gate import GateEvidence, ScoredSegment
from retrain.pipeline.personalize import Example

Transcribe = Callable[[Clip], str]


@dataclass(frozen=True, slots=True)
class Served:
    """A model as the gate sees it: a name and a way to transcribe a clip."""

    name: str
    transcribe: Transcribe


def term_occurrences(reference: str, lexicon: Sequence[LexiconTerm]) -> int:
    """Occurrences of lexicon terms (normalized, whole words) in a reference."""
    padded = f" {normalize(reference)} "
    count = 0
    for term in lexicon:
        key = normalize(term.text)
        if key:
            count += padded.count(f" {key} ")
    return count


def score(
    example: Example,
    candidate_text: str,
    champion_text: str,
    factory_text: str,
    lexicon: Sequence[LexiconTerm] = (),
) -> ScoredSegment:
    return ScoredSegment(
        segment_id=example.example_id,
        recording_id=example.recording_id,
        speaker=example.speaker,
        candidate=error_counts(example.reference, candidate_text),
        champion=error_counts(example.reference, champion_text),
        factory=error_counts(example.reference, factory_text),
        term_occurrences=term_occurrences(example.reference, lexicon),
    )


def score_served(
    examples: Sequence[Example],
    candidate: Served,
    champion: Served,
    factory: Served,
    lexicon: Sequence[LexiconTerm] = (),
    progress: Callable[[], None] | None = None,
) -> list[ScoredSegment]:
    out = []
    for ex in examples:
        out.append(
            score(
                ex,
                candidate.transcribe(ex.clip),
                champion.transcribe(ex.clip),
                factory.transcribe(ex.clip),
                lexicon,
            )
        )
        if progress:
            progress()
    return out


def build_evidence(
    heldout: Sequence[Example],
    heldout_texts: Mapping[str, str],
    heldout_lexicons: Mapping[str, Sequence[LexiconTerm]],
    candidate: Served,
    champion: Served,
    factory: Served,
    unchanged: Sequence[Example] = (),
    reference_set: Sequence[Example] = (),
    progress: Callable[[], None] | None = None,
) -> GateEvidence:
    """Score every set for the gate.

    ``heldout_texts`` maps each held-out example to the text of the candidate that scored
    it (trained without it); ``heldout_lexicons`` to that candidate's lexicon.
    """
    scored = []
    for ex in heldout:
        scored.append(
            score(
                ex,
                heldout_texts[ex.example_id],
                champion.transcribe(ex.clip),
                factory.transcribe(ex.clip),
                heldout_lexicons.get(ex.example_id, ()),
            )
        )
        if progress:
            progress()
    return GateEvidence(
        heldout=tuple(scored),
        unchanged=tuple(score_served(unchanged, candidate, champion, factory, (), progress)),
        reference_set=tuple(
            score_served(reference_set, candidate, champion, factory, (), progress)
        ),
    )
