"""Data types with PyTorch's names (``float32``, ``long``, ``bool`` ...), each a thin wrapper of a NumPy dtype.

Tensors store their data as NumPy (or CuPy) arrays; ``Tensor.dtype`` reports one of the objects below so that
``x.dtype == torch.float32`` reads the same as in PyTorch.
"""

from __future__ import annotations

import builtins

import numpy as _np_dtypes  # only for dtype objects, which CuPy shares with NumPy


class DType:
    """A tensor element type: ``name`` as PyTorch spells it, ``np`` the array dtype behind it."""

    __slots__ = ("name", "np", "is_floating_point", "itemsize")

    def __init__(self, name: str, np_dtype):
        self.name = name
        self.np = _np_dtypes.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f"
        self.itemsize = self.np.itemsize

    def __repr__(self) -> str:
        return f"tinygrad_edu.{self.name}"

    def __reduce__(self):  # dtypes are singletons: copying one gives the same object back
        return (_lookup_by_name, (self.name,))


float16 = half = DType("float16", "float16")
float32 = float = DType("float32", "float32")
float64 = double = DType("float64", "float64")
uint8 = DType("uint8", "uint8")
int8 = DType("int8", "int8")
int16 = short = DType("int16", "int16")
int32 = int = DType("int32", "int32")
int64 = long = DType("int64", "int64")
bool = DType("bool", "bool")  # noqa: A001 - PyTorch's name, on purpose

ALL = (float16, float32, float64, uint8, int8, int16, int32, int64, bool)
_BY_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}

default_float = float32


def _lookup_by_name(name: str) -> DType:
    return _BY_NAME[name]


def from_numpy(np_dtype) -> DType:
    """The DType for an array dtype; an unsupported one (complex, strings) is a clear error."""
    if isinstance(np_dtype, _np_dtypes.dtype) and np_dtype in _BY_NP:  # an array's own: no conversion needed
        return _BY_NP[np_dtype]
    np_dtype = _np_dtypes.dtype(np_dtype)
    if np_dtype not in _BY_NP:
        raise TypeError(f"unsupported array dtype {np_dtype!s}; supported: {[d.name for d in ALL]}")
    return _BY_NP[np_dtype]


def to_numpy(dtype) -> _np_dtypes.dtype:
    """Accept a DType, a NumPy dtype, a dtype name or a Python type and return the NumPy dtype."""
    if isinstance(dtype, DType):
        return dtype.np
    if dtype is builtins.float:
        return float32.np
    if dtype is builtins.int:
        return int64.np
    if dtype is builtins.bool:
        return bool.np
    if isinstance(dtype, str) and dtype in _BY_NAME:
        return _BY_NAME[dtype].np
    if not isinstance(dtype, (_np_dtypes.dtype, type)):  # NumPy would read 3 or "floaty" with its own message
        raise TypeError(f"dtype must be a tinygrad_edu dtype such as tinygrad_edu.float32, got {dtype!r}")
    return from_numpy(dtype).np
