"""CTranslate2 ``model.bin``: read it into named numpy arrays and write it back, bit-exact.

Layout (little-endian; a *string* is a uint16 byte length that counts a trailing
NUL, then the bytes and the NUL)::

    uint32 binary version
    string spec name                 e.g. "WhisperSpec"
    uint32 spec revision
    uint32 variable count
    per variable:
        string name
        uint8  rank, then rank x uint32 dims
        uint8  dtype                  index into CT2_DTYPES
        uint32 byte count, then the raw data
    uint32 alias count
    per alias: string alias, string target

Variables of rank 0 are scalar flags (``decoder/num_heads``, ``decoder/pre_norm``,
...). An alias is a second name for a stored variable; the bundled Whisper model
has one, ``decoder/projection/weight`` -> ``decoder/embeddings/weight`` (the output
projection is tied to the token embedding). CTranslate2 looks the projection up by
its alias, so aliases must be written back: a model without it does not load.

``read_model_bin`` then ``write_model_bin`` reproduces the file byte for byte, because
variable order, dtypes, dims and aliases are all kept as read.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from engine.weights.atomic import atomic_writer, fsync_directory

MODEL_FILE = "model.bin"
CURRENT_BINARY_VERSION = 6
# CTranslate2 looks the output projection up under this name; in Whisper models it is an
# alias of the token embedding. Without it, loading fails ("variable ... not found").
WHISPER_PROJECTION = "decoder/projection/weight"
CT2_DTYPES: tuple[str, ...] = ("float32", "int8", "int16", "int32", "float16", "bfloat16")

# numpy has no bfloat16: such variables are kept as their raw uint16 bit patterns.
_NUMPY_DTYPES: dict[str, np.dtype] = {
    "float32": np.dtype("<f4"),
    "int8": np.dtype("i1"),
    "int16": np.dtype("<i2"),
    "int32": np.dtype("<i4"),
    "float16": np.dtype("<f2"),
    "bfloat16": np.dtype("<u2"),
}


class CT2FormatError(ValueError):
    """The bytes are not a CTranslate2 model.bin this reader understands."""


@dataclass(frozen=True)
class CT2Model:
    """The content of one ``model.bin``.

    ``variables`` and ``aliases`` keep the file's order. ``dtypes`` gives each
    variable's CTranslate2 type name (one of ``CT2_DTYPES``); ``bfloat16`` data is
    held as uint16 bit patterns.
    """

    spec_name: str
    spec_revision: int
    variables: Mapping[str, np.ndarray]
    dtypes: Mapping[str, str]
    aliases: Mapping[str, str] = field(default_factory=dict)
    binary_version: int = CURRENT_BINARY_VERSION

    def get(self, name: str) -> np.ndarray:
        """A variable by its name or by an alias of it."""
        return self.variables[self.aliases.get(name, name)]

    def scalar(self, name: str) -> int | float:
        value = self.variables[name]
        if value.ndim != 0:
            raise KeyError(f"{name} is not a scalar (shape {value.shape})")
        return value.item()

    @property
    def scalars(self) -> dict[str, int | float]:
        """Every rank-0 variable (the spec's flags), as Python numbers."""
        return {name: v.item() for name, v in self.variables.items() if v.ndim == 0}

    def with_variables(self, updates: Mapping[str, np.ndarray]) -> CT2Model:
        """A copy where the named variables are replaced, each cast to its stored dtype.

        Names must already exist (aliases are resolved to their targets) and shapes
        must match: this changes weights, never the model's structure.
        """
        variables = dict(self.variables)
        for name, value in updates.items():
            target = self.aliases.get(name, name)
            if target not in variables:
                raise KeyError(f"{name} is not a variable of this model")
            old = variables[target]
            new = np.asarray(value)
            if new.shape != old.shape:
                raise ValueError(f"{name}: shape {new.shape} differs from the stored {old.shape}")
            variables[target] = _cast(new, self.dtypes[target])
        return replace(self, variables=variables)


def _cast(array: np.ndarray, ct2_dtype: str) -> np.ndarray:
    if ct2_dtype == "bfloat16" and array.dtype != np.uint16:
        as_f32 = np.asarray(array, dtype="<f4")
        bits = as_f32.view("<u4")
        # Round to nearest even, as CTranslate2 and torch do.
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        return rounded.astype("<u2")
    # np.asarray keeps rank 0 (ascontiguousarray would make scalars 1-D); tobytes() is C order.
    return np.asarray(array, dtype=_NUMPY_DTYPES[ct2_dtype])


# ---------------------------------------------------------------- reading


class _Reader:
    def __init__(self, handle: BinaryIO, source: str) -> None:
        self._handle = handle
        self._source = source

    def exact(self, size: int) -> bytes:
        data = self._handle.read(size)
        if len(data) != size:
            raise CT2FormatError(f"{self._source}: the file ends early (truncated?)")
        return data

    def into(self, size: int) -> bytearray:
        buffer = bytearray(size)
        if self._handle.readinto(buffer) != size:
            raise CT2FormatError(f"{self._source}: the file ends early (truncated?)")
        return buffer

    def unpack(self, fmt: str) -> int:
        (value,) = struct.unpack("<" + fmt, self.exact(struct.calcsize("<" + fmt)))
        return value

    def string(self) -> str:
        length = self.unpack("H")
        raw = self.exact(length)
        if length == 0 or raw[-1] != 0:
            raise CT2FormatError(f"{self._source}: a name is not NUL-terminated")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CT2FormatError(f"{self._source}: a name is not UTF-8") from exc


def read_model_bin(path: str | Path) -> CT2Model:
    """Read a CTranslate2 ``model.bin`` (binary version 3 to 6) into arrays."""
    path = Path(path)
    with path.open("rb") as handle:
        reader = _Reader(handle, str(path))
        binary_version = reader.unpack("I")
        if not 3 <= binary_version <= CURRENT_BINARY_VERSION:
            raise CT2FormatError(f"{path}: unsupported binary version {binary_version}")
        spec_name = reader.string()
        spec_revision = reader.unpack("I")
        count = reader.unpack("I")
        variables: dict[str, np.ndarray] = {}
        dtypes: dict[str, str] = {}
        for _ in range(count):
            name = reader.string()
            rank = reader.unpack("B")
            dims = tuple(reader.unpack("I") for _ in range(rank))
            type_id = reader.unpack("B")
            if type_id >= len(CT2_DTYPES):
                raise CT2FormatError(f"{path}: {name} has unknown dtype id {type_id}")
            dtype_name = CT2_DTYPES[type_id]
            nbytes = reader.unpack("I")
            expected = int(np.prod(dims, dtype=np.int64)) * _NUMPY_DTYPES[dtype_name].itemsize
            if nbytes != expected:
                raise CT2FormatError(f"{path}: {name} has {nbytes} bytes, expected {expected}")
            buffer = reader.into(nbytes)
            variables[name] = np.frombuffer(buffer, dtype=_NUMPY_DTYPES[dtype_name]).reshape(dims)
            dtypes[name] = dtype_name
        aliases: dict[str, str] = {}
        for _ in range(reader.unpack("I")):
            alias = reader.string()
            aliases[alias] = reader.string()
        if handle.read(1):
            raise CT2FormatError(f"{path}: unexpected bytes after the aliases")
    for alias, target in aliases.items():
        if target not in variables:
            raise CT2FormatError(f"{path}: alias {alias} points to missing {target}")
    return CT2Model(
        spec_name=spec_name,
        spec_revision=spec_revision,
        variables=variables,
        dtypes=dtypes,
        aliases=aliases,
        binary_version=binary_version,
    )


# ---------------------------------------------------------------- writing


def _string(text: str) -> bytes:
    raw = text.encode("utf-8") + b"\0"
    return struct.pack("<H", len(raw)) + raw


def write_model_bin_to(model: CT2Model, handle: BinaryIO) -> None:
    """Serialize ``model`` to an open binary stream, one variable at a time."""
    handle.write(struct.pack("<I", model.binary_version))
    handle.write(_string(model.spec_name))
    handle.write(struct.pack("<I", model.spec_revision))
    handle.write(struct.pack("<I", len(model.variables)))
    for name, value in model.variables.items():
        dtype_name = model.dtypes[name]
        data = _cast(value, dtype_name)
        handle.write(_string(name))
        handle.write(struct.pack("<B", data.ndim))
        handle.write(struct.pack(f"<{data.ndim}I", *data.shape))
        handle.write(struct.pack("<B", CT2_DTYPES.index(dtype_name)))
        handle.write(struct.pack("<I", data.nbytes))
        handle.write(data.tobytes())
    handle.write(struct.pack("<I", len(model.aliases)))
    for alias, target in model.aliases.items():
        if target not in model.variables:
            raise ValueError(f"alias {alias} points to missing variable {target}")
        handle.write(_string(alias))
        handle.write(_string(target))


def write_model_bin(model: CT2Model, path: str | Path) -> None:
    """Write ``model`` to ``path`` atomically (temporary file, fsync, rename)."""
    with atomic_writer(path) as handle:
        write_model_bin_to(model, handle)


def write_ct2_model_dir(
    model: CT2Model,
    directory: str | Path,
    template_dir: str | Path,
    *,
    overwrite: bool = False,
) -> Path:
    """Write a complete CTranslate2 model directory for ``model``'s weights.

    ``model.bin`` comes from ``model``; every other file (``config.json``,
    ``tokenizer.json``, ``vocabulary.txt``, ...) is copied unchanged from
    ``template_dir``, normally the base model the weights were derived from. The
    directory is assembled under a temporary name next to ``directory`` and renamed
    into place, so it either appears whole or not at all.
    """
    target = Path(directory)
    template = Path(template_dir)
    if not (template / "config.json").is_file():
        raise FileNotFoundError(f"{template} is not a CTranslate2 model directory")
    if model.spec_name == "WhisperSpec" and WHISPER_PROJECTION not in {
        *model.variables,
        *model.aliases,
    }:
        raise ValueError(f"{WHISPER_PROJECTION} is missing: CTranslate2 would not load the model")
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise FileExistsError(f"{target} already exists and is not empty")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        write_model_bin(model, staging / MODEL_FILE)
        for source in sorted(template.iterdir()):
            if source.is_file() and source.name != MODEL_FILE:
                with source.open("rb") as src, atomic_writer(staging / source.name) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _swap_in(staging: Path, target: Path) -> None:
    old = target.parent / f".{target.name}.old"
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    fsync_directory(target.parent)
    if old.exists():
        shutil.rmtree(old)
