"""Helpers for the store's tests: build transcripts the way the transcriber would."""

from __future__ import annotations

import hashlib
from pathlib import Path

from engine.types import Segment, Word
from retrain.store import Store

MODEL = "factory-test"


def words_for(text: str, start: float, end: float, probability: float = 0.9) -> tuple[Word, ...]:
    tokens = text.split()
    if not tokens:
        return ()
    step = (end - start) / len(tokens)
    return tuple(
        Word(f" {tok}", round(start + i * step, 3), round(start + (i + 1) * step, 3), probability)
        for i, tok in enumerate(tokens)
    )


def segment(text: str, start: float, end: float, probability: float = 0.9) -> Segment:
    return Segment(
        start=start,
        end=end,
        text=f" {text}",
        words=words_for(text, start, end, probability),
        avg_logprob=-0.25,
        no_speech_prob=0.01,
        compression_ratio=1.4,
    )


def add_transcript(
    store: Store,
    texts: list[str],
    *,
    name: str = "meeting.wav",
    seconds_each: float = 2.0,
    gap: float = 0.5,
    sha256: str | None = None,
    path: Path | str | None = None,
) -> tuple[int, int, list[int]]:
    """A recording with one finished transcript of ``texts``.

    Returns (recording id, transcript id, segment ids).
    """
    sha = sha256 or hashlib.sha256(f"{name}:{texts}".encode()).hexdigest()
    recording_id = store.add_recording(path or f"/media/{name}", sha256=sha).result()
    transcript_id = store.create_transcript(recording_id, MODEL, "ctranslate2").result()
    segments = []
    t = 0.0
    for text in texts:
        segments.append(segment(text, t, t + seconds_each))
        t += seconds_each + gap
    ids = store.append_segments(transcript_id, segments).result()
    store.set_transcript_status(transcript_id, "done").result()
    return recording_id, transcript_id, ids
