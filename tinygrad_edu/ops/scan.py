"""Ops that reorder, pad or scan along an axis: flip, roll, constant padding, cumulative sums and products, and
the functional form of an indexed write (``x[index] = value`` on a tensor in the graph).

Each backward moves the gradient back to where its element came from (flip, roll, pad), or runs the scan the
other way (a cumulative sum's gradient is a cumulative sum from the end).
"""

from __future__ import annotations

from .broadcasting import unbroadcast
from .movement import Index, Stack
from .op import Op


class Flip(Op):
    """d flip(a)/da = 1 at the mirrored position: the gradient is flipped back"""

    @staticmethod
    def forward(ctx, a, *, dims):
        ctx.dims = dims
        return ctx.xp.flip(a, axis=dims).copy() if dims else a.copy()

    @staticmethod
    def backward(ctx, grad):
        return ctx.run(Flip, grad, dims=ctx.dims)


class Roll(Op):
    """d roll(a, s)/da = 1 at the shifted position: the gradient is rolled back by -s"""

    @staticmethod
    def forward(ctx, a, *, shifts, axes):
        ctx.shifts, ctx.axes = shifts, axes
        return ctx.xp.roll(a, shifts, axis=axes)

    @staticmethod
    def backward(ctx, grad):
        return ctx.run(Roll, grad, shifts=tuple(-s for s in ctx.shifts), axes=ctx.axes)


class ConstantPad(Op):
    """pad(a) with ``value`` around it: d pad(a)/da = 1 on a's block, so the gradient is that block cut out"""

    @staticmethod
    def forward(ctx, a, *, widths, value):
        ctx.block = tuple(slice(before, before + n) for (before, _), n in zip(widths, a.shape))
        return ctx.xp.pad(a, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.block]


class Cumsum(Op):
    """out_j = Σ_{i≤j} a_i: d out_j/da_i = 1 for j ≥ i, so the gradient is the cumulative sum from the end"""

    @staticmethod
    def forward(ctx, a, *, axis):
        ctx.axis = axis
        return ctx.xp.cumsum(a, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        axis = (ctx.axis,)
        return ctx.run(Flip, ctx.run(Cumsum, ctx.run(Flip, grad, dims=axis), axis=ctx.axis), dims=axis)


class Cumprod(Op):
    """out_j = Π_{i≤j} a_i: d out_j/da_i = Π_{k≤j, k≠i} a_k for j ≥ i

    Backward never divides by a_i (which may be 0): grad_i = (Π_{k<i} a_k) · S_i, where S_i = Σ_{j≥i} g_j Π_{i<k≤j}
    a_k runs backwards along the axis as S_i = g_i + a_{i+1} · S_{i+1}."""

    @staticmethod
    def forward(ctx, a, *, axis):
        out = ctx.xp.cumprod(a, axis=axis)
        ctx.axis = axis
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        n = a.shape[ctx.axis]
        if n == 0:
            return grad

        def at(array, i):
            return array[(slice(None),) * ctx.axis + (i,)]

        running = at(grad, n - 1)  # S_{n-1}
        grads = [None] * n
        for i in range(n - 1, -1, -1):
            if i < n - 1:
                running = at(grad, i) + at(a, i + 1) * running
            grads[i] = running if i == 0 else at(out, i - 1) * running  # out_{i-1} = Π_{k<i} a_k
        return ctx.run(Stack, *grads, dim=ctx.axis)


class IndexPut(Op):
    """out = a with out[index] = value: d out/da = 1 where nothing was written, d out/dvalue = 1 at the written
    positions (summed back to value's shape where it was broadcast)"""

    @staticmethod
    def forward(ctx, a, value, *, index):
        ctx.index, ctx.value_shape = index, getattr(value, "shape", ())
        out = a.copy()
        out[index] = value
        return out

    @staticmethod
    def backward(ctx, grad):
        need_a, need_value = ctx.needs_input_grad
        grad_a = ctx.run(IndexPut, grad, 0.0, index=ctx.index) if need_a else None
        grad_value = unbroadcast(ctx.run(Index, grad, index=ctx.index), ctx.value_shape) if need_value else None
        return grad_a, grad_value
