"""Which model serves a job, verified, loaded once and kept warm.

- ``load_bundle(path)`` reads a bundle directory and verifies it: the manifest's
  own checksum and the sha256 of every file it lists. Missing pieces raise
  ``ModelMissingError``, damaged ones ``ModelCorruptError``. A verified bundle
  is not hashed again while its files keep their size and modification time.
- ``base_bundle()`` is the factory model (always the fallback).
- ``resolve(bundle)`` decides what serves a job: a personalized bundle's
  lexicon, rules and decoding defaults, on its own weights or the factory
  weights. If the personalized bundle fails verification, the base model serves
  instead and ``ServingModel.notices`` says so.
- ``acquire(backend_name, serving, threads)`` returns a loaded backend from a
  small cache (a second job does not reload), falling back to the base weights
  when a personalized bundle's weights do not load. A new bundle version is a new
  cache entry, so the next job picks it up (hot swap) while a job in flight keeps
  the backend object it already holds.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from engine.backends import backend_class
from engine.backends.base import Backend
from engine.bundle import MANIFEST_NAME, ModelBundle, verify_bundle_files
from engine.bundle import load_bundle as read_bundle_manifest
from engine.errors import ModelError
from engine.prepare import declared_formats, ensure_base_model, format_for_backend

log = logging.getLogger(__name__)

_MAX_LOADED_PER_BACKEND = 3  # a guarded champion holds two (its own and the factory)


# ----------------------------------------------------------------------------- bundles


def load_bundle(path: str | Path) -> ModelBundle:
    """Read and verify the bundle in directory ``path`` (or its ``bundle.json``).

    Checks the manifest's own checksum and every listed file's sha256 (digests
    are cached by size, mtime and inode; see ``engine.digests``). Raises
    ``ModelMissingError`` or ``ModelCorruptError``.
    """
    path = Path(path)
    directory = path.parent if path.name == MANIFEST_NAME else path
    bundle = read_bundle_manifest(directory)
    verify_bundle_files(bundle)
    return bundle


def base_bundle(progress: Callable[[float], None] | None = None) -> ModelBundle:
    """The factory model, prepared on first use (see ``engine.prepare``)."""
    return ensure_base_model(progress=progress)


# ----------------------------------------------------------------------------- serving


@dataclass(frozen=True)
class ServingModel:
    """What serves one job.

    ``bundle`` supplies the lexicon, correction rules and decoding defaults;
    ``weights`` is the bundle whose weight files are loaded (the same bundle, or
    the base model for personalized bundles without their own weights).
    """

    bundle: ModelBundle
    weights: ModelBundle
    notices: tuple[str, ...] = ()

    @property
    def is_fallback(self) -> bool:
        return bool(self.notices)


def resolve(bundle: ModelBundle | str | Path | None = None) -> ServingModel:
    """The model that serves a job asking for ``bundle`` (``None``: the base model)."""
    if bundle is None:
        base = base_bundle()
        return ServingModel(base, base)
    try:
        chosen = load_bundle(bundle) if isinstance(bundle, (str, Path)) else bundle
        if isinstance(bundle, ModelBundle) and bundle.directory is not None and bundle.files:
            verify_bundle_files(bundle)
    except ModelError as exc:
        return _fallback(
            f"the personalized model could not be used ({exc}); "
            "the base model transcribed this instead."
        )
    if chosen.kind == "base" or chosen.has_own_weights:
        return ServingModel(chosen, chosen)
    base = base_bundle()
    return ServingModel(chosen, base)


def _fallback(notice: str) -> ServingModel:
    log.warning("%s", notice)
    base = base_bundle()
    return ServingModel(base, base, (notice,))


# ----------------------------------------------------------------------------- loaded backends


_Key = tuple[str, str, str, str, str, int]
_loaded: OrderedDict[_Key, Backend] = OrderedDict()
_loaded_lock = threading.Lock()
_loading_locks: dict[_Key, threading.Lock] = {}


def _key(name: str, variant: str, weights: ModelBundle, threads: int) -> _Key:
    """A loaded backend's identity: the folder and version, and the verified sha256 of
    every file (a folder rewritten in place under the same version is new weights)."""
    directory = str(weights.directory.resolve()) if weights.directory else ""
    content = hashlib.sha256(repr(sorted(weights.files.items())).encode()).hexdigest()
    return (name, variant, directory, weights.version, content, threads)


def _new_backend(name: str, variant: str) -> Backend:
    cls = backend_class(name)
    return cls(variant=variant) if name == "whispercpp" else cls()


def _load(name: str, weights: ModelBundle, threads: int, variant: str) -> Backend:
    key = _key(name, variant, weights, threads)
    with _loaded_lock:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
        loading = _loading_locks.setdefault(key, threading.Lock())
    with loading:  # two jobs asking at once load once
        with _loaded_lock:
            if key in _loaded:
                return _loaded[key]
        backend = _new_backend(name, variant)
        backend.load(weights, threads)
        with _loaded_lock:
            _loaded[key] = backend
            same_backend = [k for k in _loaded if k[0] == name]
            for old in same_backend[:-_MAX_LOADED_PER_BACKEND]:
                # jobs still holding it keep it alive; it is freed when they finish
                del _loaded[old]
            _loading_locks.pop(key, None)
        return backend


def _base_with_format(name: str, variant: str, base: ModelBundle) -> ModelBundle:
    """``base``, or the full base bundle when ``base`` lacks the backend's weight format.

    A packaged build ships only the default backend's format; another backend's is
    prepared once into TIRO_HOME on its first use (see ``engine.prepare``).
    """
    needed = format_for_backend(name, variant or "f16")
    if base.kind != "base" or needed in declared_formats(base):
        return base
    log.info("base model %s has no %s weights here; preparing them", base.version, needed)
    return ensure_base_model(formats=(needed,))


def _with_base_format(name: str, variant: str, serving: ServingModel) -> ServingModel:
    weights = _base_with_format(name, variant, serving.weights)
    if weights is serving.weights:
        return serving
    bundle = weights if serving.bundle.kind == "base" else serving.bundle
    return replace(serving, bundle=bundle, weights=weights)


def acquire(
    name: str, serving: ServingModel, threads: int, variant: str = "f16"
) -> tuple[Backend, ServingModel]:
    """A loaded backend for ``serving``; falls back to the base model if its weights fail.

    ``variant`` picks the whisper.cpp weight type ("f16" or "q8_0"); CTranslate2
    ignores it.
    """
    variant = variant if name == "whispercpp" else ""
    serving = _with_base_format(name, variant, serving)
    try:
        return _load(name, serving.weights, threads, variant), serving
    except ModelError as exc:
        if serving.weights.kind == "base":
            raise
        notice = (
            f"the personalized model {serving.weights.version} did not load ({exc}); "
            "the base model transcribed this instead."
        )
        log.warning("%s", notice)
        base = _base_with_format(name, variant, base_bundle())
        fallback = replace(serving, bundle=base, weights=base, notices=(*serving.notices, notice))
        return _load(name, base, threads, variant), fallback


def loaded_count() -> int:
    """How many backends are loaded (for tests and diagnostics)."""
    with _loaded_lock:
        return len(_loaded)


def unload_all() -> None:
    """Drop every cached backend (jobs in flight keep theirs)."""
    with _loaded_lock:
        _loaded.clear()
