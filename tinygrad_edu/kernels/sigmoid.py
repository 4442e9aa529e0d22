"""sigmoid, σ(a) = 1 / (1 + e⁻ᵃ), and its backward, grad·σ(a)(1 - σ(a)), in one pass each.

The reference (``ops/elementwise.py``'s ``Sigmoid``) computes e^(-|a|) and picks 1/(1 + e) or e/(1 + e) by the
sign of a, so that exp never overflows: about nine NumPy passes over memory, each writing a temporary array. Here
the same formula is one loop, with ``exp.py``'s exp (which LLVM vectorizes), in the input's dtype. The exp is
within an ulp where NumPy's float32 exp is within 2.4, so the last bit may differ from the reference's.
"""

from __future__ import annotations

import numba
import numpy as np

from ..ops.elementwise import Sigmoid
from .exp import exp


@numba.njit(cache=True, error_model="numpy")
def sigmoid_flat(a, out):
    """out = σ(a) for flat arrays of one dtype: e = e^(-|a|), then 1/(1 + e) for a ≥ 0, e/(1 + e) below."""
    one = np.ones(1, dtype=a.dtype)[0]  # a literal 1 would make float32 arithmetic float64
    for i in numba.prange(a.size):
        x = a[i]
        e = exp(-abs(x))
        r = one / (one + e)
        out[i] = r if x >= 0 else e * r


@numba.njit(cache=True, error_model="numpy")
def sigmoid_backward_flat(grad, out, result):
    """result = grad·σ(1 - σ) for flat arrays, σ being the forward's output."""
    one = np.ones(1, dtype=out.dtype)[0]
    for i in numba.prange(out.size):
        s = out[i]
        result[i] = grad[i] * s * (one - s)


def sigmoid(a):
    """σ(a) for a float32 or float64 NumPy array, the same shape."""
    flat = np.ascontiguousarray(a).reshape(-1)
    out = np.empty_like(flat)
    sigmoid_flat(flat, out)
    return out.reshape(a.shape)


def sigmoid_backward(grad, out):
    """grad·σ(1 - σ) in out's shape and dtype (grad broadcast to it)."""
    g = np.ascontiguousarray(np.broadcast_to(grad, out.shape), dtype=out.dtype).reshape(-1)
    result = np.empty_like(g)
    sigmoid_backward_flat(g, np.ascontiguousarray(out).reshape(-1), result)
    return result.reshape(out.shape)


class SigmoidKernel(Sigmoid):
    """Sigmoid in one compiled pass each way; saves what the reference saves (its output)."""

    reference = Sigmoid

    @staticmethod
    def forward(ctx, a):
        out = sigmoid(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return sigmoid_backward(grad, out)
