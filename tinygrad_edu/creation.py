"""Turning what a user passes to ``tensor(...)`` (numbers, nested lists, NumPy or CuPy arrays, Tensors) into an
array of the right device and dtype, with PyTorch's defaults: Python floats become float32, ints int64."""

from __future__ import annotations

import numpy

from . import backend, dtypes
from .autograd import graph


def to_array(data, dtype, dev):
    """An array on ``dev`` (default: where ``data`` already is) with PyTorch's default dtypes."""
    Tensor = graph.tensor_type()
    if isinstance(data, Tensor):
        array = data._data
    elif isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
        array = numpy.array([x.item() if isinstance(x, Tensor) else x for x in _flat(data)]).reshape(
            numpy.shape(_replace_tensors(data))
        )
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
        if dtype is None and array.dtype.kind == "f" and not hasattr(data, "dtype"):
            array = array.astype(numpy.float32)  # Python floats become float32; NumPy scalars keep their dtype
    if dtype is None and array.dtype.kind == "i" and array.dtype != numpy.int64 and not hasattr(data, "dtype"):
        array = array.astype(numpy.int64)
    if dtype is not None:
        array = array.astype(dtypes.to_numpy(dtype), copy=False)
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


def _replace_tensors(data):
    return [_replace_tensors(x) if isinstance(x, (list, tuple)) else 0 for x in data]
