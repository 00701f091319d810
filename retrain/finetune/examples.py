"""What fine-tuning learns from: audio and the text the user approved for it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Role = Literal["correction", "replay"]


@dataclass(frozen=True)
class TrainingExample:
    """One clip (16 kHz mono float32, at most 30 s) and its reference text.

    ``role`` is ``"correction"`` for a segment the user corrected and ``"replay"`` for
    speech the model must keep getting right (the shipped general reference set, the
    user's reviewed-unchanged segments). ``prompt`` is the decoder prompt serving would
    use for it (the lexicon prompt), or ``None``.
    """

    example_id: str
    audio: np.ndarray
    text: str
    role: Role = "correction"
    prompt: str | None = None

    def digest(self) -> str:
        audio = np.ascontiguousarray(self.audio, dtype=np.float32)
        h = hashlib.sha256()
        for part in (self.example_id, self.role, self.text, self.prompt or ""):
            h.update(part.encode("utf-8"))
            h.update(b"\0")
        h.update(audio.tobytes())
        return h.hexdigest()


def examples_hash(examples: Sequence[TrainingExample]) -> str:
    """sha256 over every example's content, independent of their order."""
    h = hashlib.sha256()
    for digest in sorted(e.digest() for e in examples):
        h.update(bytes.fromhex(digest))
    return h.hexdigest()
