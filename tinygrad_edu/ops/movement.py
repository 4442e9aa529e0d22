"""Ops that move elements around without arithmetic: reshape, permute, expand, indexing, cat, stack, where.

Their backward passes move the gradient back to where each element came from.
"""

from __future__ import annotations

import numpy

from .. import backend
from .broadcasting import unbroadcast
from .op import Op


class Reshape(Op):
    """d reshape(a)/da = 1: the gradient is reshaped back"""

    @staticmethod
    def forward(ctx, a, *, shape, require_view=False):
        ctx.in_shape = a.shape
        out = a.reshape(shape)
        if require_view and a.size and not ctx.xp.may_share_memory(out, a):
            raise RuntimeError(
                f"view: cannot view a tensor of shape {tuple(a.shape)} with these strides as {tuple(out.shape)} "
                "without copying (it is not contiguous, e.g. after transpose); use .reshape(...) or "
                ".contiguous().view(...)"
            )
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.in_shape)


class Permute(Op):
    """d permute(a, p)/da = 1: the gradient is permuted back with the inverse permutation"""

    @staticmethod
    def forward(ctx, a, *, dims):
        ctx.dims = dims
        return a.transpose(dims)

    @staticmethod
    def backward(ctx, grad):
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return ctx.xp.transpose(grad, inverse)


class Expand(Op):
    """d expand(a)/da = 1 per copy: the copies' gradients are summed back"""

    @staticmethod
    def forward(ctx, a, *, shape):
        ctx.in_shape = a.shape
        return ctx.xp.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, grad):
        return unbroadcast(grad, ctx.in_shape)


class Contiguous(Op):
    """d copy(a)/da = 1"""

    @staticmethod
    def forward(ctx, a):
        return ctx.xp.ascontiguousarray(a)

    @staticmethod
    def backward(ctx, grad):
        return grad


class Index(Op):
    """d a[index]/da = 1 at each selected position; positions selected twice get both gradients"""

    @staticmethod
    def forward(ctx, a, *, index):
        index = index_on_device(ctx.xp, a.shape, index)
        ctx.in_shape, ctx.index = a.shape, index
        try:
            return a[index]
        except IndexError as exc:
            raise index_error(a.shape, exc) from None

    @staticmethod
    def backward(ctx, grad):
        # integer arrays may select a position twice: accumulate, don't overwrite
        return ctx.run(ScatterAdd, grad, shape=ctx.in_shape, index=ctx.index, accumulate=_has_integer_array(ctx.index))


def index_error(shape, exc: IndexError) -> IndexError:
    """NumPy's IndexError with the tensor's shape; "out of range" only where an index is."""
    problem = "index out of range" if "out of bounds" in str(exc) else "invalid index"
    return IndexError(f"{problem} for a tensor of shape {tuple(shape)}: {exc}")


def index_on_device(xp, shape, index):
    """The index with its host arrays copied to the device (the scatter-add of backward needs them there), and
    its integer arrays range-checked: CuPy wraps out-of-range positions around where NumPy raises. Positions
    are known up to the first Ellipsis, None or mask; arrays after one are moved but not checked."""
    if xp.__name__ == "numpy":
        return index  # NumPy raises IndexError itself
    parts, single = (index, False) if isinstance(index, tuple) else ((index,), True)
    moved, axis_known = [], True
    for axis, part in enumerate(parts):
        if part is None or part is Ellipsis or (hasattr(part, "dtype") and part.dtype.kind == "b"):
            axis_known = False
        if hasattr(part, "dtype"):
            part = xp.asarray(part)
            if axis_known and part.dtype.kind in "iu" and axis < len(shape):  # 0-d arrays too
                size = shape[axis]
                check_range(xp, part, -size, size, lambda bad, size=size, axis=axis: (
                    f"index out of range for a tensor of shape {tuple(shape)}: index {bad} on dim {axis} is "
                    f"outside [-{size}, {size}) (checked on the device, raised at the next host read)"
                ))  # fmt: skip
        moved.append(part)
    return moved[0] if single else tuple(moved)


def check_range(xp, index, low, high, message) -> None:
    """IndexError(message(first bad value)) unless every index is in [low, high); on CUDA checked at the next host
    read, so the check costs the training step no sync of its own (``backend.check``)."""
    out_of_range = (index < low) | (index >= high)

    def error():
        bad = index.ravel()[xp.flatnonzero(out_of_range.ravel())[:1]]
        return IndexError(message(int(bad.tolist()[0])))

    backend.check(out_of_range.any(), error)


def _has_integer_array(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(hasattr(p, "dtype") and p.dtype.kind in "iu" and p.ndim > 0 for p in parts)


class ScatterAdd(Op):
    """out = zeros(shape) with a added at out[index]: d out/da = 1 read back at index (indexing's backward)

    This is the backward of ``Index``, ``MaxAlong`` and ``Embedding``; as an op of its own, it has a backward
    too (indexing again), which is what second derivatives through them need.
    """

    @staticmethod
    def forward(ctx, a, *, shape, index, accumulate):
        ctx.index = index
        xp = ctx.xp
        out = xp.zeros(shape, dtype=a.dtype)
        if accumulate:
            xp.add.at(out, index, a)  # repeated positions add up (out[index] += a would keep only one of them)
        else:
            out[index] = a
        return out

    @staticmethod
    def backward(ctx, grad):
        return ctx.run(Index, grad, index=ctx.index)


class Alias(Op):
    """d alias(a)/da = 1: the same array as a new node of the graph (so a gradient can be taken at this point)"""

    @staticmethod
    def forward(ctx, a):
        return a

    @staticmethod
    def backward(ctx, grad):
        return grad


class Cat(Op):
    """d cat(a₁..aₙ)/daᵢ = 1 on aᵢ's slice of the output"""

    @staticmethod
    def forward(ctx, *arrays, dim):
        ctx.dim = dim
        ctx.sizes = [a.shape[dim] for a in arrays]
        return ctx.xp.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        grads, start = [], 0
        for size in ctx.sizes:
            index = [slice(None)] * grad.ndim
            index[ctx.dim] = slice(start, start + size)
            grads.append(grad[tuple(index)])
            start += size
        return tuple(grads)


class Split(Op):
    """split(a) into consecutive pieces along an axis: d pieceᵢ/da = 1 on pieceᵢ's slice of a, so backward
    concatenates the pieces' gradients (one array, where a backward per piece would each fill a zero copy of a
    and the engine would then add those up)"""

    @staticmethod
    def forward(ctx, a, *, sizes, axis):
        ctx.axis, ctx.in_shape, ctx.slices, start = axis, a.shape, [], 0
        for size in sizes:
            ctx.slices.append((slice(None),) * axis + (slice(start, start + size),))
            start += size
        return tuple(a[index] for index in ctx.slices)

    @staticmethod
    def backward(ctx, *grads):
        if all(g is not None for g in grads):
            return ctx.run(Cat, *grads, dim=ctx.axis)
        # a piece that got no gradient (unused): the others land on their slices of zeros, as indexing's backward
        total = None
        for grad, index in zip(grads, ctx.slices):
            if grad is not None:
                part = ctx.run(ScatterAdd, grad, shape=ctx.in_shape, index=index, accumulate=False)
                total = part if total is None else total + part
        return total


class Stack(Op):
    """d stack(a₁..aₙ)/daᵢ = 1 on the i-th slice of the new axis"""

    @staticmethod
    def forward(ctx, *arrays, dim):
        ctx.dim, ctx.count = dim, len(arrays)
        return ctx.xp.stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        before = (slice(None),) * ctx.dim
        return tuple(grad[(*before, i)] for i in range(ctx.count))


class Where(Op):
    """d where(c, a, b)/da = 1 where c, d/db = 1 where not c"""

    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.save_for_backward(condition)
        ctx.shapes = (getattr(a, "shape", ()), getattr(b, "shape", ()))
        return ctx.xp.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        (condition,) = ctx.saved_tensors
        _, need_a, need_b = ctx.needs_input_grad
        return (
            None,
            unbroadcast(ctx.xp.where(condition, grad, 0), ctx.shapes[0]) if need_a else None,
            unbroadcast(ctx.xp.where(condition, 0, grad), ctx.shapes[1]) if need_b else None,
        )


class MaskedFill(Op):
    """d masked_fill(a, m, v)/da = 1 where m is False, 0 where the value was written"""

    @staticmethod
    def forward(ctx, a, mask, *, value):
        xp = ctx.xp
        ctx.save_for_backward(mask)
        ctx.in_shape = a.shape
        # a copy, then the value written where the mask is set: half the time of xp.where(mask, value, a)
        out = xp.broadcast_to(a, numpy.broadcast_shapes(a.shape, mask.shape)).copy()
        xp.copyto(out, a.dtype.type(value), where=mask)
        return out

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return unbroadcast(ctx.xp.where(mask, 0, grad), ctx.in_shape), None


class Triangle(Op):
    """d tril(a)/da = 1 on the kept triangle, 0 on the zeroed one (likewise triu)"""

    @staticmethod
    def forward(ctx, a, *, upper, diagonal):
        ctx.upper, ctx.diagonal = upper, diagonal
        return _triangle(ctx.xp, a, upper, diagonal)

    @staticmethod
    def backward(ctx, grad):
        return _triangle(ctx.xp, grad, ctx.upper, ctx.diagonal)


def _triangle(xp, a, upper, diagonal):
    return xp.triu(a, diagonal) if upper else xp.tril(a, diagonal)
