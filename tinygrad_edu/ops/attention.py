"""Attention as one op: the naive math, written out as the textbook writes it.

S = Q Kᵀ·scale + mask, P = softmax(S) row by row, P̃ = P ⊙ Z/(1-p) (dropout, Z the keep mask), O = P̃ V.

Forward materialises the (…, T, S) scores and probabilities, and backward reads P: that T×S array per head is
what makes attention's memory grow with the square of the context. ``docs/flash-attention.md`` compares this,
line by line, with the blocked version that keeps only O and one number per row.
"""

from __future__ import annotations

import math

from . import counter_hash
from .broadcasting import unbroadcast
from .op import Op


class ScaledDotProductAttention(Op):
    """O = P̃ V: dV = P̃ᵀ dO, dP = (dO Vᵀ) ⊙ Z/(1-p), dS = P ⊙ (dP - Σⱼ dP ⊙ P), dQ = dS K·scale, dK = dSᵀ Q·scale

    ``q`` is (…, T, D), ``k`` (…, S, D), ``v`` (…, S, Dv); ``mask`` is None, a bool array (True: may attend) or
    an additive float array, broadcast against (…, T, S). ``causal``: query i sees keys 0..i (PyTorch's
    ``is_causal``, aligned at the top left). ``dropout_p`` > 0 zeroes each probability with that chance: the keep
    bits are ``counter_hash``'s hash of (``seed``, the probability's position in (…, T, S) in C order), so any
    implementation that hashes the same positions draws the same mask, in any order.
    A row with every key masked gives nan, as PyTorch's math does."""

    @staticmethod
    def forward(ctx, q, k, v, mask=None, *, scale, causal=False, dropout_p=0.0, seed=0):
        xp = ctx.xp
        ctx.scale, ctx.dropout_p = scale, dropout_p
        scores = (q @ xp.swapaxes(k, -1, -2)) * q.dtype.type(scale)
        scores = masked_scores(xp, scores, mask, causal)
        if scores.size == 0:  # no query or no key: nothing to normalise, and the product below is empty or 0
            probs = scores.copy()
        else:  # softmax along the keys, shifted by the row's maximum so that exp cannot overflow
            probs = xp.exp(scores - scores.max(axis=-1, keepdims=True))
            probs /= probs.sum(axis=-1, keepdims=True)
        keep = None
        weights = probs
        if dropout_p > 0:
            keep = counter_hash.keep_mask(xp, seed, probs.shape, dropout_p)
            weights = probs * keep * dropout_scale(probs.dtype, dropout_p)
        ctx.save_for_backward(q, k, v, mask, probs, keep)
        return weights @ v

    @staticmethod
    def backward(ctx, grad):
        q, k, v, mask, probs, keep = ctx.saved_tensors
        need_q, need_k, need_v, need_mask = ctx.needs_input_grad
        xp, scale = ctx.xp, q.dtype.type(ctx.scale)
        weights = probs if keep is None else probs * keep * dropout_scale(probs.dtype, ctx.dropout_p)
        grad_v = xp.swapaxes(weights, -1, -2) @ grad if need_v else None
        grad_probs = grad @ xp.swapaxes(v, -1, -2)
        if keep is not None:  # the dropped weights passed nothing forward, so they pass nothing back
            grad_probs = grad_probs * keep * dropout_scale(probs.dtype, ctx.dropout_p)
        # softmax's backward, row by row; a masked key has P = 0, so its score gets no gradient
        grad_scores = probs * (grad_probs - (grad_probs * probs).sum(axis=-1, keepdims=True))
        grad_q = (grad_scores @ k) * scale if need_q else None
        grad_k = (xp.swapaxes(grad_scores, -1, -2) @ q) * scale if need_k else None
        grad_mask = unbroadcast(grad_scores, mask.shape) if need_mask else None  # an additive mask adds to S
        return (
            None if grad_q is None else unbroadcast(grad_q, q.shape),
            None if grad_k is None else unbroadcast(grad_k, k.shape),
            None if grad_v is None else unbroadcast(grad_v, v.shape),
            grad_mask,
        )

    @staticmethod
    def composite(q, k, v, mask=None, *, scale, causal=False, dropout_p=0.0, seed=0):
        """The same function from Tensor ops (backward reads P, computed in forward), for higher-order
        gradients; the causal and keep masks are constants, made as forward makes them."""
        scores = (q @ k.transpose(-2, -1)) * scale
        t_q, t_k = scores.shape[-2], scores.shape[-1]
        if causal:
            future = q.new_tensor(math_future(t_q, t_k)) != 0
            scores = scores.masked_fill(future, -math.inf)
        if mask is not None:
            scores = scores.masked_fill(mask.logical_not(), -math.inf) if mask.dtype.np.kind == "b" else scores + mask
        weights = scores.softmax(dim=-1)
        if dropout_p > 0:
            import numpy

            keep = counter_hash.keep_mask(numpy, seed, tuple(weights.shape), dropout_p)
            weights = weights * q.new_tensor(keep * (1 / (1 - dropout_p) if dropout_p < 1 else 0.0))
        return weights @ v


def masked_scores(xp, scores, mask, causal):
    """The scores with the future (``causal``) and the disallowed keys (a bool ``mask``) at -inf, or an additive
    ``mask`` added."""
    if causal:
        t_q, t_k = scores.shape[-2], scores.shape[-1]
        scores = xp.where(xp.triu(xp.ones((t_q, t_k), dtype=bool), k=1), scores.dtype.type(-math.inf), scores)
    if mask is None:
        return scores
    if mask.dtype.kind == "b":
        return xp.where(mask, scores, scores.dtype.type(-math.inf))
    return scores + mask


def math_future(t_q, t_k):
    """(t_q, t_k) 1.0 where key j is in query i's future (j > i), else 0.0, as nested lists."""
    return [[1.0 if j > i else 0.0 for j in range(t_k)] for i in range(t_q)]


def dropout_scale(dtype, p):
    """1/(1-p) in the array's dtype, as the Dropout op computes it (0 when everything is dropped)."""
    return dtype.type(1) / dtype.type(1 - p) if p < 1 else dtype.type(0)
