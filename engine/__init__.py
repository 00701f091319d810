"""Tiro's model component: media in, transcript segments out.

No Qt and no SQLite here (an import-linter contract enforces it). The public
interface is re-exported from this package; see ``engine.types`` for the values
that cross into the other layers.
"""

from engine.errors import (
    AudioDecodeError,
    EngineError,
    ModelError,
    ModelMissingError,
    TranscriptionCancelled,
)
from engine.types import Segment, TranscribeOptions, TranscriptionInfo, Word

__all__ = [
    "AudioDecodeError",
    "EngineError",
    "ModelError",
    "ModelMissingError",
    "Segment",
    "TranscribeOptions",
    "TranscriptionCancelled",
    "TranscriptionInfo",
    "Word",
]
