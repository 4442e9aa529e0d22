"""Softmax over the last axis on the GPU, one block per row, optionally causal with the mask computed here.

y = exp(x - max x) / Σ exp(x - max x); with ``causal``, a row is query i of a (…, T_q, T_k) score matrix and
columns j > i count as -inf (PyTorch's ``is_causal``), without a mask tensor. Backward: dx = y·(grad - Σ grad·y), which
is 0 where y is (the masked columns). The reference is ``ops/nn_ops.py``'s ``Softmax``.
"""

from __future__ import annotations

import math

import numba
from numba import cuda

from . import dense, stream
from .reduce import THREADS, block_max, block_sum


@cuda.jit
def forward(x, out, causal, t_q, offset):
    row, t = cuda.blockIdx.x, cuda.threadIdx.x
    n = x.shape[1]
    last = n - 1 if causal == 0 else min(n - 1, row % t_q + offset)  # the last column this row may see
    shared = cuda.shared.array(THREADS, numba.float64)
    part = -math.inf
    for j in range(t, last + 1, THREADS):
        part = max(part, x[row, j])
    top = block_max(shared, part)
    part = 0.0
    for j in range(t, n, THREADS):
        e = math.exp(x[row, j] - top) if j <= last else 0.0
        out[row, j] = e
        part += e
    scale = 1.0 / block_sum(shared, part)
    for j in range(t, n, THREADS):
        out[row, j] *= scale


@cuda.jit
def backward(grad, y, dx):
    row, t = cuda.blockIdx.x, cuda.threadIdx.x
    n = y.shape[1]
    shared = cuda.shared.array(THREADS, numba.float64)
    part = 0.0
    for j in range(t, n, THREADS):
        part += grad[row, j] * y[row, j]
    dot = block_sum(shared, part)
    for j in range(t, n, THREADS):
        dx[row, j] = y[row, j] * (grad[row, j] - dot)


def softmax_last(xp, x, causal=False):
    t_q = x.shape[-2] if x.ndim >= 2 else 1
    x2 = xp.ascontiguousarray(x).reshape(-1, x.shape[-1])
    out = xp.empty_like(x2)
    forward[x2.shape[0], THREADS, stream(xp)](x2, out, int(causal), t_q, 0)
    return out.reshape(x.shape)


def softmax_last_backward(xp, grad, y):
    y2 = xp.ascontiguousarray(y).reshape(-1, y.shape[-1])
    g2 = dense(xp, grad, y.shape).reshape(y2.shape)
    dx = xp.empty_like(y2)
    backward[y2.shape[0], THREADS, stream(xp)](g2, y2, dx)
    return dx.reshape(y.shape)
