"""FlashAttention: attention by blocks, keeping O and one number per row instead of the T×S probabilities.

The reference (``ops/attention.py``) computes S = Q Kᵀ·scale, P = softmax(S), O = P V for a whole head at once
and keeps P for backward: T×S numbers per head. Here, in the notation of the FlashAttention papers (Dao et al.
2022; Dao 2023, "FlashAttention-2"), Q is cut into row blocks Qᵢ of B_r queries and K, V into blocks Kⱼ, Vⱼ of
B_c keys, and no array larger than B_r×B_c is ever made.

Forward, for each query block i (the online softmax):

    mᵢ = -∞, ℓᵢ = 0, Õᵢ = 0                         running row maximum, row sum of exponentials, output
    for each key block j (causal: only the blocks with a key ≤ the block's last query):
        Sᵢⱼ = Qᵢ Kⱼᵀ·scale (+ mask)                 B_r×B_c scores
        mᵢ' = max(mᵢ, rowmax(Sᵢⱼ))
        P̃ᵢⱼ = exp(Sᵢⱼ - mᵢ')                        probabilities, up to the row's final normaliser
        ℓᵢ = e^(mᵢ - mᵢ')·ℓᵢ + rowsum(P̃ᵢⱼ)
        Õᵢ = e^(mᵢ - mᵢ')·Õᵢ + (P̃ᵢⱼ ⊙ Zᵢⱼ/(1-p)) Vⱼ   the old sum rescaled to the new maximum; Z the keep bits
        mᵢ = mᵢ'
    Oᵢ = Õᵢ / ℓᵢ,  Lᵢ = mᵢ + log ℓᵢ                  saved: O and L (the row log-sum-exp), T numbers per head

Backward recomputes each block's probabilities from L, Pᵢⱼ = exp(Sᵢⱼ - Lᵢ), which are then exact (already
normalised), and needs Dᵢ = rowsum(dOᵢ ⊙ Oᵢ) (= Σⱼ Pᵢⱼ dPᵢⱼ, softmax's backward term, dropout or not):

    for each key block j:                            FlashAttention-2's order: key blocks outside
        dKⱼ = 0, dVⱼ = 0
        for each query block i (causal: those with a query ≥ the block's first key):
            Pᵢⱼ = exp(Qᵢ Kⱼᵀ·scale (+ mask) - Lᵢ);  P̃ᵢⱼ = Pᵢⱼ ⊙ Zᵢⱼ/(1-p)
            dVⱼ += P̃ᵢⱼᵀ dOᵢ
            dPᵢⱼ = (dOᵢ Vⱼᵀ) ⊙ Zᵢⱼ/(1-p)
            dSᵢⱼ = Pᵢⱼ ⊙ (dPᵢⱼ - Dᵢ)
            dQᵢ += dSᵢⱼ Kⱼ·scale
            dKⱼ += dSᵢⱼᵀ Qᵢ·scale
        write dKⱼ, dVⱼ once

Why key blocks outside: dKⱼ and dVⱼ are sums over every query block, and dQᵢ a sum over every key block; one
of the two must be accumulated across the outer loop. FlashAttention-2 puts keys outside so that dKⱼ, dVⱼ
(two B_c×d blocks) stay in fast memory for the whole inner loop and are written once, and only dQᵢ is
read-modified-written, with no second pass over the scores; on a GPU each key block is then one thread block
with no race on dK, dV, only on dQ (the first paper looped the other way round and rewrote dK, dV too). Here
the same holds for the cache: Kⱼ, Vⱼ, dKⱼ, dVⱼ stay in L1/L2 while the query blocks stream past.

Dropout's keep bits Zᵢⱼ are ``ops/counter_hash.py``'s hash of (seed, position in (…, T, S)), computed where
they are used, so backward regenerates them and they equal the reference op's mask for the same seed.

The block products are ``np.dot`` calls, which numba hands to BLAS (SciPy's); the rest (masks, the online
softmax, the hash) are loops over one block. Memory: O(T) per head beyond the inputs and outputs, against the
reference's T×S (a T×S gradient array is made only when an additive mask itself needs a gradient).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..ops import counter_hash
from ..ops.attention import ScaledDotProductAttention, dropout_scale
from ..ops.broadcasting import unbroadcast
from .devices import cupy, on_gpu
from .exp import exp

BLOCK_QUERIES = 64  # B_r
BLOCK_KEYS = 64  # B_c

NO_MASK, BOOL_MASK, ADDITIVE_MASK = 0, 1, 2

hashed_bits = numba.njit(inline="always")(counter_hash.hashed_bits)


@numba.njit(cache=True, error_model="numpy", inline="always")
def score_block(q_block, k_block, b, i0, j0, scale, causal, mask_kind, allowed, additive):
    """Sᵢⱼ = Qᵢ Kⱼᵀ·scale, with the future (causal) and the disallowed keys at -inf, or the additive mask added.
    ``allowed`` and ``additive`` are (1 or BH, T, S): one mask for every head, or one per head."""
    s = np.dot(q_block, k_block.T)
    rows, cols = s.shape
    for r in range(rows):  # one pass per test, each only where it can change something, so each loop vectorizes
        for c in range(cols):
            s[r, c] *= scale
    minus_inf = s.dtype.type(-np.inf)
    if causal and j0 + cols - 1 > i0:  # the block reaches past the diagonal
        for r in range(rows):
            for c in range(max(i0 + r + 1 - j0, 0), cols):
                s[r, c] = minus_inf
    mb = b if (allowed.shape[0] > 1 or additive.shape[0] > 1) else 0
    if mask_kind == BOOL_MASK:
        for r in range(rows):
            for c in range(cols):
                if not allowed[mb, i0 + r, j0 + c]:
                    s[r, c] = minus_inf
    elif mask_kind == ADDITIVE_MASK:
        for r in range(rows):
            for c in range(cols):
                s[r, c] += additive[mb, i0 + r, j0 + c]
    return s


@numba.njit(cache=True, inline="always")
def keep_scale(seed, threshold, drop_scale, b, i, j, t_q, t_k):
    """Zᵢⱼ/(1-p) for the probability at (b, i, j): the reference's keep bit, hashed from its C-order position."""
    counter = np.uint64((b * t_q + i) * t_k + j + 1)
    return drop_scale if hashed_bits(seed, counter) >= threshold else drop_scale * 0


@numba.njit(cache=True, error_model="numpy")
def forward(q, k, v, causal, scale, mask_kind, allowed, additive, dropout, seed, threshold, drop_scale, block_q,
            block_k, out, lse):  # fmt: skip
    batch, t_q, _ = q.shape
    t_k, d_v = k.shape[1], v.shape[2]
    zero, minus_inf = q.dtype.type(0), q.dtype.type(-np.inf)
    for b in range(batch):
        for i0 in range(0, t_q, block_q):
            i1 = min(i0 + block_q, t_q)
            rows = i1 - i0
            q_block = np.ascontiguousarray(q[b, i0:i1])
            m = np.full(rows, minus_inf, q.dtype)  # running row maximum
            ell = np.zeros(rows, q.dtype)  # running row sum of exp(S - m)
            acc = np.zeros((rows, d_v), q.dtype)  # running output, unnormalised
            last_key = min(t_k, i1) if causal else t_k  # a causal block's queries see no key past i1 - 1
            for j0 in range(0, last_key, block_k):
                j1 = min(j0 + block_k, last_key)
                s = score_block(q_block, k[b, j0:j1], b, i0, j0, scale, causal, mask_kind, allowed, additive)
                for r in range(rows):
                    new_max = m[r]
                    for c in range(j1 - j0):
                        new_max = max(new_max, s[r, c])
                    if new_max == minus_inf:  # every key so far masked: nothing to add, and exp(-inf + inf) is nan
                        for c in range(j1 - j0):
                            s[r, c] = zero
                        continue
                    rescale = exp(m[r] - new_max)  # e^(mᵢ - mᵢ'): 0 on the row's first finite block
                    total = zero
                    for c in range(j1 - j0):
                        p = exp(s[r, c] - new_max)
                        total += p
                        if dropout:
                            p *= keep_scale(seed, threshold, drop_scale, b, i0 + r, j0 + c, t_q, t_k)
                        s[r, c] = p
                    ell[r] = rescale * ell[r] + total
                    for c in range(d_v):
                        acc[r, c] *= rescale
                    m[r] = new_max
                acc += np.dot(s, v[b, j0:j1])
            for r in range(rows):
                for c in range(d_v):
                    out[b, i0 + r, c] = acc[r, c] / ell[r]  # 0/0 = nan for a row with every key masked
                lse[b, i0 + r] = m[r] + math.log(ell[r])


@numba.njit(cache=True, error_model="numpy")
def backward(q, k, v, causal, scale, mask_kind, allowed, additive, dropout, seed, threshold, drop_scale, block_q,
             block_k, out, lse, grad, dq, dk, dv, want_grad_scores, grad_scores):  # fmt: skip
    batch, t_q, d = q.shape
    t_k, d_v = k.shape[1], v.shape[2]
    one = q.dtype.type(1)
    for b in range(batch):
        delta = np.empty(t_q, q.dtype)  # Dᵢ = rowsum(dOᵢ ⊙ Oᵢ)
        for i in range(t_q):
            total = q.dtype.type(0)
            for c in range(d_v):
                total += grad[b, i, c] * out[b, i, c]
            delta[i] = total
        for j0 in range(0, t_k, block_k):
            j1 = min(j0 + block_k, t_k)
            cols = j1 - j0
            k_block, v_block = np.ascontiguousarray(k[b, j0:j1]), np.ascontiguousarray(v[b, j0:j1])
            dk_block = np.zeros((cols, d), q.dtype)
            dv_block = np.zeros((cols, d_v), q.dtype)
            first_query = (j0 // block_q) * block_q if causal else 0  # earlier queries see none of these keys
            for i0 in range(first_query, t_q, block_q):
                i1 = min(i0 + block_q, t_q)
                q_block, grad_block = np.ascontiguousarray(q[b, i0:i1]), np.ascontiguousarray(grad[b, i0:i1])
                p = score_block(q_block, k_block, b, i0, j0, scale, causal, mask_kind, allowed, additive)
                kept = np.empty_like(p)  # P̃ᵢⱼ
                for r in range(i1 - i0):
                    for c in range(cols):
                        p[r, c] = exp(p[r, c] - lse[b, i0 + r])  # Pᵢⱼ, exact: L is the row's log-normaliser
                        z = keep_scale(seed, threshold, drop_scale, b, i0 + r, j0 + c, t_q, t_k) if dropout else one
                        kept[r, c] = p[r, c] * z
                dv_block += np.dot(kept.T, grad_block)
                dp = np.dot(grad_block, v_block.T)
                for r in range(i1 - i0):
                    for c in range(cols):
                        z = keep_scale(seed, threshold, drop_scale, b, i0 + r, j0 + c, t_q, t_k) if dropout else one
                        dp[r, c] = p[r, c] * (dp[r, c] * z - delta[i0 + r])  # now dSᵢⱼ
                dq[b, i0:i1] += np.dot(dp, k_block) * scale
                dk_block += np.dot(dp.T, q_block)
                if want_grad_scores:
                    grad_scores[b, i0:i1, j0:j1] = dp
            dk[b, j0:j1] = dk_block * scale
            dv[b, j0:j1] = dv_block


def as_heads(xp, a, batch):
    """(…, L, E) broadcast to the batch shape, as one C-contiguous (BH, L, E) array."""
    return xp.ascontiguousarray(xp.broadcast_to(a, (*batch, *a.shape[-2:]))).reshape(-1, *a.shape[-2:])


def mask_arrays(xp, mask, batch, t_q, t_k, dtype):
    """(kind, allowed, additive): the mask as a (1, T, S) array when it is the same for every head, else
    (BH, T, S); the unused one a (1, 1, 1) placeholder."""
    placeholder_bool, placeholder_float = xp.ones((1, 1, 1), bool), xp.zeros((1, 1, 1), dtype)
    if mask is None:
        return NO_MASK, placeholder_bool, placeholder_float
    leading = mask.shape[: max(mask.ndim - 2, 0)]
    shared = all(n == 1 for n in leading)
    core = mask.reshape(mask.shape[max(mask.ndim - 2, 0) :]) if shared else mask  # its leading 1s dropped
    full = xp.broadcast_to(core, (t_q, t_k) if shared else (*batch, t_q, t_k))
    heads = xp.array(full).reshape(-1, t_q, t_k)  # a copy of its own (a broadcast view cannot be written to)
    if mask.dtype.kind == "b":
        return BOOL_MASK, heads, placeholder_float
    return ADDITIVE_MASK, placeholder_bool, heads.astype(dtype, copy=False)


def dropout_arguments(dtype, p, seed):
    """(dropout, seed, threshold, 1/(1-p)) as the kernels take them."""
    threshold = counter_hash.threshold(p) if p > 0 else 0
    return p > 0, np.uint64(seed), np.uint64(threshold), dropout_scale(np.dtype(dtype), p)


class FlashAttention(ScaledDotProductAttention):
    """Attention by blocks (module docstring): saves the inputs, O and the row log-sum-exp L, never P;
    backward recomputes P block by block, and regenerates the dropout mask from the seed. On cuda the same
    algorithm runs in ``kernels/cuda/flash_attention.py``. Higher-order gradients differentiate the reference's
    ``composite``."""

    reference = ScaledDotProductAttention

    @staticmethod
    def forward(ctx, q, k, v, mask=None, *, scale, causal=False, dropout_p=0.0, seed=0):
        xp = cupy() if on_gpu(q) else np
        ctx.scale, ctx.dropout_p, ctx.causal, ctx.seed = scale, dropout_p, causal, seed
        batch = tuple(np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]))
        t_q, t_k = q.shape[-2], k.shape[-2]
        heads = [as_heads(xp, a, batch) for a in (q, k, v)]
        ctx.batch, ctx.kinds = batch, mask_arrays(xp, mask, batch, t_q, t_k, q.dtype)
        arguments = (causal, q.dtype.type(scale), *ctx.kinds, *dropout_arguments(q.dtype, dropout_p, seed))
        if on_gpu(q):
            from .cuda import flash_attention as twin

            out, lse = twin.forward(xp, *heads, *arguments)
        else:
            out = np.empty((heads[0].shape[0], t_q, v.shape[-1]), q.dtype)
            lse = np.empty((heads[0].shape[0], t_q), q.dtype)
            forward(*heads, *arguments, BLOCK_QUERIES, BLOCK_KEYS, out, lse)
        ctx.save_for_backward(q, k, v, mask, out, lse)
        return out.reshape(*batch, t_q, v.shape[-1])

    @staticmethod
    def backward(ctx, grad):
        q, k, v, mask, out, lse = ctx.saved_tensors
        xp = cupy() if on_gpu(q) else np
        batch, dtype = ctx.batch, q.dtype
        heads = [as_heads(xp, a, batch) for a in (q, k, v)]
        grad_heads = as_heads(xp, grad.astype(dtype, copy=False), batch)
        want_mask = bool(ctx.needs_input_grad[3])
        arguments = (ctx.causal, dtype.type(ctx.scale), *ctx.kinds, *dropout_arguments(dtype, ctx.dropout_p, ctx.seed))
        if on_gpu(q):
            from .cuda import flash_attention as twin

            dq, dk, dv, grad_scores = twin.backward(xp, *heads, *arguments, out, lse, grad_heads, want_mask)
        else:
            dq, dk, dv = np.zeros_like(heads[0]), np.empty_like(heads[1]), np.empty_like(heads[2])
            grad_scores = np.zeros((len(heads[0]), q.shape[-2], k.shape[-2]) if want_mask else (1, 1, 1), dtype)
            backward(*heads, *arguments, BLOCK_QUERIES, BLOCK_KEYS, out, lse, grad_heads, dq, dk, dv, want_mask,
                     grad_scores)  # fmt: skip
        grads = [unbroadcast(g.reshape(*batch, *g.shape[1:]), a.shape) for g, a in zip((dq, dk, dv), (q, k, v))]
        if not want_mask:
            return (*grads, None)
        return (*grads, unbroadcast(grad_scores.reshape(*batch, *grad_scores.shape[1:]), mask.shape))


def warm_up(dtype) -> None:
    """Compile (or load) the forward and backward for ``dtype`` on a tiny causal head (``kernels.warm_up``)."""
    q = np.linspace(-1, 1, 6, dtype=dtype).reshape(1, 2, 3)
    arguments = (True, q.dtype.type(0.5), *mask_arrays(np, None, (1,), 2, 2, q.dtype), *dropout_arguments(dtype, 0, 0))
    out, lse = np.empty_like(q), np.empty((1, 2), q.dtype)
    forward(q, q, q, *arguments, BLOCK_QUERIES, BLOCK_KEYS, out, lse)
    dq, dk, dv = np.zeros_like(q), np.empty_like(q), np.empty_like(q)
    backward(q, q, q, *arguments, BLOCK_QUERIES, BLOCK_KEYS, out, lse, q, dq, dk, dv, False, np.zeros((1, 1, 1), dtype))
