"""The array namespace that backward code sees under ``create_graph=True``: NumPy's names, Tensor ops inside.

An op's backward is written once against ``ctx.xp``. In the ordinary backward pass ``ctx.xp`` is NumPy (or
CuPy) and the values are arrays. To differentiate a backward pass, the engine runs the same code with the
values as Tensors and ``ctx.xp`` set to this module, whose functions record ops; arithmetic, indexing and the
methods ``.sum .mean .reshape .T .swapaxes`` are Tensor methods already. Only what backward code uses is here,
one small function per NumPy name on purpose: the name a backward calls is the name defined.
"""

from __future__ import annotations

from .. import backend
from ..ops import elementwise, movement
from . import graph

records_ops = True  # how Op.run tells this namespace from NumPy's: ctx.run(OtherOp, ...) calls apply below
apply = graph.apply


def where(condition, a, b):
    return graph.apply(movement.Where, condition, a, b)


def broadcast_to(a, shape):
    return a if tuple(a.shape) == tuple(shape) else graph.apply(movement.Expand, a, shape=tuple(shape))


def transpose(a, axes):
    return graph.apply(movement.Permute, a, dims=tuple(axes))


def tril(a, k=0):
    return graph.apply(movement.Triangle, a, upper=False, diagonal=k)


def triu(a, k=0):
    return graph.apply(movement.Triangle, a, upper=True, diagonal=k)


def exp(a):
    return graph.apply(elementwise.Exp, a)


def log(a):
    return graph.apply(elementwise.Log, a)


def sin(a):
    return graph.apply(elementwise.Sin, a)


def cos(a):
    return graph.apply(elementwise.Cos, a)


def sign(a):
    """Piecewise constant: its derivative is 0 wherever it exists, so the result is a constant (as PyTorch)."""
    return graph.new_tensor(backend.array_module(a.device).sign(a._data), a.device)
