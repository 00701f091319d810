"""CTranslate2's int8 weight storage: write a float ``model.bin`` as int8, read one back as float16.

CTranslate2 stores an int8 weight ``W`` as ``round(W * s)`` in int8 plus a float32 vector
``<name>_scale`` with ``s = 127 / max|W[row]|`` for each row. Serving loads models with
compute type int8, and a float16 file is quantized this very way when it loads, so a
file stored as int8 is served bit-identically (same encoder output and scores on the
general corpus; ``tests/engine/test_quantize.py``) and is 39 MB instead of 76 MB for
tiny.en. Packaged builds ship it so (``engine.prepare.prepare_to(ct2_storage="int8")``).

Quantized: every 2-D float variable whose name ends in ``weight`` (the linear layers and
the token embedding, which the output projection aliases). Convolutions (3-D), norms
and biases keep their type.

Whatever reads weights as numbers (conversion to whisper.cpp, loading for fine-tuning,
exporting fine-tuned weights into a base model's structure) goes through
``dequantized``, which gives the float16 layout back: ``q / s`` per row.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from engine.weights.ct2 import CT2Model

SCALE_SUFFIX = "_scale"


def _quantizable(model: CT2Model, name: str) -> bool:
    return (
        name.endswith("weight")
        and model.variables[name].ndim == 2
        and model.dtypes[name] in ("float16", "float32")
    )


def _int8_weights(model: CT2Model) -> set[str]:
    """The variables stored as int8 with a scale beside them."""
    return {
        name
        for name, dtype in model.dtypes.items()
        if dtype == "int8" and f"{name}{SCALE_SUFFIX}" in model.variables
    }


def is_int8(model: CT2Model) -> bool:
    """Whether any weight is stored as int8 with a scale."""
    return bool(_int8_weights(model))


def quantize_int8(model: CT2Model) -> CT2Model:
    """``model`` with its weights stored as CTranslate2 int8 (per-row scales)."""
    if is_int8(model):
        return model
    variables: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    for name, value in model.variables.items():
        if not _quantizable(model, name):
            variables[name], dtypes[name] = value, model.dtypes[name]
            continue
        weight = value.astype(np.float32)
        amax = np.abs(weight).max(axis=1)
        amax[amax == 0] = 127.0  # an all-zero row: scale 1
        scale = (127.0 / amax).astype(np.float32)
        variables[name] = np.rint(weight * scale[:, None]).astype(np.int8)
        dtypes[name] = "int8"
        variables[f"{name}{SCALE_SUFFIX}"] = scale
        dtypes[f"{name}{SCALE_SUFFIX}"] = "float32"
    return replace(model, variables=variables, dtypes=dtypes)


def dequantized(model: CT2Model) -> CT2Model:
    """``model`` with every int8 weight turned back into float16 and the scales dropped;
    a float model is returned as it is."""
    quantized = _int8_weights(model)
    if not quantized:
        return model
    scale_names = {f"{name}{SCALE_SUFFIX}" for name in quantized}
    variables: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    for name, value in model.variables.items():
        if name in scale_names:
            continue
        if name in quantized:
            scale = model.variables[f"{name}{SCALE_SUFFIX}"].astype(np.float32)
            variables[name] = (value.astype(np.float32) / scale[:, None]).astype(np.float16)
            dtypes[name] = "float16"
        else:
            variables[name], dtypes[name] = value, model.dtypes[name]
    return replace(model, variables=variables, dtypes=dtypes)
