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
    """(source, target) with ``source`` broadcastable to exactly ``target`` (for expand and masks)."""
    target = draw(shapes(max_dims=max_dims, max_side=4))
    source = draw(
        hnp.broadcastable_shapes(target, max_dims=len(target)).filter(
            lambda s: np.broadcast_shapes(s, target) == target
        )
    )
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

LAYOUTS = ("contiguous", "transposed", "strided")
layouts = st.sampled_from(LAYOUTS)


def with_layout(array: np.ndarray, layout: str) -> np.ndarray:
    """The same values in another memory layout: a transposed (Fortran-order) or a step-2 strided view."""
    if layout == "contiguous" or array.ndim == 0:
        return np.array(array, order="C")  # not ascontiguousarray: that turns 0-d into 1-d
    if layout == "transposed":
        return array.T.copy().T
    wide = np.zeros((*array.shape[:-1], 2 * array.shape[-1]), dtype=array.dtype)
    wide[..., ::2] = array
    return wide[..., ::2]


def leaf(array, device: str = "cpu", layout: str = "contiguous", requires_grad: bool = True) -> torch.Tensor:
    """A leaf tensor with ``array``'s values; on the CPU it keeps ``layout`` (``from_numpy`` does not copy)."""
    array = with_layout(np.asarray(array), layout)
    t = torch.from_numpy(array) if device == "cpu" else torch.tensor(array, device=device)
    return t.requires_grad_(requires_grad)


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
