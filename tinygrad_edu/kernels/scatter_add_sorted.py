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

from ..ops.movement import Index, ScatterAdd
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


def add_along_axis_in_rounds(out, axis, index, a):
    """``out[(:,) * axis + (index,)] += a`` for one integer array ``index`` on axis ``axis``, repeats summed.

    ``out[..., index] += a`` alone keeps one of the repeats; ``add.at`` adds them all but one element at a time.
    So the positions are sorted, each pick is ranked among the picks of its position (0 for the first, 1 for the
    second ...), and round r adds the picks of rank r with one plain ``+=``: no position twice in a round, and as
    many rounds as the most repeated position has picks."""
    n = out.shape[axis]
    flat = index.reshape(-1) % n  # -1 and n-1 are the same position
    order = np.argsort(flat, kind="stable")
    in_order = flat[order]
    first = np.ones(in_order.size, dtype=bool)
    first[1:] = in_order[1:] != in_order[:-1]
    at = np.arange(in_order.size)
    rank = np.empty_like(at)
    rank[order] = at - np.maximum.accumulate(np.where(first, at, 0))  # picks before it of the same position
    rows = a.reshape(*out.shape[:axis], flat.size, *out.shape[axis + 1 :])
    before = (slice(None),) * axis
    for r in range(int(rank.max()) + 1):
        picks = np.flatnonzero(rank == r)
        out[(*before, flat[picks])] += rows[(*before, picks)]


class IndexAlongAxis(Index):
    """Index that picks along one axis (``x[idx]``, ``x[:, :, idx]``: index_select, repeat_interleave, F.pad's reflect,
    replicate and circular modes), whose backward adds the repeats up in rounds of plain ``+=`` instead of the
    reference's ``add.at``, which adds element by element; forward and saved state are the reference's."""

    reference = Index

    @staticmethod
    def backward(ctx, grad):
        index = ctx.index if isinstance(ctx.index, tuple) else (ctx.index,)
        out = np.zeros(ctx.in_shape, dtype=grad.dtype)
        add_along_axis_in_rounds(out, len(index) - 1, index[-1], grad)
        return out
