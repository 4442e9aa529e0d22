"""Cross-entropy on the GPU, one block per row: the loss log Σ exp(x) - x[t] and the softmax, as
``kernels/cross_entropy.py`` computes them on the CPU (ignored rows: loss 0, gradient 0)."""

from __future__ import annotations

import math

import numba
from numba import cuda

from . import THREADS, dense, stream
from .reduce import block_max, block_sum


@cuda.jit
def forward(x, target, ignore_index, losses, probs):
    row, t = cuda.blockIdx.x, cuda.threadIdx.x
    classes = x.shape[1]
    shared = cuda.shared.array(THREADS, numba.float64)
    part = -math.inf
    for j in range(t, classes, THREADS):
        part = max(part, x[row, j])
    top = block_max(shared, part)
    part = 0.0
    for j in range(t, classes, THREADS):
        e = math.exp(x[row, j] - top)
        probs[row, j] = e
        part += e
    total = block_sum(shared, part)
    for j in range(t, classes, THREADS):
        probs[row, j] /= total
    if t == 0:
        k = target[row]
        losses[row] = 0.0 if k == ignore_index else math.log(total) + top - x[row, k]


@cuda.jit
def backward(probs, target, ignore_index, share, out):
    row, t = cuda.blockIdx.x, cuda.threadIdx.x
    classes = probs.shape[1]
    k = target[row]
    s = 0.0 if k == ignore_index else share[row]
    for j in range(t, classes, THREADS):
        out[row, j] = probs[row, j] * s - (s if j == k else 0.0)


def cross_entropy(xp, x, target, ignore_index):
    x = xp.ascontiguousarray(x)
    losses, probs = xp.empty(x.shape[0], x.dtype), xp.empty_like(x)
    forward[max(x.shape[0], 1), THREADS, stream(xp)](
        x, xp.ascontiguousarray(target).astype(xp.int64), ignore_index, losses, probs
    )
    return losses, probs


def cross_entropy_backward(xp, probs, target, ignore_index, share):
    out = xp.empty_like(probs)
    target = xp.ascontiguousarray(target).astype(xp.int64)
    backward[max(probs.shape[0], 1), THREADS, stream(xp)](
        probs, target, ignore_index, dense(xp, share, target.shape), out
    )
    return out
