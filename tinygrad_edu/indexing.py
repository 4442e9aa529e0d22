"""Reading indexing and dimension arguments as PyTorch does: ``t[...]`` with Tensors and lists in the index,
negative dims, ``dim=None`` for all dims, and shapes given as ``f(2, 3)`` or ``f((2, 3))``."""

from __future__ import annotations

import builtins
import math
import operator

import numpy

from .autograd import graph


def convert_index(index):
    """Tensors in an index become arrays; lists become integer arrays; bool tensors stay masks."""
    if isinstance(index, tuple):
        return tuple(_convert_index_part(i) for i in index)
    return _convert_index_part(index)


def index_steps(index) -> tuple:
    """The index as PyTorch applies it: one step, or two when integers and arrays are mixed.

    NumPy counts a plain integer as an advanced index once an array is present, so ``x[0, :, [1]]`` moves the
    broadcast dims to the front; PyTorch applies integers first, like slices that drop their dim. Then we do the
    same: the integers, slices and new axes first, and the arrays on what is left."""
    parts = index if isinstance(index, tuple) else (index,)
    is_int = [isinstance(p, (int, numpy.integer)) and not isinstance(p, builtins.bool) for p in parts]
    is_array = [hasattr(p, "ndim") and p.ndim > 0 for p in parts]
    if not (any(is_int) and any(is_array)):
        return (index,)
    basic = tuple(slice(None) if array else p for p, array in zip(parts, is_array))
    rest = tuple(
        p if array else (Ellipsis if p is Ellipsis else slice(None))
        for p, array, integer in zip(parts, is_array, is_int)
        if not integer
    )
    return basic, rest


def _convert_index_part(part):
    if isinstance(part, graph.tensor_type()):
        if part._data.dtype.kind == "f":
            raise IndexError(f"tensors used as indices must be long, int or bool, got {part.dtype}")
        if part._data.ndim or part._data.dtype.kind == "b":
            return part._data  # a 0-d bool is a mask too: True adds a dim of 1, False one of 0 (PyTorch, NumPy)
        return int(part._data.item())  # a 0-d integer acts as an int (on cuda a read of the value, as PyTorch's)
    if isinstance(part, list):
        return numpy.asarray(part)
    return part


def dim_index(dim, ndim: int) -> int:
    """``dim`` as an index in ``range(ndim)`` (a 0-d tensor has one dim to name, 0 or -1, as in PyTorch)."""
    if not isinstance(dim, (int, numpy.integer)) or isinstance(dim, builtins.bool):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    ndim = builtins.max(ndim, 1)
    if not -ndim <= dim < ndim:
        raise IndexError(f"dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], but got {dim})")
    return int(dim) % ndim


def dim_indices(dim, ndim: int) -> tuple:
    """The sorted dims named by ``dim``: an int, a tuple or list of ints, or None for all of them."""
    if dim is None:
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    if ndim == 0:
        return ()
    axes = [dim_index(d, ndim) for d in dims]
    if len(set(axes)) != len(axes):  # PyTorch refuses to reduce a dim twice
        raise RuntimeError(
            f"dim {builtins.max(axes, key=axes.count)} appears multiple times in the list of dims {dims}"
        )
    return tuple(sorted(axes))


def shape_arg(shape, what: str = "size") -> tuple:
    """Accept ``f(2, 3)``, ``f((2, 3))`` and ``f(torch.Size([2, 3]))``; 0-d integer tensors count as ints.

    ``what`` names the argument in the error, e.g. ``"reshape(): argument 'shape'"``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    try:
        return tuple(operator.index(s) for s in shape)  # int() would make 2.5 a 2, and "3" a 3
    except TypeError:
        i, bad = next((i, s) for i, s in enumerate(shape) if not _is_index(s))
        raise TypeError(
            f"{what} must be a tuple of ints, but found element of type {type(bad).__name__} at pos {i}"
        ) from None


def new_shape(shape: tuple, numel: int, what: str) -> tuple:
    """A reshape's target: at most one -1, and a size for it that exists (NumPy takes any negative for -1)."""
    if builtins.min(shape, default=0) >= 0:
        return shape
    for i, n in enumerate(shape):
        if n < -1:
            raise RuntimeError(f"{what}: invalid shape dimension {n} at index {i} of shape {list(shape)}")
    if shape.count(-1) > 1:
        raise RuntimeError(f"{what}: only one dimension can be inferred, got shape {list(shape)}")
    known = math.prod(n for n in shape if n != -1)
    if known == 0 and numel == 0:
        raise RuntimeError(
            f"{what}: cannot reshape tensor of 0 elements into shape {list(shape)} because the unspecified "
            "dimension size -1 can be any value and is ambiguous"
        )
    if known == 0 or numel % known:
        raise RuntimeError(f"{what}: shape {list(shape)} is invalid for input of size {numel}")
    return shape


def size_arg(size, what: str) -> tuple:
    """The size of a new tensor (``zeros(2, 3)``): ints, none negative. ``what`` is the function, e.g. ``ones()``."""
    shape = shape_arg(size, f"{what}: argument 'size'")
    for n in shape:
        if n < 0:
            raise RuntimeError(f"{what}: Trying to create tensor with negative dimension {n}: {list(shape)}")
    return shape


def _is_index(value) -> bool:
    try:
        operator.index(value)
        return True
    except TypeError:
        return False


def numpy_aliases(dim, keepdim, axis, keepdims):
    """``dim, keepdim`` from PyTorch's names or NumPy's (``axis``, ``keepdims``), which PyTorch accepts too."""
    if axis is not None:
        if dim is not None:
            raise TypeError("got both dim and its alias axis")
        dim = axis
    return dim, keepdim if keepdims is None else keepdims
