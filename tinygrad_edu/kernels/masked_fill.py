"""masked_fill where the mask repeats over leading axes, as attention's causal mask over (batch, head):
out[r, j] = value if mask[j] else x[r, j], with x seen as rows of the mask's size.

One pass that reads x and writes out, where NumPy's form (a broadcast copy, then ``copyto`` with ``where=``)
makes two, and its backward (``where(mask, 0, grad)``) one with a broadcast mask (figures:
``benchmarks/NOTES.md`` §12).
Backward is the same kernel with value 0: d out/d x is 1 where x was kept, 0 where the value was written. On
CuPy arrays the reference op runs (the table lists this kernel for the CPU only).
"""

from __future__ import annotations

import numba
import numpy as np

from ..ops.movement import MaskedFill


@numba.njit(cache=True, error_model="numpy")
def fill_rows(x, mask, value, out):
    rows, n = x.shape
    for r in numba.prange(rows):
        for j in range(n):
            out[r, j] = value if mask[j] else x[r, j]


def repeats_over_leading_axes(a, mask) -> bool:
    """Whether ``mask`` (bool) covers a's trailing axes exactly and only repeats over the leading ones (so the
    result has a's shape: a mask with more axes than a would add some)."""
    core = mask.shape[next((i for i, n in enumerate(mask.shape) if n != 1), mask.ndim) :]  # leading 1s dropped
    fits = mask.ndim <= a.ndim and 0 < len(core) and a.shape[a.ndim - len(core) :] == core
    return mask.dtype == np.bool_ and fits


def masked_fill(a, mask, value):
    """``a`` with ``value`` where the mask is set; the mask repeats over a's leading axes."""
    return _filled(a, mask, value)


def masked_fill_backward(grad, mask):
    """grad where x was kept, 0 where the value was written."""
    return _filled(grad, mask, 0)


def _filled(a, mask, value):
    n = mask.size
    x = np.ascontiguousarray(a).reshape(-1, n)
    out = np.empty_like(x)
    fill_rows(x, np.ascontiguousarray(mask).reshape(n), a.dtype.type(value), out)
    return out.reshape(a.shape)


class MaskedFillKernel(MaskedFill):
    """MaskedFill in one pass each way, for a mask that repeats over the input's leading axes; saves what the
    reference saves."""

    reference = MaskedFill

    @staticmethod
    def forward(ctx, a, mask, *, value):
        ctx.save_for_backward(mask)
        ctx.in_shape = a.shape
        return masked_fill(a, mask, value)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return masked_fill_backward(grad, mask), None
