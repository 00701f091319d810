"""Whole-model conversions built from ``ct2``, ``names`` and ``ggml``."""

from __future__ import annotations

from pathlib import Path

from engine.weights.ct2 import MODEL_FILE, CT2Model, read_model_bin
from engine.weights.ggml import FileType, Progress, vocabulary_from_tokenizer, write_ggml
from engine.weights.names import WhisperDims, iter_ct2_as_whisper, whisper_names

TOKENIZER_FILE = "tokenizer.json"


def ct2_to_ggml(
    model: CT2Model,
    tokenizer_json: str | Path,
    destination: str | Path,
    *,
    file_type: FileType = "f16",
    progress: Progress | None = None,
) -> Path:
    """Write ``model``'s weights as a whisper.cpp file of ``file_type`` at ``destination``."""
    dims = WhisperDims.from_ct2(model)
    return write_ggml(
        destination,
        dims,
        iter_ct2_as_whisper(model),
        vocabulary_from_tokenizer(tokenizer_json),
        file_type=file_type,
        tensor_count=len(whisper_names(dims)),
        progress=progress,
    )


def ct2_dir_to_ggml(
    ct2_dir: str | Path,
    destination: str | Path,
    *,
    file_type: FileType = "f16",
    progress: Progress | None = None,
) -> Path:
    """Convert a CTranslate2 Whisper model directory (model.bin + tokenizer.json)."""
    source = Path(ct2_dir)
    return ct2_to_ggml(
        read_model_bin(source / MODEL_FILE),
        source / TOKENIZER_FILE,
        destination,
        file_type=file_type,
        progress=progress,
    )
