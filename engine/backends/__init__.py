"""Inference backends behind one interface (see ``engine.backends.base.Backend``).

- ``ctranslate2``: faster-whisper / CTranslate2 on the bundle's CT2 weights (int8).
- ``whispercpp``: whisper.cpp through pywhispercpp on the bundle's ggml file.

Importing this package is cheap: a backend's library loads with its first model.
"""

from __future__ import annotations

from engine.backends.base import Backend, DecodeSettings
from engine.errors import UnknownBackendError

BACKEND_NAMES: tuple[str, ...] = ("ctranslate2", "whispercpp")


def backend_class(name: str) -> type[Backend]:
    """The backend class called ``name``; ``UnknownBackendError`` for anything else."""
    if name == "ctranslate2":
        from engine.backends.ctranslate2 import CTranslate2Backend

        return CTranslate2Backend
    if name == "whispercpp":
        from engine.backends.whispercpp import WhisperCppBackend

        return WhisperCppBackend
    raise UnknownBackendError(
        f"unknown backend {name!r}; choose one of: {', '.join(BACKEND_NAMES)}."
    )


__all__ = ["BACKEND_NAMES", "Backend", "DecodeSettings", "backend_class"]
