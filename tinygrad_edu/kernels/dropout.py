"""Dropout in one pass: out = x·keep/(1-p).

On the CPU the mask is PyTorch's, drawn from the generator as the reference op draws it (``Dropout.mask``); the
kernel applies it and the scale in one pass instead of two. On cuda the keep bits are hashed from (key, i) in
the loop (no random array): ``ops/counter_hash.py``'s hash, which the CUDA twin computes per element, so the
mask equals the reference op's for the same key. The backward is grad·keep/(1-p), one pass over one byte per
element.
"""

from __future__ import annotations

import numba
import numpy as np

from ..ops import counter_hash
from ..ops.nn_ops import Dropout
from .devices import cupy, on_gpu


@numba.njit(cache=True)
def backward_kernel(grad, keep, out, scale):
    zero = grad.dtype.type(0)
    for i in range(grad.size):
        out[i] = grad[i] * scale if keep[i] else grad[i] * zero


def dropout(x, scale, *, keep=None, seed: int = 0, threshold: int = 0):
    """(x·keep·scale, keep): with the mask given (the CPU's, drawn from the generator), or hashed from ``seed``
    in the kernel (cuda)."""
    if keep is None:
        from .cuda import dropout as twin

        return twin.dropout(cupy(), x, seed, threshold, scale)
    return masked_scale(x, keep, scale), keep


def masked_scale(x, keep, scale):
    """x·scale where keep, else x·0, in one pass (both the CPU forward and the backward)."""
    if on_gpu(x):
        from .cuda import dropout as twin

        return twin.dropout_backward(cupy(), x, keep, scale)
    flat = np.ascontiguousarray(np.broadcast_to(x, keep.shape)).reshape(-1)
    out = np.empty_like(flat)
    backward_kernel(flat, np.ascontiguousarray(keep).reshape(-1), out, flat.dtype.type(scale))
    return out.reshape(keep.shape)


def dropout_backward(grad, keep, scale):
    return masked_scale(grad, keep, scale)


class DropoutKernel(Dropout):
    """Dropout with the mask applied in one pass (hashed in the same pass on cuda); the same mask as the
    reference's for the same generator state, and the same saved mask."""

    reference = Dropout

    @staticmethod
    def forward(ctx, x, *, p, generator):
        one = x.dtype.type(1)
        ctx.scale = one / x.dtype.type(1 - p) if p < 1 else x.dtype.type(0)
        if on_gpu(x) and p < 1:
            out, keep = dropout(x, ctx.scale, seed=generator.next_key(), threshold=counter_hash.threshold(p))
        else:
            out, keep = dropout(x, ctx.scale, keep=Dropout.mask(cupy() if on_gpu(x) else np, x.shape, p, generator))
        ctx.save_for_backward(keep)
        return out

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        return dropout_backward(grad, keep, ctx.scale)
