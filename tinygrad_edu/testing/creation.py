"""``make_tensor``: a tensor of random values for a test, as ``torch.testing.make_tensor`` makes one."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy

from .. import dtypes
from ..factories import rand, randint, tensor
from ..tensor import Tensor

# [low, high) when not given, per kind of dtype (PyTorch's table)
DEFAULT_RANGES = {"bool": (0, 2), "unsigned": (0, 10), "signed": (-9, 10), "floating": (-9, 9)}


def _kind(dtype: dtypes.DType) -> str:
    if dtype is dtypes.bool:
        return "bool"
    if dtype.is_floating_point:
        return "floating"
    return "unsigned" if dtype.np.kind == "u" else "signed"


def _representable(dtype: dtypes.DType) -> tuple[float, float]:
    """[lowest, highest) that ``dtype`` can hold: its finite range for floats, one past its max for integers."""
    if dtype is dtypes.bool:
        return 0, 2
    if dtype.is_floating_point:
        info = numpy.finfo(dtype.np)
        return float(info.min), float(info.max)
    info = numpy.iinfo(dtype.np)
    # int64's max + 1 does not fit the integers the generator draws, so int64 stops one short, as PyTorch does
    return int(info.min), int(info.max) + (1 if dtype is not dtypes.int64 else 0)


def _checked_range(low, high, dtype: dtypes.DType) -> tuple:
    kind = _kind(dtype)
    low = DEFAULT_RANGES[kind][0] if low is None else low
    high = DEFAULT_RANGES[kind][1] if high is None else high
    lowest, highest = _representable(dtype)
    if any(isinstance(v, float) and math.isnan(v) for v in (low, high)):
        raise ValueError(f"`low` and `high` cannot be NaN, but got low={low} and high={high}")
    if low == high and kind == "floating":
        warnings.warn(
            "Passing `low==high` to `make_tensor` for floating types gives a tensor full of `low`: "
            "use `tinygrad_edu.full(...)` instead.",
            FutureWarning,
            stacklevel=3,
        )
    elif low >= high:
        raise ValueError(f"`low` must be less than `high`, but got {low} >= {high}")
    elif high < lowest or low >= highest:
        raise ValueError(
            f"The value interval specified by `low` and `high` is [{low}, {high}), "
            f"but {dtype} only supports [{lowest}, {highest})"
        )
    low, high = min(max(low, lowest), highest), min(max(high, lowest), highest)
    if kind != "floating":
        # no integer below low; high stays exclusive, so it is rounded up as well
        return math.ceil(low), math.ceil(high)
    return low, high


def make_tensor(
    *shape,
    dtype: dtypes.DType,
    device,
    low=None,
    high=None,
    requires_grad: bool = False,
    noncontiguous: bool = False,
    exclude_zero: bool = False,
) -> Tensor:
    """A tensor of ``shape`` (ints, or one tuple or list) with values drawn uniformly from ``[low, high)``.

    Defaults for the range: [-9, 9) for floats, [-9, 10) for signed integers, [0, 10) for unsigned, both
    values for bool; a bound outside the dtype's finite range is clamped to it. ``noncontiguous=True`` gives
    a view of every other element of a twice-as-wide buffer (tensors of fewer than two elements stay
    contiguous); ``exclude_zero=True`` replaces each 0 by 1 (integers, bool) or by the dtype's smallest normal
    number (floats). The draws come from the engine's generator, so ``manual_seed`` repeats them.
    """
    if len(shape) == 1 and isinstance(shape[0], Sequence):
        shape = shape[0]
    shape = tuple(shape)
    for side in shape:
        if isinstance(side, bool) or not isinstance(side, (int, numpy.integer)) or side < 0:
            raise TypeError(f"make_tensor(): the shape must be non-negative ints, got {shape}")
    if not isinstance(dtype, dtypes.DType):
        raise TypeError(f"make_tensor(): dtype must be a tinygrad_edu dtype (tinygrad_edu.float32 ...), got {dtype!r}")
    if requires_grad and not dtype.is_floating_point:
        raise ValueError(
            f"`requires_grad=True` is not supported for boolean and integral dtypes, but got dtype={dtype}"
        )
    noncontiguous = noncontiguous and math.prod(shape) > 1
    if noncontiguous:  # twice as wide along the last dim; the view below takes every other element
        shape = (*shape[:-1], 2 * shape[-1])
    low, high = _checked_range(low, high, dtype)
    if dtype.is_floating_point:
        u = rand(*shape, dtype=dtypes.float64).numpy()
        # halves first, so that a range as wide as the dtype's does not overflow to inf
        values = 2 * (low / 2 + (high / 2 - low / 2) * u)
        values = numpy.minimum(values, high).astype(dtype.np)
        if exclude_zero:
            values[values == 0] = numpy.finfo(dtype.np).tiny
    else:
        values = randint(low, high, shape, dtype=dtypes.int64).numpy()
        if exclude_zero:
            values[values == 0] = 1
        values = values.astype(dtype.np)
    result = tensor(values, dtype=dtype, device=device)
    if noncontiguous:
        result = result[..., 1::2]  # offset by one element, so that an op ignoring a view's offset shows
    if dtype.is_floating_point:
        result.requires_grad_(requires_grad)
    return result
