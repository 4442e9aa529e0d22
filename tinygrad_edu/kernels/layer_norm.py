"""Layer norm in one pass per row: y = (x - μ)·r·w + b, with μ the row's mean and r = 1/√(σ² + ε).

Backward, with x̂ = (x - μ)·r and g = grad·w: dx = r·(g - mean(g) - x̂·mean(g·x̂)), dw = Σ_rows grad·x̂,
db = Σ_rows grad. Forward saves μ and r per row (two numbers a row, not a copy of x̂); backward recomputes x̂
from x. Sums run in float64 registers for float32 inputs; the per-element arithmetic runs in the input's
precision, with r rounded to it once per row and μ kept as two numbers of it (``split_mean``): twice as many
numbers per vector instruction and no conversions (figures: ``benchmarks/NOTES.md``; the tests allow for
float32's rounding of dx's terms). Rows are split into one chunk per thread;
each chunk adds its share of dw and db into its own row of a partial sum, added up at the end (no races).

The reference is ``ops/nn_ops.py``'s ``LayerNorm``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..ops.nn_ops import LayerNorm
from .devices import cupy, on_gpu
from .fastmath import SUMS_IN_ANY_ORDER


@numba.njit(cache=True, inline="always")
def split_mean(mu, x):
    """μ (float64) as high + low in x's dtype. Where cancellation matters, x is near μ, and then x - high is exact
    (Sterbenz): (x - high) - low is x - μ to the input's precision, where x - round(μ) would carry round(μ)'s
    error, relative to the spread, into every x̂ (a nearly constant row's gradient was off by 0.6%)."""
    high = x.dtype.type(mu)
    return high, x.dtype.type(mu - high)


@numba.njit(cache=True, error_model="numpy", fastmath=SUMS_IN_ANY_ORDER)
def forward(x, weight, bias, eps, out, mean, rstd):
    rows, n = x.shape
    for r in numba.prange(rows):
        total = 0.0
        for j in range(n):
            total += x[r, j]
        mu = total / n
        squares = 0.0
        for j in range(n):
            d = x[r, j] - mu
            squares += d * d
        rs = 1.0 / math.sqrt(squares / n + eps)
        mu_high, mu_low = split_mean(mu, x)
        rs_x = x.dtype.type(rs)
        for j in range(n):
            out[r, j] = ((x[r, j] - mu_high) - mu_low) * rs_x * weight[j] + bias[j]
        mean[r] = mu
        rstd[r] = rs


@numba.njit(cache=True, error_model="numpy", fastmath=SUMS_IN_ANY_ORDER)
def backward(grad, x, weight, mean, rstd, dx, dw_parts, db_parts):
    rows, n = x.shape
    chunks = dw_parts.shape[0]
    for c in numba.prange(chunks):
        for r in range(c * rows // chunks, (c + 1) * rows // chunks):
            (mu_high, mu_low), rs = split_mean(mean[r], x), x.dtype.type(rstd[r])
            mean_g = 0.0
            mean_gx = 0.0
            for j in range(n):
                xhat = ((x[r, j] - mu_high) - mu_low) * rs
                g = grad[r, j] * weight[j]
                mean_g += g
                mean_gx += g * xhat
                dw_parts[c, j] += grad[r, j] * xhat
                db_parts[c, j] += grad[r, j]
            mean_g_x, mean_gx_x = x.dtype.type(mean_g / n), x.dtype.type(mean_gx / n)
            for j in range(n):
                xhat = ((x[r, j] - mu_high) - mu_low) * rs
                dx[r, j] = rs * (grad[r, j] * weight[j] - mean_g_x - xhat * mean_gx_x)


def layer_norm(x, weight, bias, eps, normalized_ndim):
    """(y, mean, rstd) with mean and rstd of shape (rows,), over the last ``normalized_ndim`` axes."""
    if on_gpu(x):
        from .cuda import layer_norm as twin

        return twin.layer_norm(cupy(), x, weight, bias, eps, normalized_ndim)
    shape = x.shape
    n = math.prod(shape[len(shape) - normalized_ndim :])
    rows = x.size // n if n else 0
    x2 = np.ascontiguousarray(x).reshape(rows, n)
    weight = np.ones(n, x.dtype) if weight is None else np.ascontiguousarray(weight).reshape(n)
    bias = np.zeros(n, x.dtype) if bias is None else np.ascontiguousarray(bias).reshape(n)
    out = np.empty_like(x2)
    mean, rstd = np.empty(rows, np.float64), np.empty(rows, np.float64)
    forward(x2, weight, bias, eps, out, mean, rstd)
    return out.reshape(shape), mean, rstd


def layer_norm_backward(grad, x, weight, mean, rstd, normalized_ndim):
    """(dx, dw, db) for ``layer_norm``'s saved row statistics; dw, db in the normalized shape."""
    if on_gpu(x):
        from .cuda import layer_norm as twin

        return twin.layer_norm_backward(cupy(), grad, x, weight, mean, rstd, normalized_ndim)
    shape = x.shape
    norm_shape = shape[len(shape) - normalized_ndim :]
    n = math.prod(norm_shape)
    rows = x.size // n if n else 0
    x2 = np.ascontiguousarray(x).reshape(rows, n)
    g2 = np.ascontiguousarray(np.broadcast_to(grad, shape)).reshape(rows, n)
    w = np.ones(n, x.dtype) if weight is None else np.ascontiguousarray(weight).reshape(n)
    chunks = max(1, min(rows, numba.get_num_threads()))
    dw_parts, db_parts = np.zeros((chunks, n)), np.zeros((chunks, n))
    dx = np.empty_like(x2)
    backward(g2, x2, w, mean, rstd, dx, dw_parts, db_parts)
    dtype = x.dtype
    return (
        dx.reshape(shape),
        dw_parts.sum(0).astype(dtype).reshape(norm_shape),
        db_parts.sum(0).astype(dtype).reshape(norm_shape),
    )


class LayerNormKernel(LayerNorm):
    """LayerNorm in one pass per row each way; saves x and two numbers a row (μ, 1/σ) instead of x̂. Higher-order
    gradients differentiate the reference's ``composite``."""

    reference = LayerNorm

    @staticmethod
    def forward(ctx, x, weight=None, bias=None, *, normalized_ndim, eps):
        out, mean, rstd = layer_norm(x, weight, bias, eps, normalized_ndim)
        ctx.normalized_ndim = normalized_ndim
        ctx.save_for_backward(x, mean, rstd, weight)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, mean, rstd, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        grad = grad.astype(x.dtype, copy=False)
        dx, dw, db = layer_norm_backward(grad, x, weight, mean, rstd, ctx.normalized_ndim)
        return (dx if need_x else None), (dw if need_w else None), (db if need_b else None)
