"""Every op of the op registry (``tests/op_registry.py``) timed beside PyTorch: the op table.

For each registry entry, at three sizes from the baby model's activations to the lecture's (``SIZES``), and for
each of the entry's argument kinds (``contiguous``; a ``transposed`` view; a second operand that is a Python
``scalar``, a ``0-d`` tensor or a ``broadcast`` row; op-specific ones such as ``dim=1``), we time ``forward``
and ``forward+backward`` (float32, inputs that require grad as in training, values drawn as activations are:
normal, negative included, or the op's domain where it has one), ours and PyTorch's interleaved in one process.

The registry entry gives the call, ``fn(m, *inputs, *args, **kwargs)``; this file gives the concrete inputs at a
size: ``MAKERS`` maps every entry name to a maker ``maker(size, rng) -> {kind: Call}``, most of them built by the
few helpers below (``unary``, ``binary``, ``ternary``, ``reduction``, ...), the rest written out. An entry without
a maker is a row that says so (and ``tests/test_op_table.py`` fails until it has one).

Every row whose ratio exceeds ``SLOW`` (1.5) carries a "why" from ``WHY``: a measured explanation, or
"unexplained" (the test forbids those in the committed table).
"""

from __future__ import annotations

import fnmatch
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import common

SLOW = 1.5  # ratio above which a row must be fixed or explained
# a row's excess over PyTorch counts as Python per op when it is within this factor of (ops × the floor's gap)
DISPATCH_MARGIN = 1.25
TESTS = common.REPO / "tests"


@dataclass(frozen=True)
class Size:
    """The activation sizes of a GPT preset: batch B, block T, width C, heads nh; V is the character vocabulary."""

    name: str
    B: int
    T: int
    C: int
    nh: int
    V: int = 65

    @property
    def label(self) -> str:
        return f"{self.name} ({self.B}, {self.T}, {self.C})"


SIZES = (Size("baby", 12, 64, 128, 4), Size("mid", 32, 128, 256, 4), Size("lecture", 64, 256, 384, 6))
QUICK_SIZE = Size("quick", 2, 8, 16, 2, V=11)


@dataclass
class Call:
    """One concrete call: ``fn(m, *inputs, *args, **kwargs)``.

    ``inputs``: float arrays (leaves that require grad when the entry is differentiable) or Python numbers, in
    fn's order; ``args``/``kwargs``: the rest, where arrays become tensors (float ones float32); ``transposed``:
    the inputs given as a transposed view (the leaf holds the last two dims swapped, the graph swaps them back)."""

    inputs: tuple
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    transposed: tuple = ()

    def shape(self) -> str:
        """The inputs' shapes as the op sees them, ᵀ for a transposed view; a scalar as its value."""
        parts = []
        for i, x in enumerate(self.inputs):
            if isinstance(x, np.ndarray):
                parts.append(_shape(_seen(x, i in self.transposed)) + ("ᵀ" if i in self.transposed else ""))
            else:
                parts.append(repr(x))
        for a in (*self.args, *self.kwargs.values()):
            if isinstance(a, np.ndarray):
                parts.append(f"{a.dtype.name}{_shape(a)}")
        return ", ".join(parts)


def _shape(a: np.ndarray) -> str:
    return "(" + ",".join(str(n) for n in a.shape) + ")"


def _seen(a: np.ndarray, transposed: bool) -> np.ndarray:
    return np.swapaxes(a, -1, -2) if transposed else a


# -- values ------------------------------------------------------------------------------------------------------


def normal(rng, shape):
    """Activations: standard normal, float32, negative values included."""
    return rng.standard_normal(shape, dtype=np.float32)


def positive(rng, shape):
    """For log, sqrt, a fractional power's base: uniform in [0.2, 3]."""
    return rng.uniform(0.2, 3.0, shape).astype(np.float32)


def away_from_zero(rng, shape):
    """For a divisor: |x| in [0.3, 2], either sign."""
    return (rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)).astype(np.float32)


def halves(rng, shape):
    """On a 0.5 grid (comparisons: ties happen)."""
    return (np.round(2 * rng.standard_normal(shape)) / 2).astype(np.float32)


def near_one(rng, shape):
    """Around 1 (cumprod: the running product neither explodes nor vanishes over T)."""
    return (1 + 0.05 * rng.standard_normal(shape)).astype(np.float32)


def ints(rng, high, shape):
    return rng.integers(0, high, shape).astype(np.int64)


def _stored_transposed(rng, values, shape):
    """A leaf that holds ``shape`` with its last two dims swapped: the graph's .mT gives ``shape`` back, strided."""
    return values(rng, (*shape[:-2], shape[-1], shape[-2]))


# -- makers: size -> {kind: Call} -------------------------------------------------------------------------------


def unary(values=normal, args=(), kwargs=None, shape=None):
    """One (B, T, C) input: contiguous, and a transposed view."""

    def make(s: Size, rng):
        full = shape(s) if shape else (s.B, s.T, s.C)
        kw = dict(kwargs or {})
        return {
            "contiguous": Call((values(rng, full),), args, kw),
            "transposed": Call((_stored_transposed(rng, values, full),), args, kw, transposed=(0,)),
        }

    return make


def binary(a_values=normal, b_values=normal, args=(), scalar=1.5, zero_d=True):
    """Two operands: same shape, broadcast (b is one (C,) row), b a 0-d tensor, b a Python number (``scalar``;
    None where the op takes none), and a transposed view of a."""

    def make(s: Size, rng):
        full = (s.B, s.T, s.C)
        a = a_values(rng, full)
        kinds = {
            "contiguous": Call((a, b_values(rng, full)), args),
            "broadcast": Call((a, b_values(rng, (s.C,))), args),
            "transposed": Call((_stored_transposed(rng, a_values, full), b_values(rng, full)), args, transposed=(0,)),
        }
        if zero_d:
            kinds["0-d"] = Call((a, b_values(rng, ())), args)
        if scalar is not None:
            kinds["scalar"] = Call((a, scalar), args)
        return kinds

    return make


def ternary(*values, args=(), kwargs=None):
    """Three (or more) operands of one shape: contiguous, the last one broadcast from a (C,) row, the first
    transposed."""

    def make(s: Size, rng):
        full = (s.B, s.T, s.C)
        first, *rest = values
        kw = dict(kwargs or {})
        same = tuple(v(rng, full) for v in values)
        row = (*same[:-1], rest[-1](rng, (s.C,)))
        strided = (_stored_transposed(rng, first, full), *same[1:])
        return {
            "contiguous": Call(same, args, kw),
            "broadcast": Call(row, args, kw),
            "transposed": Call(strided, args, kw, transposed=(0,)),
        }

    return make


def reduction(kinds: dict, values=normal):
    """One (B, T, C) input; ``kinds``: name -> kwargs; each also on a transposed view (``<name>, transposed``)."""

    def make(s: Size, rng):
        full = (s.B, s.T, s.C)
        x, xt = values(rng, full), _stored_transposed(rng, values, full)
        out = {}
        for name, kwargs in kinds.items():
            out[name] = Call((x,), (), dict(kwargs))
            out[f"{name}, transposed" if name != "contiguous" else "transposed"] = Call((xt,), (), dict(kwargs), (0,))
        return out

    return make


def one(values=normal, args=(), kwargs=None, shape=None, kind="contiguous"):
    """A single kind: one input of ``shape(s)`` (default (B, T, C)), fixed args/kwargs (callables of (s, rng))."""

    def make(s: Size, rng):
        full = shape(s) if shape else (s.B, s.T, s.C)
        a = tuple(x(s, rng) if callable(x) else x for x in args)
        kw = {k: v(s, rng) if callable(v) else v for k, v in (kwargs or {}).items()}
        return {kind: Call((values(rng, full),), a, kw)}

    return make


def _matmul(kind_shapes):
    """kind -> (a shape, b shape, b transposed?) as functions of the size."""

    def make(s: Size, rng):
        out = {}
        for kind, (sa, sb, b_t) in kind_shapes.items():
            a, bshape = normal(rng, sa(s)), sb(s)
            b = _stored_transposed(rng, normal, bshape) if b_t else normal(rng, bshape)
            out[kind] = Call((a, b), transposed=(1,) if b_t else ())
        return out

    return make


def _bsc(s):
    return (s.B, s.T, s.C)


def _causal(s):
    return np.tril(np.ones((s.T, s.T), dtype=bool))


def _unique_columns(rng, shape, k):
    """k distinct positions along the last dim for every row: scatter writes each once."""
    return np.argsort(rng.random(shape), axis=-1)[..., :k].astype(np.int64)


def _gather_index(s, rng):
    return ints(rng, s.C, (s.B, s.T, 4))


def _scatter(with_src=True, unique=False):
    def make(s: Size, rng):
        full = (s.B, s.T, s.C)
        index = _unique_columns(rng, full, 4) if unique else ints(rng, s.C, (s.B, s.T, 4))
        inputs = (normal(rng, full), normal(rng, index.shape)) if with_src else (normal(rng, full),)
        return {"dim=-1": Call(inputs, (-1, index))}

    return make


def _cat(s: Size, rng):
    full = (s.B, s.T, s.C)
    xs = tuple(normal(rng, full) for _ in range(3))
    xt = tuple(_stored_transposed(rng, normal, full) for _ in range(3))
    return {
        "dim=-1": Call(xs, (), {"dim": -1}),
        "dim=0": Call(xs, (), {"dim": 0}),
        "transposed": Call(xt, (), {"dim": -1}, transposed=(0, 1, 2)),
    }


def _stack(s: Size, rng):
    xs = tuple(normal(rng, (s.B, s.T, s.C)) for _ in range(3))
    return {"dim=0": Call(xs, (), {"dim": 0}), "dim=-1": Call(xs, (), {"dim": -1})}


def _attention(mask: bool):
    def make(s: Size, rng):
        shape = (s.B, s.nh, s.T, s.C // s.nh)
        qkv = tuple(normal(rng, shape) for _ in range(3))
        if mask:
            return {"bool mask (T,T)": Call(qkv, (), {"attn_mask": _causal(s)})}
        return {"is_causal": Call(qkv, (), {"is_causal": True})}

    return make


def _cross_entropy(log_probs: bool):
    def make(s: Size, rng):
        logits = normal(rng, (s.B * s.T, s.V))
        if log_probs:
            logits = (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(np.float32)
        return {"mean": Call((logits,), (ints(rng, s.V, (s.B * s.T,)),))}

    return make


def _spatial_cross_entropy(s: Size, rng):
    return {"(B,V,T) logits": Call((normal(rng, (s.B, s.V, s.T)),), (ints(rng, s.V, (s.B, s.T)),))}


def _layer_norm(affine: bool):
    def make(s: Size, rng):
        full = (s.B, s.T, s.C)
        extra = (normal(rng, (s.C,)), normal(rng, (s.C,))) if affine else ()
        return {
            "contiguous": Call((normal(rng, full), *extra), ((s.C,),)),
            "transposed": Call((_stored_transposed(rng, normal, full), *extra), ((s.C,),), transposed=(0,)),
        }

    return make


def _batch_norm(training: bool):
    def make(s: Size, rng):
        w, b = normal(rng, (s.C,)), normal(rng, (s.C,))
        args = () if training else (normal(rng, (s.C,)), positive(rng, (s.C,)))
        return {
            "(B·T, C)": Call((normal(rng, (s.B * s.T, s.C)), w, b), args),
            "(B, C, T)": Call((normal(rng, (s.B, s.C, s.T)), w, b), args),
        }

    return make


def _conv(spatial: int, bias: bool):
    """conv1d over (B, C/4, T) with a width-3 kernel; conv2d over (B, 8, 28, 28) MNIST-sized maps, 16 filters."""

    def make(s: Size, rng):
        if spatial == 1:
            c = s.C // 4
            x, w, nb = normal(rng, (s.B, c, s.T)), normal(rng, (c, c, 3)), c
        else:
            x, w, nb = normal(rng, (s.B, 8, 28, 28)), normal(rng, (16, 8, 3, 3)), 16
        inputs = (x, w, normal(rng, (nb,))) if bias else (x, w)
        return {"padding=1": Call(inputs, (), {"padding": 1})}

    return make


def _pad(mode: str):
    def make(s: Size, rng):
        if mode == "constant":
            return {"(1, 1) on C": Call((normal(rng, (s.B, s.T, s.C)),), ((1, 1),))}
        return {"(2, 2) on T": Call((normal(rng, (s.B, s.C, s.T)),), ((2, 2),), {"mode": mode})}

    return make


def _einsum(s: Size, rng):
    hs = s.C // s.nh
    a, b = normal(rng, (s.B, s.T, s.C)), normal(rng, (s.B, s.C, s.T))
    q, k = normal(rng, (s.B, s.nh, s.T, hs)), normal(rng, (s.B, s.nh, s.T, hs))
    return {
        "bij,bjk->bik": Call((a, b), (), {"equation": "bij,bjk->bik"}),
        "bhqd,bhkd->bhqk": Call((q, k), (), {"equation": "bhqd,bhkd->bhqk"}),
    }


def _getitem(s: Size, rng):
    x = normal(rng, (s.B, s.T, s.C))
    return {
        "x[:, -1, :]": Call((x,), ((slice(None), -1, slice(None)),)),
        "x[:, ::2]": Call((x,), ((slice(None), slice(None, None, 2)),)),
    }


def _all_elements(s: Size):
    return (s.B * s.T * s.C,)


M = "contiguous"
# name -> maker; every registry entry has one (tests/test_op_table.py checks)
MAKERS = {
    # arithmetic, tensor with tensor
    "add": binary(),
    "add.alpha": binary(args=(-0.5,)),
    "sub": binary(),
    "sub.alpha": binary(args=(2.0,)),
    "mul": binary(),
    "div": binary(b_values=away_from_zero),
    "pow": binary(positive, normal),
    "maximum": binary(scalar=None),
    "minimum": binary(scalar=None),
    "matmul": _matmul(
        {
            "(B,T,C) @ (C,C)": (_bsc, lambda s: (s.C, s.C), False),
            "(B,T,C) @ (B,C,T)": (_bsc, lambda s: (s.B, s.C, s.T), False),
            "(B,T,C) @ (B,T,C)ᵀ": (_bsc, lambda s: (s.B, s.C, s.T), True),
        }
    ),
    "mm": _matmul(
        {
            M: (lambda s: (s.B * s.T, s.C), lambda s: (s.C, s.C), False),
            "transposed": (lambda s: (s.B * s.T, s.C), lambda s: (s.C, s.C), True),
        }
    ),
    "bmm": _matmul(
        {
            M: (_bsc, lambda s: (s.B, s.C, s.T), False),
            "transposed": (_bsc, lambda s: (s.B, s.C, s.T), True),
        }
    ),
    "rmatmul": _matmul({"(B,T,C) @ (C,C)": (_bsc, lambda s: (s.C, s.C), False)}),
    # arithmetic with a Python number (the number is in the entry's fn)
    "add.scalar": unary(),
    "radd": unary(),
    "sub.scalar": unary(),
    "rsub": unary(),
    "mul.scalar": unary(),
    "rmul": unary(),
    "div.scalar": unary(),
    "rdiv": unary(away_from_zero),
    "rpow": unary(args=(2.5,)),
    "rpow.fraction": unary(args=(0.7,)),
    "neg": unary(),
    "pos": unary(),
    "lerp": binary(args=(0.3,), scalar=None, zero_d=False),
    "lerp.tensor_weight": ternary(normal, normal, lambda rng, shape: rng.uniform(0, 1, shape).astype(np.float32)),
    "addcmul": ternary(normal, normal, normal),
    "addcdiv": ternary(normal, normal, away_from_zero),
    # x ** c with c a number: the hand-written GELU's pow(x, 3.0) on negative values, squares, roots, inverses
    "pow.scalar": lambda s, rng: {
        f"c={c}" + (", transposed" if t else ""): Call(
            (v(rng, (s.B, s.C, s.T) if t else (s.B, s.T, s.C)),), (c,), transposed=(0,) if t else ()
        )
        for c, v in ((2, normal), (3.0, normal), (0.5, positive), (-1.5, positive))
        for t in (False, True)
    },  # fmt: skip
    # unary math
    "exp": unary(),
    "log": unary(positive),
    "sqrt": unary(positive),
    "rsqrt": unary(positive),
    "tanh": unary(),
    "sigmoid": unary(),
    "relu": unary(),
    "abs": unary(),
    "sign": unary(),
    "sin": unary(),
    "cos": unary(),
    "erf": unary(),
    "square": unary(),
    "clamp": unary(kwargs={"min": -0.5, "max": 0.5}),
    "log2": unary(positive),
    "log10": unary(positive),
    # reductions
    "sum": reduction({M: {}}),
    "sum.dim": reduction({"dim=-1": {"dim": -1, "keepdim": True}, "dim=(0, 1)": {"dim": (0, 1)}}),
    "mean": reduction({M: {}}),
    "mean.dim": reduction({"dim=-1": {"dim": -1, "keepdim": True}, "dim=(0, 1)": {"dim": (0, 1)}}),
    "var": reduction({"dim=-1": {"dim": -1, "keepdim": True}, "all": {}}),
    "std": reduction({"dim=-1": {"dim": -1, "keepdim": True}, "all": {}}),
    "max": reduction({M: {}}),
    "max.dim": reduction({"dim=-1": {"dim": -1, "keepdim": False}}),
    "min": reduction({M: {}}),
    "min.dim": reduction({"dim=-1": {"dim": -1, "keepdim": False}}),
    "norm": reduction({"all": {}, "p=2, dim=-1": {"p": 2, "dim": -1}, "p=1, dim=-1": {"p": 1, "dim": -1}}),
    "amax": reduction({"dim=-1": {"dim": -1, "keepdim": False}}),
    "amax.all": reduction({M: {}}),
    "amax.all_keepdim": reduction({M: {}}),
    "amin": reduction({"dim=-1": {"dim": -1, "keepdim": False}}),
    "amin.all": reduction({M: {}}),
    "topk": reduction({"k=10, dim=-1": {"k": 10, "dim": -1, "largest": True}}),
    "softmax": reduction({"dim=-1": {"dim": -1}, "dim=1": {"dim": 1}}),
    "log_softmax": reduction({"dim=-1": {"dim": -1}, "dim=1": {"dim": 1}}),
    "logsumexp": reduction({"dim=-1": {"dim": -1, "keepdim": False}}),
    "argmax": reduction({"all": {}, "dim=-1": {"dim": -1}}),
    "argmax.keepdim": reduction({"dim=-1": {"dim": -1, "keepdim": True}}),
    "argmin": reduction({"all": {}, "dim=-1": {"dim": -1}}),
    "sort": reduction({"dim=-1": {"dim": -1, "descending": False}}),
    "argsort": reduction({"dim=-1": {"dim": -1, "descending": False}}),
    "cumsum": reduction({"dim=1": {"dim": 1}, "dim=-1": {"dim": -1}}),
    "cumprod": reduction({"dim=1": {"dim": 1}, "dim=-1": {"dim": -1}}, values=near_one),
    # shapes: views, and copies where the layout asks for one
    "reshape": lambda s, rng: {
        M: Call((normal(rng, _bsc(s)),), ((s.B * s.T, s.C),)),
        "transposed (a copy)": Call((normal(rng, (s.B, s.C, s.T)),), ((s.B * s.T, s.C),), transposed=(0,)),
    },
    "reshape_as": one(args=(lambda s, rng: np.zeros((s.B * s.T, s.C), np.float32),)),
    "view": one(args=(lambda s, rng: (s.B * s.T, s.C),)),
    "view_as": one(args=(lambda s, rng: np.zeros((s.B * s.T, s.C), np.float32),)),
    "permute": unary(args=(0, 2, 1)),
    "transpose": unary(args=(1, 2)),
    "transpose.0d": one(shape=lambda s: (), args=(0, -1), kind="0-d (by definition)"),
    "t": one(shape=lambda s: (s.B * s.T, s.C)),
    "T": one(shape=lambda s: (s.B * s.T, s.C)),
    "mT": unary(),
    "unsqueeze": unary(args=(1,)),
    "squeeze": one(shape=lambda s: (s.B, 1, s.T, s.C), kwargs={"dim": 1}),
    "flatten": unary(args=(0, 1)),
    "expand": one(shape=lambda s: (s.B, 1, s.C), args=(lambda s, rng: (s.B, s.T, s.C),)),
    "expand_as": one(shape=lambda s: (s.B, 1, s.C), args=(lambda s, rng: np.zeros((s.B, s.T, s.C), np.float32),)),
    "contiguous": unary(),
    "clone": unary(),
    "split": unary(args=(32,), kwargs={"dim": -1}),
    "unbind": unary(kwargs={"dim": 0}),
    "chunk": unary(args=(3,), kwargs={"dim": -1}),
    "getitem": _getitem,
    "getitem.repeated": lambda s, rng: {
        "(V,C)[(B,T) ids]": Call((normal(rng, (s.V, s.C)),), (ints(rng, s.V, (s.B, s.T)),))
    },
    "getitem.bool_mask": lambda s, rng: {"(B,T) mask": Call((normal(rng, _bsc(s)),), (rng.random((s.B, s.T)) < 0.5,))},
    "masked_fill": lambda s, rng: {
        "causal (T,T) mask": Call((normal(rng, (s.B, s.T, s.T)),), (~_causal(s), float("-inf"))),
        "same-shape mask": Call((normal(rng, (s.B, s.T, s.T)),), (rng.random((s.B, s.T, s.T)) < 0.5, 0.0)),
    },
    "tril": unary(kwargs={"diagonal": 0}, shape=lambda s: (s.B, s.T, s.T)),
    "triu": unary(kwargs={"diagonal": 0}, shape=lambda s: (s.B, s.T, s.T)),
    "where": lambda s, rng: {
        M: Call((normal(rng, _bsc(s)), normal(rng, _bsc(s))), (rng.random(_bsc(s)) < 0.5,)),
        "broadcast": Call((normal(rng, _bsc(s)), normal(rng, (s.C,))), (rng.random((s.T, 1)) < 0.5,)),
        "transposed": Call(
            (normal(rng, (s.B, s.C, s.T)), normal(rng, _bsc(s))), (rng.random(_bsc(s)) < 0.5,), transposed=(0,)
        ),
    },  # fmt: skip
    "where.scalar": lambda s, rng: {
        M: Call((normal(rng, _bsc(s)),), (rng.random(_bsc(s)) < 0.5,)),
        "broadcast": Call((normal(rng, _bsc(s)),), (rng.random((s.T, 1)) < 0.5,)),
    },
    "cat": _cat,
    "stack": _stack,
    # dtype and device
    "float": unary(),
    "double": unary(),
    "half": unary(),
    "cpu": unary(),
    "long": unary(),
    "int": unary(),
    "bool": unary(),
    # comparisons and logic
    **{name: binary(halves, halves, scalar=0.5) for name in ("eq", "ne", "lt", "le", "gt", "ge")},
    **{name: binary(scalar=None) for name in ("and", "or", "xor")},
    "invert": unary(),
    "logical_not": unary(),
    "isfinite": unary(),
    "all": unary(),
    "any": unary(),
    "allclose": lambda s, rng: {
        M: Call(((a := normal(rng, _bsc(s))), a + np.float32(1e-3))),
    },
    # nn.functional
    "F.linear": lambda s, rng: {
        "(B,T,C) → 4C": Call((normal(rng, _bsc(s)), normal(rng, (4 * s.C, s.C)), normal(rng, (4 * s.C,)))),
        "transposed": Call(
            (normal(rng, (s.B, s.C, s.T)), normal(rng, (4 * s.C, s.C)), normal(rng, (4 * s.C,))), transposed=(0,)
        ),
    },  # fmt: skip
    "F.linear.no_bias": lambda s, rng: {
        "(B,T,C) → 4C": Call((normal(rng, _bsc(s)), normal(rng, (4 * s.C, s.C)))),
    },
    "F.embedding": lambda s, rng: {"(V,C) table": Call((normal(rng, (s.V, s.C)),), (ints(rng, s.V, (s.B, s.T)),))},
    "F.layer_norm": _layer_norm(True),
    "F.layer_norm.no_affine": _layer_norm(False),
    "F.gelu": unary(),
    "F.gelu.tanh": unary(),
    "F.silu": unary(),
    "F.cross_entropy": _cross_entropy(False),
    "F.cross_entropy.spatial": _spatial_cross_entropy,
    "F.nll_loss": _cross_entropy(True),
    "F.mse_loss": lambda s, rng: {
        "mean": Call((normal(rng, _bsc(s)), normal(rng, _bsc(s))), (), {"reduction": "mean"}),
        "none": Call((normal(rng, _bsc(s)), normal(rng, _bsc(s))), (), {"reduction": "none"}),
    },
    "F.dropout": unary(args=(0.3,)),
    "F.scaled_dot_product_attention": _attention(False),
    "F.scaled_dot_product_attention.mask": _attention(True),
    # reordering, gathers and scatters, scans, padding, counting
    "flip": unary(args=(-1,)),
    "fliplr": unary(),
    "flipud": unary(),
    "roll": unary(args=(1, 1)),
    "repeat": one(args=(1, 2, 1)),
    "repeat_interleave": one(args=(2,), kwargs={"dim": 1}),
    "repeat_interleave.tensor": one(args=(lambda s, rng: ints(rng, 3, (s.T,)),), kwargs={"dim": 1}),
    "repeat_interleave.counts": lambda s, rng: {"(B·T,) counts": Call((), (ints(rng, 3, (s.B * s.T,)),))},
    "gather": one(args=(-1, _gather_index), kind="dim=-1"),
    "scatter_add": _scatter(),
    "scatter": _scatter(unique=True),
    "scatter.value": _scatter(with_src=False, unique=True),
    "scatter.multiply": _scatter(),
    "index_select": one(args=(1, lambda s, rng: ints(rng, s.T, (s.T,))), kind="dim=1"),
    "take_along_dim": one(args=(_gather_index,), kwargs={"dim": -1}, kind="dim=-1"),
    "topk.0d": one(shape=lambda s: (), args=(1,), kind="0-d (by definition)"),
    "einsum": _einsum,
    "F.pad": _pad("constant"),
    "F.pad.reflect": _pad("reflect"),
    "F.pad.replicate": _pad("replicate"),
    "F.pad.circular": _pad("circular"),
    "bincount": lambda s, rng: {"(B·T,) ids": Call((), (ints(rng, s.V, (s.B * s.T,)),), {"minlength": s.V})},
    "bincount.weights": lambda s, rng: {
        "(B·T,) ids": Call((normal(rng, (s.B * s.T,)),), (ints(rng, s.V, (s.B * s.T,)),), {"minlength": s.V})
    },
    "histc": unary(),
    "histc.own_range": unary(),
    "histogram": one(shape=_all_elements),
    "F.one_hot": lambda s, rng: {"(B,T) ids": Call((), (ints(rng, s.V, (s.B, s.T)),), {"num_classes": s.V})},
    "F.batch_norm": _batch_norm(True),
    "F.batch_norm.eval": _batch_norm(False),
    "F.conv1d": _conv(1, True),
    "F.conv1d.no_bias": _conv(1, False),
    "F.conv2d": _conv(2, True),
    "F.conv2d.no_bias": _conv(2, False),
}

# entry (or "entry [kind]") -> why its rows above SLOW × PyTorch's time are there, with the measurement that
# shows it (min of 25 calls at the baby size, NumPy's BLAS and PyTorch on 1 thread, 2026-12-08; the notes give the
# scripts). Rows without an entry here are explained by the measurements ``explain`` takes, or "unexplained".
WHY: dict[str, str] = {
    "(dispatch floor: -x on 1 element)": (
        "the floor itself: the engine's Python per op (the Tensor method, graph.apply choosing a fast path, "
        "unpacking, recording the node, wrapping the result) against PyTorch's C++ dispatcher"
    ),
    "topk": (
        "a whole stable sort of each row, then k taken: NumPy has no partial selection that keeps PyTorch's order "
        "of ties (argpartition does not); np.argsort over (12, 64, 128) 2.61 ms against torch.topk's 1.00"
    ),
    "cumsum": (
        "NumPy's cumsum is a serial chain of adds (not vectorized): 0.67 ms along T and 0.33 along C of "
        "(12, 64, 128) float32, against PyTorch's 0.075 and 0.084; backward is a cumsum too"
    ),
    "cumprod": (
        "forward is NumPy's serial cumprod (as cumsum); backward runs the division-free recurrence "
        "S_i = g_i + a_(i+1)·S_(i+1) as a Python loop over the scanned axis (exact where a_i = 0, where PyTorch's "
        "division is not used either but its loop is C++): forward+backward along C 1.41 ms against 0.39"
    ),
    "F.conv2d": (
        "im2col: every window copied out of a strided view of the padded input into an (N·P, C·K) matrix, 9x the "
        "input for 3×3 filters, then one GEMM (0.26 ms of our 1.51 for (12, 8, 28, 28) * 16 filters); PyTorch "
        "convolves in place (oneDNN), 0.25 ms"
    ),
    "half": (
        "NumPy's float32 → float16 conversion goes element by element (no vector conversion instruction): "
        "0.243 ms over (12, 64, 128) against PyTorch's 0.008; the backward casts back the same way"
    ),
    "F.scaled_dot_product_attention": (
        "the FlashAttention fast path (kernels/flash_attention.py, being built in another session when this table "
        "was taken) ran 9.4 ms on the baby's causal (12, 4, 64, 32) against the reference op's 1.04 and PyTorch's "
        "0.51: its speed is that work's to settle"
    ),
    "amax": (
        "forward also counts the ties of each maximum, for backward's even split (PyTorch's rule): along C of "
        "(32, 128, 256), NumPy's max (not vectorized along a row) 0.33 ms and the tie count (a == max, summed) "
        "0.55 ms make our 0.91 ms against PyTorch's 0.064"
    ),
    "amax.all": (
        "forward also counts the ties of the maximum, for backward's even split: over (32, 128, 256), NumPy's max "
        "0.048 ms and the tie count (a == max, summed) 0.355 ms make our 0.415 ms against PyTorch's 0.047"
    ),
    "minimum": (
        "minimum is written as -maximum(-a, -b) (tensor.py): three more negation passes and ops; 0.78 ms against "
        "np.minimum's 0.11 and PyTorch's 0.09 over (32, 128, 256)"
    ),
    "var": (
        "the variance is taken in float64 (as PyTorch's CPU kernel accumulates), the tensor widened first and the "
        "result rounded back: over all of (32, 128, 256) 1.68 ms against PyTorch's 0.91"
    ),
}
WHY["F.scaled_dot_product_attention.mask"] = WHY["F.scaled_dot_product_attention"]
# views and copies: their backward is nothing but handing the gradient to the leaf
for _name in ("permute", "squeeze", "unsqueeze", "reshape", "reshape_as", "view", "view_as", "flatten", "mT", "t",
              "T", "transpose", "cpu", "float", "pos", "contiguous", "clone"):  # fmt: skip
    WHY[f"{_name} (forward+backward)"] = (
        "backward stores a fresh copy of the incoming gradient as the leaf's .grad (autograd/engine.py "
        "_store_grad: no .grad ever aliases another array), and that copy is the whole cost: 2.8 ms for "
        "(64, 256, 384) in a profile of reshape's backward; PyTorch's AccumulateGrad keeps the incoming tensor"
    )
WHY["pow.scalar [c=3.0]"] = WHY["pow.scalar [c=3.0, transposed]"] = (
    "x³ by multiplications (kernels/power.py, the issue's fix of NumPy's pow trap): x·x, then ·x, two NumPy "
    "passes each writing an array, where PyTorch's pow(x, 3) is one loop"
)
WHY["unbind"] = (
    "one engine op per slice (B of them, 12 to 64, plus their views): ops × the engine's Python per op, as the "
    "(2, 8, 16) call shows at its own B = 2"
)
WHY["amin"] = WHY["amax"]
WHY["amax.all_keepdim"] = WHY["amin.all"] = WHY["amax.all"]
WHY["std"] = WHY["var"]
for _name in ("F.conv2d.no_bias", "F.conv1d", "F.conv1d.no_bias"):
    WHY[_name] = WHY["F.conv2d"]


# -- running -----------------------------------------------------------------------------------------------------


def load_registry():
    """The registry's entries (tests/op_registry.py, which needs the test dependencies: hypothesis, pytest)."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    try:
        import op_registry
    except ImportError as e:
        raise SystemExit(f"op-table needs the test dependencies to read tests/op_registry.py: {e}") from None
    return op_registry.REGISTRY


class Lib:
    """A library as registry entries call it: its names (``m.cat``, ``m.where``) and ``m.F``."""

    def __init__(self, impl: str):
        if impl == "torch":
            import torch

            self.module, self.F = torch, torch.nn.functional
        else:
            import tinygrad_edu
            from tinygrad_edu.nn import functional

            self.module, self.F = tinygrad_edu, functional
        self.impl = impl

    def __getattr__(self, name):
        return getattr(self.module, name)

    def constant(self, value, device):
        """An argument as the op takes it: arrays become tensors (float ones float32), inside tuples too."""
        if isinstance(value, np.ndarray):
            array = value.astype(np.float32) if value.dtype.kind == "f" else value
            return self.module.from_numpy(array.copy()).to(device)
        if isinstance(value, tuple):
            return tuple(self.constant(v, device) for v in value)
        return value


def _is_float(t) -> bool:
    return hasattr(t, "dtype") and hasattr(t, "requires_grad") and t.dtype.is_floating_point


def build(entry, call: Call, lib: Lib, device: str) -> dict:
    """{"forward": fn, "forward+backward": fn (differentiable entries whose outputs need a gradient)}."""
    leaves = []
    for x in call.inputs:
        if not isinstance(x, np.ndarray):
            leaves.append(x)
            continue
        t = lib.module.from_numpy(x.copy()).to(device)
        leaves.append(t.requires_grad_(True) if entry.differentiable else t)
    args = lib.constant(call.args, device)
    kwargs = {k: lib.constant(v, device) for k, v in call.kwargs.items()}

    def forward():
        xs = [x.transpose(-1, -2) if i in call.transposed else x for i, x in enumerate(leaves)]
        return entry.fn(lib, *xs, *args, **kwargs)

    fns = {"forward": forward}
    outputs = forward()
    outputs = tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)
    rng = np.random.default_rng(1)
    needs = [i for i, o in enumerate(outputs) if _is_float(o) and o.requires_grad]
    if not entry.differentiable or not needs:
        return fns
    seeds = [
        lib.module.from_numpy(rng.standard_normal(tuple(outputs[i].shape)).astype(_np_dtype(outputs[i]))).to(device)
        for i in needs
    ]
    grads = [x for x in leaves if hasattr(x, "requires_grad") and x.requires_grad]

    def forward_backward():
        out = forward()
        out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        lib.autograd.backward([out[i] for i in needs], seeds)
        for x in grads:
            x.grad = None

    fns["forward+backward"] = forward_backward
    return fns


def _np_dtype(t):
    return {"float16": np.float16, "float32": np.float32, "float64": np.float64}[str(t.dtype).rsplit(".", 1)[-1]]


def selected(registry, patterns: list[str] | None):
    """The entries whose name matches one of the fnmatch ``patterns`` (all without patterns)."""
    if not patterns:
        return list(registry)
    return [e for e in registry if any(fnmatch.fnmatchcase(e.name, p) for p in patterns)]


def _repeats(fns: dict, syncs: dict, quick: bool, budget_s: float) -> int:
    """Enough repeats to fill about ``budget_s`` seconds per implementation (3 to 15); 1 with ``--quick``."""
    if quick:
        return 1
    t = max(t.samples[0] for t in common.interleaved(fns, 1, 0, syncs).values())
    return int(min(15, max(3, budget_s / max(t, 1e-9))))


def measure_row(fns_by_impl: dict, syncs: dict, args, quick: bool) -> dict:
    n = args.repeats or _repeats(fns_by_impl, syncs, quick, budget_s=0.15)
    warmup = args.warmup if args.warmup is not None else (0 if quick else 1)
    # short settles: a full table has thousands of rows (the "op" option's 0.1 s would add an hour); --quick only
    # checks that every row runs (CI), in one block without re-warming
    options = {"block": max(1, -(-n // 3)), "settle": 0.02, "rewarm": True}
    if quick:
        options = {"block": n, "settle": 0.0, "rewarm": False}
    timings = common.interleaved(fns_by_impl, n, warmup, syncs, **options)
    row = {impl: t.summary() for impl, t in timings.items()}
    row["ratio"] = common.ratio(row["ours"]["median_ms"], row.get("torch", {}).get("median_ms"))
    return row


def count_ops(fn) -> dict:
    """How many engine ops one call of ``fn`` runs: {"forward": n, "backward": m} (ops inside ops included)."""
    from tinygrad_edu.autograd import graph

    counts = {"forward": 0, "backward": 0}

    def forward(op_class, run):
        counts["forward"] += 1
        return run()

    def backward(op, grad_outputs, run):
        counts["backward"] += 1
        return run()

    with graph.observe_ops(forward=forward, backward=backward):
        fn()
    return counts


def explain(row: dict, fns: dict, syncs: dict, args, floor: dict, entry=None) -> None:
    """Measure what a slow row's excess comes from, into the row (``why`` turns it into words).

    * ``ops``: the engine ops one call runs; with the dispatch floor's gap per op (ours − PyTorch for -x on one
      element) it bounds what Python dispatch and graph recording cost that call;
    * ``tiny``: the same call on the ``--quick`` size's (2, 8, 16) inputs, ours and PyTorch's: what a call costs
      whatever the size (Python, argument checks, index grids), against which the row's excess is compared;
    * ``torch_1_thread``: the row re-timed with PyTorch on one thread, as NumPy's elementwise ops run (only
      matrix products use NumPy's BLAS threads)."""
    import torch

    row["ops"] = count_ops(fns["ours"])
    if entry is not None:
        row["tiny"] = tiny_call(entry, row["kind"], row["mode"], syncs, args)
    row["floor_gap_ms"] = floor["ours"]["median_ms"] - floor["torch"]["median_ms"]
    threads = torch.get_num_threads()
    if threads > 1:
        torch.set_num_threads(1)
        try:
            again = measure_row(fns, syncs, args, False)
        finally:
            torch.set_num_threads(threads)
        row["torch_1_thread"] = again["torch"]
        row["ratio_1_thread"] = again["ratio"]


def tiny_call(entry, kind: str, mode: str, syncs: dict, args) -> dict:
    """The row's call at ``QUICK_SIZE``: {"ours": summary, "torch": summary} (20 interleaved repeats)."""
    call = MAKERS[entry.name](QUICK_SIZE, np.random.default_rng(0))[kind]
    fns = {impl: build(entry, call, Lib(impl), args.device)[mode] for impl in ("ours", "torch")}
    timings = common.interleaved(fns, 20, 2, syncs, block=10, settle=0.02, rewarm=True)
    return {impl: t.summary() for impl, t in timings.items()}


def dispatch_floor(impls, syncs, args, quick) -> list[dict]:
    """The cost of an op that does almost nothing: -x on one element, forward and forward+backward. It is the
    per-op price of Python dispatch and graph recording, which the baby-size rows of cheap ops cannot beat."""
    rows = []
    fns = {}
    for impl in impls:
        lib = Lib(impl)
        x = lib.module.from_numpy(np.ones(1, np.float32)).to(args.device).requires_grad_(True)
        g = lib.module.from_numpy(np.ones(1, np.float32)).to(args.device)

        def fwd(x=x):
            return -x

        def fwd_bwd(x=x, g=g, lib=lib):
            (-x).backward(g)
            x.grad = None

        fns[impl] = {"forward": fwd, "forward+backward": fwd_bwd}
    for mode in ("forward", "forward+backward"):
        row = measure_row({impl: fns[impl][mode] for impl in impls}, syncs, args, quick)
        rows.append({"entry": "(dispatch floor: -x on 1 element)", "kind": "1 element", "size": "any",
                     "shape": "(1,)", "mode": mode, **row})  # fmt: skip
    return rows


def measure(registry, sizes, impls, args, quick: bool, log=print) -> list[dict]:
    syncs = {impl: common.synchronizer(impl, args.device) for impl in impls}
    libs = {impl: Lib(impl) for impl in impls}
    rows = dispatch_floor(impls, syncs, args, quick)
    floor = rows[0] if "torch" in rows[0] else None  # forward: one op's dispatch, ours and PyTorch's
    for r in rows:
        log(f"  {r['entry']} {r['mode']}: ours {r['ours']['median_ms'] * 1e3:.1f} µs" + _theirs(r, 1e3, "µs"))
    for size in sizes:
        log(f"size {size.label}:")
        for entry in registry:
            maker = MAKERS.get(entry.name)
            if maker is None:
                rows.append(_untimed(entry.name, "—", size, "no input maker in benchmarks/op_table.py MAKERS"))
                continue
            rng = np.random.default_rng(0)
            for kind, call in maker(size, rng).items():
                base = {"entry": entry.name, "kind": kind, "size": size.name, "shape": call.shape()}
                try:
                    per_impl = {impl: build(entry, call, libs[impl], args.device) for impl in impls}
                except Exception as e:  # one op that fails must not stop the table: the row says why
                    rows.append({**base, "mode": "—", "not_timed": f"{type(e).__name__}: {e}"})
                    log(f"  {entry.name:>28} {kind:>24}: not timed ({type(e).__name__}: {e})")
                    continue
                for mode in ("forward", "forward+backward"):
                    if mode not in per_impl["ours"]:
                        continue
                    fns = {impl: per_impl[impl][mode] for impl in impls if mode in per_impl[impl]}
                    row = {**base, "mode": mode, **measure_row(fns, syncs, args, quick)}
                    if floor and not quick and (row["ratio"] or 0) > SLOW:
                        explain(row, fns, syncs, args, floor, entry)
                    rows.append(row)
                    log(f"  {entry.name:>28} {kind:>24} {mode:>16}: ours {row['ours']['median_ms']:.3f} ms"
                        + _theirs(row))  # fmt: skip
    return rows


def _theirs(row, scale=1.0, unit="ms") -> str:
    if "torch" not in row:
        return ""
    return f", torch {row['torch']['median_ms'] * scale:.3f} {unit}, ratio {row['ratio']:.2f}"


def _untimed(name, kind, size, why) -> dict:
    return {"entry": name, "kind": kind, "size": size.name, "shape": "—", "mode": "—", "not_timed": why}


def why(row) -> str:
    """The explanation of a row slower than SLOW × PyTorch's time ("unexplained" when WHY has none)."""
    if row.get("not_timed"):
        return f"not timed: {row['not_timed']}"
    r = row.get("ratio")
    if r is None or r <= SLOW:
        return ""
    entry, kind, mode = row["entry"], row["kind"], row["mode"]
    written = WHY.get(f"{entry} [{kind}]") or WHY.get(f"{entry} ({mode})") or WHY.get(entry)
    if written:
        return written
    ops = row.get("ops")
    if ops:  # Python per op: the excess is within the floor's gap times the ops this call runs
        n = ops["forward"] + ops["backward"]
        excess_us = 1e3 * (row["ours"]["median_ms"] - row["torch"]["median_ms"])
        bound_us = 1e3 * n * row["floor_gap_ms"]
        if excess_us <= DISPATCH_MARGIN * bound_us:
            return (
                f"Python per op: {excess_us:.0f} µs over PyTorch ≈ {n} engine ops ({ops['forward']} forward, "
                f"{ops['backward']} backward) × the dispatch floor's {1e3 * row['floor_gap_ms']:.0f} µs gap per op"
            )
    tiny = row.get("tiny")
    if ops and tiny:  # a cost per call, whatever the size: the same call on (2, 8, 16) inputs costs as much more
        fixed_us = 1e3 * (tiny["ours"]["median_ms"] - tiny["torch"]["median_ms"])
        excess_us = 1e3 * (row["ours"]["median_ms"] - row["torch"]["median_ms"])
        if 0 < excess_us <= DISPATCH_MARGIN * fixed_us:
            return (
                f"a cost per call, not per element: {excess_us:.0f} µs over PyTorch here, and the same call on "
                f"(2, 8, 16) inputs costs {fixed_us:.0f} µs more than PyTorch's ({ops['forward']} engine ops forward, "
                f"{ops['backward']} backward, with their Python around them)"
            )
    if row.get("ratio_1_thread") is not None and row["ratio_1_thread"] <= SLOW:
        return (
            f"PyTorch's threads: {row['ratio_1_thread']:.2f}x PyTorch on 1 thread (NumPy's elementwise ops and "
            "reductions run on one thread)"
        )
    return "unexplained"


# -- output ------------------------------------------------------------------------------------------------------


def markdown(rows: list[dict], torch_ok: bool, device: str, sizes) -> str:
    headers = ["op", "kind", "size", "inputs", "mode", "ours ms", "ours min–max", "torch ms", "torch min–max",
               "ratio", "why (ratio > 1.5)"]  # fmt: skip
    table = []
    for r in rows:
        o, t = r.get("ours"), r.get("torch")
        table.append([
            f"`{r['entry']}`", r["kind"], r["size"], r["shape"], r["mode"],
            o["median_ms"] if o else None, f"{o['min_ms']:.3g}–{o['max_ms']:.3g}" if o else None,
            t["median_ms"] if t else None, f"{t['min_ms']:.3g}–{t['max_ms']:.3g}" if t else None,
            r.get("ratio"), why(r),
        ])  # fmt: skip
    slow = [r for r in rows if (r.get("ratio") or 0) > SLOW]
    entries = {r["entry"] for r in rows} - {rows[0]["entry"]} if rows else set()
    sizes_text = ", ".join(f"{s.name} (B, T, C) = ({s.B}, {s.T}, {s.C})" for s in sizes)
    summary = (
        f"{len(entries)} registry entries, {len(rows)} rows; sizes {sizes_text}. "
        f"{len(slow)} rows above {SLOW}x PyTorch, {sum(why(r) == 'unexplained' for r in slow)} of them unexplained."
    )
    return (
        f"## Every registry op beside PyTorch ({device}, float32)\n\n{summary}\n\n"
        + common.markdown_table(headers, table)
        + "\n\nMedian of interleaved repeats after warm-up (ours and PyTorch's alternate in one process); ratio = ours"
        " / PyTorch (> 1: we are slower). `forward` records the graph (inputs require grad, as in training);"
        " `forward+backward` adds `backward` with a fixed random upstream gradient. Kinds: `transposed` feeds a"
        " strided view (ᵀ in the inputs), `broadcast` a (C,) row as the second operand, `0-d` a 0-d tensor, `scalar`"
        " a Python number. Inputs are drawn as activations are (normal, negative values included) except where the"
        " op has a domain (log, sqrt: [0.2, 3]; divisors: |x| ≥ 0.3).\n"
        + ("" if torch_ok else "\nPyTorch is not available on this device: no PyTorch columns.\n")
    )


def plot_fn(rows: list[dict], sizes):
    def plot(plt, path):
        timed = [r for r in rows if r.get("ratio") is not None and r["size"] != "any"]
        worst = {}  # (entry, size) -> the largest ratio over its kinds and modes
        for r in timed:
            key = (r["entry"], r["size"])
            worst[key] = max(worst.get(key, 0.0), r["ratio"])
        entries = sorted({e for e, _ in worst}, key=lambda e: -max(v for (n, _), v in worst.items() if n == e))
        fig, ax = plt.subplots(figsize=(10, 0.16 * len(entries) + 1.5))
        for j, s in enumerate(sizes):
            ys = [i + (j - 1) * 0.25 for i, e in enumerate(entries) if (e, s.name) in worst]
            xs = [worst[(e, s.name)] for e in entries if (e, s.name) in worst]
            ax.scatter(xs, ys, s=8, label=s.label)
        ax.axvline(1.0, color="k", lw=0.8)
        ax.axvline(SLOW, color="tab:red", lw=0.8, ls="--", label=f"{SLOW}x")
        ax.set_xscale("log")
        ax.set_yticks(range(len(entries)), entries, fontsize=5)
        ax.invert_yaxis()
        ax.set_xlabel("time ours / PyTorch, the worst kind and mode per op (log; < 1: faster)")
        ax.set_title("every registry op beside PyTorch")
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    return plot


def write(out: Path, name: str, payload: dict) -> None:
    """The table's three files from its payload (the rows and the sizes they were taken at)."""
    sizes = [Size(**s) for s in payload["settings"]["sizes"]]
    torch_ok = any("torch" in r for r in payload["rows"])
    md = markdown(payload["rows"], torch_ok, payload["machine"]["device"], sizes)
    for merged in payload["settings"].get("merged", []):  # rows retimed by a later, filtered run
        md += f"\nRows of {', '.join(merged['entries'])} retimed by `{merged['command']}` ({merged['date']}).\n"
    common.write_results(out, name, payload, md, plot_fn(payload["rows"], sizes))


def render(path: Path) -> None:
    """Rewrite ``op_table.md`` and ``.png`` from ``op_table.json`` with the current ``WHY`` (no timing):
    ``python -m benchmarks.op_table [benchmarks/results/op_table.json]``."""
    payload = json.loads(path.read_text())
    write(path.parent, path.stem, payload)


def run(args, torch) -> int:
    torch_ok = common.torch_on(torch, args.device)
    impls = ["ours", "torch"] if torch_ok else ["ours"]
    patterns = [p.strip() for p in (args.ops or "").split(",") if p.strip()]
    entries = selected(load_registry(), patterns)
    if not entries:
        raise SystemExit(f"--ops {args.ops!r} matches no registry entry")
    sizes = (QUICK_SIZE,) if args.quick else SIZES
    rows = measure(entries, sizes, impls, args, args.quick)
    # the committed table is the full run; a quick or filtered run writes beside it, never over it
    name = "op_table" + ("_quick" if args.quick else "") + ("_subset" if patterns else "")
    name += "" if args.device == "cpu" else f"-{args.device}"
    settings = {
        "sizes": [s.__dict__ for s in sizes],
        "ops": patterns or "all",
        "repeats": args.repeats or "auto (3-15, ~0.15 s)",
        "warmup": args.warmup if args.warmup is not None else (0 if args.quick else 1),
        "settle_s": 0.0 if args.quick else 0.02,
        "quick": args.quick,
        "dtype": "float32",
        "slow_ratio": SLOW,
        "kinds": {e.name: list(MAKERS[e.name](sizes[0], np.random.default_rng(0))) for e in entries
                  if e.name in MAKERS},
    }  # fmt: skip
    write(Path(args.out), name, common.payload("op_table", args, settings, rows=rows))
    slow = [r for r in rows if why(r) == "unexplained"]
    print(f"  {len(slow)} rows above {SLOW}x PyTorch without an explanation" + (":" if slow else ""))
    for r in sorted(slow, key=lambda r: -r["ratio"])[:40]:
        print(f"    {r['ratio']:6.2f}  {r['entry']} [{r['kind']}] {r['size']} {r['mode']}")
    return 0


if __name__ == "__main__":
    render(Path(sys.argv[1]) if len(sys.argv) > 1 else common.DEFAULT_OUT / "op_table.json")
