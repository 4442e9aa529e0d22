"""int8 weight-only quantization, in the manner of llama.cpp's Q8_0: each run of ``group_size`` consecutive
weights along a matrix's input dimension shares one scale, absmax / 127 (stored as float16), and each weight
is stored as round(w / scale), an int8 in [-127, 127]. Dequantizing is ``int8 × scale``; the error of a weight
is at most half its group's scale.

Every floating-point tensor of two or more dims is quantized: the Linear weights and the embeddings too. The
token embedding is also the output layer (tied weights), so leaving it out would keep the model's second
largest matrix in float32 for a loss difference that the measurements show is small (see ``gpt quantize``).
Biases and LayerNorm parameters are a few hundred numbers: they stay float32.
"""

from __future__ import annotations

import numpy as np

SCHEME = "q8_0"
GROUP_SIZE = 32
PREFIX = "q8/"  # q8/<name>/values (int8) and q8/<name>/scales (float16) in a checkpoint


def quantize(weight: np.ndarray, group_size: int = GROUP_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(values, scales): int8 values of ``weight``'s shape, and one float16 scale per group of its last dim.

    A last dim that ``group_size`` does not divide makes one group per row."""
    group = group_size if weight.shape[-1] % group_size == 0 else weight.shape[-1]
    groups = np.asarray(weight, dtype=np.float32).reshape(-1, group)
    scales = (np.abs(groups).max(axis=1) / 127).astype(np.float16)
    safe = np.where(scales == 0, np.float16(1), scales).astype(np.float32)[:, None]  # an all-zero group
    values = np.clip(np.rint(groups / safe), -127, 127).astype(np.int8)
    return values.reshape(weight.shape), scales.reshape(*weight.shape[:-1], weight.shape[-1] // group)


def dequantize(values: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """float32 weights from ``quantize``'s output."""
    group = values.shape[-1] // scales.shape[-1]
    groups = values.reshape(-1, group).astype(np.float32) * scales.reshape(-1, 1).astype(np.float32)
    return groups.reshape(values.shape)


def quantize_arrays(arrays: dict, group_size: int = GROUP_SIZE) -> dict:
    """A checkpoint's ``model/<name>`` arrays with every float matrix replaced by its int8 values and scales."""
    out = {}
    for key, array in arrays.items():
        if key.startswith("model/") and array.ndim >= 2 and array.dtype.kind == "f":
            values, scales = quantize(array, group_size)
            name = key[len("model/") :]
            out[f"{PREFIX}{name}/values"], out[f"{PREFIX}{name}/scales"] = values, scales
        else:
            out[key] = array
    return out


def dequantize_arrays(arrays: dict) -> dict:
    """The inverse of ``quantize_arrays`` (up to rounding): ``model/<name>`` float32 arrays again."""
    if not any(key.startswith(PREFIX) for key in arrays):
        return arrays
    out = {key: array for key, array in arrays.items() if not key.startswith(PREFIX)}
    for key in arrays:
        if key.startswith(PREFIX) and key.endswith("/values"):
            name = key[len(PREFIX) : -len("/values")]
            out[f"model/{name}"] = dequantize(arrays[key], arrays[f"{PREFIX}{name}/scales"])
    return out


def weight_bytes(arrays: dict) -> int:
    """Bytes of the model's weights in a checkpoint's arrays (quantized or not)."""
    return sum(a.nbytes for k, a in arrays.items() if k.startswith(("model/", PREFIX)))
