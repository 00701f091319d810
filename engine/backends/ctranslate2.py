"""CTranslate2 backend: faster-whisper's ``WhisperModel`` on a bundle's CT2 weights.

Loads only from the bundle's local directory (``local_files_only``; the
directory holds ``tokenizer.json``, so faster-whisper never asks the Hugging
Face hub for anything). Weights are quantized to int8 on load.

Thread-safety: one loaded model serves several jobs at once; CTranslate2 runs
concurrent calls (``num_workers`` sets how many in parallel). Cancellation is
per job: each job decodes through its own shallow copy of the model whose every
CTranslate2 call (encode, generate, align) first checks the job's cancel event.
One such call takes well under a second for tiny.en on two cores.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import numpy as np

from engine.backends.base import (
    MAX_PROMPT_TOKENS,
    DecodeSettings,
    ProgressFn,
    check_cancel,
    clamp_words,
)
from engine.bundle import ModelBundle
from engine.errors import ModelCorruptError, ModelMissingError
from engine.features import log_mel
from engine.types import Segment, Word

os.environ.setdefault("HF_HUB_OFFLINE", "1")

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
COMPUTE_TYPE = "int8"
SAMPLING_SEED = 0  # temperature fallback's random sampling (see _load)


class _EncoderMemo:
    """Encoder outputs by the hash of their input features, bounded in memory (LRU)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.hits = 0
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def _key(features: np.ndarray) -> str:
        return hashlib.sha1(np.ascontiguousarray(features).tobytes()).hexdigest()

    def lookup(self, features: np.ndarray) -> Any | None:
        with self._lock:
            hit = self._items.get(self._key(features))
        return None if hit is None else hit[0]

    def encode(self, features: np.ndarray, compute: Any) -> Any:
        key = self._key(features)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return hit[0]
        value = compute(features)
        size = int(np.prod(value.shape)) * 4
        with self._lock:
            if size <= self.max_bytes and key not in self._items:
                self._items[key] = (value, size)
                self._bytes += size
                while self._bytes > self.max_bytes:
                    _, (_, dropped) = self._items.popitem(last=False)
                    self._bytes -= dropped
        return value


_memo: _EncoderMemo | None = None
_job_memo: ContextVar[_EncoderMemo | None] = ContextVar("tiro_job_encoder_memo", default=None)


@contextlib.contextmanager
def memoized_encoder(max_mb: int = 512) -> Iterator[_EncoderMemo]:
    """Within this block, re-decoding the same audio reuses its encoder output.

    For the learning pipeline, which decodes the same clips many times with different
    prompts: the prompt only changes the decoder, and the encoder is deterministic, so
    the text is exactly what an uncached decode gives. Serving never enables it.
    """
    global _memo
    previous, _memo = _memo, _EncoderMemo(max_mb * 1024 * 1024)
    try:
        yield _memo
    finally:
        _memo = previous


def memoized_output(features: np.ndarray) -> np.ndarray | None:
    """The encoder output (frames, d) that the active ``memoized_encoder`` block holds
    for ``features`` (one (80, 3000) window), or None. Every bundle shares the base
    model's encoder (fine-tuning trains only the decoder), so the output is valid for
    any of them: the fine-tuning worker is handed these instead of encoding again.
    """
    memo = _memo
    value = None if memo is None else memo.lookup(features)
    if value is None:
        return None
    array = np.array(value, dtype=np.float32)
    return array.reshape(array.shape[-2:])


@contextlib.contextmanager
def unmemoized_encoder() -> Iterator[None]:
    """Within this block every decode runs the encoder again, as serving does.

    For measuring decoding cost (real-time factor) inside a pipeline run, where
    ``memoized_encoder`` would otherwise make the encoder look free.
    """
    global _memo
    previous, _memo = _memo, None
    try:
        yield
    finally:
        _memo = previous


@contextlib.contextmanager
def shared_encoder(max_mb: int = 64) -> Iterator[None]:
    """Within this block (this thread or task only), decodes of the same window reuse its
    encoder output: guarded serving decodes each window with two bundles, and every bundle
    shares the base model's encoder (fine-tuning trains only the decoder)."""
    token = _job_memo.set(_EncoderMemo(max_mb * 1024 * 1024))
    try:
        yield
    finally:
        _job_memo.reset(token)


class _CancellableModel:
    """A ``ctranslate2.models.Whisper`` whose heavy calls check a cancel event first."""

    _CHECKED = frozenset({"encode", "generate", "align", "detect_language"})

    def __init__(self, inner: Any, cancel: threading.Event | None):
        self._inner = inner
        self._cancel = cancel

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self._CHECKED:
            return attr

        def checked(*args: Any, **kwargs: Any) -> Any:
            check_cancel(self._cancel)
            return attr(*args, **kwargs)

        return checked


def _frugal_feature_extractor(original: Any) -> Any:
    """faster-whisper's feature extractor, computing the same features slice by slice."""
    from faster_whisper.feature_extractor import FeatureExtractor

    class FrugalFeatureExtractor(FeatureExtractor):
        def __call__(self, waveform: np.ndarray, padding: int = 160, chunk_length=None):
            if chunk_length is not None:
                self.n_samples = chunk_length * self.sampling_rate
                self.nb_max_frames = self.n_samples // self.hop_length
            return log_mel(waveform, padding=padding, n_mels=self.mel_filters.shape[0])

    frugal = FrugalFeatureExtractor.__new__(FrugalFeatureExtractor)
    frugal.__dict__.update(original.__dict__)
    return frugal


def _shared_prompt_budget(model: Any) -> Any:
    """faster-whisper's ``get_prompt``, with hotwords and previous text sharing one budget.

    faster-whisper gives hotwords and the previous text up to 223 tokens *each*;
    CTranslate2 counts the prompt against the 448 positions, so a long lexicon
    prompt plus conditioning would leave almost nothing to decode. Here the
    previous text is cut so both together stay within 223 tokens (as
    openai-whisper and whisper.cpp's ``carry_initial_prompt`` do).
    """
    original = model.get_prompt
    budget = MAX_PROMPT_TOKENS

    def get_prompt(
        tokenizer, previous_tokens, without_timestamps=False, prefix=None, hotwords=None
    ):
        if hotwords and not prefix and previous_tokens:
            used = len(tokenizer.encode(" " + hotwords.strip())[:budget])
            room = max(0, budget - used)
            previous_tokens = previous_tokens[-room:] if room else []
        return original(tokenizer, previous_tokens, without_timestamps, prefix, hotwords)

    return get_prompt


class CTranslate2Backend:
    name = "ctranslate2"
    shared_encoder = staticmethod(shared_encoder)

    def __init__(self) -> None:
        self._model: Any = None
        self._sha256 = ""

    @property
    def weights_sha256(self) -> str:
        return self._sha256

    def load(self, bundle: ModelBundle, threads: int) -> None:
        ct2_dir = bundle.ct2_dir
        if ct2_dir is None:
            raise ModelMissingError(
                f"model {bundle.version} has no CTranslate2 weights; "
                "use the whisper.cpp backend or reinstall Tiro."
            )
        if not (ct2_dir / "model.bin").is_file() or not (ct2_dir / "tokenizer.json").is_file():
            raise ModelMissingError(
                f"the CTranslate2 weights of model {bundle.version} are missing ({ct2_dir}); "
                "reinstall Tiro or delete the model folder so it is prepared again."
            )
        import ctranslate2
        from faster_whisper import WhisperModel  # heavy import, only when a model loads

        # Temperature fallback samples at random. CTranslate2 seeds each of its threads'
        # generators from this seed when the thread first samples, so a process decodes
        # the same jobs in the same order the same way in every run (unseeded, the
        # learning pipeline scored prompted candidates differently from run to run).
        # Re-seeding later does not reach generators that exist already.
        ctranslate2.set_random_seed(SAMPLING_SEED)

        try:
            self._model = WhisperModel(
                str(ct2_dir),
                device="cpu",
                compute_type=COMPUTE_TYPE,
                cpu_threads=max(1, threads),
                num_workers=1,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelCorruptError(
                f"the CTranslate2 weights of model {bundle.version} do not load ({exc}); "
                "delete the model folder so it is prepared again."
            ) from exc
        self._model.feature_extractor = _frugal_feature_extractor(self._model.feature_extractor)
        self._sha256 = bundle.files.get("weights/ct2/model.bin", "")

    def close(self) -> None:
        self._model = None

    def count_tokens(self, text: str) -> int:
        return len(self._model.hf_tokenizer.encode(" " + text.strip()).ids)

    def transcribe_window(
        self,
        pcm: np.ndarray,
        settings: DecodeSettings,
        *,
        cancel: threading.Event | None = None,
        progress: ProgressFn | None = None,
    ) -> Iterator[Segment]:
        if self._model is None:
            raise ModelMissingError("the CTranslate2 model is not loaded.")
        check_cancel(cancel)
        job_model = copy.copy(self._model)
        job_model.model = _CancellableModel(self._model.model, cancel)
        job_model.get_prompt = _shared_prompt_budget(job_model)
        memo = _memo if _memo is not None else _job_memo.get()
        if memo is not None:
            plain_encode = job_model.encode
            job_model.encode = lambda features: memo.encode(features, plain_encode)
        duration = len(pcm) / SAMPLE_RATE
        hotwords = settings.prompt.strip() if settings.prompt else None
        segments, _info = job_model.transcribe(
            pcm,
            language="en",
            beam_size=settings.beam_size,
            best_of=max(1, settings.beam_size),
            temperature=list(settings.temperatures),
            condition_on_previous_text=settings.condition_on_previous_text,
            hotwords=hotwords,
            word_timestamps=settings.word_timestamps,
            vad_filter=settings.vad,
            without_timestamps=False,
        )
        for seg in segments:
            check_cancel(cancel)
            yield _to_segment(seg, duration)
            if progress is not None and duration > 0:
                progress(min(1.0, seg.end / duration))
        if progress is not None:
            progress(1.0)


def _to_segment(seg: Any, duration: float) -> Segment:
    start = max(0.0, float(seg.start))
    end = min(max(float(seg.end), start), duration if duration > 0 else float(seg.end))
    words: list[Word] = []
    for w in seg.words or ():
        text = w.word.strip()
        if text:
            words.append(Word(text, float(w.start), float(w.end), float(w.probability)))
    return Segment(
        start=round(start, 3),
        end=round(end, 3),
        text=seg.text.strip(),
        words=clamp_words(words, start, end),
        avg_logprob=float(seg.avg_logprob),
        no_speech_prob=float(seg.no_speech_prob),
        compression_ratio=float(seg.compression_ratio),
    )


__all__ = ["MAX_PROMPT_TOKENS", "CTranslate2Backend"]
