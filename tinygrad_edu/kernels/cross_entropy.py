"""Cross-entropy in one pass per row: loss_i = log Σ_j exp(x_ij) - x_i,t_i, and the softmax kept for backward.

Per row: the maximum, then exp(x - max) (``exp.py``'s, vectorized) summed and normalised into the softmax p,
then the loss log Σ + max - x[t] (0 for a row whose target is ``ignore_index``). Backward:
dx_i = (p_i - onehot(t_i))·s_i, with s_i the row's share of the upstream gradient (grad_i, grad/kept rows, or
grad) and 0 for ignored rows.
The reference is ``ops/nn_ops.py``'s ``CrossEntropy``, which takes seven array passes for the same.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..ops.nn_ops import CrossEntropy, kept_targets, reduce_losses
from .devices import cupy, on_gpu
from .exp import exp
from .fastmath import FUSED_MULTIPLY_ADD, SUMS_IN_ANY_ORDER
from .softmax import row_max


@numba.njit(cache=True, error_model="numpy", fastmath=SUMS_IN_ANY_ORDER | FUSED_MULTIPLY_ADD)
def forward(x, target, ignore_index, losses, probs):
    rows, classes = x.shape
    for r in numba.prange(rows):
        top = row_max(x, r, classes - 1)
        total = 0.0  # in float64: the loss is log Σ
        for j in range(classes):
            e = exp(x[r, j] - top)
            probs[r, j] = e
            total += e
        scale = 1.0 / total
        for j in range(classes):
            probs[r, j] *= scale
        t = target[r]
        losses[r] = 0.0 if t == ignore_index else math.log(total) + top - x[r, t]


@numba.njit(cache=True, error_model="numpy", fastmath=SUMS_IN_ANY_ORDER)
def backward(probs, target, ignore_index, share, out):
    rows, classes = probs.shape
    for r in numba.prange(rows):
        t = target[r]
        s = 0.0 if t == ignore_index else share[r]
        for j in range(classes):
            out[r, j] = probs[r, j] * s
        if t != ignore_index:
            out[r, t] -= s


def cross_entropy(x, target, ignore_index):
    """(per-row losses, softmax) of (N, C) logits and (N,) targets already checked to be in range."""
    if on_gpu(x):
        from .cuda import cross_entropy as twin

        return twin.cross_entropy(cupy(), x, target, ignore_index)
    x = np.ascontiguousarray(x)
    losses, probs = np.empty(x.shape[0], x.dtype), np.empty_like(x)
    forward(x, np.ascontiguousarray(target).astype(np.int64, copy=False), ignore_index, losses, probs)
    return losses, probs


def cross_entropy_backward(probs, target, ignore_index, share):
    """dx for the saved softmax; ``share`` is each row's (N,) factor of the upstream gradient."""
    if on_gpu(probs):
        from .cuda import cross_entropy as twin

        return twin.cross_entropy_backward(cupy(), probs, target, ignore_index, share)
    out = np.empty_like(probs)
    target = np.ascontiguousarray(target).astype(np.int64, copy=False)
    backward(probs, target, ignore_index, np.ascontiguousarray(np.broadcast_to(share, target.shape)), out)
    return out


class CrossEntropyKernel(CrossEntropy):
    """CrossEntropy with each row's loss and softmax in one pass, and its gradient in another. Higher-order
    gradients differentiate the reference's ``composite``."""

    reference = CrossEntropy

    @staticmethod
    def forward(ctx, x, target, *, ignore_index=-100, reduction="mean"):
        xp = ctx.xp
        keep, safe_target = kept_targets(xp, x, target, ignore_index)
        # ignored rows carry target 0 here (safe_target) and are zeroed below: -1 matches no row
        losses, probs = cross_entropy(x, safe_target, -1)
        losses = xp.where(keep, losses, x.dtype.type(0))
        ctx.save_for_backward(probs, safe_target, keep)
        return reduce_losses(ctx, losses, keep, reduction)

    @staticmethod
    def backward(ctx, grad):
        probs, target, keep = ctx.saved_tensors
        xp = ctx.xp
        grad = grad.astype(probs.dtype, copy=False)
        share = grad if ctx.reduction != "mean" else grad / xp.maximum(ctx.count, 1).astype(grad.dtype)
        share = xp.where(keep, share, grad.dtype.type(0))  # ignored rows: no gradient
        return cross_entropy_backward(probs, target, -1, share), None
