"""One registry of the engine's public ops, in the spirit of PyTorch's OpInfo: every test of "all the ops" draws
from ``REGISTRY``, so that adding one entry tests a new op everywhere.

An entry (``OpInfo``) says

* how to call the op: ``fn(m, *inputs, *args, **kwargs)``, where ``m`` is the library (tinygrad_edu, or PyTorch
  for the oracle; ``m.F`` is its ``nn.functional``), ``inputs`` the differentiable tensors and ``args``/``kwargs``
  the rest (dims, masks, indices, targets); the same call runs on both libraries;
* which inputs to try: ``samples``, a hypothesis strategy of ``Sample`` whose shapes include broadcast pairs,
  0-d tensors and size-1 dims, and whose inputs come in every layout of ``INPUT_LAYOUTS`` (transposed and
  strided leaves, permuted and sliced views inside the graph), drawn with the public strategies of
  ``tinygrad_edu.testing.strategies`` (through ``strategies.py``), so a user's ``check_op`` draws as the suite does;
* its domain: the values the strategy draws keep away from singularities (log, sqrt of x <= 0, division by ~0)
  and from kinks and ties (relu, abs, clamp, max), where finite differences mean nothing;
* what is known about it: differentiable or not, ``second_derivative_zero_almost_everywhere``, a composition
  of primitives that a fused op must equal, a NumPy reference, dtype behaviour, its PyTorch counterpart (or why
  there is none), and the public names it exercises (``covers``, ``aliases``) for the completeness test.

The tests that use it: ``test_gradcheck_ops`` (finite differences), ``test_gradgrad_ops`` (second derivatives),
``test_torch_oracle`` (values and gradients against PyTorch), ``test_invariants`` (shapes, dtypes, no mutation,
no aliasing), ``test_fast_paths`` (fused ops against their composition, float32 against float64),
``test_forward_numpy`` (values against NumPy) and ``test_op_registry`` (completeness, aliases).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import assume
from hypothesis import strategies as st
from scipy import special
from strategies import (
    LAYOUTS,
    TIE_FREE_LAYOUTS,
    apply_view,
    arrays,
    away_from_zero,
    basic_and_advanced_index,
    broadcast_pairs,
    broadcast_values,
    dim_of,
    distinct_arrays,
    eighths,
    floats,
    grid,
    leaf,
    positive,
    reduction_dims,
    shapes,
    source_and_target,
    view_source,
    with_layout,
)

import tinygrad_edu
from tinygrad_edu.nn import functional as tF

# contiguous / transposed / strided: the leaf's own memory layout; permuted / sliced: a view taken in the graph
INPUT_LAYOUTS = (*LAYOUTS, "permuted", "sliced")
# for inputs whose values must stay distinct (max, sort, layer norm's variance): no repeated values
TIE_FREE_INPUT_LAYOUTS = (*TIE_FREE_LAYOUTS, "permuted", "sliced")


# ---------------------------------------------------------------------------------------------------------
# the two libraries, as entries see them


class Library:
    """A tensor library: its module's names (``m.tanh``, ``m.cat`` ...) and ``m.F``, its nn.functional."""

    def __init__(self, module, functional):
        self.module, self.F = module, functional
        self.is_torch = module.__name__ == "torch"

    def __getattr__(self, name):
        return getattr(self.module, name)

    def __repr__(self) -> str:
        return self.module.__name__

    def leaf(self, array: np.ndarray, layout: str, device: str, requires_grad: bool):
        """A leaf with ``array``'s values and dtype, in memory layout ``layout`` (one of ``LAYOUTS``)."""
        if self.is_torch and layout == "broadcast" and array.ndim:  # a stride-0 leaf, as expand() makes one
            column = self.module.from_numpy(np.ascontiguousarray(array[..., :1]))
            return column.expand(*array.shape).requires_grad_(requires_grad)
        if self.is_torch:
            return self.module.from_numpy(with_layout(array, layout)).requires_grad_(requires_grad)
        return leaf(array, device, layout, requires_grad)

    def constant(self, value, device: str, dtype):
        """Arguments as the op takes them: NumPy arrays become tensors (float64 ones in the dtype under test),
        inside tuples and lists too; everything else is passed as it is."""
        if isinstance(value, np.ndarray):
            array = value.astype(dtype) if value.dtype == np.float64 else value
            return self.module.tensor(array) if self.is_torch else self.module.tensor(array, device=device)
        if isinstance(value, (tuple, list)):
            return type(value)(self.constant(v, device, dtype) for v in value)
        return value


TG = Library(tinygrad_edu, tF)


def torch_library(torch) -> Library:
    """PyTorch as a ``Library`` (pass the module the ``torch`` fixture gives)."""
    return Library(torch, torch.nn.functional)


# ---------------------------------------------------------------------------------------------------------
# entries


@dataclass(frozen=True)
class Sample:
    """One call of an op: the differentiable ``inputs`` (float64 arrays), then ``args`` and ``kwargs``."""

    inputs: tuple
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    layouts: tuple = ()  # one of INPUT_LAYOUTS per input; missing ones are contiguous

    def __post_init__(self):
        # a broadcast leaf holds one column, so its values repeat along the last dim: the sample says so too
        inputs = tuple(broadcast_values(x) if self.layout(i) == "broadcast" else x for i, x in enumerate(self.inputs))
        object.__setattr__(self, "inputs", inputs)

    def layout(self, i: int) -> str:
        return self.layouts[i] if i < len(self.layouts) else "contiguous"


@dataclass(frozen=True)
class OpInfo:
    name: str  # unique: the op, then ".variant" where one op has several entries
    fn: Callable  # fn(m, *inputs, *args, **kwargs) for m in (TG, torch_library(torch))
    samples: st.SearchStrategy  # of Sample, within the op's domain
    covers: tuple = ()  # the public names fn itself calls: "Tensor.tanh", "Tensor.__add__", "torch.cat", "F.gelu"
    # other public spellings of the same op: name -> fn of the same signature, or None for the obvious one
    # ("torch.x" -> m.x(*inputs, ...), "F.x" -> m.F.x(...), "Tensor.x" -> inputs[0].x(...))
    aliases: dict = field(default_factory=dict)
    differentiable: bool = True
    # piecewise linear (or linear): the second derivative is zero wherever it exists
    second_derivative_zero_almost_everywhere: bool = False
    no_torch: str | None = None  # why fn has no PyTorch counterpart (None: it runs on PyTorch unchanged)
    composition: Callable | None = None  # a fused op's plain composition from primitive ops, fn's signature
    composition_scales: tuple = (1.0,)  # input scales at which the fused op must still equal the composition
    numpy_ref: Callable | None = None  # the forward value on NumPy float64 arrays, written independently
    dtypes: tuple = ("float32", "float64")  # input dtypes it is tested at
    keeps_dtype: bool = True  # float32 in, float32 out (False: a cast)
    eps: float = 1e-6  # finite-difference step; casts use 1/4 on values that float16 holds exactly
    # samples where PyTorch's own second derivative is known to be wrong (the oracle cannot judge there)
    torch_second_derivative_wrong: Callable | None = None
    # an engine bug this entry shows (and that its samples always hit): the generic tests skip the entry, and
    # test_op_registry's strict xfail checks it against its references, so it XPASSes once the bug is fixed
    known_bug: str | None = None
    skips: dict = field(default_factory=dict)  # test kind -> why that test does not apply to this op
    torch_rtol: float = 1e-10
    float32_rtol: float = 1e-4  # float32 against float64: values and gradients
    float32_atol: float = 1e-5

    def __repr__(self) -> str:
        return f"OpInfo({self.name})"

    @property
    def public_names(self) -> tuple:
        return (*self.covers, *self.aliases)

    def alias_fns(self) -> dict:
        return {name: fn if fn is not None else _alias(name) for name, fn in self.aliases.items()}


def _alias(public_name: str) -> Callable:
    space, name = public_name.split(".", 1)
    if space == "torch":
        return lambda m, *xs, **kw: getattr(m, name)(*xs, **kw)
    if space == "F":
        return lambda m, *xs, **kw: getattr(m.F, name)(*xs, **kw)
    return lambda m, x, *rest, **kw: getattr(x, name)(*rest, **kw)


def method(name: str) -> Callable:
    """``inputs[0].name(*other inputs, *args, **kwargs)``"""
    return _alias(f"Tensor.{name}")


def function(name: str) -> Callable:
    return _alias(f"torch.{name}")


def functional(name: str) -> Callable:
    return _alias(f"F.{name}")


# ---------------------------------------------------------------------------------------------------------
# sample strategies (domains)

layouts = st.sampled_from(INPUT_LAYOUTS)


def _layouts(draw, n: int, allowed=INPUT_LAYOUTS) -> tuple:
    return tuple(draw(st.sampled_from(allowed)) for _ in range(n))


@st.composite
def elementwise(draw, *elements, args=(), kwargs=None, min_dims=0):
    """One input of any small shape, or several of mutually broadcastable shapes; elements from ``elements``."""
    if len(elements) == 1:
        input_shapes = [draw(shapes(min_dims=min_dims))]
    else:
        input_shapes = draw(broadcast_pairs(num_shapes=len(elements), min_dims=min_dims)).input_shapes
    inputs = tuple(draw(arrays(s, e)) for s, e in zip(input_shapes, elements))
    return Sample(inputs, tuple(args), dict(kwargs or {}), _layouts(draw, len(inputs)))


@st.composite
def same_shape(draw, *elements, kwargs=None):
    shape = draw(shapes())
    inputs = tuple(draw(arrays(shape, e)) for e in elements)
    return Sample(inputs, (), {k: draw(v) for k, v in (kwargs or {}).items()}, _layouts(draw, len(inputs)))


@st.composite
def scalar_exponent(draw):
    """x ** c: an integer exponent on any x, a fractional or negative one on x > 0."""
    exponent = draw(st.sampled_from([2, 3, 2.5, 0.5, -1.5]))
    elements = floats() if isinstance(exponent, int) else positive()
    x = draw(arrays(draw(shapes()), elements))
    return Sample((x,), (exponent,), {}, _layouts(draw, 1))


@st.composite
def clamp_bounds(draw):
    """Values on a 0.1 grid, bounds halfway between grid points: no value sits on a kink."""
    lo, hi = draw(st.sampled_from([(-0.55, 0.85), (0.25, None), (None, -0.25), (-1.05, -1.05)]))
    x = draw(arrays(draw(shapes()), grid(0.1)))
    return Sample((x,), (), {"min": lo, "max": hi}, _layouts(draw, 1))


@st.composite
def reduction(draw, elements=None, distinct=False, dims=True, keepdim=True, tuple_dims=True, min_dims=0):
    shape = draw(shapes(min_dims=min_dims))
    x = draw(distinct_arrays(shape) if distinct else arrays(shape, elements))
    kwargs = {}
    if dims:  # dim=None is passed as such: PyTorch takes keepdim only beside a dim
        kwargs["dim"] = draw(reduction_dims(len(shape), allow_tuple=tuple_dims))
    if keepdim:
        kwargs["keepdim"] = draw(st.booleans())
    return Sample((x,), (), kwargs, _layouts(draw, 1, TIE_FREE_INPUT_LAYOUTS if distinct else INPUT_LAYOUTS))


def _reduced_count(shape, dim) -> int:
    if dim is None:
        return math.prod(shape)
    axes = (dim,) if isinstance(dim, int) else dim
    return math.prod(shape[a] for a in axes) if shape else 1


@st.composite
def variance(draw, distinct=False):
    """var/std over None, a dim or dims; Bessel's correction only where more than one element is reduced
    (std also needs distinct values: the square root of a variance near 0 is a kink)."""
    sample = draw(reduction(distinct=distinct))
    count = _reduced_count(sample.inputs[0].shape, sample.kwargs.get("dim"))
    assume(count > 1 or not distinct)
    correction = draw(st.sampled_from([("unbiased", False), ("correction", 0)] + [("unbiased", True)] * (count > 1)))
    return Sample(sample.inputs, (), {**sample.kwargs, correction[0]: correction[1]}, sample.layouts)


@st.composite
def along_dim(draw, min_dims=0, keepdim=True, distinct=True, elements=None):
    """One dim of a tensor (0-d tensors accept 0 and -1)."""
    shape = draw(shapes(min_dims=min_dims))
    x = draw(distinct_arrays(shape) if distinct else arrays(shape, elements))
    kwargs = {"dim": draw(dim_of(len(shape)))}
    if keepdim:
        kwargs["keepdim"] = draw(st.booleans())
    return Sample((x,), (), kwargs, _layouts(draw, 1, TIE_FREE_INPUT_LAYOUTS if distinct else INPUT_LAYOUTS))


@st.composite
def topk_sample(draw):
    shape = draw(shapes(min_dims=1))
    dim = draw(dim_of(len(shape)))
    k = draw(st.integers(0, shape[dim]))
    kwargs = {"dim": dim, "largest": draw(st.booleans())}
    return Sample((draw(distinct_arrays(shape)),), (k,), kwargs, _layouts(draw, 1, TIE_FREE_INPUT_LAYOUTS))


# (a, b) shapes for every rank combination of matmul, from sizes m, k, n and a batch b
MATMUL_RANKS = (
    lambda m, k, n, b: ((k,), (k,)),
    lambda m, k, n, b: ((m, k), (k, n)),
    lambda m, k, n, b: ((k,), (k, n)),
    lambda m, k, n, b: ((m, k), (k,)),
    lambda m, k, n, b: ((b, m, k), (k, n)),
    lambda m, k, n, b: ((m, k), (b, k, n)),
    lambda m, k, n, b: ((k,), (b, k, n)),
    lambda m, k, n, b: ((b, m, k), (k,)),
    lambda m, k, n, b: ((b, m, k), (b, k, n)),
    lambda m, k, n, b: ((2, 1, m, k), (b, k, n)),
    lambda m, k, n, b: ((b, 1, m, k), (1, 2, k, n)),
)


@st.composite
def matmul_sample(draw, ranks=MATMUL_RANKS):
    rank = draw(st.sampled_from(ranks))
    shape_a, shape_b = rank(*(draw(st.integers(1, 3)) for _ in range(4)))
    return Sample((draw(arrays(shape_a)), draw(arrays(shape_b))), (), {}, _layouts(draw, 2))


@st.composite
def new_shape(draw):
    """A shape and another with as many elements (with one -1 to infer, sometimes)."""
    shape = draw(shapes())
    size = math.prod(shape)
    target = list(draw(shapes(max_elements=size).filter(lambda s: math.prod(s) == size))) if size < 13 else [size]
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return shape, tuple(target)


@st.composite
def reshape_sample(draw, layouts_allowed=INPUT_LAYOUTS, as_tensor=False):
    shape, target = draw(new_shape())
    x = draw(arrays(shape))
    if as_tensor:  # reshape_as / view_as take the target's shape from a tensor
        size = math.prod(shape)
        target = tuple(size // -math.prod(target) if n == -1 else n for n in target)
        return Sample((x,), (np.zeros(target),), {}, _layouts(draw, 1, layouts_allowed))
    return Sample((x,), (target,), {}, _layouts(draw, 1, layouts_allowed))


@st.composite
def one_tensor(draw, min_dims=0, max_dims=4, elements=None, params=None):
    """One input; ``params(draw, shape)`` gives (args, kwargs)."""
    shape = draw(shapes(min_dims=min_dims, max_dims=max_dims))
    x = draw(arrays(shape, elements))
    args, kwargs = params(draw, shape) if params else ((), {})
    return Sample((x,), tuple(args), kwargs, _layouts(draw, 1))


def _permutation(draw, shape):
    return (tuple(draw(st.permutations(range(len(shape))))),), {}


def _two_dims(draw, shape):
    return (draw(dim_of(len(shape))), draw(dim_of(len(shape)))), {}


def _new_axis(draw, shape):
    return (draw(dim_of(len(shape) + 1)),), {}


def _squeeze_dims(draw, shape):
    dim = draw(reduction_dims(len(shape)))
    return (), ({} if dim is None else {"dim": dim})


def _flatten_range(draw, shape):
    ndim = max(len(shape), 1)
    start = draw(dim_of(len(shape)))
    end = draw(st.integers(start % ndim, ndim - 1))
    return (start, end - ndim * draw(st.booleans())), {}


def _split_size(draw, shape):
    dim = draw(dim_of(len(shape)))
    length = shape[dim]
    if draw(st.booleans()):
        return (draw(st.integers(1, length)),), {"dim": dim}
    cuts = sorted(draw(st.lists(st.integers(0, length), max_size=3)))
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, length])]
    return (sizes,), {"dim": dim}


def _one_dim(draw, shape):
    return (), {"dim": draw(dim_of(len(shape)))}


def _chunks(draw, shape):
    dim = draw(dim_of(len(shape)))
    return (draw(st.integers(1, shape[dim] + 1)),), {"dim": dim}


def _diagonal(draw, shape):
    return (), {"diagonal": draw(st.integers(-2, 2))}


@st.composite
def expand_sample(draw, as_tensor=False):
    """A source broadcastable to the target; existing dims are sometimes written -1 ("keep this size")."""
    source, target = draw(source_and_target())
    x = draw(arrays(source))
    if as_tensor:
        return Sample((x,), (np.zeros(target),), {}, _layouts(draw, 1))
    extra = len(target) - len(source)
    sizes = [-1 if i >= extra and draw(st.booleans()) else n for i, n in enumerate(target)]
    return Sample((x,), (tuple(sizes),), {}, _layouts(draw, 1))


@st.composite
def index_sample(draw):
    """ints, slices with steps, None, Ellipsis, integer arrays with repeated positions; never empty."""
    shape = draw(shapes(min_dims=1))
    index = draw(basic_and_advanced_index(shape).filter(lambda i: np.zeros(shape)[i].size > 0))
    return Sample((draw(arrays(shape)),), (index,), {}, _layouts(draw, 1))


@st.composite
def repeated_index_sample(draw):
    """An integer tensor that selects rows several times: their gradients add up."""
    shape = draw(shapes(min_dims=1, max_dims=3))
    index_shape = draw(shapes(min_dims=1, max_dims=2, max_side=4))
    index = draw(arrays(index_shape, st.integers(-shape[0], shape[0] - 1), dtype=np.int64))
    return Sample((draw(arrays(shape)),), (index,), {}, _layouts(draw, 1))


@st.composite
def bool_mask_sample(draw):
    """x[mask] with a mask over the leading dims (at least one True)."""
    shape = draw(shapes(min_dims=1))
    k = draw(st.integers(1, len(shape)))
    mask = draw(arrays(shape[:k], st.booleans(), dtype=np.bool_).filter(lambda m: m.any()))
    return Sample((draw(arrays(shape)),), (mask,), {}, _layouts(draw, 1))


@st.composite
def masked_fill_sample(draw):
    mask_shape, shape = draw(source_and_target())
    mask = draw(arrays(mask_shape, st.booleans(), dtype=np.bool_))
    value = draw(st.sampled_from([0.0, -1.5, 1000.0]))
    return Sample((draw(arrays(shape)),), (mask, value), {}, _layouts(draw, 1))


@st.composite
def where_sample(draw, scalar_other=False):
    if scalar_other:
        cond_shape, shape_a = draw(broadcast_pairs()).input_shapes
        inputs = (draw(arrays(shape_a)),)
    else:
        cond_shape, shape_a, shape_b = draw(broadcast_pairs(num_shapes=3)).input_shapes
        inputs = (draw(arrays(shape_a)), draw(arrays(shape_b)))
    cond = draw(arrays(cond_shape, st.booleans(), dtype=np.bool_))
    return Sample(inputs, (cond,), {}, _layouts(draw, len(inputs)))


@st.composite
def cat_sample(draw):
    shape = draw(shapes(min_dims=1, max_dims=3))
    dim = draw(dim_of(len(shape)))
    axis = dim % len(shape)
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    inputs = tuple(draw(arrays((*shape[:axis], n, *shape[axis + 1 :]))) for n in sizes)
    return Sample(inputs, (), {"dim": dim}, _layouts(draw, len(inputs)))


@st.composite
def stack_sample(draw):
    shape = draw(shapes(max_dims=3))
    inputs = tuple(draw(arrays(shape)) for _ in range(draw(st.integers(1, 3))))
    dim = draw(st.integers(-len(shape) - 1, len(shape)))
    return Sample(inputs, (), {"dim": dim}, _layouts(draw, len(inputs)))


@st.composite
def exact_in_float16(draw):
    """Values float16 holds exactly, so a cast there and back loses nothing and x ± eps stays exact."""
    return Sample((draw(arrays(draw(shapes()), eighths())),), (), {}, _layouts(draw, 1))


@st.composite
def lerp_sample(draw, tensor_weight=False):
    if tensor_weight:
        return draw(elementwise(floats(), floats(), floats(0, 1)))
    sample = draw(elementwise(floats(), floats()))
    return Sample(sample.inputs, (draw(st.sampled_from([0.0, 0.3, 0.5, 0.8, 1.0])),), {}, sample.layouts)


@st.composite
def linear_sample(draw, bias=True):
    batch = draw(shapes(max_dims=2, max_side=3))
    fan_in, fan_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    inputs = [draw(arrays((*batch, fan_in))), draw(arrays((fan_out, fan_in)))]
    if bias:
        inputs.append(draw(arrays((fan_out,))))
    return Sample(tuple(inputs), (), {}, _layouts(draw, len(inputs)))


@st.composite
def embedding_sample(draw):
    vocab, dim = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    idx = draw(arrays(draw(shapes(max_dims=2, max_side=4)), st.integers(0, vocab - 1), dtype=np.int64))
    return Sample((draw(arrays((vocab, dim))),), (idx,), {}, _layouts(draw, 1))


@st.composite
def layer_norm_sample(draw, affine=True):
    """Distinct values: the variance is never near 0. The normalized shape is the last k dims."""
    shape = draw(shapes(min_dims=1))
    normalized = shape[len(shape) - draw(st.integers(1, len(shape))) :]
    inputs = [draw(distinct_arrays(shape))]
    if affine:
        inputs += [draw(arrays(normalized)), draw(arrays(normalized))]
    layouts = _layouts(draw, 1, TIE_FREE_INPUT_LAYOUTS) + _layouts(draw, len(inputs) - 1)
    return Sample(tuple(inputs), (normalized,), {}, layouts)


# Over two numbers, layer norm's output is about ±1 whatever they are, and its gradient (what eps leaves of it)
# is a difference of terms far larger than itself: the reference's float32 gradient of [1.8, 1.9] (upstream
# gradient of seed 443) is 3.5e-5 off float64's ±0.0125, beyond the default atol of 1e-5.
LAYER_NORM_FLOAT32_ATOL = 1e-4


@st.composite
def norm_sample(draw):
    """A p among PyTorch's common ones, over all elements or some dims; values away from 0 (where |x| kinks)."""
    sample = draw(reduction(elements=away_from_zero()))
    p = draw(st.sampled_from(["fro", 2, 1, 3, 0.5, math.inf, -math.inf]))
    kwargs = dict(sample.kwargs, p=p)
    if p == "fro" and isinstance(kwargs.get("dim"), tuple) and len(kwargs["dim"]) > 2:
        kwargs["p"] = 2  # 'fro' takes one or two dims (a matrix norm); 2 any number
    if p in (math.inf, -math.inf):  # a tie of largest |x| has no single derivative: distinct magnitudes
        assume(len(np.unique(np.abs(sample.inputs[0]))) == sample.inputs[0].size)
    return Sample(sample.inputs, (), kwargs, sample.layouts)


def _np_norm(x, p="fro", dim=None, keepdim=False):
    axes = None if dim is None else _np_axes(x, dim)
    a = np.abs(x)
    if p in ("fro", 2):
        return np.sqrt((a * a).sum(axis=axes, keepdims=keepdim))
    if p == math.inf:
        return a.max(axis=axes, keepdims=keepdim)
    if p == -math.inf:
        return a.min(axis=axes, keepdims=keepdim)
    return (a**p).sum(axis=axes, keepdims=keepdim) ** (1.0 / p)


@st.composite
def class_targets(draw, n: int, classes: int, ignore_index: int | None):
    """n targets in [0, classes), some equal to ``ignore_index`` but at least one kept."""
    choices = st.integers(0, classes - 1)
    if ignore_index is not None:
        choices = choices | st.just(ignore_index)
    targets = draw(st.lists(choices, min_size=n, max_size=n))
    kept = [c for c in range(classes) if c != ignore_index]
    targets[draw(st.integers(0, n - 1))] = draw(st.sampled_from(kept))
    return np.asarray(targets, dtype=np.int64)


reductions = st.sampled_from(["mean", "sum", "none"])


@st.composite
def cross_entropy_sample(draw):
    """(N, C) logits (or log-probabilities for nll_loss), targets with some rows ignored, each reduction."""
    n, classes = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    ignore_index = draw(st.sampled_from([-100, 2]))
    target = draw(class_targets(n, classes, ignore_index))
    kwargs = {"ignore_index": ignore_index, "reduction": draw(reductions)}
    return Sample((draw(arrays((n, classes), floats(-4, 4))),), (target,), kwargs, _layouts(draw, 1))


@st.composite
def spatial_cross_entropy_sample(draw):
    """(N, C, d...) logits with (N, d...) targets (some ignored), or a single (C,) row with a 0-d target."""
    classes = draw(st.integers(1, 4))
    if draw(st.booleans()):
        target = np.asarray(draw(st.integers(0, classes - 1)))
        return Sample((draw(arrays((classes,), floats(-4, 4))),), (target,), {}, _layouts(draw, 1))
    rest = draw(shapes(min_dims=1, max_dims=2, max_side=3))
    n = draw(st.integers(1, 3))
    ignore_index = draw(st.sampled_from([-100, 2]))
    target = draw(class_targets(n * math.prod(rest), classes, ignore_index)).reshape(n, *rest)
    kwargs = {"ignore_index": ignore_index, "reduction": draw(reductions)}
    return Sample((draw(arrays((n, classes, *rest), floats(-4, 4))),), (target,), kwargs, _layouts(draw, 1))


@st.composite
def batch_norm_sample(draw, training=True):
    """x (N, C) or (N, C, L) with distinct values (so no channel's variance is near 0), weight and bias (C,);
    in eval, running mean and variance (positive) as constant arguments."""
    channels = draw(st.integers(1, 3))
    n, length = draw(st.sampled_from([(2, 3), (3, 1), (1, 2), (2, 2)]))  # at least 2 values per channel
    shape = (max(n, 2), channels) if draw(st.booleans()) else (n, channels, length)
    inputs = (draw(distinct_arrays(shape)), draw(arrays((channels,))), draw(arrays((channels,))))
    args = () if training else (draw(arrays((channels,))), draw(arrays((channels,), positive())))
    layouts = _layouts(draw, 1, TIE_FREE_INPUT_LAYOUTS) + _layouts(draw, 2)
    return Sample(inputs, args, {}, layouts)


@st.composite
def conv_sample(draw, spatial: int, bias=True):
    """x (N, C, *L), weight (C_out, C / groups, *K) [, bias (C_out,)], with stride, padding (ints or 'same' /
    'valid'), dilation and groups, and lengths long enough for the padded input to hold one dilated kernel."""
    groups = draw(st.integers(1, 2))
    c_group, o_group = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    batch = draw(shapes(min_dims=1, max_dims=1, max_side=2))[0]  # the empty-tensor tests make it 0
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(spatial))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(spatial))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(spatial))
    padding = draw(st.sampled_from(["same", "valid", "ints"] if stride == (1,) * spatial else ["valid", "ints"]))
    if padding == "ints":
        padding = tuple(draw(st.integers(0, 1)) for _ in range(spatial))
    pads = padding if isinstance(padding, tuple) else (0,) * spatial
    lengths = []
    for k, d, p in zip(kernel, dilation, pads):
        shortest = max(1, d * (k - 1) + 1 - 2 * p)
        lengths.append(draw(st.integers(shortest, shortest + 3)))
    inputs = [
        draw(arrays((batch, groups * c_group, *lengths))),
        draw(arrays((groups * o_group, c_group, *kernel))),
    ]
    if bias:
        inputs.append(draw(arrays((groups * o_group,))))
    kwargs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    return Sample(tuple(inputs), (), kwargs, _layouts(draw, len(inputs)))


@st.composite
def attention_sample(draw, mask=False):
    """(*batch, T, D) queries, (*batch, S, D) keys and (*batch, S, Dv) values; causal or not, or with a mask
    (a bool one never masks a whole row)."""
    batch = draw(shapes(max_dims=2, max_side=2))
    t, s, d, dv = (draw(st.integers(1, 4)) for _ in range(4))
    inputs = (draw(arrays((*batch, t, d))), draw(arrays((*batch, s, d))), draw(arrays((*batch, s, dv))))
    kwargs = {"scale": draw(st.sampled_from([None, 0.7]))}
    if not mask:
        kwargs["is_causal"] = draw(st.booleans())
    elif draw(st.booleans()):
        allowed = draw(arrays((t, s), st.booleans(), dtype=np.bool_))
        allowed[np.arange(t), draw(st.lists(st.integers(0, s - 1), min_size=t, max_size=t))] = True
        kwargs["attn_mask"] = allowed
    else:
        kwargs["attn_mask"] = draw(arrays((t, s)))
    return Sample(inputs, (), kwargs, _layouts(draw, 3))


@st.composite
def one_hot_sample(draw):
    classes = draw(st.integers(1, 5))
    idx = draw(arrays(draw(shapes(max_dims=2, max_side=4)), st.integers(0, classes - 1), dtype=np.int64))
    return Sample((), (idx,), {"num_classes": draw(st.sampled_from([-1, classes, classes + 2]))})


def fixed(*calls) -> st.SearchStrategy:
    """A few given calls, each (input, *args): for an op whose inputs are 0-d by definition, and for the entries
    of known bugs, which must fail on every sample."""
    return st.sampled_from([Sample((x,), tuple(args)) for x, *args in calls])


@st.composite
def allclose_sample(draw):
    a = draw(arrays(draw(shapes())))
    delta = draw(st.sampled_from([0.0, 1e-9, 1e-3]))
    return Sample((a, a + delta), (), {}, _layouts(draw, 2))


# -- samples of the ops added for the series' code (flip ... pad): their dims, indices and paddings


def _flip_dims(draw, shape):
    ndim = max(len(shape), 1)
    dims = draw(st.lists(dim_of(len(shape)), min_size=1, max_size=ndim, unique_by=lambda d: d % ndim))
    return tuple(dims), {}


def _roll_args(draw, shape):
    if draw(st.booleans()):  # over the flattened tensor
        return (draw(st.integers(-5, 5)),), {}
    dims = draw(st.lists(dim_of(len(shape)), min_size=1, max_size=len(shape), unique_by=lambda d: d % len(shape)))
    shifts = tuple(draw(st.integers(-4, 4)) for _ in dims)
    return (shifts if len(dims) > 1 else shifts[0], tuple(dims) if len(dims) > 1 else dims[0]), {}


def _repeat_sizes(draw, shape):
    extra = draw(st.integers(0 if shape else 1, 1))  # PyTorch's repeat() takes at least one size
    return tuple(draw(st.integers(1, 3)) for _ in range(extra + len(shape))), {}


def _repeat_interleave_args(draw, shape):
    dim = draw(st.none() | dim_of(len(shape)))
    return (draw(st.integers(0, 3)),), {"dim": dim}


def _repeat_counts(draw, shape):
    dim = draw(dim_of(len(shape)))
    counts = draw(arrays((shape[dim],), st.integers(0, 3), dtype=np.int64))
    return (counts,), {"dim": dim}


def _np_repeat_interleave(x, repeats, dim=None):
    return np.repeat(x, repeats, axis=dim)


def _along_index(draw, shape, dim, unique=False):
    """An int64 index for gather/scatter along ``dim``: at most ``shape``'s size in the other dims, any size along
    dim; ``unique``: no position written twice (scatter's result is undefined there)."""
    axis = dim % len(shape)
    index_shape = tuple(draw(st.integers(1, n)) if d != axis else draw(st.integers(1, 3)) for d, n in enumerate(shape))
    if not unique:
        return draw(arrays(index_shape, st.integers(0, shape[axis] - 1), dtype=np.int64))
    index_shape = index_shape[:axis] + (min(index_shape[axis], shape[axis]),) + index_shape[axis + 1 :]
    keys = draw(distinct_arrays(index_shape[:axis] + (shape[axis],) + index_shape[axis + 1 :]))
    order = np.argsort(keys, axis=axis)  # a permutation of the positions per column: each written once
    return np.take(order, np.arange(index_shape[axis]), axis=axis).astype(np.int64)


def _np_grid(index, dim):
    grid = list(np.ix_(*(np.arange(n) for n in index.shape)))
    grid[dim % index.ndim] = index
    return tuple(grid)


@st.composite
def gather_sample(draw):
    shape = draw(shapes(min_dims=1, max_dims=3))
    dim = draw(dim_of(len(shape)))
    return Sample((draw(arrays(shape)),), (dim, _along_index(draw, shape, dim)), {}, _layouts(draw, 1))


@st.composite
def scatter_sample(draw, unique=False, with_src=True):
    shape = draw(shapes(min_dims=1, max_dims=3))
    dim = draw(dim_of(len(shape)))
    index = _along_index(draw, shape, dim, unique)
    if not with_src:
        return Sample((draw(arrays(shape)),), (dim, index), {}, _layouts(draw, 1))
    # src of index's shape: PyTorch's backward fails on a larger src (its gradient takes index's shape)
    return Sample((draw(arrays(shape)), draw(arrays(index.shape))), (dim, index), {}, _layouts(draw, 2))


def _np_scatter(x, src, dim, index, add):
    out = x.copy()
    block = src[tuple(slice(0, n) for n in index.shape)]
    if add:
        np.add.at(out, _np_grid(index, dim), block)
    else:
        out[_np_grid(index, dim)] = block
    return out


def _np_scatter_multiply(x, src, dim, index):
    out = x.copy()
    np.multiply.at(out, _np_grid(index, dim), src[tuple(slice(0, n) for n in index.shape)])
    return out


@st.composite
def index_select_sample(draw):
    shape = draw(shapes(min_dims=1, max_dims=3))
    dim = draw(dim_of(len(shape)))
    index = draw(arrays((draw(st.integers(1, 4)),), st.integers(0, shape[dim] - 1), dtype=np.int64))
    return Sample((draw(arrays(shape)),), (dim, index), {}, _layouts(draw, 1))


@st.composite
def take_along_dim_sample(draw):
    shape = draw(shapes(min_dims=1, max_dims=3))
    if draw(st.booleans()):  # over the flattened tensor
        size = math.prod(shape)
        index = draw(arrays(draw(shapes(min_dims=1, max_dims=2, max_side=3)), st.integers(0, size - 1), dtype=np.int64))
        # contiguous: PyTorch's take_along_dim(dim=None) views a transposed input and raises (ours copies)
        return Sample((draw(arrays(shape)),), (index,), {}, ("contiguous",))
    dim = draw(dim_of(len(shape)))
    axis = dim % len(shape)
    index_shape = tuple(draw(st.integers(1, 3)) if d == axis else draw(st.sampled_from([1, n])) for d, n in
                        enumerate(shape))  # fmt: skip
    index = draw(arrays(index_shape, st.integers(0, shape[axis] - 1), dtype=np.int64))
    return Sample((draw(arrays(shape)),), (index,), {"dim": dim}, _layouts(draw, 1))


def _np_take_along_dim(x, index, dim=None):
    if dim is None:
        return x.reshape(-1)[index.reshape(-1)]
    axis = dim % x.ndim
    others = [tuple(1 if d == axis else n for d, n in enumerate(s)) for s in (x.shape, index.shape)]
    outer = np.broadcast_shapes(*others)
    wide_x = np.broadcast_to(x, outer[:axis] + (x.shape[axis],) + outer[axis + 1 :])
    wide_i = np.broadcast_to(index, outer[:axis] + (index.shape[axis],) + outer[axis + 1 :])
    return np.take_along_axis(wide_x, wide_i, axis=axis)


@st.composite
def sort_sample(draw):
    shape = draw(shapes(min_dims=1))
    kwargs = {"dim": draw(dim_of(len(shape))), "descending": draw(st.booleans())}
    return Sample((draw(distinct_arrays(shape)),), (), kwargs, _layouts(draw, 1, TIE_FREE_INPUT_LAYOUTS))


def _np_sort(x, dim, descending):
    order = np.argsort(-x if descending else x, axis=dim, kind="stable")
    return np.take_along_axis(x, order, axis=dim), order


@st.composite
def scan_sample(draw, elements=None):
    shape = draw(shapes())
    return Sample((draw(arrays(shape, elements)),), (draw(dim_of(len(shape))),), {}, _layouts(draw, 1))


def _np_scan(fn, x, dim):
    return x.copy() if x.ndim == 0 else fn(x, axis=dim)


@st.composite
def logsumexp_sample(draw):
    shape = draw(shapes(min_dims=1))
    dim = draw(reduction_dims(len(shape)).filter(lambda d: d is not None))
    x = draw(arrays(shape, floats(-5, 5)))
    return Sample((x,), (dim,), {"keepdim": draw(st.booleans())}, _layouts(draw, 1))


def logsumexp_composed(m, x, dim, keepdim=False):
    return x.exp().sum(dim, keepdim=keepdim).log()


@st.composite
def pad_sample(draw, mode="constant"):
    """(left, right) for the last dim, then the one before, ...: negative amounts crop (constant mode only)."""
    if mode == "constant":
        shape = draw(shapes(min_dims=1, max_dims=4, max_side=3))
        pairs = draw(st.integers(1, len(shape)))
        low = -1
    else:  # PyTorch pads the last 1-3 dims of an input with one or two dims before them (batch, channels)
        shape = draw(shapes(min_dims=2, max_dims=4, max_side=3))
        pairs = min(draw(st.integers(len(shape) - 2, len(shape) - 1)), 3) or 1
        low = 0
    pad = []
    for i in range(pairs):
        n = shape[len(shape) - 1 - i]
        high = {"constant": 2, "reflect": n - 1, "replicate": 2, "circular": n}[mode]
        before = draw(st.integers(max(low, -(n - 1)), high))
        after = draw(st.integers(max(low, -(n - 1 + min(before, 0))), high))
        pad += [before, after]
    kwargs = {"mode": mode} if mode != "constant" else {"value": draw(st.sampled_from([None, -1.5]))}
    return Sample((draw(arrays(shape)),), (tuple(pad),), kwargs, _layouts(draw, 1))


def _np_pad(x, pad, mode="constant", value=None):
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if mode != "constant":
        return np.pad(x, widths, mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode])
    x = x[tuple(slice(max(-b, 0), x.shape[d] - max(-a, 0)) for d, (b, a) in enumerate(widths))]
    return np.pad(x, [(max(b, 0), max(a, 0)) for b, a in widths], constant_values=0 if value is None else value)


@st.composite
def bincount_sample(draw, weights=False):
    counts = draw(arrays((draw(st.integers(0, 6)),), st.integers(0, 5), dtype=np.int64))
    kwargs = {"minlength": draw(st.integers(0, 8))}
    if weights:
        return Sample((draw(arrays(counts.shape)),), (counts,), kwargs, _layouts(draw, 1))
    return Sample((), (counts,), kwargs)


# einsum's equations as the series writes them, and the harder forms: diagonals, implicit outputs, broadcast "..."
EINSUM_CASES = (
    ("ij,jk->ik", ((2, 3), (3, 4))), ("bij,bjk->bik", ((2, 2, 3), (2, 3, 2))), ("ii->i", ((3, 3),)),
    ("ii", ((3, 3),)), ("ij->", ((2, 3),)), ("i,j->ij", ((2,), (3,))), ("...ij,...jk", ((2, 1, 3, 4), (5, 4, 2))),
    ("bhqd,bhkd->bhqk", ((1, 2, 3, 4), (1, 2, 2, 4))), ("ijk->kj", ((2, 3, 4),)), ("i,i->", ((3,), (3,))),
    ("ij,ij->ij", ((1, 3), (2, 3))), ("iij->ji", ((2, 2, 3),)), ("ba,ac", ((2, 3), (3, 2))),
)  # fmt: skip


@st.composite
def einsum_sample(draw):
    equation, operand_shapes = draw(st.sampled_from(EINSUM_CASES))
    inputs = tuple(draw(arrays(s)) for s in operand_shapes)
    return Sample(inputs, (), {"equation": equation}, _layouts(draw, len(inputs)))


def _np_histc(x, bins, min, max):  # noqa: A002
    low, high = (min, max) if min != max or not x.size else (x.min(), x.max())
    low, high = (low - 1, high + 1) if low == high else (low, high)
    return np.histogram(x, bins=bins, range=(low, high))[0].astype(x.dtype)


# ---------------------------------------------------------------------------------------------------------
# compositions of fused ops, and NumPy references


def softmax_composed(m, x, dim):
    e = (x - x.max(dim, keepdim=True).values.detach()).exp()
    return e / e.sum(dim, keepdim=True)


def log_softmax_composed(m, x, dim):
    shifted = x - x.max(dim, keepdim=True).values.detach()
    return shifted - shifted.exp().sum(dim, keepdim=True).log()


def layer_norm_composed(m, x, w=None, b=None, normalized=None, eps=1e-5):
    dims = tuple(range(x.dim() - len(normalized), x.dim()))
    centered = x - x.mean(dims, keepdim=True)
    out = centered / ((centered * centered).mean(dims, keepdim=True) + eps).sqrt()
    out = out * w if w is not None else out
    return out + b if b is not None else out


def cross_entropy_composed(m, x, t, ignore_index=-100, reduction="mean"):
    keep = t != ignore_index
    safe = m.where(keep, t, 0)
    rows = m.arange(x.shape[0], device=x.device)
    losses = -log_softmax_composed(m, x, 1)[rows, safe] * keep.to(x.dtype)
    if reduction == "none":
        return losses
    return losses.sum() / keep.sum().to(x.dtype) if reduction == "mean" else losses.sum()


def gelu_composed(m, x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + (math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)).tanh())
    return x * 0.5 * (1 + (x * (1 / math.sqrt(2))).erf())


def _np_index_as_torch(x, index):
    """``x[index]`` by PyTorch's rule, in NumPy: integers are applied first (as slices that drop their dim), then
    the arrays; NumPy alone would count an integer beside an array as an advanced index."""
    parts = index if isinstance(index, tuple) else (index,)
    arrays = [isinstance(p, np.ndarray) and p.ndim > 0 for p in parts]
    integers = [isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in parts]
    if not (any(arrays) and any(integers)):
        return x[index]
    first = tuple(slice(None) if a else p for p, a in zip(parts, arrays))
    then = tuple(p if a else (p if p is Ellipsis else slice(None)) for p, a, n in zip(parts, arrays, integers) if not n)
    return x[first][then]


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + special.erf(x / math.sqrt(2)))


def _np_axes(x, dim):
    """NumPy's axis for PyTorch's dim: a tuple stays a tuple, and dim 0 or -1 of a 0-d tensor is no axis."""
    if x.ndim == 0 and dim is not None:
        return ()
    return tuple(dim) if isinstance(dim, (tuple, list)) else dim


def _np_sum(x, dim=None, keepdim=False):
    return x.sum(axis=_np_axes(x, dim), keepdims=keepdim)


def _np_mean(x, dim=None, keepdim=False):
    return x.mean(axis=_np_axes(x, dim), keepdims=keepdim)


def _np_var(x, dim=None, keepdim=False, unbiased=None, correction=None):
    ddof = correction if correction is not None else (1 if unbiased is None or unbiased else 0)
    axes = _np_axes(x, dim)
    if axes == ():  # NumPy's var over no axis is the variance of each element alone: 0, or nan with a correction
        return np.zeros(x.shape) if ddof == 0 else np.full(x.shape, np.nan)
    return x.var(axis=axes, ddof=ddof, keepdims=keepdim)


def _np_cross_entropy(x, t, ignore_index=-100, reduction="mean"):
    lse = np.log(np.exp(x - x.max(1, keepdims=True)).sum(1)) + x.max(1)
    keep = t != ignore_index
    losses = np.where(keep, lse - x[np.arange(len(t)), np.where(keep, t, 0)], 0.0)
    return {"none": losses, "sum": losses.sum(), "mean": losses.sum() / keep.sum()}[reduction]


def _np_layer_norm(x, w=None, b=None, normalized=None, eps=1e-5):
    axes = tuple(range(x.ndim - len(normalized), x.ndim))
    out = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    return out * w + b if w is not None else out


def _np_max_along(x, dim, keepdim=False, largest=True):
    pick = np.argmax if largest else np.argmin
    indices = pick(x.reshape(1) if x.ndim == 0 else x, axis=dim if x.ndim else 0, keepdims=True)
    values = np.take_along_axis(x.reshape(1) if x.ndim == 0 else x, indices, axis=dim if x.ndim else 0)
    if not keepdim or x.ndim == 0:
        values, indices = values.squeeze(dim if x.ndim else 0), indices.squeeze(dim if x.ndim else 0)
    return values, indices


def _np_attention(q, k, v, is_causal=False, attn_mask=None, scale=None):
    scores = q @ np.swapaxes(k, -1, -2) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if is_causal:
        scores = np.where(np.triu(np.ones(scores.shape[-2:], bool), 1), -np.inf, scores)
    if attn_mask is not None:
        scores = np.where(attn_mask, scores, -np.inf) if attn_mask.dtype == bool else scores + attn_mask
    return _np_softmax(scores, -1) @ v


def _np_bn_axes(x):
    return (0, *range(2, x.ndim))


def _np_batch_norm(x, mean, var, w, b, eps=1e-5):
    """(x - mean)/√(var + eps)·w + b per channel (axis 1)."""
    per_channel = (1, -1, *(1,) * (x.ndim - 2))
    normalised = (x - mean.reshape(per_channel)) / np.sqrt(var.reshape(per_channel) + eps)
    return normalised * w.reshape(per_channel) + b.reshape(per_channel)


def _np_conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """The convolution's sum written out, one output element at a time (1 or 2 spatial axes)."""
    spatial = x.ndim - 2
    kernel = w.shape[2:]
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        pairs = [(t // 2, t - t // 2) for t in totals]
    else:
        pairs = [(p, p) for p in (padding if isinstance(padding, tuple) else (0,) * spatial)]
    xp = np.pad(x, [(0, 0), (0, 0), *pairs])
    out_len = [(xp.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(spatial)]
    c_group, o_group = w.shape[1], w.shape[0] // groups
    out = np.zeros((x.shape[0], w.shape[0], *out_len))
    for index in np.ndindex(out.shape):
        n, o, pos = index[0], index[1], index[2:]
        g = o // o_group
        total = 0.0 if b is None else b[o]
        for c in range(c_group):
            for k in np.ndindex(*kernel):
                at = tuple(pos[i] * stride[i] + k[i] * dilation[i] for i in range(spatial))
                total += w[(o, c, *k)] * xp[(n, g * c_group + c, *at)]
        out[index] = total
    return out


def _dropout(m, x, p):
    m.manual_seed(1234)  # every evaluation (gradcheck runs the function many times) draws the same mask
    return m.F.dropout(x, p=p)


# ---------------------------------------------------------------------------------------------------------
# the registry

_ZERO = {"second_derivative_zero_almost_everywhere": True}
_UNARY_FLOATS = elementwise(floats())


def _inf_and_nan(x):
    """x where positive, inf in (-1, 0], nan below: all three kinds of value for isfinite, with no warnings."""
    return x.masked_fill(x <= 0, float("inf")).masked_fill(x < -1, float("nan"))


_BINARY_FLOATS = elementwise(floats(), floats())
_KINK_FREE_PAIR = elementwise(grid(0.1), grid(0.1, offset=0.05))  # two grids that never meet: no ties
_CAST = {"eps": 0.25, "keeps_dtype": False, "dtypes": ("float64",), **_ZERO}
_NO_DROPOUT_TWIN = "dropout draws its mask from the engine's generator: no PyTorch call gives the same mask"

# a table, one entry per op with its options wrapped under it: kept out of the formatter
# fmt: off
REGISTRY: tuple[OpInfo, ...] = (
    # -- arithmetic: tensor with tensor, broadcasting ---------------------------------------------------
    OpInfo("add", lambda m, a, b: a + b, _BINARY_FLOATS, ("Tensor.__add__",),
           {"Tensor.add": None, "torch.add": None}, numpy_ref=np.add, **_ZERO),
    OpInfo("add.alpha", lambda m, a, b, alpha: a.add(b, alpha=alpha), elementwise(floats(), floats(), args=(-0.5,)),
           ("Tensor.add",), numpy_ref=lambda a, b, alpha: a + alpha * b, **_ZERO),
    OpInfo("sub", lambda m, a, b: a - b, _BINARY_FLOATS, ("Tensor.__sub__",),
           {"Tensor.sub": None, "torch.sub": None}, numpy_ref=np.subtract, **_ZERO),
    OpInfo("sub.alpha", lambda m, a, b, alpha: a.sub(b, alpha=alpha), elementwise(floats(), floats(), args=(2.0,)),
           ("Tensor.sub",), numpy_ref=lambda a, b, alpha: a - alpha * b, **_ZERO),
    OpInfo("mul", lambda m, a, b: a * b, _BINARY_FLOATS, ("Tensor.__mul__",),
           {"Tensor.mul": None, "torch.mul": None}, numpy_ref=np.multiply),
    OpInfo("div", lambda m, a, b: a / b, elementwise(floats(), away_from_zero(0.3)), ("Tensor.__truediv__",),
           {"Tensor.div": None, "torch.div": None}, numpy_ref=np.divide),
    OpInfo("pow", lambda m, a, b: a**b, elementwise(positive(0.3, 2.0), floats()), ("Tensor.__pow__",),
           {"Tensor.pow": None, "torch.pow": None}, numpy_ref=np.power,
           # PyTorch's pow backward masks exponent == 0 with a where(), so its ∂²(aᵇ)/∂a∂b there is 0, not 1/a
           torch_second_derivative_wrong=lambda sample: bool((sample.inputs[1] == 0).any())),
    OpInfo("maximum", method("maximum"), _KINK_FREE_PAIR, ("Tensor.maximum",),
           {"torch.maximum": None, "Tensor.max": None, "torch.max": None}, numpy_ref=np.maximum, **_ZERO),
    OpInfo("minimum", method("minimum"), _KINK_FREE_PAIR, ("Tensor.minimum",),
           {"torch.minimum": None, "Tensor.min": None, "torch.min": None}, numpy_ref=np.minimum, **_ZERO),
    OpInfo("matmul", lambda m, a, b: a @ b, matmul_sample(), ("Tensor.__matmul__",),
           {"Tensor.matmul": None, "torch.matmul": None}, numpy_ref=np.matmul),
    # mm and bmm take only matrices, and batches of one size, as PyTorch's (no broadcasting)
    OpInfo("mm", lambda m, a, b: m.mm(a, b), matmul_sample([lambda m, k, n, b: ((m, k), (k, n))]), ("torch.mm",),
           numpy_ref=np.matmul),
    OpInfo("bmm", lambda m, a, b: m.bmm(a, b), matmul_sample([lambda m, k, n, b: ((b, m, k), (b, k, n))]),
           ("torch.bmm",), numpy_ref=np.matmul),
    OpInfo("rmatmul", lambda m, a, b: b.__rmatmul__(a), matmul_sample(), ("Tensor.__rmatmul__",),
           numpy_ref=np.matmul),
    # -- arithmetic with a Python number --------------------------------------------------------------------
    OpInfo("add.scalar", lambda m, x: x + 1.5, _UNARY_FLOATS, ("Tensor.__add__",),
           numpy_ref=lambda x: x + 1.5, **_ZERO),
    OpInfo("radd", lambda m, x: 1.5 + x, _UNARY_FLOATS, ("Tensor.__radd__",), numpy_ref=lambda x: 1.5 + x, **_ZERO),
    OpInfo("sub.scalar", lambda m, x: x - 3, _UNARY_FLOATS, ("Tensor.__sub__",), numpy_ref=lambda x: x - 3, **_ZERO),
    OpInfo("rsub", lambda m, x: 1.5 - x, _UNARY_FLOATS, ("Tensor.__rsub__",), numpy_ref=lambda x: 1.5 - x, **_ZERO),
    OpInfo("mul.scalar", lambda m, x: x * -2.5, _UNARY_FLOATS, ("Tensor.__mul__",),
           numpy_ref=lambda x: x * -2.5, **_ZERO),
    OpInfo("rmul", lambda m, x: 2 * x, _UNARY_FLOATS, ("Tensor.__rmul__",), numpy_ref=lambda x: 2 * x, **_ZERO),
    OpInfo("div.scalar", lambda m, x: x / 4, _UNARY_FLOATS, ("Tensor.__truediv__",),
           numpy_ref=lambda x: x / 4, **_ZERO),
    OpInfo("rdiv", lambda m, x: 1.5 / x, elementwise(away_from_zero(0.3)), ("Tensor.__rtruediv__",),
           numpy_ref=lambda x: 1.5 / x),
    OpInfo("pow.scalar", lambda m, x, c: x**c, scalar_exponent(), ("Tensor.__pow__",), numpy_ref=np.power),
    OpInfo("rpow", lambda m, x, base: base**x, elementwise(floats(), args=(2.5,)), ("Tensor.__rpow__",),
           numpy_ref=lambda x, base: base**x),
    OpInfo("rpow.fraction", lambda m, x, base: base**x, elementwise(floats(), args=(0.7,)), ("Tensor.__rpow__",),
           numpy_ref=lambda x, base: base**x),
    OpInfo("neg", lambda m, x: -x, _UNARY_FLOATS, ("Tensor.__neg__",), numpy_ref=np.negative, **_ZERO),
    OpInfo("pos", lambda m, x: +x, _UNARY_FLOATS, ("Tensor.__pos__",), numpy_ref=np.positive, **_ZERO),
    OpInfo("lerp", method("lerp"), lerp_sample(), ("Tensor.lerp",),
           numpy_ref=lambda a, b, w: a + w * (b - a), **_ZERO),
    OpInfo("lerp.tensor_weight", method("lerp"), lerp_sample(tensor_weight=True), ("Tensor.lerp",),
           numpy_ref=lambda a, b, w: a + w * (b - a)),
    OpInfo("addcmul", lambda m, a, b, c: a.addcmul(b, c, value=0.5), elementwise(floats(), floats(), floats()),
           ("Tensor.addcmul",), numpy_ref=lambda a, b, c: a + 0.5 * b * c),
    OpInfo("addcdiv", lambda m, a, b, c: a.addcdiv(b, c, value=-2),
           elementwise(floats(), floats(), away_from_zero(0.3)), ("Tensor.addcdiv",),
           numpy_ref=lambda a, b, c: a - 2 * b / c),
    # -- unary math -----------------------------------------------------------------------------------------
    OpInfo("exp", method("exp"), _UNARY_FLOATS, ("Tensor.exp",), {"torch.exp": None}, numpy_ref=np.exp),
    OpInfo("log", method("log"), elementwise(positive()), ("Tensor.log",), {"torch.log": None}, numpy_ref=np.log),
    OpInfo("sqrt", method("sqrt"), elementwise(positive()), ("Tensor.sqrt",), {"torch.sqrt": None},
           numpy_ref=np.sqrt),
    OpInfo("rsqrt", method("rsqrt"), elementwise(positive()), ("Tensor.rsqrt",), {"torch.rsqrt": None},
           numpy_ref=lambda x: 1 / np.sqrt(x)),
    OpInfo("tanh", method("tanh"), _UNARY_FLOATS, ("Tensor.tanh",), {"torch.tanh": None, "F.tanh": None},
           numpy_ref=np.tanh),
    OpInfo("sigmoid", method("sigmoid"), elementwise(floats(-6, 6)), ("Tensor.sigmoid",),
           {"torch.sigmoid": None, "F.sigmoid": None}, numpy_ref=lambda x: 1 / (1 + np.exp(-x))),
    OpInfo("relu", method("relu"), elementwise(away_from_zero()), ("Tensor.relu",),
           {"torch.relu": None, "F.relu": None}, numpy_ref=lambda x: np.maximum(x, 0), **_ZERO),
    OpInfo("abs", method("abs"), elementwise(away_from_zero()), ("Tensor.abs",), {"torch.abs": None},
           numpy_ref=np.abs, **_ZERO),
    OpInfo("sign", method("sign"), elementwise(away_from_zero()), ("Tensor.sign",), {"torch.sign": None},
           numpy_ref=np.sign, **_ZERO),
    OpInfo("sin", method("sin"), elementwise(floats(-4, 4)), ("Tensor.sin",), {"torch.sin": None}, numpy_ref=np.sin),
    OpInfo("cos", method("cos"), elementwise(floats(-4, 4)), ("Tensor.cos",), {"torch.cos": None}, numpy_ref=np.cos),
    OpInfo("erf", method("erf"), elementwise(floats(-3, 3)), ("Tensor.erf",), numpy_ref=special.erf),
    OpInfo("square", method("square"), _UNARY_FLOATS, ("Tensor.square",), {"torch.square": None},
           numpy_ref=np.square),
    OpInfo("clamp", method("clamp"), clamp_bounds(), ("Tensor.clamp",),
           {"Tensor.clip": None, "torch.clamp": None, "torch.clip": None},
           numpy_ref=lambda x, min, max: np.clip(x, min, max), **_ZERO),
    # -- reductions -----------------------------------------------------------------------------------------
    OpInfo("sum", method("sum"), reduction(dims=False, keepdim=False), ("Tensor.sum",), {"torch.sum": None},
           numpy_ref=np.sum, **_ZERO),
    OpInfo("sum.dim", method("sum"), reduction(), ("Tensor.sum",), {"torch.sum": None},
           numpy_ref=_np_sum, **_ZERO),
    OpInfo("mean", method("mean"), reduction(dims=False, keepdim=False), ("Tensor.mean",), {"torch.mean": None},
           numpy_ref=np.mean, **_ZERO),
    OpInfo("mean.dim", method("mean"), reduction(), ("Tensor.mean",), {"torch.mean": None},
           numpy_ref=_np_mean, **_ZERO),
    OpInfo("var", method("var"), variance(), ("Tensor.var",), {"torch.var": None}, numpy_ref=_np_var,
           float32_rtol=1e-3),
    OpInfo("std", method("std"), variance(distinct=True), ("Tensor.std",), {"torch.std": None},
           numpy_ref=lambda x, **kw: np.sqrt(_np_var(x, **kw)), float32_rtol=1e-3),
    OpInfo("max", method("max"), reduction(distinct=True, dims=False, keepdim=False), ("Tensor.max",),
           {"torch.max": None}, numpy_ref=np.max, **_ZERO),
    OpInfo("max.dim", method("max"), along_dim(), ("Tensor.max",), {"torch.max": None},
           numpy_ref=lambda x, dim, keepdim: _np_max_along(x, dim, keepdim), **_ZERO),
    OpInfo("min", method("min"), reduction(distinct=True, dims=False, keepdim=False), ("Tensor.min",),
           {"torch.min": None}, numpy_ref=np.min, **_ZERO),
    OpInfo("min.dim", method("min"), along_dim(), ("Tensor.min",), {"torch.min": None},
           numpy_ref=lambda x, dim, keepdim: _np_max_along(x, dim, keepdim, largest=False), **_ZERO),
    OpInfo("norm", lambda m, x, **kw: x.norm(**kw), norm_sample(), ("Tensor.norm",), {"torch.norm": None},
           numpy_ref=_np_norm),
    OpInfo("amax", method("amax"), along_dim(), ("Tensor.amax",), {"torch.amax": None},
           numpy_ref=lambda x, dim, keepdim: x.max(axis=_np_axes(x, dim), keepdims=keepdim), **_ZERO),
    OpInfo("amax.all", method("amax"), reduction(distinct=True, dims=False, keepdim=False), ("Tensor.amax",),
           {"torch.amax": None}, numpy_ref=np.max, **_ZERO),
    OpInfo("amax.all_keepdim", lambda m, x: x.amax(keepdim=True), reduction(distinct=True, dims=False, keepdim=False),
           ("Tensor.amax",), numpy_ref=lambda x: x.max(keepdims=True), **_ZERO),
    OpInfo("amin", method("amin"), along_dim(), ("Tensor.amin",), {"torch.amin": None},
           numpy_ref=lambda x, dim, keepdim: x.min(axis=_np_axes(x, dim), keepdims=keepdim), **_ZERO),
    OpInfo("amin.all", method("amin"), reduction(distinct=True, dims=False, keepdim=False), ("Tensor.amin",),
           {"torch.amin": None}, numpy_ref=np.min, **_ZERO),
    OpInfo("topk", method("topk"), topk_sample(), ("Tensor.topk",), {"torch.topk": None}, **_ZERO),
    OpInfo("softmax", method("softmax"), along_dim(keepdim=False, distinct=False, elements=floats(-5, 5)),
           ("Tensor.softmax",), {"torch.softmax": None, "F.softmax": None}, composition=softmax_composed,
           composition_scales=(1.0, 1000.0), numpy_ref=lambda x, dim: _np_softmax(x, dim)),
    OpInfo("log_softmax", method("log_softmax"), along_dim(keepdim=False, distinct=False, elements=floats(-5, 5)),
           ("Tensor.log_softmax",), {"torch.log_softmax": None, "F.log_softmax": None},
           composition=log_softmax_composed, composition_scales=(1.0, 1000.0),
           numpy_ref=lambda x, dim: np.log(_np_softmax(x, dim))),
    # -- shapes -----------------------------------------------------------------------------------------------
    OpInfo("reshape", method("reshape"), reshape_sample(), ("Tensor.reshape",), {"torch.reshape": None},
           numpy_ref=np.reshape, **_ZERO),
    OpInfo("reshape_as", method("reshape_as"), reshape_sample(as_tensor=True), ("Tensor.reshape_as",),
           numpy_ref=lambda x, other: x.reshape(other.shape), **_ZERO),
    OpInfo("view", method("view"), reshape_sample(layouts_allowed=("contiguous", "offset")), ("Tensor.view",),
           numpy_ref=np.reshape, **_ZERO),
    OpInfo("view_as", method("view_as"), reshape_sample(layouts_allowed=("contiguous", "offset"), as_tensor=True),
           ("Tensor.view_as",), numpy_ref=lambda x, other: x.reshape(other.shape), **_ZERO),
    OpInfo("permute", method("permute"), one_tensor(params=_permutation), ("Tensor.permute",),
           {"torch.permute": None}, numpy_ref=np.transpose, **_ZERO),
    OpInfo("transpose", method("transpose"), one_tensor(min_dims=1, params=_two_dims), ("Tensor.transpose",),
           {"torch.transpose": None, "Tensor.swapaxes": None, "Tensor.swapdims": None},
           numpy_ref=lambda x, a, b: np.swapaxes(x, a, b), **_ZERO),
    OpInfo("transpose.0d", method("transpose"), fixed((np.array(0.5), 0, -1), (np.array(-1.5), 0, 0)),
           ("Tensor.transpose",), numpy_ref=lambda x, a, b: x, **_ZERO),
    OpInfo("t", method("t"), one_tensor(max_dims=2), ("Tensor.t",), numpy_ref=np.transpose, **_ZERO),
    OpInfo("T", lambda m, x: x.T, one_tensor(min_dims=2, max_dims=2), ("Tensor.T",),
           numpy_ref=np.transpose, **_ZERO),  # PyTorch deprecates .T on other than 2 dims; permute reverses them
    OpInfo("mT", lambda m, x: x.mT, one_tensor(min_dims=2), ("Tensor.mT",),
           numpy_ref=lambda x: np.swapaxes(x, -1, -2), **_ZERO),
    OpInfo("unsqueeze", method("unsqueeze"), one_tensor(params=_new_axis), ("Tensor.unsqueeze",),
           {"torch.unsqueeze": None}, numpy_ref=np.expand_dims, **_ZERO),
    OpInfo("squeeze", method("squeeze"), one_tensor(params=_squeeze_dims), ("Tensor.squeeze",),
           {"torch.squeeze": None}, **_ZERO),
    OpInfo("flatten", method("flatten"), one_tensor(params=_flatten_range), ("Tensor.flatten",),
           {"torch.flatten": None}, **_ZERO),
    OpInfo("expand", method("expand"), expand_sample(), ("Tensor.expand",), **_ZERO),
    OpInfo("expand_as", method("expand_as"), expand_sample(as_tensor=True), ("Tensor.expand_as",),
           numpy_ref=lambda x, other: np.broadcast_to(x, other.shape), **_ZERO),
    OpInfo("contiguous", method("contiguous"), _UNARY_FLOATS, ("Tensor.contiguous",), numpy_ref=np.copy, **_ZERO),
    OpInfo("clone", method("clone"), _UNARY_FLOATS, ("Tensor.clone",), numpy_ref=np.copy, **_ZERO),
    OpInfo("split", method("split"), one_tensor(min_dims=1, params=_split_size), ("Tensor.split",),
           {"torch.split": None}, **_ZERO),
    OpInfo("unbind", method("unbind"), one_tensor(min_dims=1, params=_one_dim), ("Tensor.unbind",),
           {"torch.unbind": None}, **_ZERO),
    OpInfo("chunk", method("chunk"), one_tensor(min_dims=1, params=_chunks), ("Tensor.chunk",),
           {"torch.chunk": None}, **_ZERO),
    OpInfo("getitem", lambda m, x, index: x[index], index_sample(), ("Tensor.__getitem__",),
           numpy_ref=lambda x, index: _np_index_as_torch(x, index), **_ZERO),
    OpInfo("getitem.repeated", lambda m, x, index: x[index], repeated_index_sample(), ("Tensor.__getitem__",),
           numpy_ref=lambda x, index: x[index], **_ZERO),
    OpInfo("getitem.bool_mask", lambda m, x, mask: x[mask], bool_mask_sample(), ("Tensor.__getitem__",),
           numpy_ref=lambda x, mask: x[mask], **_ZERO),
    OpInfo("masked_fill", method("masked_fill"), masked_fill_sample(), ("Tensor.masked_fill",),
           {"torch.masked_fill": None}, numpy_ref=lambda x, mask, value: np.where(mask, value, x), **_ZERO),
    OpInfo("tril", method("tril"), one_tensor(min_dims=2, max_dims=3, params=_diagonal), ("Tensor.tril",),
           {"torch.tril": None}, numpy_ref=lambda x, diagonal: np.tril(x, diagonal), **_ZERO),
    OpInfo("triu", method("triu"), one_tensor(min_dims=2, max_dims=3, params=_diagonal), ("Tensor.triu",),
           {"torch.triu": None}, numpy_ref=lambda x, diagonal: np.triu(x, diagonal), **_ZERO),
    OpInfo("where", lambda m, a, b, cond: m.where(cond, a, b), where_sample(), ("torch.where",),
           numpy_ref=lambda a, b, cond: np.where(cond, a, b), **_ZERO),
    OpInfo("where.scalar", lambda m, a, cond: m.where(cond, a, 0.5), where_sample(scalar_other=True),
           ("torch.where",), numpy_ref=lambda a, cond: np.where(cond, a, 0.5), **_ZERO),
    OpInfo("cat", lambda m, *xs, dim: m.cat(xs, dim=dim), cat_sample(), ("torch.cat",),
           {"torch.concat": lambda m, *xs, dim: m.concat(xs, dim=dim),
            "torch.concatenate": lambda m, *xs, dim: m.concatenate(list(xs), dim=dim)},
           numpy_ref=lambda *xs, dim: np.concatenate(xs, axis=dim), **_ZERO),
    OpInfo("stack", lambda m, *xs, dim: m.stack(xs, dim=dim), stack_sample(), ("torch.stack",),
           numpy_ref=lambda *xs, dim: np.stack(xs, axis=dim), **_ZERO),
    # -- dtype and device ------------------------------------------------------------------------------------
    OpInfo("float", method("float"), exact_in_float16(), ("Tensor.float",),
           {"Tensor.to": lambda m, x: x.to(m.float32),
            "Tensor.type_as": lambda m, x: x.type_as(m.zeros((), dtype=m.float32))},
           numpy_ref=lambda x: x.astype(np.float32), **_CAST),
    OpInfo("double", lambda m, x: x.float().double(), exact_in_float16(), ("Tensor.double",),
           numpy_ref=lambda x: x, **_CAST),  # float32 -> float64: the gradient is cast back down
    OpInfo("half", method("half"), exact_in_float16(), ("Tensor.half",),
           numpy_ref=lambda x: x.astype(np.float16), **_CAST),
    OpInfo("cpu", method("cpu"), _UNARY_FLOATS, ("Tensor.cpu",), numpy_ref=lambda x: x, **_ZERO),
    OpInfo("long", method("long"), elementwise(grid(0.25)), ("Tensor.long",), differentiable=False,
           numpy_ref=lambda x: x.astype(np.int64)),
    OpInfo("int", method("int"), elementwise(grid(0.25)), ("Tensor.int",), differentiable=False,
           numpy_ref=lambda x: x.astype(np.int32)),
    OpInfo("bool", method("bool"), elementwise(grid(0.25)), ("Tensor.bool",), differentiable=False,
           numpy_ref=lambda x: x.astype(np.bool_)),
    # -- comparisons and logic: bool results, outside the graph -----------------------------------------------
    OpInfo("eq", lambda m, a, b: a == b, elementwise(grid(0.5), grid(0.5)), ("Tensor.__eq__",), {"Tensor.eq": None},
           differentiable=False, numpy_ref=np.equal),
    OpInfo("ne", lambda m, a, b: a != b, elementwise(grid(0.5), grid(0.5)), ("Tensor.__ne__",), {"Tensor.ne": None},
           differentiable=False, numpy_ref=np.not_equal),
    OpInfo("lt", lambda m, a, b: a < b, elementwise(grid(0.5), grid(0.5)), ("Tensor.__lt__",), {"Tensor.lt": None},
           differentiable=False, numpy_ref=np.less),
    OpInfo("le", lambda m, a, b: a <= b, elementwise(grid(0.5), grid(0.5)), ("Tensor.__le__",), {"Tensor.le": None},
           differentiable=False, numpy_ref=np.less_equal),
    OpInfo("gt", lambda m, a, b: a > b, elementwise(grid(0.5), grid(0.5)), ("Tensor.__gt__",), {"Tensor.gt": None},
           differentiable=False, numpy_ref=np.greater),
    OpInfo("ge", lambda m, a, b: a >= b, elementwise(grid(0.5), grid(0.5)), ("Tensor.__ge__",), {"Tensor.ge": None},
           differentiable=False, numpy_ref=np.greater_equal),
    OpInfo("and", lambda m, a, b: (a > 0) & (b > 0), _BINARY_FLOATS, ("Tensor.__and__",), differentiable=False,
           numpy_ref=lambda a, b: (a > 0) & (b > 0)),
    OpInfo("or", lambda m, a, b: (a > 0) | (b > 0), _BINARY_FLOATS, ("Tensor.__or__",), differentiable=False,
           numpy_ref=lambda a, b: (a > 0) | (b > 0)),
    OpInfo("xor", lambda m, a, b: (a > 0) ^ (b > 0), _BINARY_FLOATS, ("Tensor.__xor__",), differentiable=False,
           numpy_ref=lambda a, b: (a > 0) ^ (b > 0)),
    OpInfo("invert", lambda m, x: ~(x > 0), _UNARY_FLOATS, ("Tensor.__invert__",), differentiable=False,
           numpy_ref=lambda x: ~(x > 0)),
    OpInfo("logical_not", lambda m, x: (x > 0).logical_not(), _UNARY_FLOATS, ("Tensor.logical_not",),
           {"torch.logical_not": lambda m, x: m.logical_not(x > 0)}, differentiable=False,
           numpy_ref=lambda x: x <= 0),
    OpInfo("isfinite", lambda m, x: _inf_and_nan(x).isfinite(), _UNARY_FLOATS, ("Tensor.isfinite",),
           {"torch.isfinite": lambda m, x: m.isfinite(_inf_and_nan(x))}, differentiable=False,
           numpy_ref=lambda x: x > 0),
    OpInfo("all", lambda m, x: (x > 0).all(), _UNARY_FLOATS, ("Tensor.all",),
           {"torch.all": lambda m, x: m.all(x > 0)}, differentiable=False, numpy_ref=lambda x: np.all(x > 0)),
    OpInfo("any", lambda m, x: (x > 0).any(), _UNARY_FLOATS, ("Tensor.any",),
           {"torch.any": lambda m, x: m.any(x > 0)}, differentiable=False, numpy_ref=lambda x: np.any(x > 0)),
    OpInfo("argmax", method("argmax"), reduction(distinct=True, tuple_dims=False, keepdim=False), ("Tensor.argmax",),
           {"torch.argmax": None}, differentiable=False,
           numpy_ref=lambda x, dim=None: np.argmax(x, axis=None if x.ndim == 0 else dim)),
    OpInfo("argmax.keepdim", method("argmax"), along_dim(), ("Tensor.argmax",), {"torch.argmax": None},
           differentiable=False, numpy_ref=lambda x, dim, keepdim: _np_max_along(x, dim, keepdim)[1]),
    OpInfo("argmin", method("argmin"), reduction(distinct=True, tuple_dims=False, keepdim=False), ("Tensor.argmin",),
           {"torch.argmin": None}, differentiable=False,
           numpy_ref=lambda x, dim=None: np.argmin(x, axis=None if x.ndim == 0 else dim)),
    OpInfo("allclose", method("allclose"), allclose_sample(), ("Tensor.allclose",), {"torch.allclose": None},
           differentiable=False, numpy_ref=lambda a, b: np.allclose(a, b, rtol=1e-5, atol=1e-8)),
    # -- nn.functional ----------------------------------------------------------------------------------------
    OpInfo("F.linear", functional("linear"), linear_sample(), ("F.linear",),
           composition=lambda m, x, w, b: x @ w.T + b, numpy_ref=lambda x, w, b: x @ w.T + b),
    OpInfo("F.linear.no_bias", functional("linear"), linear_sample(bias=False), ("F.linear",),
           composition=lambda m, x, w: x @ w.t(), numpy_ref=lambda x, w: x @ w.T),
    OpInfo("F.embedding", lambda m, w, idx: m.F.embedding(idx, w), embedding_sample(), ("F.embedding",),
           numpy_ref=lambda w, idx: w[idx], **_ZERO),
    OpInfo("F.layer_norm", lambda m, x, w, b, normalized: m.F.layer_norm(x, normalized, w, b),
           layer_norm_sample(), ("F.layer_norm",),
           composition=lambda m, x, w, b, normalized: layer_norm_composed(m, x, w, b, normalized),
           composition_scales=(1.0, 1000.0), numpy_ref=lambda x, w, b, normalized: _np_layer_norm(x, w, b, normalized),
           float32_rtol=1e-3, float32_atol=LAYER_NORM_FLOAT32_ATOL),
    OpInfo("F.layer_norm.no_affine", lambda m, x, normalized: m.F.layer_norm(x, normalized),
           layer_norm_sample(affine=False), ("F.layer_norm",),
           composition=lambda m, x, normalized: layer_norm_composed(m, x, normalized=normalized),
           numpy_ref=lambda x, normalized: _np_layer_norm(x, normalized=normalized), float32_rtol=1e-3,
           float32_atol=LAYER_NORM_FLOAT32_ATOL),
    OpInfo("F.gelu", functional("gelu"), elementwise(floats(-4, 4)), ("F.gelu",), composition=gelu_composed,
           numpy_ref=_np_gelu, torch_rtol=1e-7),
    OpInfo("F.gelu.tanh", lambda m, x: m.F.gelu(x, approximate="tanh"), elementwise(floats(-4, 4)), ("F.gelu",),
           composition=lambda m, x: gelu_composed(m, x, "tanh"), numpy_ref=lambda x: _np_gelu(x, "tanh")),
    OpInfo("F.silu", functional("silu"), elementwise(floats(-4, 4)), ("F.silu",),
           numpy_ref=lambda x: x / (1 + np.exp(-x))),
    OpInfo("F.cross_entropy", functional("cross_entropy"), cross_entropy_sample(), ("F.cross_entropy",),
           composition=cross_entropy_composed, composition_scales=(1.0, 1000.0), numpy_ref=_np_cross_entropy),
    OpInfo("F.cross_entropy.spatial", functional("cross_entropy"), spatial_cross_entropy_sample(),
           ("F.cross_entropy",)),
    OpInfo("F.nll_loss", functional("nll_loss"), cross_entropy_sample(), ("F.nll_loss",)),
    OpInfo("F.mse_loss", lambda m, a, b, reduction: m.F.mse_loss(a, b, reduction=reduction),
           same_shape(floats(), floats(), kwargs={"reduction": reductions}), ("F.mse_loss",),
           numpy_ref=lambda a, b, reduction: {"none": np.square(a - b), "mean": np.mean(np.square(a - b)),
                                              "sum": np.sum(np.square(a - b))}[reduction]),
    OpInfo("F.dropout", _dropout, elementwise(floats(), args=(0.3,)), ("F.dropout",), no_torch=_NO_DROPOUT_TWIN,
           skips={"float32": "the mask is drawn in the input's dtype: float32 and float64 draw different masks"},
           **_ZERO),
    OpInfo("F.scaled_dot_product_attention", functional("scaled_dot_product_attention"), attention_sample(),
           ("F.scaled_dot_product_attention",), numpy_ref=_np_attention),
    OpInfo("F.scaled_dot_product_attention.mask", functional("scaled_dot_product_attention"),
           attention_sample(mask=True), ("F.scaled_dot_product_attention",), numpy_ref=_np_attention),
    # -- ops added for the series' code: reordering, gathers and scatters, scans, padding, counting --------------
    OpInfo("flip", method("flip"), one_tensor(params=_flip_dims), ("Tensor.flip",),
           {"torch.flip": lambda m, x, *dims: m.flip(x, dims)},
           numpy_ref=lambda x, *dims: np.flip(x, axis=tuple(d % x.ndim for d in dims)) if x.ndim else x, **_ZERO),
    OpInfo("fliplr", method("fliplr"), one_tensor(min_dims=2), ("Tensor.fliplr",), {"torch.fliplr": None},
           numpy_ref=np.fliplr, **_ZERO),
    OpInfo("flipud", method("flipud"), one_tensor(min_dims=1), ("Tensor.flipud",), {"torch.flipud": None},
           numpy_ref=np.flipud, **_ZERO),
    OpInfo("roll", method("roll"), one_tensor(min_dims=1, params=_roll_args), ("Tensor.roll",), {"torch.roll": None},
           numpy_ref=lambda x, shifts, dims=None: np.roll(x, shifts, axis=dims), **_ZERO),
    OpInfo("repeat", method("repeat"), one_tensor(max_dims=3, params=_repeat_sizes), ("Tensor.repeat",),
           numpy_ref=lambda x, *sizes: np.tile(x, sizes), **_ZERO),
    OpInfo("repeat_interleave", method("repeat_interleave"), one_tensor(min_dims=1, params=_repeat_interleave_args),
           ("Tensor.repeat_interleave",), {"torch.repeat_interleave": None}, numpy_ref=_np_repeat_interleave,
           **_ZERO),
    OpInfo("repeat_interleave.tensor", method("repeat_interleave"), one_tensor(min_dims=1, params=_repeat_counts),
           ("Tensor.repeat_interleave",), {"torch.repeat_interleave": None}, numpy_ref=_np_repeat_interleave,
           **_ZERO),
    OpInfo("repeat_interleave.counts", lambda m, counts: m.repeat_interleave(counts),
           st.builds(lambda c: Sample((), (c,)), arrays((3,), st.integers(0, 3), dtype=np.int64)),
           ("torch.repeat_interleave",), differentiable=False,
           numpy_ref=lambda counts: np.repeat(np.arange(len(counts)), counts)),
    OpInfo("gather", method("gather"), gather_sample(), ("Tensor.gather",), {"torch.gather": None},
           numpy_ref=lambda x, dim, index: x[_np_grid(index, dim)], **_ZERO),
    OpInfo("scatter_add", lambda m, x, src, dim, index: x.scatter_add(dim, index, src), scatter_sample(),
           ("Tensor.scatter_add",),
           {"torch.scatter_add": lambda m, x, src, dim, index: m.scatter_add(x, dim, index, src)},
           numpy_ref=lambda x, src, dim, index: _np_scatter(x, src, dim, index, add=True), **_ZERO),
    OpInfo("scatter", lambda m, x, src, dim, index: x.scatter(dim, index, src), scatter_sample(unique=True),
           ("Tensor.scatter",), {"torch.scatter": lambda m, x, src, dim, index: m.scatter(x, dim, index, src)},
           numpy_ref=lambda x, src, dim, index: _np_scatter(x, src, dim, index, add=False), **_ZERO),
    OpInfo("scatter.value", lambda m, x, dim, index: x.scatter(dim, index, value=-1.5),
           scatter_sample(with_src=False), ("Tensor.scatter",),
           numpy_ref=lambda x, dim, index: _np_scatter(x, np.full(index.shape, -1.5), dim, index, add=False),
           **_ZERO),
    OpInfo("scatter.multiply", lambda m, x, src, dim, index: x.scatter(dim, index, src, reduce="multiply"),
           scatter_sample(), ("Tensor.scatter",), differentiable=False,  # no gradient, as PyTorch's
           numpy_ref=lambda x, src, dim, index: _np_scatter_multiply(x, src, dim, index)),
    OpInfo("index_select", method("index_select"), index_select_sample(), ("Tensor.index_select",),
           {"torch.index_select": None}, numpy_ref=lambda x, dim, index: np.take(x, index, axis=dim), **_ZERO),
    OpInfo("take_along_dim", method("take_along_dim"), take_along_dim_sample(), ("Tensor.take_along_dim",),
           {"torch.take_along_dim": None}, numpy_ref=_np_take_along_dim, **_ZERO),
    OpInfo("sort", method("sort"), sort_sample(), ("Tensor.sort",), {"torch.sort": None}, numpy_ref=_np_sort,
           **_ZERO),
    OpInfo("argsort", method("argsort"), sort_sample(), ("Tensor.argsort",), {"torch.argsort": None},
           differentiable=False, numpy_ref=lambda x, dim, descending: _np_sort(x, dim, descending)[1]),
    OpInfo("topk.0d", method("topk"), fixed((np.array(0.5), 1), (np.array(-1.5), 0)), ("Tensor.topk",),
           {"torch.topk": None}, numpy_ref=lambda x, k: (x, np.array(0)), **_ZERO),
    OpInfo("cumsum", method("cumsum"), scan_sample(), ("Tensor.cumsum",), {"torch.cumsum": None},
           numpy_ref=lambda x, dim: _np_scan(np.cumsum, x, dim), **_ZERO),
    # values on a 0.5 grid: zeros in the input, where cumprod's gradient must not divide by them
    OpInfo("cumprod", method("cumprod"), scan_sample(grid(0.5, k=4)), ("Tensor.cumprod",), {"torch.cumprod": None},
           numpy_ref=lambda x, dim: _np_scan(np.cumprod, x, dim)),
    OpInfo("logsumexp", method("logsumexp"), logsumexp_sample(), ("Tensor.logsumexp",), {"torch.logsumexp": None},
           composition=logsumexp_composed, composition_scales=(1.0, 100.0),
           numpy_ref=lambda x, dim, keepdim: special.logsumexp(x, axis=dim, keepdims=keepdim)),
    OpInfo("log2", method("log2"), elementwise(positive()), ("Tensor.log2",), {"torch.log2": None},
           numpy_ref=np.log2),
    OpInfo("log10", method("log10"), elementwise(positive()), ("Tensor.log10",), {"torch.log10": None},
           numpy_ref=np.log10),
    OpInfo("einsum", lambda m, *xs, equation: m.einsum(equation, *xs), einsum_sample(), ("torch.einsum",),
           numpy_ref=lambda *xs, equation: np.einsum(equation, *xs)),
    OpInfo("F.pad", functional("pad"), pad_sample(), ("F.pad",), numpy_ref=_np_pad, **_ZERO),
    OpInfo("F.pad.reflect", functional("pad"), pad_sample("reflect"), ("F.pad",), numpy_ref=_np_pad, **_ZERO),
    OpInfo("F.pad.replicate", functional("pad"), pad_sample("replicate"), ("F.pad",), numpy_ref=_np_pad, **_ZERO),
    OpInfo("F.pad.circular", functional("pad"), pad_sample("circular"), ("F.pad",), numpy_ref=_np_pad, **_ZERO),
    OpInfo("bincount", lambda m, idx, minlength: m.bincount(idx, minlength=minlength), bincount_sample(),
           ("Tensor.bincount",), {"torch.bincount": lambda m, idx, minlength: m.bincount(idx, minlength=minlength)},
           differentiable=False, numpy_ref=lambda idx, minlength: np.bincount(idx, minlength=minlength)),
    OpInfo("bincount.weights", lambda m, w, idx, minlength: idx.bincount(w, minlength=minlength),
           bincount_sample(weights=True), ("Tensor.bincount",), differentiable=False,
           numpy_ref=lambda w, idx, minlength: np.bincount(idx, w, minlength=minlength)),
    # values on a grid that misses the bin edges (multiples of 0.5): no value's bin depends on rounding
    OpInfo("histc", lambda m, x: x.histc(bins=4, min=-1, max=1), one_tensor(elements=grid(0.1, offset=0.05)),
           ("Tensor.histc",),
           {"torch.histc": lambda m, x: m.histc(x, bins=4, min=-1, max=1)}, differentiable=False,
           numpy_ref=lambda x: _np_histc(x, 4, -1, 1)),
    OpInfo("histc.own_range", lambda m, x: m.histc(x, bins=3), one_tensor(elements=grid(0.25)), ("torch.histc",),
           differentiable=False, numpy_ref=lambda x: _np_histc(x, 3, 0, 0),
           skips={"float32": "float32 rounds bin edges differently: a value on an edge may change bins"}),
    OpInfo("histogram", lambda m, x: m.histogram(x, 4), one_tensor(min_dims=1), ("torch.histogram",),
           {"Tensor.histogram": lambda m, x: x.histogram(4)}, differentiable=False,
           numpy_ref=lambda x: tuple(np.histogram(x, 4)),
           skips={"float32": "float32 rounds bin edges differently: a value on an edge may change bins"}),
    OpInfo("F.one_hot", functional("one_hot"), one_hot_sample(), ("F.one_hot",), differentiable=False,
           numpy_ref=lambda idx, num_classes: np.eye(max(num_classes, idx.max(initial=0) + 1), dtype=np.int64)[idx]),
    # .contiguous(): PyTorch 2.13's CPU batch_norm reads a strided weight's memory as if it were dense (weight
    # [1, 1] viewed from [1, 9, 1, 9] scales channel 1 by 9: eval's output, training's input gradient); ours reads
    # the view, and gradcheck still sees the strided leaf through the copy
    OpInfo("F.batch_norm",
           lambda m, x, w, b: m.F.batch_norm(x, None, None, w.contiguous(), b.contiguous(), training=True),
           batch_norm_sample(), ("F.batch_norm",),
           numpy_ref=lambda x, w, b: _np_batch_norm(x, x.mean(axis=_np_bn_axes(x)), x.var(axis=_np_bn_axes(x)), w, b),
           float32_rtol=1e-3),
    OpInfo("F.batch_norm.eval", lambda m, x, w, b, rm, rv: m.F.batch_norm(x, rm, rv, w.contiguous(), b.contiguous()),
           batch_norm_sample(training=False), ("F.batch_norm",), numpy_ref=lambda x, w, b, rm, rv:
           _np_batch_norm(x, rm, rv, w, b)),
    OpInfo("F.conv1d", functional("conv1d"), conv_sample(1), ("F.conv1d",), numpy_ref=_np_conv),
    OpInfo("F.conv1d.no_bias", functional("conv1d"), conv_sample(1, bias=False), ("F.conv1d",), numpy_ref=_np_conv),
    OpInfo("F.conv2d", functional("conv2d"), conv_sample(2), ("F.conv2d",), numpy_ref=_np_conv),
    OpInfo("F.conv2d.no_bias", functional("conv2d"), conv_sample(2, bias=False), ("F.conv2d",), numpy_ref=_np_conv),
)
# fmt: on

BY_NAME = {entry.name: entry for entry in REGISTRY}
DIFFERENTIABLE = tuple(e for e in REGISTRY if e.differentiable)
WITH_TORCH = tuple(e for e in REGISTRY if e.no_torch is None)
WITH_COMPOSITION = tuple(e for e in REGISTRY if e.composition is not None)
WITH_NUMPY_REF = tuple(e for e in REGISTRY if e.numpy_ref is not None)


# the kinds of test that run every entry (the keys of OpInfo.skips)
KINDS = (
    "gradcheck",
    "gradgradcheck",
    "hvp",
    "zero_second_derivative",
    "torch",
    "invariants",
    "float32",
    "composition",
    "numpy",
    "aliases",
)


def parametrize(entries, kind: str, dtypes: bool = False):
    """``@pytest.mark.parametrize`` over ``entries`` (as ``entry``; with ``dtypes``, over ``entry, dtype`` for
    each dtype an entry is tested at), named by entry. A test kind that does not apply to an entry (its
    ``skips``, each with the reason written there) is left out rather than collected as a skip, so that the only
    skips the suite reports are the CUDA ones; a known bug is a skip, with its reason."""
    assert kind in KINDS, kind
    params = []
    for e in entries:
        if kind in e.skips:
            continue
        marks = []
        if e.known_bug:
            marks.append(pytest.mark.skip(reason=f"known engine bug (test_op_registry checks it): {e.known_bug}"))
        if dtypes:
            params += [pytest.param(e, d, id=f"{e.name}-{d}", marks=marks) for d in e.dtypes]
        else:
            params.append(pytest.param(e, id=e.name, marks=marks))
    return pytest.mark.parametrize("entry, dtype" if dtypes else "entry", params)


# ---------------------------------------------------------------------------------------------------------
# running an entry


def make_leaves(lib: Library, sample: Sample, device="cpu", dtype=np.float64, requires_grad=True) -> list:
    """The sample's inputs as leaves of ``lib`` in their layouts (for a view in the graph, the view's source)."""
    result = []
    for i, array in enumerate(sample.inputs):
        layout = sample.layout(i)
        memory = layout if layout in LAYOUTS else "contiguous"
        result.append(lib.leaf(view_source(array, layout).astype(dtype), memory, device, requires_grad))
    return result


def make_function(entry: OpInfo, lib: Library, sample: Sample, device="cpu", dtype=np.float64, fn=None):
    """The op as a function of the leaves alone (views applied, other arguments converted), for gradcheck."""
    fn = fn or entry.fn
    args = lib.constant(sample.args, device, dtype)
    kwargs = {k: lib.constant(v, device, dtype) for k, v in sample.kwargs.items()}

    def function(*leaves):
        xs = [apply_view(x, sample.layout(i)) for i, x in enumerate(leaves)]
        return fn(lib, *xs, *args, **kwargs)

    function.__name__ = entry.name
    return function


def outputs_of(result) -> tuple:
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def is_float(t) -> bool:
    return hasattr(t, "dtype") and t.dtype.is_floating_point


def to_numpy(t):
    if getattr(t, "_is_zerotensor", lambda: False)():  # PyTorch's symbolic zeros (e.g. abs's second derivative)
        return np.zeros(tuple(t.shape))
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def dtype_name(t) -> str:
    return str(t.dtype).rsplit(".", 1)[-1] if hasattr(t, "dtype") else type(t).__name__


def upstream_gradients(lib: Library, outputs, seed: int, device="cpu"):
    """One random upstream gradient per float output that requires grad, the same arrays for both libraries."""
    rng = np.random.default_rng(seed)
    pairs = []
    for o in outputs:
        if is_float(o):
            g = rng.standard_normal(tuple(o.shape)).astype(to_numpy(o).dtype)
            if o.requires_grad:
                pairs.append((o, lib.constant(g, str(o.device), g.dtype)))  # where the output is (x.cpu())
    return pairs


def run(entry: OpInfo, lib: Library, sample: Sample, device="cpu", dtype=np.float64, seed=0, fn=None):
    """Forward, then backward with random upstream gradients: (outputs, leaves), the leaves' .grad filled."""
    leaves = make_leaves(lib, sample, device, dtype, requires_grad=entry.differentiable)
    outputs = outputs_of(make_function(entry, lib, sample, device, dtype, fn)(*leaves))
    pairs = upstream_gradients(lib, outputs, seed, device)
    if pairs:
        lib.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
    return outputs, leaves


def hessian_vector_product(entry: OpInfo, lib: Library, sample: Sample, seed=0, device="cpu", fn=None) -> list:
    """v ↦ ∂/∂x (uᵀ ∂f/∂x · v) by two ``grad`` calls, with random u (per output) and v (per input) drawn from
    ``seed``: one array per input (zeros where the first derivative does not depend on it)."""
    if lib.is_torch:  # PyTorch's fused CPU attention kernels have no second derivative; its plain one does
        from torch.nn.attention import SDPBackend, sdpa_kernel

        with sdpa_kernel(SDPBackend.MATH):
            return _hessian_vector_product(entry, lib, sample, seed, device, fn)
    return _hessian_vector_product(entry, lib, sample, seed, device, fn)


def _hessian_vector_product(entry, lib, sample, seed, device, fn):
    leaves = make_leaves(lib, sample, device)
    outputs = outputs_of(make_function(entry, lib, sample, device, fn=fn)(*leaves))
    pairs = upstream_gradients(lib, outputs, seed, device)
    outs, seeds = [o for o, _ in pairs], [u for _, u in pairs]
    first = lib.autograd.grad(outs, leaves, seeds, create_graph=True, allow_unused=True)
    rng = np.random.default_rng(seed + 1)
    directions = [lib.constant(rng.standard_normal(tuple(x.shape)), device, np.float64) for x in leaves]
    terms = [(g * v).sum() for g, v in zip(first, directions) if g is not None and g.requires_grad]
    if not terms:
        return [np.zeros(tuple(x.shape)) for x in leaves]
    second = lib.autograd.grad(sum(terms[1:], terms[0]), leaves, allow_unused=True)
    return [np.zeros(tuple(x.shape)) if h is None else to_numpy(h) for x, h in zip(leaves, second)]
