"""The interface every inference backend implements, and helpers they share.

A backend wraps one loaded model (CTranslate2 or whisper.cpp weights of one
bundle). ``transcribe_window`` decodes one stretch of 16 kHz mono PCM — up to a
few minutes; the transcriber (``engine.transcriber``) cuts long media into such
stretches and stitches the results — and yields ``Segment`` objects lazily,
with times relative to the start of the stretch.

Thread-safety: a loaded backend may be shared by several jobs. Each
implementation documents whether calls run concurrently or one at a time.
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from engine.bundle import ModelBundle
from engine.errors import TranscriptionCancelled
from engine.types import Segment, Word

# Whisper's decoder has 448 positions; a prompt may use at most half of them,
# minus the <|startofprev|> token (openai-whisper: n_text_ctx // 2 - 1).
MAX_PROMPT_TOKENS = 223

ProgressFn = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class DecodeSettings:
    """Fully resolved decoding settings (no ``None``: the transcriber fills defaults).

    ``prompt`` is given to every window of audio (CTranslate2: ``hotwords``;
    whisper.cpp: initial prompt carried to each window), so vocabulary from the
    user's lexicon keeps helping through a long recording.
    """

    beam_size: int = 1
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    word_timestamps: bool = True
    vad: bool = False
    condition_on_previous_text: bool = False
    prompt: str | None = None
    threads: int = 2


@runtime_checkable
class Backend(Protocol):
    """One loaded model behind one inference library."""

    name: str

    def load(self, bundle: ModelBundle, threads: int) -> None:
        """Load the bundle's weights for this backend; raise ``ModelError`` subclasses."""
        ...

    @property
    def weights_sha256(self) -> str:
        """sha256 of the weights file this backend serves (for ``TranscriptionInfo``)."""
        ...

    def transcribe_window(
        self,
        pcm: np.ndarray,
        settings: DecodeSettings,
        *,
        cancel: threading.Event | None = None,
        progress: ProgressFn | None = None,
    ) -> Iterator[Segment]:
        """Segments of ``pcm`` (16 kHz mono float32), times relative to its start.

        Lazy. ``progress`` receives the fraction of ``pcm`` done. When ``cancel``
        is set the iterator raises ``TranscriptionCancelled`` within a second.
        """
        ...

    def close(self) -> None:
        """Free the model (optional: garbage collection frees it too)."""
        ...


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise TranscriptionCancelled("transcription cancelled; nothing was saved.")


def compression_ratio(text: str) -> float:
    """Whisper's gzip compression ratio of a text (high: repetitive, likely a loop)."""
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data))


def word_probability(token_probabilities: list[float]) -> float:
    """A word's confidence: the mean of its tokens' probabilities (as faster-whisper)."""
    if not token_probabilities:
        return 0.0
    return float(np.mean(token_probabilities))


def clamp_words(words: list[Word], start: float, end: float) -> tuple[Word, ...]:
    """Words with times inside [start, end] and non-decreasing."""
    out: list[Word] = []
    cursor = start
    for w in words:
        w_start = min(max(w.start, cursor), end)
        w_end = min(max(w.end, w_start), end)
        prob = w.probability if math.isfinite(w.probability) else 0.0
        out.append(Word(w.text, round(w_start, 3), round(w_end, 3), round(prob, 4)))
        cursor = w_start
    return tuple(out)
