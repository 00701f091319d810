"""Write fine-tuned weights as a model bundle both serving backends load.

``export_bundle`` turns Whisper-named weights into the same files the base bundle
has, through the engine's converter (``engine.weights``):

    <directory>/
        bundle.json               kind "personal", every file with its sha256
        weights/ct2/              model.bin (float16, the base's structure) + the base's
                                  config.json, tokenizer.json, vocabulary.txt
        weights/ggml-model.bin    whisper.cpp, float16

Everything is written under a hidden staging folder next to ``directory``, with
``bundle.json`` last, and renamed into place: an interrupted export leaves no
folder that could be taken for a model (``remove_partial_exports`` clears leftovers).
Engine loading, checksums and fallback are the same as for every bundle
(``engine.models``). Nothing here imports torch.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from engine.bundle import (
    CT2_DIR,
    GGML_FILES,
    CorrectionRule,
    DecodingDefaults,
    LexiconTerm,
    ModelBundle,
    write_manifest,
)
from engine.digests import sha256_file
from engine.weights import read_model_bin, whisper_to_ct2, write_ct2_model_dir
from engine.weights.atomic import fsync_directory
from engine.weights.convert import TOKENIZER_FILE, ct2_to_ggml
from retrain.finetune.errors import TrainingCancelled

STAGING_MARK = ".partial-"
GGML_VARIANTS: tuple[str, ...] = ("f16",)
NO_DECODING_DEFAULTS = DecodingDefaults()


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise TrainingCancelled()


def export_bundle(
    weights: Mapping[str, np.ndarray],
    base: ModelBundle,
    directory: str | Path,
    *,
    version: str,
    lineage: Mapping[str, Any],
    lexicon: Sequence[LexiconTerm] = (),
    rules: Sequence[CorrectionRule] = (),
    decoding: DecodingDefaults = NO_DECODING_DEFAULTS,
    cancel: threading.Event | None = None,
    ggml_variants: Sequence[str] = GGML_VARIANTS,
) -> ModelBundle:
    """Write ``weights`` (Whisper names) as bundle ``version`` at ``directory``.

    ``base`` is the bundle the weights were trained from: its CTranslate2 model gives
    the variable layout and dtypes, and its other CTranslate2 files are copied. Raises
    ``FileExistsError`` if ``directory`` exists and ``TrainingCancelled`` (leaving
    nothing behind) when ``cancel`` is set. ``ggml_variants`` are the whisper.cpp files
    written (none: a CTranslate2-only bundle, for measurements).
    """
    target = Path(directory)
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    base_ct2 = base.ct2_dir
    if base_ct2 is None:
        raise ValueError(f"the base model {base.version} has no CTranslate2 weights")
    template = read_model_bin(base_ct2 / "model.bin")
    ct2_model = whisper_to_ct2(weights, template)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}{STAGING_MARK}{uuid.uuid4().hex[:8]}"
    try:
        _check(cancel)
        write_ct2_model_dir(ct2_model, staging / CT2_DIR, base_ct2)
        for variant in ggml_variants:
            _check(cancel)
            ct2_to_ggml(
                ct2_model,
                base_ct2 / TOKENIZER_FILE,
                staging / GGML_FILES[variant],
                file_type=variant,  # type: ignore[arg-type]
            )
        _check(cancel)
        relative = sorted(
            p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()
        )
        files = {name: sha256_file(staging / name) for name in relative}
        bundle = ModelBundle(
            version=version,
            kind="personal",
            directory=target,
            base_weights=base.version,
            files=files,
            lexicon=tuple(lexicon),
            rules=tuple(rules),
            decoding=decoding,
            lineage=dict(lineage),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        write_manifest(replace(bundle, directory=staging))  # last: it vouches for the rest
        for folder in (staging / CT2_DIR, staging / "weights", staging):
            fsync_directory(folder)
        _check(cancel)
        staging.rename(target)
        fsync_directory(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return bundle


def remove_partial_exports(parent: str | Path) -> int:
    """Delete staging folders an interrupted export left in ``parent``; how many."""
    root = Path(parent)
    removed = 0
    if root.is_dir():
        for leftover in root.glob(f".*{STAGING_MARK}*"):
            shutil.rmtree(leftover, ignore_errors=True)
            removed += 1
    return removed
