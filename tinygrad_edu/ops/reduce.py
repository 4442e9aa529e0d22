"""Reductions (sum, mean, max/min) and matrix multiplication."""

from __future__ import annotations

import math

import numpy

from .broadcasting import unbroadcast
from .movement import ScatterAdd
from .op import Op


def _keepdim_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Op):
    """d Σa/da = 1 for every element summed: the gradient is copied back over the reduced axes"""

    @staticmethod
    def forward(ctx, a, *, axes, keepdim=False):
        ctx.in_shape, ctx.axes = a.shape, axes
        return a.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.reshape(_keepdim_shape(ctx.in_shape, ctx.axes))
        return ctx.xp.broadcast_to(grad, ctx.in_shape)


class Mean(Op):
    """d mean(a)/da = 1/n for each of the n elements averaged"""

    @staticmethod
    def forward(ctx, a, *, axes, keepdim=False):
        ctx.in_shape, ctx.axes = a.shape, axes
        ctx.count = math.prod(a.shape[i] for i in axes)
        return a.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.reshape(_keepdim_shape(ctx.in_shape, ctx.axes)) * (1 / max(ctx.count, 1))
        return ctx.xp.broadcast_to(grad, ctx.in_shape)


class MaxAlong(Op):
    """d max(a, axis)/da = 1 at the index returned (the first maximum), 0 elsewhere; also returns indices"""

    @staticmethod
    def forward(ctx, a, *, axis, keepdim=False, largest=True):
        xp = ctx.xp
        indices = xp.argmax(a, axis=axis, keepdims=True) if largest else xp.argmin(a, axis=axis, keepdims=True)
        values = xp.take_along_axis(a, indices, axis=axis)
        # where each maximum sits, as an index into a: every position of ``indices``, with its value as the axis
        grid = list(xp.ix_(*(xp.arange(n) for n in indices.shape)))
        grid[axis] = indices
        ctx.in_shape, ctx.kept_shape, ctx.positions = a.shape, indices.shape, tuple(grid)
        if not keepdim:
            values, indices = values.squeeze(axis), indices.squeeze(axis)
        return values, indices

    @staticmethod
    def backward(ctx, grad_values, _grad_indices=None):
        grad_values = grad_values.reshape(ctx.kept_shape)
        return ctx.run(ScatterAdd, grad_values, shape=ctx.in_shape, index=ctx.positions, accumulate=False)


class MaxAll(Op):
    """d max(a)/da = 1/k at each of the k elements equal to the maximum (PyTorch splits ties evenly)"""

    @staticmethod
    def forward(ctx, a, *, largest=True):
        out = a.max() if largest else a.min()
        # the tie count, as a device array of a's dtype: counting in backward would read it on the host
        ctx.save_for_backward(a, out, (a == out).sum().astype(a.dtype))
        return ctx.xp.asarray(out)

    @staticmethod
    def backward(ctx, grad):
        a, out, ties = ctx.saved_tensors
        return ctx.xp.where(a == out, grad / ties, 0)


class AmaxAlong(Op):
    """d amax(a, axes)/da = 1/k at each of the k elements equal to the maximum of their slice, 0 elsewhere
    (PyTorch's amax/amin split ties evenly, unlike max(dim), which gives all to the index it returns)"""

    @staticmethod
    def forward(ctx, a, *, axes, keepdim=False, largest=True):
        out = a.max(axis=axes, keepdims=True) if largest else a.min(axis=axes, keepdims=True)
        ctx.save_for_backward(a, out, (a == out).sum(axis=axes, keepdims=True).astype(a.dtype))
        return out if keepdim else out.squeeze(axes)

    @staticmethod
    def backward(ctx, grad):
        a, out, ties = ctx.saved_tensors
        return ctx.xp.where(a == out, grad.reshape(out.shape) / ties, 0)


# Small products by transposed (column-major) right-hand matrices, as attention's q @ kᵀ, run faster in OpenBLAS
# after copying those to row-major, the copy included, up to about the baby GPT's 64×32 by 32×64; from 128×64 by
# 64×128 up, the copy costs more than it saves (figures: benchmarks/NOTES.md §12).
SMALL_PRODUCT = 2**19  # m·k·n of one product, at most


def _row_major_if_small(a, b):
    """``b``, copied to row-major if it is a NumPy matrix (or stack) stored transposed and ``a @ b`` multiplies
    small matrices (see above); otherwise ``b`` itself."""
    if type(b) is not numpy.ndarray or a.ndim < 2 or b.ndim < 2 or b.strides[-2] != b.itemsize:
        return b
    if b.shape[-1] == 1 or a.shape[-2] * b.shape[-2] * b.shape[-1] > SMALL_PRODUCT:
        return b
    return numpy.ascontiguousarray(b)


class MatMul(Op):
    """d(a@b)/da = grad @ bᵀ, d(a@b)/db = aᵀ @ grad (batch axes broadcast like NumPy's matmul)"""

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise RuntimeError("matmul: both arguments need at least 1 dimension, got a 0-d tensor")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise RuntimeError(
                f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
                f"({a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]})"
            )
        ctx.save_for_backward(a, b)
        if a.ndim > 2 and b.ndim == 2:
            # (..., k) @ (k, n) as one 2-D product: BLAS runs one large GEMM instead of a loop of small ones
            return (a.reshape(-1, a.shape[-1]) @ b).reshape(*a.shape[:-1], b.shape[1])
        return a @ _row_major_if_small(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        # treat vectors as matrices, (k,) -> (1, k) on the left and (k, 1) on the right, as matmul does
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = grad
        if b.ndim == 1:  # first: for vector @ vector the output is 0-d, and () -> (1,) -> (1, 1)
            g2 = g2[..., None]
        if a.ndim == 1:
            g2 = g2[..., None, :]
        grad_a = grad_b = None
        if a2.ndim > 2 and b2.ndim == 2:
            flat_a, flat_g = a2.reshape(-1, a2.shape[-1]), g2.reshape(-1, g2.shape[-1])
            if need_a:
                grad_a = (flat_g @ b2.T).reshape(a2.shape)
            if need_b:
                grad_b = flat_a.T @ flat_g
        else:
            if need_a:
                grad_a = unbroadcast(g2 @ _row_major_if_small(g2, b2.swapaxes(-1, -2)), a2.shape)
            if need_b:
                grad_b = unbroadcast(a2.swapaxes(-1, -2) @ g2, b2.shape)
        if grad_a is not None and a.ndim == 1:
            grad_a = grad_a.reshape(a.shape)
        if grad_b is not None and b.ndim == 1:
            grad_b = grad_b.reshape(b.shape)
        return grad_a, grad_b
