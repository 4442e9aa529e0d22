"""The neural-network ops with fused, analytic backward passes.

Each could be composed from primitives (``exp``, ``sum``, ``/`` ...) and the tests check that it equals that
composition. Fused, each is one node instead of five to ten: less Python, fewer temporaries, and formulas
that stay finite for large logits and for the ``-inf`` that a causal mask writes. Each is written out in full
on purpose (softmax and log_softmax share their first lines): an op is read on its own, forward over backward.
Three of them also carry a ``composite``, for higher-order gradients (see ``tinygrad_edu/docs/higher_order.md``).
"""

from __future__ import annotations

import math

from .. import backend
from . import counter_hash
from .movement import ScatterAdd, check_range
from .op import Op


class Linear(Op):
    """y = x Wᵀ + b: dy/dx = grad W, dy/dW = gradᵀ x, dy/db = Σ grad over all rows"""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        check_features(x, weight)
        # all leading axes as one: a single 2-D GEMM is what BLAS (and cuBLAS) run fastest
        rows = x.reshape(-1, x.shape[-1])
        out = rows @ weight.T
        if bias is not None:
            out += bias
        need_x, need_w, _ = ctx.needs_input_grad
        ctx.save_for_backward(x if need_w else None, weight if need_x else None)
        return out.reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        grad_rows = grad.reshape(-1, grad.shape[-1])
        return (
            (grad_rows @ weight).reshape(grad.shape[:-1] + (weight.shape[1],)) if need_x else None,
            grad_rows.T @ x.reshape(-1, x.shape[-1]) if need_w else None,
            grad_rows.sum(axis=0) if need_b else None,
        )


def check_features(x, weight) -> None:
    if x.shape[-1] != weight.shape[1]:
        raise RuntimeError(
            f"linear: input has {x.shape[-1]} features (shape {tuple(x.shape)}) but the weight expects "
            f"{weight.shape[1]} (weight shape {tuple(weight.shape)})"
        )


class Softmax(Op):
    """y = softmax(x): dx = y ⊙ (grad - Σ(grad ⊙ y)) along the softmax axis

    ``causal`` (last axis only): query i of x's (…, T_q, T_k) sees keys 0..i, the rest weigh 0, as PyTorch's
    ``is_causal`` attention."""

    @staticmethod
    def forward(ctx, x, *, dim, causal=False):
        xp = ctx.xp
        ctx.dim = dim
        if x.size == 0:  # nothing to normalise (and no row maximum to shift by): an empty result, as PyTorch
            out = x.copy()
            ctx.save_for_backward(out)
            return out
        if causal:
            t_q, t_k = x.shape[-2], x.shape[-1]
            x = xp.where(xp.triu(xp.ones((t_q, t_k), dtype=bool), k=1), x.dtype.type(-math.inf), x)
        # shifting by the row maximum changes nothing mathematically and keeps exp from overflowing
        # asarray: for a 0-d x the difference is a NumPy scalar, which cannot be written to in place
        shifted = xp.asarray(x - x.max(axis=dim, keepdims=True))
        out = xp.exp(shifted, out=shifted)
        out /= out.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        gy = grad * y
        gy -= y * gy.sum(axis=ctx.dim, keepdims=True)
        return gy


class LogSoftmax(Op):
    """y = x - logΣexp(x): dx = grad - softmax(x) · Σ grad along the axis"""

    @staticmethod
    def forward(ctx, x, *, dim):
        xp = ctx.xp
        ctx.dim = dim
        if x.size == 0:  # an empty result, as PyTorch (an empty row has no maximum to shift by)
            out = x.copy()
            ctx.save_for_backward(out)
            return out
        shifted = x - x.max(axis=dim, keepdims=True)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad - ctx.xp.exp(y) * grad.sum(axis=ctx.dim, keepdims=True)


class LayerNorm(Op):
    """y = x̂·w + b, x̂ = (x - μ)/σ: dx = (1/σ)(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)) with ĝ = grad·w; dw = Σ grad·x̂; db = Σ grad"""

    @staticmethod
    def forward(ctx, x, weight=None, bias=None, *, normalized_ndim, eps):
        xp = ctx.xp
        axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
        ctx.axes = axes
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=axes, keepdims=True)  # biased variance, as PyTorch
        rstd = 1 / xp.sqrt(var + eps)
        xhat = centered * rstd
        out = xhat
        if weight is not None:
            out = out * weight
        if bias is not None:
            out = out + bias
        ctx.save_for_backward(xhat, rstd, weight)
        return out

    @staticmethod
    def backward(ctx, grad):
        need_x, need_w, need_b = ctx.needs_input_grad
        xhat, rstd, weight = ctx.saved_tensors
        batch_axes = tuple(range(grad.ndim - len(ctx.axes)))
        grad_w = (grad * xhat).sum(axis=batch_axes) if need_w else None
        grad_b = grad.sum(axis=batch_axes) if need_b else None
        grad_x = None
        if need_x:
            g = grad * weight if weight is not None else grad
            grad_x = g - g.mean(axis=ctx.axes, keepdims=True)
            grad_x -= xhat * (g * xhat).mean(axis=ctx.axes, keepdims=True)
            grad_x *= rstd
        return grad_x, grad_w, grad_b

    @staticmethod
    def composite(x, weight=None, bias=None, *, normalized_ndim, eps):
        """The same function from primitive Tensor ops (backward reads x̂ and 1/σ, computed in forward)."""
        dims = tuple(range(x.ndim - normalized_ndim, x.ndim))
        centered = x - x.mean(dim=dims, keepdim=True)
        out = centered / ((centered * centered).mean(dim=dims, keepdim=True) + eps).sqrt()
        if weight is not None:
            out = out * weight
        return out + bias if bias is not None else out


class CrossEntropy(Op):
    """loss_i = logΣexp(x_i) - x_i[t_i]: dx_i = (softmax(x_i) - onehot(t_i)) · grad_i (0 for ignored rows)

    ``x`` is (N, C) logits, ``target`` (N,) class indices; ``reduction`` is 'mean' (over the rows not
    ignored), 'sum' or 'none'.
    """

    @staticmethod
    def forward(ctx, x, target, *, ignore_index=-100, reduction="mean"):
        xp = ctx.xp
        keep, safe_target = kept_targets(xp, x, target, ignore_index)
        shifted = x - x.max(axis=1, keepdims=True)
        exp = xp.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)
        losses = xp.log(sum_exp[:, 0]) - shifted[xp.arange(len(x)), safe_target]
        losses = xp.where(keep, losses, x.dtype.type(0))
        exp /= sum_exp  # now the softmax, kept for backward
        ctx.save_for_backward(exp, safe_target, keep)
        return reduce_losses(ctx, losses, keep, reduction)

    @staticmethod
    def backward(ctx, grad):
        probs, target, keep = ctx.saved_tensors
        xp = ctx.xp
        grad_x = probs.copy()
        grad_x[xp.arange(len(target)), target] -= 1
        if ctx.reduction == "none":
            scale = grad[:, None]
        elif ctx.reduction == "mean":
            scale = grad / xp.maximum(ctx.count, 1).astype(grad.dtype)
        else:
            scale = grad
        grad_x *= scale
        grad_x *= keep[:, None]
        return grad_x, None

    @staticmethod
    def composite(x, target, *, ignore_index=-100, reduction="mean"):
        """The same function from primitive Tensor ops (backward reads the softmax, computed in forward)."""
        ignored = target == ignore_index
        picked = x.log_softmax(dim=1)[list(range(x.shape[0])), target.masked_fill(ignored, 0)]
        losses = (-picked).masked_fill(ignored, 0.0)
        if reduction == "none":
            return losses
        if reduction == "sum":
            return losses.sum()
        kept = (~ignored).sum().to(losses.dtype)  # on the device: no sync
        return (losses.sum() / kept.clamp(min=1)).masked_fill(kept == 0, math.nan)


def kept_targets(xp, x, target, ignore_index):
    """(keep, safe_target): which rows count, and the targets with ignored rows pointed at class 0, checked to be
    in range (an IndexError names the first bad one)."""
    n, classes = x.shape
    keep = target != ignore_index
    safe_target = xp.where(keep, target, 0)
    if n:
        check_range(xp, safe_target, 0, classes, lambda bad: (
            f"cross_entropy: target {bad} is out of range for {classes} classes "
            f"(targets must be in [0, {classes - 1}] or equal ignore_index={ignore_index})"
        ))  # fmt: skip
    return keep, safe_target


def reduce_losses(ctx, losses, keep, reduction):
    """The per-row losses reduced as asked; the mean divides by the kept rows, a count kept on the device
    (reading it would make the host wait for the GPU) and saved on ``ctx`` for backward."""
    xp = ctx.xp
    ctx.reduction = reduction
    ctx.count = keep.sum().astype(losses.dtype) if reduction == "mean" else None
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    # the mean over zero kept rows is 0/0 = nan, as in PyTorch: returned as such, without a division warning
    return xp.where(ctx.count > 0, total / xp.maximum(ctx.count, 1), losses.dtype.type(xp.nan))


class Embedding(Op):
    """out = W[idx]: dW[v] = Σ of grad over the positions where idx == v (rows looked up twice add up)"""

    @staticmethod
    def forward(ctx, idx, weight):
        vocab = weight.shape[0]
        if idx.size:
            check_range(
                ctx.xp,
                idx,
                0,
                vocab,
                lambda bad: f"embedding: index {bad} is out of range for an embedding of {vocab} rows",
            )
        ctx.save_for_backward(idx)
        ctx.weight_shape = weight.shape
        return weight[idx]

    @staticmethod
    def backward(ctx, grad):
        (idx,) = ctx.saved_tensors
        return None, ctx.run(ScatterAdd, grad, shape=ctx.weight_shape, index=idx, accumulate=True)


class Dropout(Op):
    """y = x·m/(1-p), m[i] = 1 with probability 1-p, else 0: dx = grad·m/(1-p), the same mask

    On the CPU the mask is PyTorch's, from the generator's stream: m[i] = [u[i] < 1-p], u[i] float64 uniforms
    (what ``bernoulli_(1 - p)`` draws in PyTorch's F.dropout); 1/(1-p) is computed in x's dtype, as PyTorch's
    ``noise.div_(1 - p)``. On cuda the mask is a hash of (one key drawn from the generator, position)
    (ops/counter_hash.py), so that any implementation draws the same mask for the same key, in any order."""

    @staticmethod
    def forward(ctx, x, *, p, generator):
        one = x.dtype.type(1)
        ctx.scale = one / x.dtype.type(1 - p) if p < 1 else x.dtype.type(0)
        keep = Dropout.mask(ctx.xp, x.shape, p, generator)
        out = x * keep
        out *= ctx.scale
        ctx.save_for_backward(keep)  # a bool mask: a quarter of the memory of a float32 one
        return out

    @staticmethod
    def mask(xp, shape, p, generator):
        """The keep mask (bool) of ``shape``: nothing is drawn when p is 1, as in PyTorch."""
        if p >= 1:
            return xp.zeros(shape, dtype=bool)
        if isinstance(generator, backend.CountingGenerator):
            return counter_hash.keep_mask(xp, generator.next_key(), shape, p)
        return generator.bernoulli_scalar(shape, 1 - p)

    @staticmethod
    def backward(ctx, grad):
        (keep,) = ctx.saved_tensors
        out = grad * keep
        out *= ctx.scale
        return out
