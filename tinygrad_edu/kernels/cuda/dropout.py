"""Dropout on the GPU, one thread per element: out = x·keep/(1-p), keep hashed from (seed, i) in the thread.

The hash is ``ops/counter_hash.py``'s (splitmix64 of seed + (i + 1)·γ, top 24 bits against t = round(p·2²⁴)),
so the mask equals the reference op's and the CPU kernel's (``kernels/dropout.py``) for the same seed.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from ...ops import counter_hash
from . import THREADS, blocks_for, dense, stream

hashed_bits = cuda.jit(device=True)(counter_hash.hashed_bits)


@cuda.jit
def forward_kernel(x, out, keep, seed, threshold, scale):
    for i in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        kept = hashed_bits(seed, np.uint64(i + 1)) >= threshold
        keep[i] = kept
        out[i] = x[i] * scale if kept else x[i] * 0


@cuda.jit
def backward_kernel(grad, keep, out, scale):
    for i in range(cuda.grid(1), grad.size, cuda.gridsize(1)):
        out[i] = grad[i] * scale if keep[i] else grad[i] * 0


def dropout(xp, x, seed: int, threshold: int, scale):
    flat = xp.ascontiguousarray(x).reshape(-1)
    out, keep = xp.empty_like(flat), xp.empty(flat.size, dtype=xp.bool_)
    forward_kernel[blocks_for(flat.size), THREADS, stream(xp)](
        flat, out, keep, np.uint64(seed), np.uint64(threshold), flat.dtype.type(scale)
    )
    return out.reshape(x.shape), keep.reshape(x.shape)


def dropout_backward(xp, grad, keep, scale):
    flat = dense(xp, grad, keep.shape).reshape(-1)
    out = xp.empty_like(flat)
    backward_kernel[blocks_for(flat.size), THREADS, stream(xp)](
        flat, xp.ascontiguousarray(keep).reshape(-1), out, flat.dtype.type(scale)
    )
    return out.reshape(keep.shape)
