"""Dropout in one pass: out = x·keep/(1-p), the keep bits hashed from (seed, i) in the loop (no random array).

The bits are ``ops/counter_hash.py``'s: the reference op draws them with NumPy's uint64 arithmetic, this kernel
and its CUDA twin compute the same hash per element, so all three give the same mask for the same seed. The
forward also writes the mask (bool) for the backward: grad·keep/(1-p), a second pass over one byte per element.
"""

from __future__ import annotations

import numba
import numpy as np

from .. import backend
from ..ops import counter_hash
from ..ops.nn_ops import Dropout
from .devices import cupy, on_gpu

hashed_bits = numba.njit(cache=True, inline="always")(counter_hash.hashed_bits)


@numba.njit(cache=True)
def forward_kernel(x, out, keep, seed, threshold, scale):
    zero = x.dtype.type(0)
    for i in range(x.size):
        kept = hashed_bits(seed, np.uint64(i + 1)) >= threshold
        keep[i] = kept
        out[i] = x[i] * scale if kept else x[i] * zero


@numba.njit(cache=True)
def backward_kernel(grad, keep, out, scale):
    zero = grad.dtype.type(0)
    for i in range(grad.size):
        out[i] = grad[i] * scale if keep[i] else grad[i] * zero


def dropout(x, seed: int, threshold: int, scale):
    """(x·keep·scale, keep) for a float32 or float64 array."""
    if on_gpu(x):
        from .cuda import dropout as twin

        return twin.dropout(cupy(), x, seed, threshold, scale)
    flat = np.ascontiguousarray(x).reshape(-1)
    out, keep = np.empty_like(flat), np.empty(flat.size, dtype=np.bool_)
    forward_kernel(flat, out, keep, np.uint64(seed), np.uint64(threshold), flat.dtype.type(scale))
    return out.reshape(x.shape), keep.reshape(x.shape)


def dropout_backward(grad, keep, scale):
    if on_gpu(grad):
        from .cuda import dropout as twin

        return twin.dropout_backward(cupy(), grad, keep, scale)
    flat = np.ascontiguousarray(np.broadcast_to(grad, keep.shape)).reshape(-1)
    out = np.empty_like(flat)
    backward_kernel(flat, np.ascontiguousarray(keep).reshape(-1), out, flat.dtype.type(scale))
    return out.reshape(keep.shape)


class DropoutKernel(Dropout):
    """Dropout with the mask hashed and applied in one pass; the same mask as the reference's for the same seed,
    and the same saved mask."""

    reference = Dropout

    @staticmethod
    def forward(ctx, x, *, p, generator):
        seed = backend.draw_seed(generator)
        ctx.scale = x.dtype.type(1 / (1 - p)) if p < 1 else x.dtype.type(0)
        out, keep = dropout(x, seed, counter_hash.threshold(p), ctx.scale)
        ctx.save_for_backward(keep)
        return out

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        return dropout_backward(grad, keep, ctx.scale)
