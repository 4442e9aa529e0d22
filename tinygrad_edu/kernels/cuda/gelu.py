"""GELU on the GPU, one thread per element: gelu(a) = a·Φ(a), d gelu/da = Φ(a) + a·φ(a).

Φ(a) = ½(1 + erf(a/√2)) with CUDA's own erf (``erff`` for float32: within 2 ulp), φ(a) = exp(-a²/2)/√(2π).
One pair of kernels per float type, with constants of that type: float32 stays in float32 arithmetic.
The reference is ``ops/elementwise.py``'s ``Gelu``; the CPU kernel is ``kernels/gelu.py``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from . import THREADS, blocks_for, dense, stream


def _kernels(half, one, inv_sqrt2, inv_sqrt_2pi):
    """The forward and backward kernels with constants of one float type (float32 ones keep float32 in float32)."""

    @cuda.jit
    def forward(a, out, cdf):
        for i in range(cuda.grid(1), a.size, cuda.gridsize(1)):
            x = a[i]
            phi = half * (one + math.erf(x * inv_sqrt2))
            cdf[i] = phi
            out[i] = x * phi

    @cuda.jit
    def backward(grad, a, cdf, out):
        for i in range(cuda.grid(1), a.size, cuda.gridsize(1)):
            x = a[i]
            out[i] = grad[i] * (cdf[i] + x * math.exp(-half * x * x) * inv_sqrt_2pi)

    return forward, backward


_CONSTANTS = (0.5, 1.0, 1 / math.sqrt(2), 1 / math.sqrt(2 * math.pi))
KERNELS = {
    np.dtype(np.float32): _kernels(*(np.float32(c) for c in _CONSTANTS)),
    np.dtype(np.float64): _kernels(*_CONSTANTS),
}


def gelu(xp, a):
    """(a·Φ(a), Φ(a)) for a float32 or float64 device array."""
    flat = xp.ascontiguousarray(a).reshape(-1)
    out, cdf = xp.empty_like(flat), xp.empty_like(flat)
    KERNELS[flat.dtype][0][blocks_for(flat.size), THREADS, stream(xp)](flat, out, cdf)
    return out.reshape(a.shape), cdf.reshape(a.shape)


def gelu_backward(xp, grad, a, cdf):
    flat = xp.ascontiguousarray(a).reshape(-1)
    grad = dense(xp, grad, a.shape).reshape(-1)
    out = xp.empty_like(flat)
    KERNELS[flat.dtype][1][blocks_for(flat.size), THREADS, stream(xp)](
        grad, flat, xp.ascontiguousarray(cdf).reshape(-1), out
    )
    return out.reshape(a.shape)
