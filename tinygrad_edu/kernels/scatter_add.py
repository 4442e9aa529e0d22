"""Embedding's backward: out[idx[i]] += grad[i] for every row i, rows looked up twice adding up.

One pass in index order, so the sums are deterministic and each row's additions happen in the order the
positions came (the reference, ``ops/movement.py``'s sorted ``add.reduceat``, sums each run pairwise instead:
the two agree to rounding). Serial: rows of a small vocabulary collide too often to split safely.

The same pass serves any pick along one axis (``x[:, idx]``: index_select, repeat_interleave, F.pad's reflect,
replicate and circular modes), whose reference backward is ``add.at`` element by element.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..ops.movement import Index, ScatterAdd
from ..ops.nn_ops import Embedding
from .devices import cupy, on_gpu


@numba.njit(cache=True)
def add_rows(out, index, rows):
    height = out.shape[0]
    for i in range(index.size):
        k = index[i]
        if k < 0:
            k += height
        for j in range(rows.shape[1]):
            out[k, j] += rows[i, j]


def scatter_add_rows(out, index, values):
    """``out[index] += values`` for an integer array ``index`` into out's first axis (in place)."""
    if on_gpu(out):
        from .cuda import scatter_add as twin

        return twin.scatter_add_rows(cupy(), out, index, values)
    flat_out = out.reshape(out.shape[0], -1)
    rows = np.ascontiguousarray(values).reshape(index.size, -1)
    add_rows(flat_out, np.ascontiguousarray(index).reshape(-1).astype(np.int64, copy=False), rows)


class ScatterAddKernel(ScatterAdd):
    """ScatterAdd of rows picked by an integer array (embedding's backward) in one pass; backward is the
    reference's (indexing)."""

    reference = ScatterAdd

    @staticmethod
    def forward(ctx, a, *, shape, index, accumulate):
        ctx.index = index
        out = ctx.xp.zeros(shape, dtype=a.dtype)
        scatter_add_rows(out, index, a)
        return out


class EmbeddingKernel(Embedding):
    """Embedding whose backward adds the gradient's rows up in one pass; forward and saved arrays are the
    reference's."""

    reference = Embedding

    @staticmethod
    def backward(ctx, grad):
        (idx,) = ctx.saved_tensors
        out = ctx.xp.zeros(ctx.weight_shape, dtype=grad.dtype)
        scatter_add_rows(out, idx, grad)
        return None, out


@numba.njit(cache=True)
def add_picks(out, index, rows):
    """out[b, index[j], :] += rows[b, j, :] for every b, then every j in index order: the order of add.at."""
    height = out.shape[1]
    for b in range(out.shape[0]):
        for j in range(index.size):
            k = index[j]
            if k < 0:
                k += height
            for i in range(out.shape[2]):
                out[b, k, i] += rows[b, j, i]


def add_along_axis(out, axis, index, values):
    """``out[(:,) * axis + (index,)] += values`` for one integer array ``index`` on ``axis`` (out: a fresh
    contiguous array, written in place), the dims before the axis and after it each flattened into one."""
    outer, inner = math.prod(out.shape[:axis]), math.prod(out.shape[axis + 1 :])
    rows = np.ascontiguousarray(values, dtype=out.dtype).reshape(outer, index.size, inner)
    add_picks(out.reshape(outer, out.shape[axis], inner), np.ascontiguousarray(index).reshape(-1), rows)


class IndexAlongAxisKernel(Index):
    """Index that picks along one axis (``x[idx]``, ``x[:, :, idx]``: index_select, repeat_interleave, F.pad's
    copying modes), whose backward adds the gradient back in one compiled pass in index order, the additions of
    the reference's ``add.at`` in the same order (so the same sums, bit for bit); forward is the reference's."""

    reference = Index

    @staticmethod
    def backward(ctx, grad):
        index = ctx.index if isinstance(ctx.index, tuple) else (ctx.index,)
        out = np.zeros(ctx.in_shape, dtype=grad.dtype)
        add_along_axis(out, len(index) - 1, index[-1], grad)
        return out
