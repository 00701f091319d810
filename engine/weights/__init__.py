"""Model weights in their file formats, and conversions between them.

A self-contained package (numpy only): the engine uses it to prepare the bundled
model for whisper.cpp, and the learning pipeline to serve fine-tuned weights
through either backend.

* ``ct2``: CTranslate2 ``model.bin`` <-> named arrays (bit-exact round trip);
  ``write_ct2_model_dir`` for a complete model directory.
* ``names``: CTranslate2 <-> Whisper (= ggml) names, fused projections split and
  re-fused, and Hugging Face transformers <-> Whisper names; Whisper names are the hub
  other namings map to.
* ``ggml``: whisper.cpp's file (f32/f16/q8_0): writer, reader, mel filters, vocabulary.
* ``quantize``: CTranslate2's int8 storage (what packaged builds ship) and back.
* ``convert``: the whole-model conversions built from those.
"""

from engine.weights.convert import ct2_dir_to_ggml, ct2_to_ggml
from engine.weights.ct2 import (
    CT2FormatError,
    CT2Model,
    read_model_bin,
    write_ct2_model_dir,
    write_model_bin,
)
from engine.weights.ggml import (
    GgmlFormatError,
    GgmlModel,
    check_whisper_ggml,
    read_ggml,
    write_ggml,
)
from engine.weights.names import (
    Link,
    WhisperDims,
    ct2_links,
    ct2_to_whisper,
    from_hub,
    hf_links,
    hf_to_whisper,
    iter_ct2_as_whisper,
    to_hub,
    whisper_names,
    whisper_to_ct2,
    whisper_to_hf,
)
from engine.weights.quantize import dequantized, is_int8, quantize_int8

__all__ = [
    "CT2FormatError",
    "CT2Model",
    "GgmlFormatError",
    "GgmlModel",
    "Link",
    "WhisperDims",
    "check_whisper_ggml",
    "ct2_dir_to_ggml",
    "ct2_links",
    "ct2_to_ggml",
    "ct2_to_whisper",
    "dequantized",
    "from_hub",
    "hf_links",
    "hf_to_whisper",
    "is_int8",
    "iter_ct2_as_whisper",
    "quantize_int8",
    "read_ggml",
    "read_model_bin",
    "to_hub",
    "whisper_names",
    "whisper_to_ct2",
    "whisper_to_hf",
    "write_ct2_model_dir",
    "write_ggml",
    "write_model_bin",
]
