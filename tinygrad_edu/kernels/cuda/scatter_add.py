"""Embedding's backward on the GPU: out[idx[i]] += grad[i], one thread per element, with atomic adds (rows looked
up twice add up; the order of the additions, and so the last bits, vary from run to run, as in PyTorch)."""

from __future__ import annotations

from numba import cuda

from . import THREADS, blocks_for, stream


@cuda.jit
def add_rows(out, index, rows):
    width = rows.shape[1]
    height = out.shape[0]
    for e in range(cuda.grid(1), index.size * width, cuda.gridsize(1)):
        i, j = e // width, e % width
        k = index[i]
        if k < 0:
            k += height
        cuda.atomic.add(out, (k, j), rows[i, j])


def scatter_add_rows(xp, out, index, values):
    flat_out = out.reshape(out.shape[0], -1)
    rows = xp.ascontiguousarray(values).reshape(index.size, -1)
    flat_index = xp.ascontiguousarray(index).reshape(-1).astype(xp.int64)
    add_rows[blocks_for(rows.size), THREADS, stream(xp)](flat_out, flat_index, rows)
