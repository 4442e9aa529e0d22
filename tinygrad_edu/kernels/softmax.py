"""Softmax over the last axis: y = exp(x - max x) / Σ exp(x - max x), row by row; optionally causal, the
mask computed from the row's position (no -inf tensor).

One compiled pass per row, where the reference takes five array passes: the row's maximum (as an integer
maximum of ``bits.ordered_key``, which LLVM vectorizes), then exp(x - max) written and summed (``exp.py``'s
float32 exp, vectorized), then the row divided by Σ. A row of 64 numbers stays in the L1 cache between its
three loops. Sums are in the input's precision, in any order (``fastmath.py``), as PyTorch's CPU softmax sums.

Backward: dx = y·(grad - Σ grad·y), per row. A row of -inf only gives nan, as in PyTorch and the reference
(``ops/nn_ops.py``'s ``Softmax``); -inf entries in a row with a finite maximum give exactly 0.
"""

from __future__ import annotations

import numba
import numpy as np

from ..ops.nn_ops import Softmax
from .bits import from_ordered_key, ordered_key
from .devices import cupy, on_gpu
from .exp import exp
from .fastmath import FUSED_MULTIPLY_ADD, SUMS_IN_ANY_ORDER


@numba.njit(cache=True, inline="always")
def row_max(x, r, last):
    """max(x[r, 0..last]), exact, NaN or not: the maximum of the order-preserving integer keys."""
    key = ordered_key(x[r, 0])
    for j in range(1, last + 1):
        key = max(key, ordered_key(x[r, j]))
    return from_ordered_key(key, x[r, 0])


@numba.njit(cache=True, error_model="numpy", fastmath=SUMS_IN_ANY_ORDER | FUSED_MULTIPLY_ADD)
def forward(x, out, causal, t_q, offset):
    """out = softmax of each row of x; with ``causal``, row r is query r % t_q and its columns past
    r % t_q + offset weigh 0, without a mask array."""
    rows, n = x.shape
    for r in numba.prange(rows):
        last = n - 1 if not causal else min(n - 1, r % t_q + offset)
        top = row_max(x, r, last)
        total = x.dtype.type(0)  # the sum is kept in the input's precision
        for j in range(last + 1):
            e = exp(x[r, j] - top)
            out[r, j] = e
            total += e
        for j in range(last + 1):
            out[r, j] /= total  # a division rounds once; a multiplication by 1/total would round twice
        for j in range(last + 1, n):
            out[r, j] = 0


@numba.njit(cache=True, error_model="numpy", fastmath=SUMS_IN_ANY_ORDER)
def backward(grad, y, dx):
    rows, n = y.shape
    for r in numba.prange(rows):
        dot = 0.0
        for j in range(n):
            dot += grad[r, j] * y[r, j]
        for j in range(n):
            dx[r, j] = y[r, j] * (grad[r, j] - dot)


def softmax_last(x, causal=False):
    """Softmax over the last axis of a float array; ``causal``: query i of (…, T_q, T_k) sees keys 0..i, as
    PyTorch's ``scaled_dot_product_attention(is_causal=True)``."""
    if on_gpu(x):
        from .cuda import softmax as twin

        return twin.softmax_last(cupy(), x, causal)
    x2 = np.ascontiguousarray(x).reshape(-1, x.shape[-1]) if x.ndim else np.ascontiguousarray(x).reshape(1, 1)
    out = np.empty_like(x2)
    t_q = x.shape[-2] if x.ndim >= 2 else 1
    forward(x2, out, causal, t_q, 0)
    return out.reshape(x.shape)


def softmax_last_backward(grad, y):
    if on_gpu(y):
        from .cuda import softmax as twin

        return twin.softmax_last_backward(cupy(), grad, y)
    y2 = np.ascontiguousarray(y).reshape(-1, y.shape[-1]) if y.ndim else y.reshape(1, 1)
    g2 = np.ascontiguousarray(np.broadcast_to(grad, y.shape)).reshape(y2.shape)
    dx = np.empty_like(y2)
    backward(g2, y2, dx)
    return dx.reshape(y.shape)


class SoftmaxKernel(Softmax):
    """Softmax over the last axis, one pass per row each way (causal: the mask computed, not stored); saves what
    the reference saves."""

    reference = Softmax

    @staticmethod
    def forward(ctx, x, *, dim, causal=False):
        ctx.dim = dim
        out = softmax_last(x, causal=causal)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return softmax_last_backward(grad.astype(y.dtype, copy=False), y)
