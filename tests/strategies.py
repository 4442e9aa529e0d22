"""Hypothesis strategies and small helpers shared by the per-op property tests.

Shapes are small (at most 4 dims, 5 per dim, 60 elements) so that a full finite-difference gradcheck, which
evaluates the function twice per input element, stays fast. Values are kept away from the points where an op
is not differentiable (0 for abs/relu, ties for max/min, the bounds of clamp) and from singularities (log and
sqrt of non-positive numbers, division by ~0): finite differences straddling a kink give meaningless numbers.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_edu as torch
from tinygrad_edu import backend

MAX_DIMS, MAX_SIDE, MAX_ELEMENTS = 4, 5, 60


def examples(n: int):
    """``@settings`` for a test whose examples are expensive: ``n`` examples under the default profiles,
    scaled up proportionally under ``thorough``. The device and seed fixtures are function-scoped on purpose
    (they only return a name / reseed), so that health check is off."""
    scale = max(1, settings.default.max_examples // 25)
    return settings(
        max_examples=n * scale,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# -- shapes --------------------------------------------------------------------------------------------------


@st.composite
def shapes(draw, min_dims=0, max_dims=MAX_DIMS, min_side=1, max_side=MAX_SIDE, max_elements=MAX_ELEMENTS):
    """Small shapes, 0-d and size-1 dims included, with at most ``max_elements`` elements. Inside
    ``empty_dims()`` one dim of every shape with at least one dim is 0 (the empty-tensor tests)."""
    ndim = draw(st.integers(min_dims, max_dims))
    shape, budget = [], max_elements
    for _ in range(ndim):
        side = draw(st.integers(min_side, max(min_side, min(max_side, budget))))
        shape.append(side)
        budget = max(budget // side, 1)
    if _EMPTY[0] and shape:
        shape[draw(st.integers(0, len(shape) - 1))] = 0
    return tuple(shape)


_EMPTY = [0]


@contextlib.contextmanager
def empty_dims():
    """While active, ``shapes()`` draws a size-0 dim in every shape that has a dim."""
    _EMPTY[0] += 1
    try:
        yield
    finally:
        _EMPTY[0] -= 1


def broadcast_pairs(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3, max_side: int = 4):
    """Mutually broadcastable shapes (``.input_shapes``, ``.result_shape``) with a small broadcast result."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    ).filter(lambda b: math.prod(b.result_shape) <= MAX_ELEMENTS)


@st.composite
def source_and_target(draw, max_dims: int = 3):
    """(source, target) with ``source`` broadcastable to exactly ``target`` (for expand and masks): the source
    has any number of the target's trailing dims (so all ranks are common, not mostly 0-d), each the target's
    size or 1."""
    target = draw(shapes(max_dims=max_dims, max_side=4))
    rank = draw(st.integers(0, len(target)))
    trailing = target[len(target) - rank :]
    source = tuple(draw(st.sampled_from([side, 1])) for side in trailing)
    return source, target


def dim_of(ndim: int):
    """A valid ``dim`` argument for a tensor of ``ndim`` dims, negative values included (0-d accepts 0, -1)."""
    n = max(ndim, 1)
    return st.integers(-n, n - 1)


@st.composite
def reduction_dims(draw, ndim: int, allow_tuple: bool = True):
    """None (full reduction), one dim, or a tuple of distinct dims."""
    kind = draw(st.sampled_from(["none", "one", "tuple"] if allow_tuple else ["none", "one"]))
    if kind == "none":
        return None
    if kind == "one" or ndim == 0:
        return draw(dim_of(ndim))
    return tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))


# -- values ----------------------------------------------------------------------------------------------


def floats(lo: float = -2.0, hi: float = 2.0):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def positive(lo: float = 0.2, hi: float = 3.0):
    """Away from 0: for log, sqrt, rsqrt and the base of a tensor power."""
    return floats(lo, hi)


def away_from_zero(margin: float = 0.1, hi: float = 2.0):
    """|x| > margin: abs and relu are not differentiable at 0, 1/x is singular there."""
    return st.one_of(floats(margin, hi), floats(-hi, -margin))


def grid(step: float = 0.1, offset: float = 0.0, k: int = 40):
    """Multiples of ``step`` shifted by ``offset``: two grids with different offsets never meet (no ties)."""
    return st.integers(-k, k).map(lambda i: round(i * step + offset, 10))


def eighths(k: int = 16):
    """Multiples of 1/8 in [-k/8, k/8]: exact in float16 and float32, and so is x ± 1/4 (exact casts)."""
    return st.integers(-k, k).map(lambda i: i / 8)


def arrays(shape, elements=None, dtype=np.float64, unique: bool = False):
    return hnp.arrays(dtype, shape, elements=elements if elements is not None else floats(), unique=unique)


def distinct_arrays(shape, dtype=np.float64):
    """All elements different by at least 0.1, so that max/min/argmax have one winner far from any tie."""
    return arrays(shape, grid(0.1), dtype=dtype, unique=True)


# -- layouts -----------------------------------------------------------------------------------------------

# The memory layouts a leaf is made in. Each holds the same logical values; what differs is where they lie:
# contiguous (C order), transposed (Fortran order), strided (every other element of a wider buffer), offset
# (C order, starting part-way into a larger buffer) and broadcast (stride 0 along the last dim: one column in
# memory, read again for every position, so the values repeat along that dim; strategies that need distinct
# values leave it out with TIE_FREE_LAYOUTS).
LAYOUTS = ("contiguous", "transposed", "strided", "offset", "broadcast")
TIE_FREE_LAYOUTS = tuple(layout for layout in LAYOUTS if layout != "broadcast")
layouts = st.sampled_from(LAYOUTS)
OFFSET = 3  # elements before an "offset" leaf's first value


def broadcast_values(array: np.ndarray) -> np.ndarray:
    """The values a "broadcast" leaf holds: ``array``'s first column repeated along the last dim."""
    if array.ndim == 0:
        return array
    return np.array(np.broadcast_to(array[..., :1], array.shape))


def with_layout(array, layout: str, xp=np):
    """The same values in another memory layout (see ``LAYOUTS``), built with ``xp`` (NumPy, or a device's array
    module, so that a device leaf keeps its layout too). A "broadcast" leaf reads ``array[..., :1]``: pass values
    that repeat along the last dim (``broadcast_values``); it is read-only, as a broadcast view is."""
    array = np.asarray(array)
    if layout == "contiguous" or array.ndim == 0:
        return xp.array(array, order="C")  # not ascontiguousarray: that turns 0-d into 1-d
    if layout == "transposed":
        return xp.array(array.T, order="C").T
    if layout == "strided":
        wide = xp.zeros((*array.shape[:-1], 2 * array.shape[-1]), dtype=array.dtype)
        wide[..., ::2] = xp.asarray(array)
        return wide[..., ::2]
    if layout == "offset":
        buffer = xp.zeros(OFFSET + array.size, dtype=array.dtype)
        buffer[OFFSET:] = xp.asarray(array.reshape(-1))
        return buffer[OFFSET:].reshape(array.shape)
    if layout == "broadcast":
        return xp.broadcast_to(xp.array(array[..., :1], order="C"), array.shape)
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")


def leaf(array, device: str = "cpu", layout: str = "contiguous", requires_grad: bool = True) -> torch.Tensor:
    """A leaf tensor with ``array``'s values in memory layout ``layout``, on ``device`` (built there, not copied
    there: a copy to a device would make it contiguous)."""
    dev = backend.canonical(device)
    data = with_layout(array, layout, backend.array_module(dev))
    return torch.Tensor._wrap(data, dev).requires_grad_(requires_grad)


VIEWS = ("none", "permuted", "sliced")
views = st.sampled_from(VIEWS)


def view_source_shape(shape: tuple, view: str) -> tuple:
    """The shape of the leaf that ``apply_view(leaf, view)`` turns into ``shape``."""
    if view == "permuted":
        return tuple(reversed(shape))
    if view == "sliced" and shape:
        return (*shape[:-1], 2 * shape[-1])
    return shape


def apply_view(t, view: str):
    """A non-contiguous view made inside the graph: reversing the axes, or taking every other element (of a
    tinygrad_edu or a PyTorch tensor; a 0-d tensor is returned as it is)."""
    if view == "permuted" and t.dim():
        return t.permute(*reversed(range(t.dim())))
    if view == "sliced" and t.dim():
        return t[..., ::2]
    return t


def view_source(array: np.ndarray, view: str) -> np.ndarray:
    """The leaf that ``apply_view(leaf, view)`` turns into ``array``: its transpose, or a twice-as-wide array with
    ``array`` in the even columns (and zeros, which the view never reads, in the odd ones)."""
    if view == "permuted" and array.ndim:
        return np.ascontiguousarray(array.transpose())
    if view == "sliced" and array.ndim:
        wide = np.zeros((*array.shape[:-1], 2 * array.shape[-1]), dtype=array.dtype)
        wide[..., ::2] = array
        return wide
    return array


# -- indices --------------------------------------------------------------------------------------------


@st.composite
def basic_and_advanced_index(draw, shape: tuple):
    """An index for ``shape`` mixing ints, slices (positive steps, as PyTorch), None, Ellipsis and up to two
    integer-array indices of one length (repeated positions included)."""
    parts, array_len = [], draw(st.integers(1, 4))
    arrays_used = 0
    dims = list(shape)
    use_ellipsis = draw(st.booleans()) and len(dims) > 0
    keep = draw(st.integers(0, len(dims))) if use_ellipsis else len(dims)
    for side in dims[:keep]:
        kind = draw(st.sampled_from(["int", "slice", "array", "none_then_slice"]))
        if kind == "int":
            parts.append(draw(st.integers(-side, side - 1)))
        elif kind == "array" and arrays_used < 2:
            arrays_used += 1
            values = draw(st.lists(st.integers(-side, side - 1), min_size=array_len, max_size=array_len))
            parts.append(np.asarray(values, dtype=np.int64))
        else:
            if kind == "none_then_slice":
                parts.append(None)
            start = draw(st.one_of(st.none(), st.integers(-side, side)))
            stop = draw(st.one_of(st.none(), st.integers(-side, side)))
            parts.append(slice(start, stop, draw(st.integers(1, 3))))
    if use_ellipsis:
        parts.append(Ellipsis)
        if draw(st.booleans()):
            parts.append(None)
    return tuple(parts)


def to_tensor_index(index: tuple, device: str = "cpu"):
    """The same index with integer arrays as int64 tensors, as a user would write it."""
    return tuple(torch.tensor(p, device=device) if isinstance(p, np.ndarray) else p for p in index)
