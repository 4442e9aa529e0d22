"""Hypothesis strategies for tensors: the shapes, dims, values and memory layouts the engine's own tests draw.

Shapes are small (at most 4 dims, 5 per dim, 60 elements) so that a full finite-difference gradcheck, which
evaluates the function twice per input element, stays fast. Values can be kept away from the points where an op
is not differentiable (0 for abs/relu, ties for max/min, the bounds of clamp) and from singularities (log and
sqrt of non-positive numbers, division by ~0): finite differences straddling a kink give meaningless numbers.

Needs hypothesis (``pip install hypothesis``), a test-time dependency: ``import tinygrad_edu`` never loads it.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as error:  # pragma: no cover - hypothesis is installed wherever the tests run
    raise ImportError(
        "tinygrad_edu.testing's strategies and check_op draw with hypothesis, which is not installed: "
        "pip install hypothesis"
    ) from error

from .. import backend, dtypes
from ..tensor import Tensor

MAX_DIMS, MAX_SIDE, MAX_ELEMENTS = 4, 5, 60

# -- shapes ---------------------------------------------------------------------------------------------------


@st.composite
def shapes(draw, min_dims=0, max_dims=MAX_DIMS, min_side=1, max_side=MAX_SIDE, max_elements=MAX_ELEMENTS):
    """Small shapes, 0-d and size-1 dims included, with at most ``max_elements`` elements. Inside
    ``empty_dims()`` one dim of every shape with at least one dim is 0 (``min_side=0`` draws size-0 dims too)."""
    ndim = draw(st.integers(min_dims, max_dims))
    shape, budget = [], max_elements
    for _ in range(ndim):
        side = draw(st.integers(min_side, max(min_side, min(max_side, budget))))
        shape.append(side)
        budget = max(budget // max(side, 1), 1)
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


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3, max_side: int = 4):
    """``num_shapes`` mutually broadcastable shapes (``.input_shapes``, ``.result_shape``) whose broadcast result
    has at most ``MAX_ELEMENTS`` elements."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    ).filter(lambda b: math.prod(b.result_shape) <= MAX_ELEMENTS)


def dim_of(ndim: int):
    """A valid ``dim`` argument for a tensor of ``ndim`` dims, negative values included (0-d accepts 0, -1)."""
    n = max(ndim, 1)
    return st.integers(-n, n - 1)


@st.composite
def reduction_dims(draw, ndim: int, allow_tuple: bool = True):
    """None (full reduction), one dim (negative included), or a tuple of distinct non-negative dims."""
    kind = draw(st.sampled_from(["none", "one", "tuple"] if allow_tuple else ["none", "one"]))
    if kind == "none":
        return None
    if kind == "one" or ndim == 0:
        return draw(dim_of(ndim))
    return tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))


@st.composite
def dims(draw, ndim: int, *, allow_none: bool = False, allow_tuple: bool = True):
    """A ``dim`` argument for a tensor of ``ndim`` dims: one dim, negative or not, or (``allow_tuple``) a tuple
    of distinct dims each written either way (``(0, -1)`` for a matrix), or (``allow_none``) None."""
    kinds = ["one"] + (["tuple"] if allow_tuple and ndim > 0 else []) + (["none"] if allow_none else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return None
    if kind == "one":
        return draw(dim_of(ndim))
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(d - ndim if draw(st.booleans()) else d for d in chosen)


# -- values ---------------------------------------------------------------------------------------------------


def floats(lo: float = -2.0, hi: float = 2.0):
    """Finite floats in [lo, hi]."""
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def positive(lo: float = 0.2, hi: float = 3.0):
    """Away from 0: for log, sqrt, rsqrt and the base of a tensor power."""
    return floats(lo, hi)


def away_from_zero(margin: float = 0.1, hi: float = 2.0):
    """|x| > margin: abs and relu are not differentiable at 0, 1/x is singular there."""
    return st.one_of(floats(margin, hi), floats(-hi, -margin))


def away_from(points, margin: float = 0.1, lo: float = -2.0, hi: float = 2.0):
    """Floats in [lo, hi] at least ``margin`` from every one of ``points`` (kinks, poles, domain edges), so that
    finite differences never straddle one."""
    points = sorted(float(p) for p in points)
    edges = [lo, *(e for p in points for e in (p - margin, p + margin)), hi]
    pieces = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if a <= b]
    if not pieces:
        raise ValueError(f"away_from: no value in [{lo}, {hi}] is {margin} away from {points}")
    return st.one_of(*(floats(a, b) for a, b in pieces))


def grid(step: float = 0.1, offset: float = 0.0, k: int = 40):
    """Multiples of ``step`` shifted by ``offset``: two grids with different offsets never meet (no ties)."""
    return st.integers(-k, k).map(lambda i: round(i * step + offset, 10))


def eighths(k: int = 16):
    """Multiples of 1/8 in [-k/8, k/8]: exact in float16 and float32, and so is x ± 1/4 (exact casts)."""
    return st.integers(-k, k).map(lambda i: i / 8)


def arrays(shape, elements=None, dtype=np.float64, unique: bool = False):
    """NumPy arrays of ``shape`` (a tuple or a strategy of tuples), of ``elements`` (``floats()`` by default)."""
    return hnp.arrays(dtype, shape, elements=elements if elements is not None else floats(), unique=unique)


def distinct_arrays(shape, dtype=np.float64):
    """All elements different by at least 0.1, so that max/min/argmax have one winner far from any tie."""
    return arrays(shape, grid(0.1), dtype=dtype, unique=True)


# -- layouts --------------------------------------------------------------------------------------------------

# The memory layouts a leaf is made in. Each holds the same logical values; what differs is where they lie:
# contiguous (C order), transposed (Fortran order), strided (every other element of a wider buffer), offset
# (C order, starting part-way into a larger buffer) and broadcast (stride 0 along the last dim: one column in
# memory, read again for every position, so the values repeat along that dim; strategies that need distinct
# values leave it out with TIE_FREE_LAYOUTS).
LAYOUTS = ("contiguous", "transposed", "strided", "offset", "broadcast")
TIE_FREE_LAYOUTS = tuple(layout for layout in LAYOUTS if layout != "broadcast")
OFFSET = 3  # elements before an "offset" leaf's first value


def layouts(allowed=LAYOUTS):
    """One of the memory layouts of ``LAYOUTS`` (``TIE_FREE_LAYOUTS`` where values must stay distinct)."""
    unknown = [layout for layout in allowed if layout not in LAYOUTS]
    if unknown or not allowed:
        raise ValueError(f"layouts: unknown layouts {unknown}; choose some of {LAYOUTS}")
    return st.sampled_from(tuple(allowed))


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


def leaf(array, device: str = "cpu", layout: str = "contiguous", requires_grad: bool = True) -> Tensor:
    """A leaf tensor with ``array``'s values in memory layout ``layout``, on ``device`` (built there, not copied
    there: a copy to a device would make it contiguous)."""
    dev = backend.canonical(device)
    data = with_layout(array, layout, backend.array_module(dev))
    return Tensor._wrap(data, dev).requires_grad_(requires_grad)


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


# -- tensors --------------------------------------------------------------------------------------------------


def _default_elements(dtype: dtypes.DType):
    if dtype is dtypes.bool:
        return st.booleans()
    if not dtype.is_floating_point:
        info = np.iinfo(dtype.np)
        return st.integers(max(-9, int(info.min)), min(9, int(info.max)))
    return floats()


@st.composite
def tensors(
    draw, dtype=dtypes.float64, shape=None, elements=None, layout=None, device="cpu", requires_grad: bool = False
):
    """A Tensor of ``dtype`` on ``device``: ``shape`` a tuple or a strategy (``shapes()`` by default: 0-d and
    size-1 dims included), values from ``elements`` (``floats()`` for floats, small integers, booleans; pass
    ``away_from(...)`` to keep off singular points), memory ``layout`` a name or a strategy (``layouts()`` by
    default). A "broadcast" tensor repeats its first column along the last dim, as stride 0 does; it is
    read-only."""
    if not isinstance(dtype, dtypes.DType):
        raise TypeError(f"tensors(): dtype must be a tinygrad_edu dtype (tinygrad_edu.float32 ...), got {dtype!r}")
    if requires_grad and not dtype.is_floating_point:
        raise ValueError(f"tensors(): only floating point tensors can require grad, got dtype={dtype}")
    if shape is None:
        shape = shapes()
    shape = tuple(draw(shape)) if isinstance(shape, st.SearchStrategy) else tuple(shape)
    layout = layouts() if layout is None else layout
    layout = draw(layout) if isinstance(layout, st.SearchStrategy) else layout
    elements = _default_elements(dtype) if elements is None else elements
    # drawn wide, then rounded to the dtype: float32 and float16 tensors take any float elements
    wide = np.bool_ if dtype is dtypes.bool else np.float64 if dtype.is_floating_point else np.int64
    values = draw(hnp.arrays(wide, shape, elements=elements)).astype(dtype.np)
    if layout == "broadcast":
        values = broadcast_values(values)
    return leaf(values, device, layout, requires_grad)
