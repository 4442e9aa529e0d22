"""Embedding's backward: out[idx[i]] += grad[i] for every row i, rows looked up twice adding up.

One pass in index order, so the sums are deterministic and each row's additions happen in the order the
positions came (the reference, ``ops/movement.py``'s sorted ``add.reduceat``, sums each run pairwise instead:
the two agree to rounding). Serial: rows of a small vocabulary collide too often to split safely.
"""

from __future__ import annotations

import numba
import numpy as np

from ..ops.movement import ScatterAdd
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
