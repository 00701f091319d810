"""The pipeline's one door to the speech model: decode a clip with a prompt, get segments.

Every decode the pipeline makes (scoring candidates, the factory and champion baselines,
the hypotheses rules are mined from) goes through a ``Decoder``. The production decoder,
``EngineDecoder``, is the serving path itself: ``engine.transcribe`` with the options the
app transcribes with, on a transient bundle that carries only the prompt (and, for own
weights guarded by terms, the terms: ``engine.guard``). Correction
rules are then applied per segment with ``engine.personalize.apply_rules``, the function
the engine applies when it serves a bundle, so what is evaluated is what the user gets.

``CachedDecoder`` memoizes decodes by (decoder identity, clip content, prompt), in memory
and optionally on disk, so that a clip decoded again with the same prompt (the factory
baseline across runs, a fold whose lexicon is empty) costs nothing. Within a pipeline
run the engine also reuses each clip's encoder output (``memoized_encoder``): the prompt
only changes the decoder.

``cancelled_by(event)`` makes every ``EngineDecoder`` decode in its scope stop within
about a second of ``event`` being set (the engine's own cancel): a learning run that is
cancelled mid-step, e.g. the app quitting, does not wait for the step to end.
``decode_clock()`` adds up the wall time of every ``EngineDecoder`` decode in its scope
(the run's transcription time, reported apart from its learning time).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from engine.backends.base import MAX_PROMPT_TOKENS
from engine.bundle import CorrectionRule, DecodingDefaults, ModelBundle
from engine.paths import cache_dir
from engine.personalize import apply_rules as apply_segment_rules
from engine.types import Segment, TranscribeOptions

SAMPLE_RATE = 16000

_cancel: ContextVar[threading.Event | None] = ContextVar("tiro_pipeline_cancel", default=None)


@dataclass
class DecodeClock:
    """Wall time and count of the model decodes made in a ``decode_clock()`` scope."""

    seconds: float = 0.0
    decodes: int = 0


_clock: ContextVar[DecodeClock | None] = ContextVar("tiro_pipeline_clock", default=None)


@contextmanager
def decode_clock(clock: DecodeClock | None = None) -> Iterator[DecodeClock]:
    """Times the decodes in this scope on ``clock`` (a new one if not given)."""
    clock = clock if clock is not None else DecodeClock()
    token = _clock.set(clock)
    try:
        yield clock
    finally:
        _clock.reset(token)


@contextmanager
def cancelled_by(cancel: threading.Event | None) -> Iterator[None]:
    """Decodes in this scope raise ``engine.errors.TranscriptionCancelled`` once ``cancel``
    is set."""
    token = _cancel.set(cancel)
    try:
        yield
    finally:
        _cancel.reset(token)


def decode_cache_dir() -> Path:
    """Where ``CachedDecoder`` keeps the pipeline's decodes (named by content digest, so a
    privacy delete empties it whole)."""
    return cache_dir() / "decodes"


@dataclass(frozen=True, slots=True)
class Clip:
    """Audio to decode: a file, or a span of it. ``key`` identifies the content (sha256)."""

    path: Path
    key: str
    start: float | None = None
    end: float | None = None

    @property
    def content_key(self) -> str:
        if self.start is None and self.end is None:
            return self.key
        return f"{self.key}@{self.start}-{self.end}"


class Decoder(Protocol):
    """Decode one clip with an optional prompt; return the segment texts (no rules)."""

    @property
    def identity(self) -> str:
        """Changes whenever the same (clip, prompt) could decode differently."""
        ...

    def decode_segments(self, clip: Clip, prompt: str | None) -> tuple[str, ...]: ...

    def count_prompt_tokens(self, prompt: str) -> int: ...


def file_key(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def clip_for(path: str | Path, start: float | None = None, end: float | None = None) -> Clip:
    path = Path(path)
    return Clip(path=path, key=file_key(path), start=start, end=end)


def clip_audio(clip: Clip) -> np.ndarray:
    """The clip's audio: 16 kHz mono float32 (the whole file, or its span)."""
    from engine import audio

    if clip.start is None and clip.end is None:
        pcm = audio.decode(clip.path)
    elif clip.end is None:
        pcm = audio.decode(clip.path)[round((clip.start or 0.0) * SAMPLE_RATE) :]
    else:
        pcm = audio.decode_span(clip.path, clip.start or 0.0, clip.end)
    return np.ascontiguousarray(pcm, dtype=np.float32)


def join_segments(texts: Sequence[str]) -> str:
    return " ".join(t.strip() for t in texts if t.strip())


def with_rules(texts: Sequence[str], rules: Sequence[CorrectionRule]) -> str:
    """The served text: each segment rewritten by the rules exactly as the engine does."""
    if not rules:
        return join_segments(texts)
    out = []
    for text in texts:
        segment, _ = apply_segment_rules(Segment(0.0, 0.0, text), rules)
        out.append(segment.text)
    return join_segments(out)


class EngineDecoder:
    """``engine.transcribe`` with the serving options, on the factory (or given) weights."""

    def __init__(
        self,
        options: TranscribeOptions | None = None,
        weights: ModelBundle | None = None,
        guard_terms: Sequence[str] | None = None,
    ) -> None:
        import faster_whisper

        import engine
        from engine import models
        from engine.personalize import count_prompt_tokens

        self._transcribe = engine.transcribe
        self._count = count_prompt_tokens
        self.options = options or TranscribeOptions()
        self.weights = weights or models.base_bundle()
        # own weights guarded by terms (engine.guard): by default as the bundle says
        if guard_terms is None:
            guard_terms = self.weights.decoding.guard_terms
        self.guard_terms = tuple(guard_terms) if self.weights.has_own_weights else ()
        weights_id = self.weights.files.get("weights/ct2/model.bin") or self.weights.version
        guarded = {}
        if self.guard_terms:  # the factory model decodes too: its weights count
            factory = models.base_bundle()
            guarded = {
                "guard_terms": list(self.guard_terms),
                "factory": factory.files.get("weights/ct2/model.bin") or factory.version,
            }
        self._identity = hashlib.sha256(
            json.dumps(
                {
                    "decoder": "engine.transcribe",
                    "options": asdict(self.options),
                    "weights": weights_id,
                    "faster_whisper": faster_whisper.__version__,
                    **guarded,
                },
                sort_keys=True,
                default=str,
            ).encode()
        ).hexdigest()[:16]

    @property
    def identity(self) -> str:
        return self._identity

    def _bundle(self, prompt: str | None) -> ModelBundle:
        if self.weights.kind == "base" and not prompt:
            return self.weights
        return ModelBundle(
            version=f"{self.weights.version}+eval",
            kind="personal",
            directory=self.weights.directory if self.weights.kind != "base" else None,
            base_weights=self.weights.base_weights if self.weights.kind != "base" else "factory",
            files=self.weights.files if self.weights.kind != "base" else {},
            # The prompt was budgeted by whoever rendered it; the engine must use it whole
            # (its own default budget would cut a longer one: evaluated != served).
            decoding=DecodingDefaults(
                max_prompt_tokens=MAX_PROMPT_TOKENS,
                prompt=prompt or None,
                guard_terms=self.guard_terms,
            ),
        )

    def _source(self, clip: Clip) -> Path | np.ndarray:
        if clip.start is None and clip.end is None:
            return clip.path
        return clip_audio(clip)

    def decode_segments(self, clip: Clip, prompt: str | None) -> tuple[str, ...]:
        started = time.perf_counter()
        try:
            segments, _info = self._transcribe(
                self._source(clip), self.options, bundle=self._bundle(prompt), cancel=_cancel.get()
            )
            return tuple(s.text for s in segments)
        finally:
            clock = _clock.get()
            if clock is not None:
                clock.seconds += time.perf_counter() - started
                clock.decodes += 1

    def count_prompt_tokens(self, prompt: str) -> int:
        return self._count(prompt)


class CachedDecoder:
    """Memoizes a decoder's results in memory and, with ``directory``, on disk."""

    def __init__(self, inner: Decoder, directory: Path | None = None) -> None:
        self.inner = inner
        self.directory = directory
        self._memory: dict[str, tuple[str, ...]] = {}
        self.hits = 0
        self.misses = 0
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    @property
    def identity(self) -> str:
        return self.inner.identity

    def count_prompt_tokens(self, prompt: str) -> int:
        return self.inner.count_prompt_tokens(prompt)

    def _key(self, clip: Clip, prompt: str | None) -> str:
        raw = json.dumps([self.inner.identity, clip.content_key, prompt or ""])
        return hashlib.sha256(raw.encode()).hexdigest()

    def decode_segments(self, clip: Clip, prompt: str | None) -> tuple[str, ...]:
        key = self._key(clip, prompt)
        if key in self._memory:
            self.hits += 1
            return self._memory[key]
        path = self.directory / f"{key}.json" if self.directory is not None else None
        texts: tuple[str, ...] | None = None
        if path is not None and path.exists():
            try:
                texts = tuple(json.loads(path.read_text(encoding="utf-8")))
                self.hits += 1
            except (OSError, ValueError):
                texts = None
        if texts is None:
            self.misses += 1
            texts = tuple(self.inner.decode_segments(clip, prompt))
            if path is not None:
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(list(texts)), encoding="utf-8")
                tmp.replace(path)
        self._memory[key] = texts
        return texts

    def decode(self, clip: Clip, prompt: str | None) -> str:
        return join_segments(self.decode_segments(clip, prompt))
