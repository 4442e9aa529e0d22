"""Turning what a user passes to ``tensor(...)`` (numbers, nested lists, NumPy or CuPy arrays, Tensors) into an
array of the right device and dtype, with PyTorch's defaults: Python floats become float32, ints int64."""

from __future__ import annotations

import numbers

import numpy

from . import backend, dtypes
from .autograd import graph


def to_array(data, dtype, dev):
    """An array on ``dev`` (default: where ``data`` already is) with PyTorch's default dtypes."""
    Tensor = graph.tensor_type()
    if isinstance(data, Tensor):
        array = data._data
    elif isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
        array = _from_tensors(data, Tensor)
    else:
        array = data
    if not hasattr(array, "dtype") or isinstance(array, numpy.generic) and not isinstance(data, numpy.ndarray):
        try:
            array = numpy.asarray(array)
        except ValueError:  # NumPy's message speaks of "an inhomogeneous shape"
            raise ValueError(
                "tensor(): the nested lists are ragged (rows of different lengths), so they are not a rectangular "
                "array of numbers"
            ) from None
        # NumPy keeps what is not a number as an object (or string) array, and an int past int64 as uint64
        if array.dtype.kind in "OUS" or (array.dtype == numpy.uint64 and not hasattr(data, "dtype")):
            array = _numbers_only(array, data, dtype)
        if dtype is None and array.dtype.kind == "f" and not hasattr(data, "dtype"):
            array = array.astype(numpy.float32)  # Python floats become float32; NumPy scalars keep their dtype
    if dtype is None and array.dtype.kind == "i" and array.dtype != numpy.int64 and not hasattr(data, "dtype"):
        array = array.astype(numpy.int64)
    if dtype is not None:
        np_dtype = dtypes.to_numpy(dtype)
        if np_dtype.kind in "iu" and array.dtype.kind == "f" and isinstance(array, numpy.ndarray):
            _check_fits(array, np_dtype)
        array = array.astype(np_dtype, copy=False)
    dtypes.from_numpy(array.dtype)  # unsupported dtypes fail here, with the list of supported ones
    target = dev if dev is not None else backend.device_of(array)
    xp = backend.array_module(target)
    moved = backend.to_device(array, target)
    if moved is data or (isinstance(data, Tensor) and moved is data._data):
        moved = moved.copy()  # torch.tensor(x) copies; the new tensor never aliases the caller's array
    return xp.asarray(moved)


def _flat(data):
    for x in data:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _numbers_only(array, data, dtype):
    """``array`` converted to ``dtype`` where that works (``tensor(2**70, dtype=float64)``), else PyTorch's error
    for the first element that is not a number an int64 or a float can hold."""
    if dtype is not None and array.dtype.kind in "Ou":
        try:
            return array.astype(dtypes.to_numpy(dtype))
        except (TypeError, ValueError, OverflowError):
            pass
    for x in _flat(data) if isinstance(data, (list, tuple)) else [data]:
        _check_number(x)
    return array  # anything else: dtypes.from_numpy names the array's dtype


def _check_fits(array, np_dtype) -> None:
    """Floats made integers must be finite and in range: NumPy's cast would give -2**63 for nan."""
    info = numpy.iinfo(np_dtype)
    if not numpy.isfinite(array).all() or (array < info.min).any() or (array >= float(info.max) + 1).any():
        raise RuntimeError(f"tensor(): value cannot be converted to type {np_dtype} without overflow")


def _check_number(x) -> None:
    if isinstance(x, (str, bytes)):
        raise TypeError(f"tensor(): invalid data type {type(x).__name__!r}: a tensor holds numbers")
    if isinstance(x, int) and not -(2**63) <= x < 2**63:
        raise ValueError(f"tensor(): Overflow when unpacking long: {x} does not fit in int64")
    if not isinstance(x, (numbers.Number, numpy.generic)):
        raise RuntimeError(f"tensor(): Could not infer dtype of {type(x).__name__}")


def _from_tensors(data, Tensor):
    """A nested list holding one-element tensors among numbers, as PyTorch reads it: each tensor is a number of
    its dtype, and a Python number one of the default dtype; the highest kind (bool < int < float) wins, then
    the widest dtype of that kind."""
    values = []
    for x in _flat(data):
        if isinstance(x, Tensor):
            if x._data.size != 1:
                raise ValueError(
                    f"tensor(): only one element tensors can be converted to Python scalars, got a tensor of shape "
                    f"{tuple(x.shape)} in the list (use stack() to join tensors)"
                )
            values.append(backend.to_host(x._data).reshape(()))
        else:
            _check_number(x)
            values.append(numpy.asarray(x, numpy.float32 if isinstance(x, float) else None))
    rank = {"b": 0, "u": 1, "i": 1, "f": 2}
    top = max(rank.get(v.dtype.kind, 2) for v in values)
    dtype = numpy.result_type(*(v.dtype for v in values if rank.get(v.dtype.kind, 2) == top))
    return numpy.array([v.item() for v in values], dtype=dtype).reshape(numpy.shape(_replace_tensors(data)))


def _replace_tensors(data):
    return [_replace_tensors(x) if isinstance(x, (list, tuple)) else 0 for x in data]
