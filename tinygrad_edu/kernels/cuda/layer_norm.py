"""Layer norm on the GPU, one block per row: y = (x - μ)·r·w + b, r = 1/√(σ² + ε).

Backward, with x̂ = (x - μ)·r and g = grad·w: dx = r·(g - mean(g) - x̂·mean(g·x̂)); dw = Σ_rows grad·x̂ and
db = Σ_rows grad are added up with atomic adds, one per element. μ and r are saved per row (float64), sums
run in float64 in shared memory. The reference is ``ops/nn_ops.py``'s ``LayerNorm``.
"""

from __future__ import annotations

import math

import numba
from numba import cuda

from . import dense, stream
from .reduce import THREADS, block_sum


@cuda.jit
def forward(x, weight, bias, eps, out, mean, rstd):
    row, t = cuda.blockIdx.x, cuda.threadIdx.x
    n = x.shape[1]
    shared = cuda.shared.array(THREADS, numba.float64)
    part = 0.0
    for j in range(t, n, THREADS):
        part += x[row, j]
    mu = block_sum(shared, part) / n
    part = 0.0
    for j in range(t, n, THREADS):
        d = x[row, j] - mu
        part += d * d
    rs = 1.0 / math.sqrt(block_sum(shared, part) / n + eps)
    for j in range(t, n, THREADS):
        out[row, j] = (x[row, j] - mu) * rs * weight[j] + bias[j]
    if t == 0:
        mean[row] = mu
        rstd[row] = rs


@cuda.jit
def backward(grad, x, weight, mean, rstd, dx, dw, db):
    row, t = cuda.blockIdx.x, cuda.threadIdx.x
    n = x.shape[1]
    shared = cuda.shared.array(THREADS, numba.float64)
    mu, rs = mean[row], rstd[row]
    part_g = 0.0
    part_gx = 0.0
    for j in range(t, n, THREADS):
        xhat = (x[row, j] - mu) * rs
        g = grad[row, j] * weight[j]
        part_g += g
        part_gx += g * xhat
        cuda.atomic.add(dw, j, grad[row, j] * xhat)
        cuda.atomic.add(db, j, grad[row, j])
    mean_g = block_sum(shared, part_g) / n
    mean_gx = block_sum(shared, part_gx) / n
    for j in range(t, n, THREADS):
        xhat = (x[row, j] - mu) * rs
        dx[row, j] = rs * (grad[row, j] * weight[j] - mean_g - xhat * mean_gx)


def _rows(x, normalized_ndim):
    n = 1
    for s in x.shape[x.ndim - normalized_ndim :]:
        n *= s
    return (x.size // n if n else 0), n


def layer_norm(xp, x, weight, bias, eps, normalized_ndim):
    rows, n = _rows(x, normalized_ndim)
    x2 = xp.ascontiguousarray(x).reshape(rows, n)
    w = xp.ones(n, x.dtype) if weight is None else xp.ascontiguousarray(weight).reshape(n)
    b = xp.zeros(n, x.dtype) if bias is None else xp.ascontiguousarray(bias).reshape(n)
    out = xp.empty_like(x2)
    mean, rstd = xp.empty(rows, xp.float64), xp.empty(rows, xp.float64)
    forward[rows, THREADS, stream(xp)](x2, w, b, eps, out, mean, rstd)
    return out.reshape(x.shape), mean, rstd


def layer_norm_backward(xp, grad, x, weight, mean, rstd, normalized_ndim):
    rows, n = _rows(x, normalized_ndim)
    norm_shape = x.shape[x.ndim - normalized_ndim :]
    x2 = xp.ascontiguousarray(x).reshape(rows, n)
    g2 = dense(xp, grad, x.shape).reshape(rows, n)
    w = xp.ones(n, x.dtype) if weight is None else xp.ascontiguousarray(weight).reshape(n)
    dx = xp.empty_like(x2)
    dw, db = xp.zeros(n, x.dtype), xp.zeros(n, x.dtype)
    backward[rows, THREADS, stream(xp)](g2, x2, w, mean, rstd, dx, dw, db)
    return dx.reshape(x.shape), dw.reshape(norm_shape), db.reshape(norm_shape)
