"""FlashAttention on the GPU: the algorithm of ``kernels/flash_attention.py`` (read its docstring first), with
the key and value blocks (forward) and the query blocks (backward) staged in shared memory.

Forward: one thread block per (query block of ``BLOCK`` rows, head), one thread per query. The block's threads
load Kⱼ and Vⱼ together into shared memory, one row each, then each thread scores its own query against the
tile and updates its running maximum mᵢ, sum ℓᵢ and output Õᵢ (kept in its registers). O and L = m + log ℓ are
written at the end.

Backward, FlashAttention-2's order: one thread block per (key block, head), one thread per key, which keeps its
dKⱼ and dVⱼ rows in registers for the whole loop over query blocks (Qᵢ, dOᵢ, Lᵢ and Dᵢ staged in shared memory)
and writes them once; dQᵢ, a sum over every key, is added with atomics, as the paper does.

Head sizes up to ``HEAD_MAX`` (the registers and tiles are sized at compile time); the table sends larger heads
to the reference. Arithmetic in float64 within a thread, stored in the arrays' dtype.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import cuda

from ...ops import counter_hash
from . import stream

BLOCK = 32  # B_r = B_c: queries (forward) or keys (backward) per thread block, one per thread
HEAD_MAX = 64  # the largest head size the tiles hold
NO_MASK, BOOL_MASK, ADDITIVE_MASK = 0, 1, 2

hashed_bits = cuda.jit(device=True)(counter_hash.hashed_bits)


@cuda.jit(device=True)
def masked_score(score, b, i, j, causal, mask_kind, allowed, additive):
    """The score of query i for key j with the future (causal) and disallowed keys at -inf, or the mask added."""
    mb = b if (allowed.shape[0] > 1 or additive.shape[0] > 1) else 0
    if causal and j > i:
        return -math.inf
    if mask_kind == BOOL_MASK and not allowed[mb, i, j]:
        return -math.inf
    if mask_kind == ADDITIVE_MASK:
        return score + additive[mb, i, j]
    return score


@cuda.jit(device=True)
def keep_scale(dropout, seed, threshold, drop_scale, b, i, j, t_q, t_k):
    """Zᵢⱼ/(1-p), the reference's keep bit for position (b, i, j) (1 without dropout)."""
    if not dropout:
        return 1.0
    counter = np.uint64((b * t_q + i) * t_k + j + 1)
    return drop_scale if hashed_bits(seed, counter) >= threshold else 0.0


@cuda.jit
def forward_kernel(q, k, v, causal, scale, mask_kind, allowed, additive, dropout, seed, threshold, drop_scale,
                   out, lse):  # fmt: skip
    b, r = cuda.blockIdx.y, cuda.threadIdx.x
    i = cuda.blockIdx.x * BLOCK + r
    t_q, d = q.shape[1], q.shape[2]
    t_k, d_v = k.shape[1], v.shape[2]
    k_tile = cuda.shared.array((BLOCK, HEAD_MAX), numba.float64)
    v_tile = cuda.shared.array((BLOCK, HEAD_MAX), numba.float64)
    q_row = cuda.local.array(HEAD_MAX, numba.float64)
    acc = cuda.local.array(HEAD_MAX, numba.float64)
    scores = cuda.local.array(BLOCK, numba.float64)
    active = i < t_q
    for c in range(d):
        q_row[c] = q[b, i, c] if active else 0.0
    for c in range(d_v):
        acc[c] = 0.0
    m, ell = -math.inf, 0.0
    last_key = min(t_k, (cuda.blockIdx.x + 1) * BLOCK) if causal else t_k  # the same for every thread
    for j0 in range(0, last_key, BLOCK):
        cuda.syncthreads()  # the previous tile is no longer read
        if j0 + r < t_k:  # each thread loads one key's row of Kⱼ and Vⱼ
            for c in range(d):
                k_tile[r, c] = k[b, j0 + r, c]
            for c in range(d_v):
                v_tile[r, c] = v[b, j0 + r, c]
        cuda.syncthreads()
        if active:
            cols = min(BLOCK, t_k - j0)
            tile_max = -math.inf
            for c in range(cols):
                dot = 0.0
                for e in range(d):
                    dot += q_row[e] * k_tile[c, e]
                scores[c] = masked_score(dot * scale, b, i, j0 + c, causal, mask_kind, allowed, additive)
                tile_max = max(tile_max, scores[c])
            new_max = max(m, tile_max)
            if new_max != -math.inf:  # every key so far masked: nothing to add
                rescale = math.exp(m - new_max)  # e^(mᵢ - mᵢ')
                ell *= rescale
                for e in range(d_v):
                    acc[e] *= rescale
                for c in range(cols):
                    p = math.exp(scores[c] - new_max)
                    ell += p
                    p *= keep_scale(dropout, seed, threshold, drop_scale, b, i, j0 + c, t_q, t_k)
                    for e in range(d_v):
                        acc[e] += p * v_tile[c, e]
                m = new_max
    if active:
        for e in range(d_v):
            out[b, i, e] = acc[e] / ell if ell > 0 else math.nan  # a row with every key masked: nan
        lse[b, i] = m + math.log(ell) if ell > 0 else -math.inf


@cuda.jit
def backward_kernel(q, k, v, causal, scale, mask_kind, allowed, additive, dropout, seed, threshold, drop_scale,
                    lse, delta, grad, dq, dk, dv, want_grad_scores, grad_scores):  # fmt: skip
    b, c = cuda.blockIdx.y, cuda.threadIdx.x
    j = cuda.blockIdx.x * BLOCK + c
    t_q, d = q.shape[1], q.shape[2]
    t_k, d_v = k.shape[1], v.shape[2]
    q_tile = cuda.shared.array((BLOCK, HEAD_MAX), numba.float64)
    grad_tile = cuda.shared.array((BLOCK, HEAD_MAX), numba.float64)
    lse_tile = cuda.shared.array(BLOCK, numba.float64)
    delta_tile = cuda.shared.array(BLOCK, numba.float64)
    k_row = cuda.local.array(HEAD_MAX, numba.float64)
    v_row = cuda.local.array(HEAD_MAX, numba.float64)
    dk_row = cuda.local.array(HEAD_MAX, numba.float64)
    dv_row = cuda.local.array(HEAD_MAX, numba.float64)
    active = j < t_k
    for e in range(d):
        k_row[e] = k[b, j, e] if active else 0.0
        dk_row[e] = 0.0
    for e in range(d_v):
        v_row[e] = v[b, j, e] if active else 0.0
        dv_row[e] = 0.0
    first_query = cuda.blockIdx.x * BLOCK if causal else 0  # earlier queries see none of this block's keys
    for i0 in range(first_query, t_q, BLOCK):
        cuda.syncthreads()
        if i0 + c < t_q:  # each thread loads one query's row of Qᵢ, dOᵢ, Lᵢ, Dᵢ
            for e in range(d):
                q_tile[c, e] = q[b, i0 + c, e]
            for e in range(d_v):
                grad_tile[c, e] = grad[b, i0 + c, e]
            lse_tile[c], delta_tile[c] = lse[b, i0 + c], delta[b, i0 + c]
        cuda.syncthreads()
        if active:
            for r in range(min(BLOCK, t_q - i0)):
                i = i0 + r
                dot = 0.0
                for e in range(d):
                    dot += q_tile[r, e] * k_row[e]
                score = masked_score(dot * scale, b, i, j, causal, mask_kind, allowed, additive)
                p = math.exp(score - lse_tile[r]) if score != -math.inf else 0.0  # Pᵢⱼ
                z = keep_scale(dropout, seed, threshold, drop_scale, b, i, j, t_q, t_k)
                grad_p = 0.0
                for e in range(d_v):
                    dv_row[e] += p * z * grad_tile[r, e]
                    grad_p += grad_tile[r, e] * v_row[e]
                ds = p * (grad_p * z - delta_tile[r])  # dSᵢⱼ
                for e in range(d):
                    dk_row[e] += ds * q_tile[r, e]
                    cuda.atomic.add(dq, (b, i, e), ds * k_row[e] * scale)
                if want_grad_scores:
                    grad_scores[b, i, j] = ds
    if active:
        for e in range(d):
            dk[b, j, e] = dk_row[e] * scale
        for e in range(d_v):
            dv[b, j, e] = dv_row[e]


def forward(xp, q, k, v, causal, scale, mask_kind, allowed, additive, dropout, seed, threshold, drop_scale):
    """(O, L) for (BH, T, D) queries, (BH, S, D) keys, (BH, S, Dv) values: contiguous arrays of one dtype."""
    heads, t_q = q.shape[0], q.shape[1]
    out = xp.empty((heads, t_q, v.shape[2]), q.dtype)
    lse = xp.empty((heads, t_q), q.dtype)
    grid = ((t_q + BLOCK - 1) // BLOCK, heads)
    forward_kernel[grid, BLOCK, stream(xp)](q, k, v, causal, scale, mask_kind, allowed, additive, dropout, seed,
                                            threshold, drop_scale, out, lse)  # fmt: skip
    return out, lse


def backward(xp, q, k, v, causal, scale, mask_kind, allowed, additive, dropout, seed, threshold, drop_scale, out,
             lse, grad, want_grad_scores):  # fmt: skip
    """(dQ, dK, dV, dS or None) from the saved O and L; Dᵢ = rowsum(dOᵢ ⊙ Oᵢ) is one array expression."""
    delta = xp.ascontiguousarray((grad * out).sum(axis=-1))
    dq, dk, dv = xp.zeros_like(q), xp.empty_like(k), xp.empty_like(v)
    heads, t_q, t_k = q.shape[0], q.shape[1], k.shape[1]
    grad_scores = xp.zeros((heads, t_q, t_k) if want_grad_scores else (1, 1, 1), q.dtype)
    grid = ((t_k + BLOCK - 1) // BLOCK, heads)
    backward_kernel[grid, BLOCK, stream(xp)](q, k, v, causal, scale, mask_kind, allowed, additive, dropout, seed,
                                             threshold, drop_scale, lse, delta, grad, dq, dk, dv, want_grad_scores,
                                             grad_scores)  # fmt: skip
    return dq, dk, dv, (grad_scores if want_grad_scores else None)
