"""Embedding's backward on NumPy without a compiler: ``out[index] += rows``, the repeats summed by sorting.

Sort the positions so equal ones sit together, then sum each run with one ``add.reduceat``: several times faster
than the reference's ``add.at``, which adds row by row (``benchmarks/NOTES.md``). Negative positions count from
the end, so they are made non-negative first: -1 and n-1 are the same row, and must land in the same run.
This runs where numba does not (the compiled ``scatter_add.py`` comes first in the table); not on CuPy, whose
``reduceat`` is a difference of running sums (about 6e-6 relative error at GPT shapes) while its ``add.at`` is
an exact atomic scatter-add, the fast way on a GPU.
"""

from __future__ import annotations

import numpy as np

from ..ops.movement import ScatterAdd
from ..ops.nn_ops import Embedding


def add_rows_sorted(out, index, a):
    """``out[index] += a`` for one integer array ``index`` into the first axis of ``out``, repeats summed."""
    rows, flat = a.reshape(index.size, -1), index.ravel() % out.shape[0]
    order = np.argsort(flat, kind="stable")
    sorted_index = flat[order]
    starts = np.flatnonzero(np.concatenate((np.ones(1, dtype=bool), sorted_index[1:] != sorted_index[:-1])))
    out.reshape(out.shape[0], -1)[sorted_index[starts]] = np.add.reduceat(rows[order], starts, axis=0)


class ScatterAddSorted(ScatterAdd):
    """ScatterAdd of rows picked by an integer array, by sorting; backward is the reference's (indexing)."""

    reference = ScatterAdd

    @staticmethod
    def forward(ctx, a, *, shape, index, accumulate):
        ctx.index = index
        out = np.zeros(shape, dtype=a.dtype)
        add_rows_sorted(out, index, a)
        return out


class EmbeddingSorted(Embedding):
    """Embedding whose backward adds the gradient's rows up by sorting; forward and saved arrays are the
    reference's."""

    reference = Embedding

    @staticmethod
    def backward(ctx, grad):
        (idx,) = ctx.saved_tensors
        out = np.zeros(ctx.weight_shape, dtype=grad.dtype)
        add_rows_sorted(out, idx, grad)
        return None, out
