"""Softmax over the last axis: y = exp(x - max x) / Σ exp(x - max x), row by row; optionally causal, the
mask computed from the row's position (no -inf tensor).

Three passes instead of the reference's five: one compiled pass subtracts each row's maximum, NumPy's
vectorized exp runs in place (numba's own exp is a scalar call here, 4x slower), and one compiled pass divides
each row by its sum.

Backward: dx = y·(grad - Σ grad·y), per row. A row of -inf only gives nan, as in PyTorch and the reference
(``ops/nn_ops.py``'s ``Softmax``); -inf entries in a row with a finite maximum give exactly 0.
"""

from __future__ import annotations

import numba
import numpy as np

from .devices import cupy, on_gpu
from .fastmath import SUMS_IN_ANY_ORDER


@numba.njit(cache=True, error_model="numpy")
def subtract_row_max(x, out, causal, t_q, offset):
    """out = x - max of the row; with ``causal``, row r is query r % t_q and columns past r % t_q + offset
    become -inf (exp gives 0 there), without a mask array."""
    rows, n = x.shape
    for r in numba.prange(rows):
        last = n - 1 if not causal else min(n - 1, r % t_q + offset)
        top = -np.inf
        for j in range(last + 1):
            top = max(top, x[r, j])
        for j in range(n):
            out[r, j] = x[r, j] - top if j <= last else -np.inf


@numba.njit(cache=True, error_model="numpy", fastmath=SUMS_IN_ANY_ORDER)
def divide_by_row_sum(e):
    rows, n = e.shape
    for r in numba.prange(rows):
        total = 0.0
        for j in range(n):
            total += e[r, j]
        scale = 1.0 / total
        for j in range(n):
            e[r, j] *= scale


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
    subtract_row_max(x2, out, causal, t_q, 0)
    np.exp(out, out=out)
    divide_by_row_sum(out)
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
