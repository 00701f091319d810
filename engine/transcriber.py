"""``transcribe``: media in, segments out, lazily — the engine's one entry point.

The same function serves the user (app, CLI) and scores candidate bundles in
evaluation, so there is one decoding path (no train/serve skew).

Long media stream: PCM is decoded block by block (``engine.audio.iter_pcm``)
and handed to the backend in chunks of a few minutes. A chunk boundary falls
anywhere, possibly inside a word, so the last segment of every chunk but the
final one is not trusted: it is dropped and the next chunk starts where the
previous segment ended (as Whisper's own long-form decoding seeks to its last
complete segment). Memory is bounded by the chunk length, not by the media.

Personalization: a bundle's lexicon becomes the decoder prompt of every window
(``engine.personalize.build_prompt``) and its correction rules rewrite each
segment as it is produced (``engine.personalize.apply_rules``). A bundle whose own
weights are guarded by terms is served by the factory model too, and its weights only
overrule the factory text where they say a term (``engine.guard``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine import audio, models
from engine.backends import backend_class
from engine.backends.base import MAX_PROMPT_TOKENS, Backend, DecodeSettings, check_cancel
from engine.backends.guarded import GuardedBackend
from engine.bundle import ModelBundle
from engine.personalize import apply_rules, build_prompt
from engine.types import MediaInfo, Segment, TranscribeOptions, TranscriptionInfo, Word

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: nothing here may go online

log = logging.getLogger(__name__)

SAMPLE_RATE = audio.SAMPLE_RATE
ProgressFn = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class EngineDefaults:
    """What ``None`` in ``TranscribeOptions`` means. Chosen by measurement (README, "Engine")."""

    backend: str = "ctranslate2"
    beam_size: int = 1
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    condition_on_previous_text: bool = True
    vad: bool = False
    ggml_variant: str = "f16"
    # Lexicon prompt tokens when the bundle does not say (the model allows 223). Measured:
    # 107 tokens of real terms cut held-out WER in half; 218 tokens made timestamps
    # unreliable on long speech (windows skipped: general-loop WER 5% -> 17%).
    prompt_tokens: int = 112
    first_chunk_seconds: float = 120.0
    chunk_seconds: float = 600.0


DEFAULTS = EngineDefaults()

# A segment ending this close to a chunk's end may be cut by it.
_CUT_MARGIN = 2.0
# Audio after a chunk's last complete segment is decoded again from at most this
# far before the chunk's end (a word across the boundary is then decoded whole).
_TAIL_OVERLAP = 3.0
# The next chunk starts at least this far after the current one.
_MIN_ADVANCE = 5.0


def vad_available() -> bool:
    """Whether faster-whisper's silero VAD can run (it needs onnxruntime).

    Packaged builds leave onnxruntime out (VAD is off by default; packaging/README.md).
    """
    return importlib.util.find_spec("onnxruntime") is not None


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 2))


# ----------------------------------------------------------------------------- entry point


def transcribe(
    source: str | Path | np.ndarray,
    options: TranscribeOptions | None = None,
    *,
    bundle: ModelBundle | str | Path | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> tuple[Iterator[Segment], TranscriptionInfo]:
    """Transcribe a media file or a 16 kHz mono float32 array.

    Returns ``(segments, info)`` at once; decoding happens as ``segments`` is
    iterated. ``progress`` gets the fraction of the audio done (0..1, from the
    iterating thread). Setting ``cancel`` (from any thread) makes the iterator
    raise ``TranscriptionCancelled`` within a second. Bad media raises
    ``AudioDecodeError`` here, before any decoding; a personalized ``bundle``
    that cannot be used falls back to the base model, with a notice in
    ``info.notices``.
    """
    options = options or TranscribeOptions()
    check_cancel(cancel)
    media, pcm, duration = _open_source(source)
    backend_name = options.backend or DEFAULTS.backend
    backend_class(backend_name)  # unknown names fail before any model loads
    threads = options.threads or default_threads()
    serving = models.resolve(bundle)
    backend, serving = models.acquire(backend_name, serving, threads, DEFAULTS.ggml_variant)
    backend = _guarded(backend, backend_name, serving, threads)
    notices = list(serving.notices)
    settings, resolved = _settings(options, serving.bundle, backend_name, threads, notices)
    info = TranscriptionInfo(
        duration=duration,
        backend=backend_name,
        model_version=serving.bundle.version,
        model_sha256=backend.weights_sha256,
        options=resolved,
        media=media,
        notices=tuple(notices),
    )
    blocks = _blocks(source, pcm)
    segments = _stream(backend, blocks, settings, serving.bundle, duration, progress, cancel)
    return segments, info


def _guarded(backend: Backend, name: str, serving: models.ServingModel, threads: int) -> Backend:
    """``backend``, or with the factory model beside it when the bundle's own weights are
    guarded by terms (``engine.guard``): the factory model always decodes too."""
    terms = serving.bundle.decoding.guard_terms
    if not terms or not serving.weights.has_own_weights:
        return backend
    factory, _ = models.acquire(name, models.resolve(None), threads, DEFAULTS.ggml_variant)
    return GuardedBackend(backend, factory, terms)


def _open_source(
    source: str | Path | np.ndarray,
) -> tuple[MediaInfo | None, np.ndarray | None, float]:
    if isinstance(source, np.ndarray):
        pcm = np.asarray(source)
        if pcm.ndim != 1:
            pcm = pcm.reshape(-1) if pcm.ndim == 2 and 1 in pcm.shape else None
        if pcm is None or not np.issubdtype(np.asarray(source).dtype, np.floating):
            raise ValueError("an array source must be 1-D float PCM at 16 kHz (mono)")
        pcm = np.ascontiguousarray(pcm, dtype=np.float32)
        return None, pcm, len(pcm) / SAMPLE_RATE
    media = audio.probe(source)
    return media, None, media.duration


def _blocks(source: str | Path | np.ndarray, pcm: np.ndarray | None) -> Iterator[np.ndarray]:
    if pcm is not None:
        step = 30 * SAMPLE_RATE
        return (pcm[i : i + step] for i in range(0, len(pcm), step))
    return audio.iter_pcm(source, block_seconds=30.0)


def _settings(
    options: TranscribeOptions,
    bundle: ModelBundle,
    backend_name: str,
    threads: int,
    notices: list[str],
) -> tuple[DecodeSettings, TranscribeOptions]:
    beam = options.beam_size or bundle.decoding.beam_size or DEFAULTS.beam_size
    temps = options.temperatures or bundle.decoding.temperatures or DEFAULTS.temperatures
    vad = DEFAULTS.vad if options.vad is None else options.vad
    if vad and backend_name == "whispercpp":
        notices.append(
            "voice activity detection is not available with whisper.cpp; decoded all audio."
        )
        vad = False
    if vad and not vad_available():
        notices.append(
            "voice activity detection is not installed in this build (onnxruntime); "
            "decoded all audio."
        )
        vad = False
    user_prompt = options.initial_prompt
    if options.hotwords:
        user_prompt = " ".join(p for p in (", ".join(options.hotwords), user_prompt) if p)
    prompt = serving_prompt(bundle, user_prompt)
    settings = DecodeSettings(
        beam_size=max(1, int(beam)),
        temperatures=tuple(float(t) for t in temps),
        word_timestamps=options.word_timestamps,
        vad=vad,
        condition_on_previous_text=DEFAULTS.condition_on_previous_text,
        prompt=prompt,
        threads=threads,
    )
    resolved = replace(
        options,
        backend=backend_name,
        beam_size=settings.beam_size,
        temperatures=settings.temperatures,
        threads=threads,
        vad=vad,
        initial_prompt=prompt,
    )
    return settings, resolved


def serving_prompt(bundle: ModelBundle, user_prompt: str | None = None) -> str | None:
    """The decoder prompt a job served by ``bundle`` uses (lexicon and user prompt, budgeted).

    The one definition: the transcriber uses it for every job, the learning pipeline
    when it scores a published bundle, ``tiro models explain`` when it shows one.
    """
    budget = min(bundle.decoding.max_prompt_tokens or DEFAULTS.prompt_tokens, MAX_PROMPT_TOKENS)
    return build_prompt(bundle.lexicon, user_prompt, budget, lexicon_prompt=bundle.decoding.prompt)


# ----------------------------------------------------------------------------- streaming


class _Progress:
    """Monotonic progress reports as a fraction of the whole audio."""

    def __init__(self, callback: ProgressFn | None, duration: float):
        self._callback = callback
        self._duration = duration
        self._last = -1.0

    def at(self, seconds: float) -> None:
        if self._callback is None:
            return
        fraction = 1.0 if self._duration <= 0 else min(1.0, max(0.0, seconds / self._duration))
        if fraction > self._last + 1e-4 or (fraction == 1.0 and self._last < 1.0):
            self._last = fraction
            self._callback(fraction)


def _stream(
    backend: Backend,
    blocks: Iterator[np.ndarray],
    settings: DecodeSettings,
    bundle: ModelBundle,
    duration: float,
    progress: ProgressFn | None,
    cancel: threading.Event | None,
) -> Iterator[Segment]:
    report = _Progress(progress, duration)
    buffer = np.zeros(0, dtype=np.float32)
    buffer_start = 0.0  # media time of buffer[0]
    exhausted = False
    chunk_seconds = DEFAULTS.first_chunk_seconds
    last_end = 0.0
    try:
        while True:
            check_cancel(cancel)
            want = round(chunk_seconds * SAMPLE_RATE)
            pieces = [buffer]
            held = len(buffer)
            while held < want and not exhausted:
                block = next(blocks, None)
                if block is None:
                    exhausted = True
                    break
                pieces.append(block)
                held += len(block)
                check_cancel(cancel)
            buffer = np.concatenate(pieces) if len(pieces) > 1 else buffer
            if not len(buffer):
                break
            final = exhausted and len(buffer) <= want
            chunk = buffer[:want]
            chunk_len = len(chunk) / SAMPLE_RATE

            def window_progress(fraction: float, _start=buffer_start, _len=chunk_len) -> None:
                report.at(_start + fraction * _len)

            pending: Segment | None = None
            emitted_any = False
            for raw in backend.transcribe_window(
                chunk, settings, cancel=cancel, progress=window_progress
            ):
                segment = _shift(raw, buffer_start, last_end)
                if segment is None:
                    continue
                if pending is not None:
                    yield _personalize(pending, bundle)
                    emitted_any = True
                    last_end = pending.end
                pending = segment
            check_cancel(cancel)
            if final:
                if pending is not None:
                    yield _personalize(pending, bundle)
                    last_end = pending.end
                report.at(duration)
                return
            # Not the last chunk: its last segment may be cut by the chunk's end.
            restart, keep_pending = next_chunk_start(
                buffer_start, chunk_len, pending, last_end if emitted_any else None
            )
            if keep_pending and pending is not None:
                yield _personalize(pending, bundle)
                last_end = pending.end
            drop = min(len(buffer), round((restart - buffer_start) * SAMPLE_RATE))
            buffer = buffer[drop:]
            buffer_start += drop / SAMPLE_RATE
            report.at(buffer_start)
            chunk_seconds = DEFAULTS.chunk_seconds
    finally:
        close = getattr(blocks, "close", None)
        if close is not None:
            close()


def next_chunk_start(
    chunk_start: float, chunk_len: float, last: Segment | None, emitted_end: float | None
) -> tuple[float, bool]:
    """Where the next chunk starts, and whether the chunk's last segment is kept.

    ``last`` is the chunk's last segment (held back), ``emitted_end`` the end of
    the segment emitted before it (``None`` if none was). Times are media times.
    A last segment ending near the chunk's end may be cut: it is dropped and
    decoded again from where the previous segment ended, as Whisper's own
    long-form decoding seeks to its last complete segment.
    """
    chunk_end = chunk_start + chunk_len
    floor = chunk_start + _MIN_ADVANCE
    tail = chunk_end - _TAIL_OVERLAP
    if last is None:  # nothing heard in the whole chunk
        return max(floor, tail), False
    if last.end < chunk_end - _CUT_MARGIN:  # complete: silence follows it
        return max(floor, last.end, tail), True
    resume = emitted_end if emitted_end is not None else last.start - 0.5
    if resume >= floor:
        return resume, False
    return max(floor, last.end), True  # cannot move on without it: keep it


def _shift(segment: Segment, offset: float, not_before: float) -> Segment | None:
    """A window's segment in media time, starting no earlier than what was already emitted."""
    start = max(segment.start + offset, not_before)
    end = segment.end + offset
    if not segment.text.strip():
        return None
    if end <= start:
        end = start
    words = tuple(
        Word(
            w.text,
            round(min(max(w.start + offset, start), end), 3),
            round(min(max(w.end + offset, start), end), 3),
            w.probability,
        )
        for w in segment.words
    )
    return replace(segment, start=round(start, 3), end=round(end, 3), words=words)


def _personalize(segment: Segment, bundle: ModelBundle) -> Segment:
    if not bundle.rules:
        return segment
    rewritten, fired = apply_rules(segment, bundle.rules)
    if fired:
        log.debug("rules fired at %.2fs: %s", segment.start, [r.target for r in fired])
    return rewritten
