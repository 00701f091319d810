"""Typed errors raised by the engine.

Every error carries a message written for the user: one sentence saying what
happened and what to do. The CLI prints it as ``tiro: error: <message>``; the
app shows it in a dialog or the queue.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class for every error the engine raises on purpose."""


class AudioDecodeError(EngineError):
    """The media file is missing, unreadable, corrupt or has no audio."""


class ModelError(EngineError):
    """A model file could not be prepared or loaded."""


class ModelMissingError(ModelError):
    """A model file that should exist does not."""


class ModelCorruptError(ModelError):
    """A model file exists but fails its checksum or does not load."""


class UnknownBackendError(EngineError):
    """A backend name that the engine does not know."""


class ExportError(EngineError):
    """A transcript could not be written in the requested format or place."""


class TranscriptionCancelled(EngineError):
    """Raised inside a segment iterator when the caller cancelled the job."""
