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


def __getattr__(name: str):
    # ``transcribe`` loads PyAV and the model machinery: only when it is asked for,
    # so ``import engine.types`` stays light for the other layers.
    if name == "transcribe":
        from engine.transcriber import transcribe

        return transcribe
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
