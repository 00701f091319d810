"""whisper.cpp's ggml model file: write it (f32, f16 or q8_0) and read it back.

Layout (little-endian int32 unless noted)::

    magic 0x67676d6c ("ggml")
    11 hyper-parameters: n_vocab, n_audio_ctx, n_audio_state, n_audio_head,
        n_audio_layer, n_text_ctx, n_text_state, n_text_head, n_text_layer,
        n_mels, ftype
    mel filters: n_mel, n_fft, then n_mel x n_fft float32
    vocabulary: count, then per token its byte length and raw bytes
    tensors until the end of the file, each:
        n_dims, name length, ttype, dims innermost first, name bytes, data

The vocabulary is GPT-2's byte-level BPE as raw bytes in rank order, without
``<|endoftext|>`` or any special token: whisper.cpp adds the special tokens itself
from ``n_vocab`` (>= 51865 means multilingual).

Which tensors get which type (as OpenAI's ``convert-pt-to-ggml.py`` and
whisper.cpp's ``quantize`` tool decide, and as whisper.cpp's loader expects):

* conv biases are stored reshaped to ``(n, 1)``;
* 1-D tensors, conv biases and both positional embeddings are float32;
* every other tensor is float16 in an f16 file;
* in a q8_0 file, the 2-D ones among those (every matmul weight and the token
  embedding) are q8_0; the 3-D conv weights stay float16.

The header's ``ftype`` is 1 for f16 and ``GGML_QNT_VERSION * 1000 + 7`` = 2007 for
q8_0 (the quantize tool stamps the quantization version; whisper.cpp takes it
modulo 1000).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from engine.weights.atomic import atomic_writer
from engine.weights.names import WhisperDims

GGML_MAGIC = 0x67676D6C
GGML_QNT_VERSION = 2
GGML_QNT_VERSION_FACTOR = 1000

# ggml_type ids of the tensor types used here.
TYPE_F32 = 0
TYPE_F16 = 1
TYPE_Q8_0 = 8
# ggml_ftype ids (the file-wide "mostly" type).
FTYPE_ALL_F32 = 0
FTYPE_MOSTLY_F16 = 1
FTYPE_MOSTLY_Q8_0 = 7

QK8_0 = 32
Q8_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "i1", (QK8_0,))])  # 34 bytes, as ggml's block_q8_0

FileType = Literal["f32", "f16", "q8_0"]
FILE_FTYPES: dict[str, int] = {
    "f32": FTYPE_ALL_F32,
    "f16": FTYPE_MOSTLY_F16,
    "q8_0": GGML_QNT_VERSION * GGML_QNT_VERSION_FACTOR + FTYPE_MOSTLY_Q8_0,
}

ALWAYS_F32 = frozenset(
    {
        "encoder.conv1.bias",
        "encoder.conv2.bias",
        "encoder.positional_embedding",
        "decoder.positional_embedding",
    }
)
RESHAPED_TO_COLUMN = frozenset({"encoder.conv1.bias", "encoder.conv2.bias"})

Progress = Callable[[float], None]


class GgmlFormatError(ValueError):
    """The bytes are not a whisper.cpp ggml model this reader understands."""


# ---------------------------------------------------------------- mel filters


def _hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    # Slaney's auditory toolbox scale: linear below 1 kHz (3 mels per 200 Hz),
    # logarithmic above (27 mels per factor 6.4).
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3.0)
    knee_mel = 1000.0 / (200.0 / 3.0)
    log_step = np.log(6.4) / 27.0
    above = knee_mel + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step
    return np.where(hz >= 1000.0, above, linear)


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    knee_mel = 1000.0 / (200.0 / 3.0)
    log_step = np.log(6.4) / 27.0
    linear = mel * (200.0 / 3.0)
    above = 1000.0 * np.exp(log_step * (mel - knee_mel))
    return np.where(mel >= knee_mel, above, linear)


@lru_cache(maxsize=4)
def mel_filters(sample_rate: int = 16000, n_fft: int = 400, n_mels: int = 80) -> np.ndarray:
    """Slaney-normalized triangular mel filters, shape ``(n_mels, n_fft // 2 + 1)``, float32.

    Computed in float64 and rounded once: the matrix librosa produces for
    ``mel(sr, n_fft, n_mels)`` with its defaults (fmin 0, fmax sr/2, Slaney scale and
    area normalization), which is what Whisper was trained with.
    """
    bins = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    edges = _mel_to_hz_slaney(
        np.linspace(_hz_to_mel_slaney(0.0), _hz_to_mel_slaney(sample_rate / 2.0), n_mels + 2)
    )
    widths = np.diff(edges)
    offsets = edges[:, None] - bins[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    out = weights.astype(np.float32)
    out.setflags(write=False)
    return out


# ---------------------------------------------------------------- vocabulary


@lru_cache(maxsize=1)
def gpt2_unicode_to_byte() -> dict[str, int]:
    """The inverse of GPT-2's ``bytes_to_unicode``: one character per byte value.

    Bytes that are printable Latin-1 (``!``..``~``, ``¡``..``¬``, ``®``..``ÿ``) stand for
    themselves; the other 68 bytes, in increasing order, take the characters from
    U+0100 on.
    """
    printable = {*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)}
    table = {chr(b): b for b in printable}
    others = [b for b in range(256) if b not in printable]
    table.update({chr(0x100 + i): b for i, b in enumerate(others)})
    return table


def token_bytes(token: str) -> bytes:
    """A byte-level BPE token (as stored in tokenizer.json) back to its raw bytes."""
    table = gpt2_unicode_to_byte()
    try:
        return bytes(table[ch] for ch in token)
    except KeyError as exc:
        raise ValueError(f"{token!r} is not a byte-level BPE token") from exc


def vocabulary_from_tokenizer(tokenizer_json: str | Path) -> list[bytes]:
    """The BPE vocabulary as raw bytes in rank order, special tokens left out.

    Reads a Hugging Face ``tokenizer.json`` (byte-level BPE). For Whisper's English
    tokenizer this is GPT-2's 50,256 tokens.
    """
    data = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    model = data.get("model") or {}
    if model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
        raise ValueError(f"{tokenizer_json} is not a byte-level BPE tokenizer")
    special = {entry["content"] for entry in data.get("added_tokens", [])}
    ranked = sorted((rank, token) for token, rank in model["vocab"].items() if token not in special)
    if [rank for rank, _ in ranked] != list(range(len(ranked))):
        raise ValueError(f"{tokenizer_json}: token ranks are not contiguous from 0")
    return [token_bytes(token) for _, token in ranked]


# ---------------------------------------------------------------- q8_0


def _round_half_away(values: np.ndarray) -> np.ndarray:
    # C's roundf: halves go away from zero (numpy's rint goes to even).
    truncated = np.trunc(values)
    half = np.abs(values - truncated) == 0.5
    return np.where(half, truncated + np.sign(values), np.rint(values))


def quantize_q8_0(values: np.ndarray, *, chunk_blocks: int = 1 << 15) -> np.ndarray:
    """ggml's reference q8_0 quantization of a row-major array (last axis % 32 == 0).

    Returns a 1-D array of ``Q8_0_BLOCK`` records, blocks of 32 consecutive values
    along the last axis: ``d = max|x| / 127`` stored as float16, ``qs = roundf(x / d)``.
    Works through ``chunk_blocks`` blocks at a time so temporaries stay a few MB.
    """
    source = np.asarray(values)
    if source.ndim == 0 or source.shape[-1] % QK8_0:
        raise ValueError(f"q8_0 needs rows that are a multiple of {QK8_0} (shape {source.shape})")
    flat = source.reshape(-1, QK8_0)  # a view for contiguous input
    out = np.empty(flat.shape[0], dtype=Q8_0_BLOCK)
    for start in range(0, flat.shape[0], chunk_blocks):
        blocks = flat[start : start + chunk_blocks].astype(np.float32)
        scale = np.abs(blocks).max(axis=1) / np.float32(127)
        nonzero = scale != 0
        inverse = np.zeros_like(scale)
        inverse[nonzero] = np.float32(1) / scale[nonzero]
        part = out[start : start + chunk_blocks]
        part["d"] = scale.astype(np.float16)
        part["qs"] = _round_half_away(blocks * inverse[:, None]).astype(np.int8)
    return out


def dequantize_q8_0(blocks: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Float32 values of q8_0 ``blocks``, reshaped to ``shape``."""
    blocks = np.asarray(blocks).view(Q8_0_BLOCK).reshape(-1)
    values = blocks["qs"].astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return values.reshape(tuple(shape))


# ---------------------------------------------------------------- writing


def tensor_type(name: str, ndim: int, file_type: FileType) -> int:
    """The ggml type a tensor is stored as (``ndim`` after the conv-bias reshape)."""
    if file_type == "f32" or ndim < 2 or name in ALWAYS_F32:
        return TYPE_F32
    if file_type == "q8_0" and ndim == 2:
        return TYPE_Q8_0
    return TYPE_F16


def _tensor_payload(
    name: str, array: np.ndarray, file_type: FileType
) -> tuple[int, np.ndarray, np.ndarray]:
    data = np.asarray(array)
    if name in RESHAPED_TO_COLUMN:
        data = data.reshape(data.shape[0], 1)
    ttype = tensor_type(name, data.ndim, file_type)
    if ttype == TYPE_F32:
        raw = np.ascontiguousarray(data, dtype="<f4")
    elif ttype == TYPE_F16:
        raw = np.ascontiguousarray(data, dtype="<f2")  # no copy for float16 input
    else:
        raw = quantize_q8_0(data)
    return ttype, data, raw


def _write_header(
    handle: BinaryIO,
    dims: WhisperDims,
    file_type: FileType,
    vocabulary: Sequence[bytes],
    filters: np.ndarray,
) -> None:
    hparams = (
        dims.n_vocab,
        dims.n_audio_ctx,
        dims.n_audio_state,
        dims.n_audio_head,
        dims.n_audio_layer,
        dims.n_text_ctx,
        dims.n_text_state,
        dims.n_text_head,
        dims.n_text_layer,
        dims.n_mels,
        FILE_FTYPES[file_type],
    )
    handle.write(struct.pack("<i", GGML_MAGIC))
    handle.write(struct.pack("<11i", *hparams))
    filters = np.ascontiguousarray(filters, dtype="<f4")
    if filters.shape[0] != dims.n_mels:
        raise ValueError(f"{filters.shape[0]} mel filters for a model with {dims.n_mels} mels")
    handle.write(struct.pack("<2i", *filters.shape))
    handle.write(filters.tobytes())
    handle.write(struct.pack("<i", len(vocabulary)))
    for token in vocabulary:
        handle.write(struct.pack("<i", len(token)))
        handle.write(token)


def write_ggml(
    path: str | Path,
    dims: WhisperDims,
    tensors: Iterable[tuple[str, np.ndarray]],
    vocabulary: Sequence[bytes],
    *,
    file_type: FileType = "f16",
    filters: np.ndarray | None = None,
    tensor_count: int | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write a whisper.cpp model file atomically, one tensor at a time.

    ``tensors`` yields ``(whisper_name, array)`` in numpy (row-major) layout, e.g.
    from ``names.iter_ct2_as_whisper``. ``filters`` defaults to ``mel_filters`` for
    16 kHz audio. ``progress`` gets the fraction of tensors written when
    ``tensor_count`` is given.
    """
    if file_type not in FILE_FTYPES:
        raise ValueError(f"unknown ggml file type {file_type!r}")
    if filters is None:
        filters = mel_filters(16000, 400, dims.n_mels)
    destination = Path(path)
    with atomic_writer(destination) as handle:
        _write_header(handle, dims, file_type, vocabulary, filters)
        for index, (name, array) in enumerate(tensors, start=1):
            ttype, data, raw = _tensor_payload(name, array, file_type)
            encoded = name.encode("utf-8")
            handle.write(struct.pack("<3i", data.ndim, len(encoded), ttype))
            handle.write(struct.pack(f"<{data.ndim}i", *reversed(data.shape)))
            handle.write(encoded)
            handle.write(raw.data)  # contiguous: written straight from the array
            if progress is not None and tensor_count:
                progress(min(1.0, index / tensor_count))
    return destination


# ---------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class GgmlTensor:
    """One stored tensor. ``shape`` is in numpy order (outermost first).

    ``data`` is float32 or float16 values shaped ``shape``, or for q8_0 the raw
    ``Q8_0_BLOCK`` records; ``values()`` gives float32 either way.
    """

    name: str
    ttype: int
    shape: tuple[int, ...]
    data: np.ndarray

    def values(self) -> np.ndarray:
        if self.ttype == TYPE_Q8_0:
            return dequantize_q8_0(self.data, self.shape)
        return self.data.astype(np.float32)


@dataclass(frozen=True)
class GgmlModel:
    dims: WhisperDims
    ftype: int
    mel_filters: np.ndarray
    vocabulary: list[bytes]
    tensors: dict[str, GgmlTensor]

    @property
    def file_type(self) -> FileType:
        base = self.ftype % GGML_QNT_VERSION_FACTOR
        for name, value in FILE_FTYPES.items():
            if value % GGML_QNT_VERSION_FACTOR == base:
                return name  # type: ignore[return-value]
        raise GgmlFormatError(f"unknown ftype {self.ftype}")


_ITEM_BYTES = {TYPE_F32: 4, TYPE_F16: 2}
_NUMPY = {TYPE_F32: np.dtype("<f4"), TYPE_F16: np.dtype("<f2")}


def _ints(handle: BinaryIO, count: int, path: Path) -> tuple[int, ...]:
    raw = handle.read(4 * count)
    if len(raw) != 4 * count:
        raise GgmlFormatError(f"{path}: the file ends early (truncated?)")
    return struct.unpack(f"<{count}i", raw)


def _exact(handle: BinaryIO, size: int, path: Path) -> bytes:
    raw = handle.read(size)
    if len(raw) != size:
        raise GgmlFormatError(f"{path}: the file ends early (truncated?)")
    return raw


def _skip(handle: BinaryIO, size: int, path: Path) -> None:
    start = handle.tell()
    end = handle.seek(0, 2)
    if end - start < size:
        raise GgmlFormatError(f"{path}: the file ends early (truncated?)")
    handle.seek(start + size)


def iter_ggml_tensors(handle: BinaryIO, path: Path, *, load: bool = True) -> Iterator[GgmlTensor]:
    """Tensors from the current position to the end; with ``load=False`` data is skipped
    (``data`` is then an empty array) so only the headers and sizes are checked."""
    while True:
        head = handle.read(12)
        if not head:
            return
        if len(head) != 12:
            raise GgmlFormatError(f"{path}: the file ends early (truncated?)")
        n_dims, name_length, ttype = struct.unpack("<3i", head)
        if not 1 <= n_dims <= 4 or not 0 < name_length < 1024:
            raise GgmlFormatError(f"{path}: a tensor header is malformed")
        ne = _ints(handle, n_dims, path)
        name = _exact(handle, name_length, path).decode("utf-8", errors="replace")
        shape = tuple(reversed(ne))
        count = int(np.prod(ne, dtype=np.int64))
        if ttype in _ITEM_BYTES:
            size, dtype = count * _ITEM_BYTES[ttype], _NUMPY[ttype]
        elif ttype == TYPE_Q8_0:
            if ne[0] % QK8_0:
                raise GgmlFormatError(f"{path}: {name} rows do not split into q8_0 blocks")
            size, dtype = count // QK8_0 * Q8_0_BLOCK.itemsize, Q8_0_BLOCK
        else:
            raise GgmlFormatError(f"{path}: {name} has unsupported ggml type {ttype}")
        if not load:
            _skip(handle, size, path)
            yield GgmlTensor(name, ttype, shape, np.empty(0, dtype=dtype))
            continue
        data = np.frombuffer(_exact(handle, size, path), dtype=dtype)
        if ttype != TYPE_Q8_0:
            data = data.reshape(shape)
        yield GgmlTensor(name, ttype, shape, data)


def read_ggml(path: str | Path, *, load: bool = True) -> GgmlModel:
    """Read a whisper.cpp ggml model written by ``write_ggml`` (or OpenAI's converter).

    With ``load=False`` tensor data is skipped, not read: a fast structural check
    (a few milliseconds) that the file is complete, for use before handing a file
    to whisper.cpp, which crashes on a truncated model instead of reporting it.
    """
    path = Path(path)
    with path.open("rb") as handle:
        (magic,) = _ints(handle, 1, path)
        if magic != GGML_MAGIC:
            raise GgmlFormatError(f"{path}: not a ggml model (bad magic)")
        hparams = _ints(handle, 11, path)
        dims = WhisperDims(*hparams[:10])
        n_mel, n_fft = _ints(handle, 2, path)
        filters = np.frombuffer(_exact(handle, 4 * n_mel * n_fft, path), dtype="<f4")
        (count,) = _ints(handle, 1, path)
        vocabulary = []
        for _ in range(count):
            (length,) = _ints(handle, 1, path)
            vocabulary.append(_exact(handle, length, path))
        tensors = {t.name: t for t in iter_ggml_tensors(handle, path, load=load)}
    return GgmlModel(
        dims=dims,
        ftype=hparams[10],
        mel_filters=filters.reshape(n_mel, n_fft),
        vocabulary=vocabulary,
        tensors=tensors,
    )


def check_whisper_ggml(path: str | Path) -> GgmlModel:
    """Headers-only check that ``path`` is a complete whisper.cpp model.

    Every tensor whisper.cpp will look for is present with the right shape and
    nothing is cut short. Raises ``GgmlFormatError`` otherwise.
    """
    from engine.weights.names import whisper_names

    model = read_ggml(path, load=False)
    expected = whisper_names(model.dims)
    missing = [name for name in expected if name not in model.tensors]
    if missing or len(model.tensors) != len(expected):
        raise GgmlFormatError(f"{path}: {len(missing)} tensors are missing or extra are present")
    dims = model.dims
    checks = {
        "decoder.token_embedding.weight": (dims.n_vocab, dims.n_text_state),
        "encoder.positional_embedding": (dims.n_audio_ctx, dims.n_audio_state),
        "decoder.positional_embedding": (dims.n_text_ctx, dims.n_text_state),
        "encoder.conv1.weight": (dims.n_audio_state, dims.n_mels, 3),
    }
    for name, shape in checks.items():
        if model.tensors[name].shape != shape:
            raise GgmlFormatError(f"{path}: {name} has shape {model.tensors[name].shape}")
    return model
