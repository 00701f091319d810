"""Debug one example: how the model in use turns one segment's audio into its text.

``explain_segment`` (``tiro models explain SEGMENT_ID``) re-decodes the segment's audio
span (its learning snippet when one exists, else the span of the recording) step by
step, through the same functions the engine serves with:

1. the factory (base) model alone, no prompt;
2. the champion's decoder prompt (``engine.transcriber.serving_prompt``) and lexicon;
3. the champion's weights with that prompt, before rules (for a bundle with fine-tuned
   weights this is the fine-tuned model's output; for one whose weights are guarded by
   the user's vocabulary, ``engine.guard``, both the fine-tuned model's own output and
   the guarded text: the factory's, with the fine-tuned words where they say a word of
   the vocabulary);
4. each correction rule that fired (``engine.textrules.replacements``, the matcher
   ``engine.personalize.apply_rules`` uses), with its training evidence and the words it
   matched;
5. the final text (``apply_rules``), word by word with probabilities.

Nothing is written to the store.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from engine.bundle import ModelBundle
from engine.types import Segment, TranscribeOptions, Word
from retrain.registry import Registry
from retrain.store import Store


@dataclass(frozen=True, slots=True)
class FiredRule:
    """One rule match: the model's words it matched and what they became."""

    source: tuple[str, ...]
    target: str
    support: int
    precision: float
    similarity: float
    matched: str
    replaced_by: str
    why: str


@dataclass(frozen=True, slots=True)
class Explanation:
    segment_id: int
    transcript_id: int
    recording_id: int
    start: float
    end: float
    audio_source: str  # "snippet" or "recording"
    stored_original_text: str | None  # what the model wrote when the transcript was made
    current_text: str  # what the segment says now (after the user's edits)
    champion_version: str
    champion_notice: str | None
    base_text: str
    prompt: str | None
    lexicon: tuple[tuple[str, int], ...]  # (term, evidence), the bundle's order
    has_finetuned_weights: bool
    decoded_text: str  # champion weights + prompt (guarded, if so), before rules
    guard_terms: tuple[str, ...]  # the vocabulary guarding the fine-tuned weights, if any
    unguarded_text: str | None  # the fine-tuned weights' own text, when guarded
    rules_fired: tuple[FiredRule, ...]
    final_text: str
    words: tuple[Word, ...]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["lexicon"] = [{"term": t, "evidence": e} for t, e in self.lexicon]
        data["words"] = [asdict(w) for w in self.words]
        data["finetuned_text"] = self.decoded_text if self.has_finetuned_weights else None
        return data


def _join(segments: list[Segment]) -> str:
    return " ".join(s.text.strip() for s in segments if s.text.strip())


def segment_audio(store: Store, segment_id: int) -> tuple[np.ndarray, str]:
    """16 kHz mono PCM of the segment: its snippet if captured, else the recording's span."""
    from engine import audio
    from engine.paths import snippets_dir

    view = store.segment(segment_id)
    transcript = store.transcript(view.transcript_id)
    row = store.read(
        lambda conn: conn.execute(
            "SELECT path FROM snippets WHERE segment_id = ?", (segment_id,)
        ).fetchone()
    )
    if row is not None and (snippets_dir() / row[0]).is_file():
        return audio.decode(snippets_dir() / row[0]), "snippet"
    recording = store.recording(transcript.recording_id)
    return audio.decode_span(Path(recording.path), view.start, view.end), "recording"


def _decode(pcm: np.ndarray, bundle: ModelBundle | None) -> list[Segment]:
    import engine

    segments, _info = engine.transcribe(pcm, TranscribeOptions(), bundle=bundle)
    return list(segments)


def _without_rules(champion: ModelBundle) -> ModelBundle:
    """The champion without its rules: its weights and its prompt, to show the decoder step."""
    return replace(champion, rules=())


def explain_segment(store: Store, segment_id: int) -> Explanation:
    """Re-decode segment ``segment_id`` step by step with the model in use.

    Raises ``retrain.errors.NotFoundError`` for an unknown id, the engine's typed errors
    when its audio cannot be read.
    """
    from engine.personalize import apply_rules
    from engine.textrules import replacements
    from engine.transcriber import serving_prompt

    view = store.segment(segment_id)
    transcript = store.transcript(view.transcript_id)
    pcm, source = segment_audio(store, segment_id)
    pcm = np.ascontiguousarray(pcm, dtype=np.float32)

    choice = Registry(store).serving_bundle()
    champion = choice.bundle
    base_segments = _decode(pcm, None)
    if champion is None:
        decoded_segments = base_segments
        prompt, lexicon, rules, finetuned = None, (), (), False
        guard, unguarded = (), None
    else:
        prompt = serving_prompt(champion)
        lexicon = tuple((t.text, t.evidence) for t in champion.lexicon)
        rules = tuple(r for r in champion.rules if r.source)
        finetuned = champion.has_own_weights
        decoded_segments = _decode(pcm, _without_rules(champion))
        guard = champion.decoding.guard_terms if finetuned else ()
        unguarded = None
        if guard:
            raw = replace(champion.decoding, guard_terms=())
            unguarded = _join(_decode(pcm, replace(_without_rules(champion), decoding=raw)))

    fired: list[FiredRule] = []
    final_segments: list[Segment] = []
    for segment in decoded_segments:
        final, _ = apply_rules(segment, rules)
        final_segments.append(final)
        joined = " ".join(w.text for w in segment.words) if segment.words else segment.text
        for edit in replacements(joined, rules):
            rule = edit.rule
            kind = (
                "exact words"
                if rule.similarity >= 1.0
                else (f"sounds like (spelling similarity >= {rule.similarity:.2f})")
            )
            fired.append(
                FiredRule(
                    source=tuple(rule.source),
                    target=rule.target,
                    support=rule.support,
                    precision=rule.precision,
                    similarity=rule.similarity,
                    matched=joined[edit.start : edit.end].strip(),
                    replaced_by=edit.text.strip(),
                    why=(
                        f"matched {kind} of {' '.join(rule.source)!r}; learned from "
                        f"{rule.support} corrections, precision {rule.precision:.2f} on "
                        "training data"
                    ),
                )
            )
    return Explanation(
        segment_id=view.id,
        transcript_id=view.transcript_id,
        recording_id=transcript.recording_id,
        start=view.start,
        end=view.end,
        audio_source=source,
        stored_original_text=view.original_text,
        current_text=view.text,
        champion_version=choice.version,
        champion_notice=choice.notice,
        base_text=_join(base_segments),
        prompt=prompt,
        lexicon=lexicon,
        has_finetuned_weights=finetuned,
        decoded_text=_join(decoded_segments),
        guard_terms=tuple(guard),
        unguarded_text=unguarded,
        rules_fired=tuple(fired),
        final_text=_join(final_segments),
        words=tuple(w for s in final_segments for w in s.words),
    )


def render(explanation: Explanation) -> str:
    """The explanation as text for a terminal."""
    e = explanation
    lines = [
        f"segment {e.segment_id} (transcript {e.transcript_id}, recording {e.recording_id}), "
        f"{e.start:.2f}-{e.end:.2f} s, audio from the {e.audio_source}",
        f"stored ASR text:  {e.stored_original_text or '(inserted by the user)'}",
        f"current text:     {e.current_text}",
        f"model in use:     {e.champion_version}",
    ]
    if e.champion_notice:
        lines.append(f"notice:           {e.champion_notice}")
    lines.append("")
    lines.append(f"1. base model:   {e.base_text}")
    lines.append(f"2. prompt:       {e.prompt or '(none)'}")
    if e.lexicon:
        terms = ", ".join(f"{t} ({n})" for t, n in e.lexicon)
        lines.append(f"   lexicon:      {terms}")
    else:
        lines.append("   lexicon:      (empty)")
    label = "fine-tuned model" if e.has_finetuned_weights else "base + prompt  "
    if e.unguarded_text is not None:
        shown = ", ".join(e.guard_terms[:12]) + (", ..." if len(e.guard_terms) > 12 else "")
        lines.append(f"3. {label}: {e.unguarded_text}")
        lines.append(f"   guarded:      {e.decoded_text}")
        lines.append(
            f"   (the base model's words, except where the fine-tuned model writes one of "
            f"the {len(e.guard_terms)} words of your vocabulary: {shown})"
        )
    else:
        lines.append(f"3. {label}: {e.decoded_text}")
    if not e.has_finetuned_weights:
        lines.append("   (no fine-tuned weights in this model)")
    if e.rules_fired:
        lines.append("4. rules fired:")
        for r in e.rules_fired:
            lines.append(f"   {r.matched!r} -> {r.replaced_by!r}: {r.why}")
    else:
        lines.append("4. rules fired:  none")
    lines.append(f"5. final text:   {e.final_text}")
    lines.append("   words:        " + " ".join(f"{w.text}[{w.probability:.2f}]" for w in e.words))
    return "\n".join(lines)
