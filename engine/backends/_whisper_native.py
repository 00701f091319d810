"""The one whisper.cpp call pywhispercpp 1.5.1 does not bind: a segment's no-speech probability.

whisper.cpp computes, for every 30-second window, the probability of its
no-speech token after the start-of-transcript token (as openai-whisper does) and
stores it with each segment; ``whisper_full_get_segment_no_speech_prob`` reads
it. pywhispercpp binds neither that function nor a way to get the raw
``whisper_context *``, so this module

1. loads the very ``libwhisper`` shared library that ``_pywhispercpp`` is linked
   against (already in memory, so ``dlopen`` returns the same handle);
2. reads the raw pointer out of pywhispercpp's ``whisper_context`` object: a
   pybind11 instance keeps a pointer to its C++ value right after the Python
   object header, and that value (``struct whisper_context_wrapper``) starts
   with the ``whisper_context *``;
3. verifies the pointer before trusting it: the model dimensions read through
   it must equal the ones read through pywhispercpp's own bindings.

If any step fails (another platform's wheel layout, another pybind11 layout),
``NativeContext.resolve`` returns ``None`` and the backend reports
``no_speech_prob = nan`` ("unknown"); nothing else depends on this module.
"""

from __future__ import annotations

import ctypes
import logging
import struct
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    try:
        import _pywhispercpp
    except ImportError:  # pragma: no cover - pywhispercpp is a dependency
        return None
    module_dir = Path(_pywhispercpp.__file__).resolve().parent
    candidates = [
        *sorted((module_dir / "pywhispercpp.libs").glob("libwhisper*.so*")),  # Linux wheels
        *sorted((module_dir / "pywhispercpp" / ".dylibs").glob("libwhisper*.dylib")),  # macOS
        *sorted(module_dir.glob("libwhisper*.so*")),
        *sorted(module_dir.glob("libwhisper*.dylib")),
        *sorted(module_dir.glob("whisper*.dll")),
    ]
    for candidate in candidates:
        try:
            lib = ctypes.CDLL(str(candidate))
            lib.whisper_full_get_segment_no_speech_prob.restype = ctypes.c_float
            lib.whisper_full_get_segment_no_speech_prob.argtypes = [ctypes.c_void_p, ctypes.c_int]
            for name in ("whisper_model_n_vocab", "whisper_model_n_text_ctx", "whisper_n_len"):
                getattr(lib, name).argtypes = [ctypes.c_void_p]
                getattr(lib, name).restype = ctypes.c_int
            lib.whisper_full_n_segments.argtypes = [ctypes.c_void_p]
            lib.whisper_full_n_segments.restype = ctypes.c_int
            return lib
        except (OSError, AttributeError):
            continue
    return None


def _pybind_value_pointer(obj: Any) -> int | None:
    """Address of the C++ value held by a simple pybind11 instance."""
    if struct.calcsize("P") != 8 or sys.implementation.name != "cpython":
        return None
    if getattr(sys, "_is_gil_enabled", lambda: True)() is False:
        return None  # free-threaded CPython has a different object header
    header = type(obj).__basicsize__
    if header < 32:  # PyObject header (16 bytes) + value pointer + holder
        return None
    return ctypes.c_void_p.from_address(id(obj) + 16).value


class NativeContext:
    """Raw access to a pywhispercpp context, verified against its own bindings."""

    def __init__(self, lib: ctypes.CDLL, pointer: int):
        self._lib = lib
        self._pointer = pointer

    @classmethod
    def resolve(cls, ctx: Any) -> NativeContext | None:
        import _pywhispercpp as pw

        lib = _library()
        if lib is None:
            log.info("whisper.cpp shared library not found; no_speech_prob will be nan")
            return None
        try:
            value = _pybind_value_pointer(ctx)
            if not value:
                return None
            raw = ctypes.c_void_p.from_address(value).value
            if not raw:
                return None
            same = lib.whisper_model_n_vocab(raw) == pw.whisper_model_n_vocab(
                ctx
            ) and lib.whisper_model_n_text_ctx(raw) == pw.whisper_model_n_text_ctx(ctx)
        except (ValueError, OSError) as exc:
            log.info("could not reach whisper.cpp natively (%s); no_speech_prob will be nan", exc)
            return None
        if not same:
            log.info("whisper.cpp context pointer failed verification; no_speech_prob will be nan")
            return None
        return cls(lib, raw)

    def segment_count(self) -> int:
        return int(self._lib.whisper_full_n_segments(self._pointer))

    def no_speech_prob(self, segment_index: int) -> float:
        return float(
            self._lib.whisper_full_get_segment_no_speech_prob(self._pointer, segment_index)
        )
