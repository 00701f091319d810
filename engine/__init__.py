"""Tiro's model component: media in, transcript segments out.

No Qt and no SQLite here (an import-linter contract enforces it). The public
interface is re-exported from this package; see ``engine.types`` for the values
that cross into the other layers.
"""

from engine.errors import (
    AudioDecodeError,
    EngineError,
    ExportError,
    ModelCorruptError,
    ModelError,
    ModelMissingError,
    TranscriptionCancelled,
    UnknownBackendError,
)
from engine.transcriber import transcribe
from engine.types import MediaInfo, Segment, TranscribeOptions, TranscriptionInfo, Word

__all__ = [
    "AudioDecodeError",
    "EngineError",
    "ExportError",
    "MediaInfo",
    "ModelCorruptError",
    "ModelError",
    "ModelMissingError",
    "Segment",
    "TranscribeOptions",
    "TranscriptionCancelled",
    "TranscriptionInfo",
    "UnknownBackendError",
    "Word",
    "transcribe",
]
