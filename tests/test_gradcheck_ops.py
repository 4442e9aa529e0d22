"""Every differentiable op, through the public API, against finite differences (``gradcheck``, float64).

Shapes and values come from hypothesis (see ``strategies.py``); inputs include transposed and strided memory
layouts, and non-contiguous views made inside the graph. The second half checks that the fused ops (softmax,
log_softmax, layer_norm, cross_entropy, linear) equal their composition from primitives, value and gradient.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import (
    apply_view,
    arrays,
    away_from_zero,
    basic_and_advanced_index,
    broadcast_pairs,
    dim_of,
    distinct_arrays,
    examples,
    floats,
    grid,
    layouts,
    leaf,
    positive,
    shapes,
    source_and_target,
    to_tensor_index,
    view_source_shape,
    views,
)

import tinygrad_edu as torch
from tinygrad_edu.autograd import gradcheck
from tinygrad_edu.nn import functional as F


def seeded_dropout(p):
    def fn(x):
        torch.manual_seed(1234)  # every evaluation of gradcheck must draw the same mask
        return F.dropout(x, p=p)

    return fn


# name -> (function of one tensor, element strategy)
UNARY = {
    "neg": (lambda x: -x, floats()),
    "exp": (lambda x: x.exp(), floats()),
    "log": (lambda x: x.log(), positive()),
    "sqrt": (lambda x: x.sqrt(), positive()),
    "rsqrt": (lambda x: x.rsqrt(), positive()),
    "tanh": (lambda x: x.tanh(), floats()),
    "sigmoid": (lambda x: x.sigmoid(), floats(-6, 6)),
    "relu": (lambda x: x.relu(), away_from_zero()),
    "F.relu": (lambda x: F.relu(x), away_from_zero()),
    "abs": (lambda x: x.abs(), away_from_zero()),
    "sin": (lambda x: x.sin(), floats(-4, 4)),
    "cos": (lambda x: x.cos(), floats(-4, 4)),
    "square": (lambda x: x.square(), floats()),
    "gelu": (lambda x: F.gelu(x), floats(-4, 4)),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), floats(-4, 4)),
    "pow_int_scalar": (lambda x: x**3, floats()),
    "pow_float_scalar": (lambda x: x**2.5, positive()),
    "pow_negative_scalar": (lambda x: x**-1.5, positive()),
    "rpow": (lambda x: 2**x, floats()),
    "rpow_float_base": (lambda x: 0.7**x, floats()),
    "add_scalar": (lambda x: x + 1.5, floats()),
    "rsub_scalar": (lambda x: 1.5 - x, floats()),
    "mul_scalar": (lambda x: x * -2.5, floats()),
    "div_scalar": (lambda x: x / 3.0, floats()),
    "rdiv_scalar": (lambda x: 3.0 / x, away_from_zero(0.3)),
    "clamp_both": (lambda x: x.clamp(-0.55, 0.85), grid(0.1)),
    "clamp_min": (lambda x: x.clamp(min=0.25), grid(0.1)),
    "clamp_max": (lambda x: x.clamp(max=-0.25), grid(0.1)),
    "maximum_scalar": (lambda x: x.maximum(torch.tensor(0.05, dtype=torch.float64)), grid(0.1)),
    "minimum_scalar": (lambda x: x.minimum(torch.tensor(0.05, dtype=torch.float64)), grid(0.1)),
    "dropout_p0.3": (seeded_dropout(0.3), floats()),
    "dropout_p0.5": (seeded_dropout(0.5), floats()),
    "clone": (lambda x: x.clone() * 2, floats()),
    "contiguous": (lambda x: x.contiguous() * 2, floats()),
}


@pytest.mark.parametrize("name", UNARY)
@examples(15)
@given(data=st.data(), shape=shapes(), layout=layouts, view=views)
def test_unary_op_gradient(device, name, data, shape, layout, view):
    """Unary ops and ops with a Python-number operand, on any layout, through a non-contiguous view too."""
    fn, elements = UNARY[name]
    x = leaf(data.draw(arrays(view_source_shape(shape, view), elements)), device, layout)
    assert gradcheck(lambda x: fn(apply_view(x, view)), (x,))


def test_cast_to_float32_gradient(device):
    """Cast: float64 -> float32 -> float64. Float32 rounding needs a large eps; a linear function makes the
    central difference exact, so the tolerance can still be tight."""
    x = leaf(np.linspace(-2, 2, 12).reshape(3, 4), device)
    assert gradcheck(lambda x: x.to(torch.float32) * 3, (x,), eps=1e-2, atol=1e-4, rtol=1e-4)
    assert gradcheck(lambda x: x.float().double() * 3, (x,), eps=1e-2, atol=1e-4, rtol=1e-4)


# -- binary ops over broadcast shapes ---------------------------------------------------------------------

# name -> (function, elements of a, elements of b)
BINARY = {
    "add": (lambda a, b: a + b, floats(), floats()),
    "sub": (lambda a, b: a - b, floats(), floats()),
    "mul": (lambda a, b: a * b, floats(), floats()),
    "div": (lambda a, b: a / b, floats(), away_from_zero(0.3)),
    "pow": (lambda a, b: a**b, positive(0.3, 2.0), floats()),
    "maximum": (lambda a, b: a.maximum(b), grid(0.1), grid(0.1, offset=0.05)),
    "minimum": (lambda a, b: a.minimum(b), grid(0.1), grid(0.1, offset=0.05)),
    "max_of_tensor": (lambda a, b: torch.max(a, b), grid(0.1), grid(0.1, offset=0.05)),
    "where_0d_scalar_mix": (lambda a, b: torch.where(a > 0, a * b, b), grid(0.1, 0.05), floats()),
}


@pytest.mark.parametrize("name", BINARY)
@examples(15)
@given(data=st.data(), pair=broadcast_pairs(), layout=layouts)
def test_binary_op_gradient_with_broadcasting(device, name, data, pair, layout):
    """Both inputs' gradients, for every mutually broadcastable pair of shapes (0-d and size-1 dims included)."""
    fn, elements_a, elements_b = BINARY[name]
    shape_a, shape_b = pair.input_shapes
    a = leaf(data.draw(arrays(shape_a, elements_a)), device, layout)
    b = leaf(data.draw(arrays(shape_b, elements_b)), device)
    assert gradcheck(fn, (a, b))


@examples(15)
@given(data=st.data(), pair=broadcast_pairs(num_shapes=3))
def test_where_gradient(device, data, pair):
    cond_shape, shape_a, shape_b = pair.input_shapes
    cond = torch.tensor(data.draw(arrays(cond_shape, st.booleans(), dtype=np.bool_)), device=device)
    a, b = leaf(data.draw(arrays(shape_a)), device), leaf(data.draw(arrays(shape_b)), device)
    assert gradcheck(lambda a, b: torch.where(cond, a, b), (a, b))
    assert gradcheck(lambda a: torch.where(cond, a, 0.5), (a,))


# -- reductions ---------------------------------------------------------------------------------------


@st.composite
def reduction_dims(draw, ndim: int):
    """None (full reduction), one dim, or a tuple of distinct dims."""
    kind = draw(st.sampled_from(["none", "one", "tuple"]))
    if kind == "none":
        return None
    if kind == "one" or ndim == 0:
        return draw(dim_of(ndim))
    return tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))


@pytest.mark.parametrize("reduction", ["sum", "mean", "var", "std"])
@examples(15)
@given(data=st.data(), shape=shapes(), keepdim=st.booleans(), layout=layouts)
def test_sum_mean_var_gradient(device, reduction, data, shape, keepdim, layout):
    dim = data.draw(reduction_dims(len(shape)))
    axes = range(len(shape)) if dim is None else ([dim] if isinstance(dim, int) else dim)
    count = math.prod(shape[a] for a in axes) if shape else 1
    elements = distinct_arrays(shape) if reduction == "std" else arrays(shape)  # std: sqrt of var away from 0
    x = leaf(data.draw(elements), device, layout)
    if reduction in ("var", "std"):
        unbiased = count > 1  # Bessel's correction divides by count - 1
        assume(reduction == "var" or count > 1)
        assert gradcheck(lambda x: getattr(x, reduction)(dim, unbiased=unbiased, keepdim=keepdim), (x,))
    else:
        assert gradcheck(lambda x: getattr(x, reduction)(dim, keepdim=keepdim), (x,))


@pytest.mark.parametrize("largest", [True, False])
@examples(15)
@given(data=st.data(), shape=shapes(), keepdim=st.booleans())
def test_max_min_along_dim_gradient(device, largest, data, shape, keepdim):
    """``x.max(dim).values`` / ``x.min(dim).values``: distinct values, so the winner is unique and stable."""
    dim = data.draw(dim_of(len(shape)))
    x = leaf(data.draw(distinct_arrays(shape)), device)
    fn = (lambda x: x.max(dim, keepdim=keepdim).values) if largest else (lambda x: x.min(dim, keepdim).values)
    assert gradcheck(fn, (x,))
    assert gradcheck(lambda x: x.amax(dim, keepdim) if largest else x.min(dim=dim)[0], (x,))


@examples(15)
@given(data=st.data(), shape=shapes(min_dims=0))
def test_max_min_all_gradient(device, data, shape):
    assume(math.prod(shape) > 0)
    x = leaf(data.draw(distinct_arrays(shape)), device)
    assert gradcheck(lambda x: x.max(), (x,))
    assert gradcheck(lambda x: x.min() * 2, (x,))


# -- matmul and linear ------------------------------------------------------------------------------------

MATMUL_CASES = {
    "1d@1d": lambda m, k, n, b: ((k,), (k,)),
    "2d@2d": lambda m, k, n, b: ((m, k), (k, n)),
    "1d@2d": lambda m, k, n, b: ((k,), (k, n)),
    "2d@1d": lambda m, k, n, b: ((m, k), (k,)),
    "3d@2d": lambda m, k, n, b: ((b, m, k), (k, n)),
    "2d@3d": lambda m, k, n, b: ((m, k), (b, k, n)),
    "1d@3d": lambda m, k, n, b: ((k,), (b, k, n)),
    "3d@1d": lambda m, k, n, b: ((b, m, k), (k,)),
    "batched": lambda m, k, n, b: ((b, m, k), (b, k, n)),
    "broadcast_batched": lambda m, k, n, b: ((2, 1, m, k), (b, k, n)),
    "broadcast_batched_1": lambda m, k, n, b: ((b, 1, m, k), (1, 2, k, n)),
}


@pytest.mark.parametrize("case", MATMUL_CASES)
@examples(10)
@given(data=st.data(), sizes=st.tuples(*[st.integers(1, 3)] * 4), layout=layouts)
def test_matmul_gradient(device, case, data, sizes, layout):
    shape_a, shape_b = MATMUL_CASES[case](*sizes)
    a = leaf(data.draw(arrays(shape_a)), device, layout)
    b = leaf(data.draw(arrays(shape_b)), device, layout)
    assert gradcheck(lambda a, b: a @ b, (a, b))


@examples(15)
@given(
    data=st.data(),
    batch=shapes(max_dims=2, max_side=3),
    features=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    with_bias=st.booleans(),
)
def test_linear_gradient(device, data, batch, features, with_bias):
    """``F.linear`` on 1-D, 2-D and 3-D inputs, with and without bias."""
    fan_in, fan_out = features
    x = leaf(data.draw(arrays((*batch, fan_in))), device)
    w = leaf(data.draw(arrays((fan_out, fan_in))), device)
    if with_bias:
        b = leaf(data.draw(arrays((fan_out,))), device)
        assert gradcheck(lambda x, w, b: F.linear(x, w, b), (x, w, b))
    else:
        assert gradcheck(lambda x, w: F.linear(x, w), (x, w))


# -- movement ops -----------------------------------------------------------------------------------------


@examples(20)
@given(data=st.data(), shape=shapes(min_dims=1), layout=layouts)
def test_indexing_gradient(device, data, shape, layout):
    """ints, slices with steps, None, Ellipsis, integer tensors with repeated positions: the gradient of a
    position read twice is the sum of both reads' gradients."""
    index = data.draw(basic_and_advanced_index(shape))
    reference = np.zeros(shape)[index]  # the index must be valid and select something
    assume(reference.size > 0)
    x = leaf(data.draw(arrays(shape)), device, layout)
    assert gradcheck(lambda x: x[to_tensor_index(index, device)], (x,))


def test_indexing_repeated_integer_tensor_accumulates(device):
    x = leaf(np.arange(4.0), device)
    idx = torch.tensor([1, 1, 3, 1], device=device)
    assert gradcheck(lambda x: x[idx] * x[idx], (x,))
    x[idx].sum().backward()
    assert x.grad.tolist() == [0.0, 3.0, 0.0, 1.0]


@examples(15)
@given(data=st.data(), shape=shapes(min_dims=1, max_dims=3), count=st.integers(1, 3))
def test_cat_gradient(device, data, shape, count):
    dim = data.draw(dim_of(len(shape)))
    axis = dim % len(shape)
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=count, max_size=count))
    tensors = [leaf(data.draw(arrays((*shape[:axis], size, *shape[axis + 1 :]))), device) for size in sizes]
    assert gradcheck(lambda *ts: torch.cat(ts, dim=dim), tuple(tensors))


@examples(15)
@given(data=st.data(), shape=shapes(max_dims=3), count=st.integers(1, 3))
def test_stack_gradient(device, data, shape, count):
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    tensors = [leaf(data.draw(arrays(shape)), device) for _ in range(count)]
    assert gradcheck(lambda *ts: torch.stack(ts, dim=dim), tuple(tensors))


@examples(15)
@given(data=st.data(), shapes_=source_and_target(), value=st.sampled_from([0.0, -1.5, 1000.0]))
def test_masked_fill_gradient(device, data, shapes_, value):
    mask_shape, shape = shapes_
    mask = torch.tensor(data.draw(arrays(mask_shape, st.booleans(), dtype=np.bool_)), device=device)
    x = leaf(data.draw(arrays(shape)), device)
    assert gradcheck(lambda x: x.masked_fill(mask, value), (x,))


@examples(15)
@given(data=st.data(), rows=st.integers(1, 4), cols=st.integers(1, 5))
def test_masked_softmax_with_minus_inf_gradient(device, data, rows, cols):
    """-inf written by a mask (rows never fully masked): the masked entries get probability and gradient 0."""
    mask = data.draw(arrays((rows, cols), st.booleans(), dtype=np.bool_))
    mask[np.arange(rows), data.draw(st.lists(st.integers(0, cols - 1), min_size=rows, max_size=rows))] = False
    mask_t = torch.tensor(mask, device=device)
    x = leaf(data.draw(arrays((rows, cols), floats(-3, 3))), device)
    assert gradcheck(lambda x: x.masked_fill(mask_t, float("-inf")).softmax(-1), (x,))
    y = x.masked_fill(mask_t, float("-inf")).softmax(-1)
    assert np.all(y.detach().numpy()[mask] == 0)


@examples(15)
@given(data=st.data(), shape=shapes(min_dims=2, max_dims=3), diagonal=st.integers(-2, 2), upper=st.booleans())
def test_tril_triu_gradient(device, data, shape, diagonal, upper):
    x = leaf(data.draw(arrays(shape)), device)
    assert gradcheck(lambda x: x.triu(diagonal) if upper else x.tril(diagonal), (x,))


@examples(15)
@given(data=st.data(), shapes_=source_and_target())
def test_expand_gradient(device, data, shapes_):
    """Expanded copies of an element each pass their gradient back: they are summed."""
    source, target = shapes_
    x = leaf(data.draw(arrays(source)), device)
    assert gradcheck(lambda x: x.expand(*target), (x,))
    extra = len(target) - len(source)
    assert gradcheck(lambda x: x.expand(*target[:extra], *[-1] * len(source)) * 2, (x,))


def test_expand_rejects_minus_one_in_a_new_leading_dim():
    with pytest.raises(RuntimeError, match="-1"):
        torch.zeros(3).expand(-1, 3)


@examples(15)
@given(data=st.data(), shape=shapes(min_dims=1), layout=layouts)
def test_permute_transpose_gradient(device, data, shape, layout):
    perm = data.draw(st.permutations(range(len(shape))))
    d0, d1 = data.draw(dim_of(len(shape))), data.draw(dim_of(len(shape)))
    x = leaf(data.draw(arrays(shape)), device, layout)
    assert gradcheck(lambda x: x.permute(*perm), (x,))
    assert gradcheck(lambda x: x.transpose(d0, d1), (x,))
    assert gradcheck(lambda x: x.T * x.T, (x,))


@examples(20)
@given(data=st.data(), shape=shapes(), layout=layouts)
def test_reshape_family_gradient(device, data, shape, layout):
    """reshape (with -1), view, flatten, unsqueeze, squeeze, on contiguous and non-contiguous inputs."""
    size = math.prod(shape)
    x = leaf(data.draw(arrays(shape)), device, layout)
    new_shape = data.draw(shapes(max_elements=size).filter(lambda s: math.prod(s) == size)) if size < 13 else (-1,)
    ndim = len(shape)
    start, end, new_axis = data.draw(dim_of(ndim)), data.draw(dim_of(ndim)), data.draw(dim_of(ndim + 1))
    assert gradcheck(lambda x: x.reshape(*new_shape), (x,))
    assert gradcheck(lambda x: x.contiguous().view(-1) * 2, (x,))
    if ndim == 0 or start % ndim <= end % ndim:
        assert gradcheck(lambda x: x.flatten(start, end), (x,))
    assert gradcheck(lambda x: x.unsqueeze(new_axis), (x,))
    assert gradcheck(lambda x: x.squeeze(), (x,))
    if ndim:
        assert gradcheck(lambda x: x.squeeze(start), (x,))


# -- nn functions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@examples(15)
@given(data=st.data(), shape=shapes(), view=views)
def test_softmax_gradient(device, fn, data, shape, view):
    dim = data.draw(dim_of(len(shape)))
    x = leaf(data.draw(arrays(view_source_shape(shape, view), floats(-5, 5))), device)
    assert gradcheck(lambda x: getattr(F, fn)(apply_view(x, view), dim), (x,))


@examples(15)
@given(data=st.data(), shape=shapes(min_dims=1), affine=st.sampled_from(["none", "weight", "both"]))
def test_layer_norm_gradient(device, data, shape, affine):
    k = data.draw(st.integers(1, len(shape)))
    normalized = shape[len(shape) - k :]
    x = leaf(data.draw(distinct_arrays(shape)), device)  # distinct: the variance is never ~0
    if affine == "none":
        assert gradcheck(lambda x: F.layer_norm(x, normalized), (x,))
        return
    w = leaf(data.draw(arrays(normalized)), device)
    if affine == "weight":
        assert gradcheck(lambda x, w: F.layer_norm(x, normalized, weight=w), (x, w))
    else:
        b = leaf(data.draw(arrays(normalized)), device)
        assert gradcheck(lambda x, w, b: F.layer_norm(x, normalized, w, b), (x, w, b))


@st.composite
def logits_and_targets(draw, ignore_index=-100):
    """(N, C) logits and (N,) targets, some rows ignored but at least one kept."""
    n, c = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    logits = draw(arrays((n, c), floats(-4, 4)))
    targets = draw(st.lists(st.integers(0, c - 1) | st.just(ignore_index), min_size=n, max_size=n))
    targets[draw(st.integers(0, n - 1))] = draw(st.integers(0, c - 1))
    return logits, np.asarray(targets, dtype=np.int64)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@examples(15)
@given(data=st.data(), ignore_index=st.sampled_from([-100, 2]))
def test_cross_entropy_gradient(device, reduction, data, ignore_index):
    logits, targets = data.draw(logits_and_targets(ignore_index))
    x, t = leaf(logits, device), torch.tensor(targets, device=device)
    assert gradcheck(lambda x: F.cross_entropy(x, t, ignore_index=ignore_index, reduction=reduction), (x,))


@examples(10)
@given(data=st.data(), n=st.integers(1, 3), c=st.integers(1, 4), d=st.integers(1, 3))
def test_cross_entropy_gradient_higher_dims_and_1d(device, data, n, c, d):
    """(N, C, d) logits with (N, d) targets, and a single (C,) row with a 0-d target."""
    x = leaf(data.draw(arrays((n, c, d))), device)
    t = torch.tensor(data.draw(arrays((n, d), st.integers(0, c - 1), dtype=np.int64)), device=device)
    assert gradcheck(lambda x: F.cross_entropy(x, t), (x,))
    row = leaf(data.draw(arrays((c,))), device)
    assert gradcheck(lambda r: F.cross_entropy(r, torch.tensor(c - 1, device=device)), (row,))


@examples(15)
@given(data=st.data(), vocab=st.integers(1, 5), dim=st.integers(1, 4), idx_shape=shapes(max_dims=2, max_side=4))
def test_embedding_gradient(device, data, vocab, dim, idx_shape):
    """Rows looked up several times receive the sum of their gradients."""
    weight = leaf(data.draw(arrays((vocab, dim))), device)
    idx = torch.tensor(data.draw(arrays(idx_shape, st.integers(0, vocab - 1), dtype=np.int64)), device=device)
    assert gradcheck(lambda w: F.embedding(idx, w), (weight,))


@examples(10)
@given(data=st.data(), batch=shapes(max_dims=2, max_side=2), t=st.integers(1, 4), d=st.integers(1, 3))
def test_causal_attention_gradient(device, data, batch, t, d):
    q, k, v = (leaf(data.draw(arrays((*batch, t, d))), device) for _ in range(3))
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v))


# -- fused ops equal their composition from primitives ------------------------------------------------------


def _softmax_composed(x, dim):
    e = (x - x.max(dim, keepdim=True).values.detach()).exp()
    return e / e.sum(dim, keepdim=True)


def _log_softmax_composed(x, dim):
    shifted = x - x.max(dim, keepdim=True).values.detach()
    return shifted - shifted.exp().sum(dim, keepdim=True).log()


def _layer_norm_composed(x, k, w, b, eps=1e-5):
    dims = tuple(range(x.dim() - k, x.dim()))
    centered = x - x.mean(dims, keepdim=True)
    out = centered / ((centered * centered).mean(dims, keepdim=True) + eps).sqrt()
    out = out * w if w is not None else out
    return out + b if b is not None else out


def _cross_entropy_composed(x, t, ignore_index, reduction):
    keep = t != ignore_index
    safe = torch.where(keep, t, 0)
    rows = torch.arange(x.shape[0], device=x.device)
    losses = -_log_softmax_composed(x, 1)[rows, safe] * keep.double()
    if reduction == "none":
        return losses
    return losses.sum() / keep.sum().double() if reduction == "mean" else losses.sum()


def _value_and_grads(fn, arrays_, device, upstream_seed=0):
    leaves = [leaf(a, device) for a in arrays_]
    out = fn(*leaves)
    g = np.random.default_rng(upstream_seed).standard_normal(out.shape)
    out.backward(torch.tensor(g, device=device))
    return out.detach().cpu().numpy(), [t.grad.cpu().numpy() for t in leaves]


def assert_same_value_and_gradient(fused, composed, arrays_, device):
    (v1, g1), (v2, g2) = _value_and_grads(fused, arrays_, device), _value_and_grads(composed, arrays_, device)
    np.testing.assert_allclose(v1, v2, rtol=1e-10, atol=1e-12)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("scale", [1.0, 1000.0])
@examples(15)
@given(data=st.data(), shape=shapes(min_dims=1))
def test_fused_softmax_and_log_softmax_equal_composition(device, scale, data, shape):
    """Value and gradient, also for logits around 1000 where a naive exp overflows."""
    dim = data.draw(dim_of(len(shape)))
    x = data.draw(arrays(shape)) * scale
    assert_same_value_and_gradient(lambda x: F.softmax(x, dim), lambda x: _softmax_composed(x, dim), [x], device)
    assert_same_value_and_gradient(
        lambda x: F.log_softmax(x, dim), lambda x: _log_softmax_composed(x, dim), [x], device
    )


def test_fused_softmax_stable_for_minus_inf_and_large_logits(device):
    x = np.array([[1000.0, 999.0, -np.inf], [-1000.0, -np.inf, -1001.0]])
    y = F.softmax(torch.tensor(x, device=device), -1).cpu().numpy()
    ls = F.log_softmax(torch.tensor(x, device=device), -1).cpu().numpy()
    e = np.exp(np.array([[1.0, 0.0], [0.0, -1.0]]))
    expected = np.array([[e[0, 0], e[0, 1], 0.0], [e[1, 0], 0.0, e[1, 1]]]) / e.sum(1, keepdims=True)[:, [0, 0, 0]]
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert np.isfinite(ls[[0, 0, 1, 1], [0, 1, 0, 2]]).all() and np.isneginf(ls[[0, 1], [2, 1]]).all()
    np.testing.assert_allclose(np.exp(ls), expected, rtol=1e-12)
    mask = torch.tensor(np.isinf(x), device=device)
    finite = leaf(np.where(np.isinf(x), 0.0, x), device)
    assert_same_value_and_gradient(
        lambda x: x.masked_fill(mask, float("-inf")).softmax(-1),
        lambda x: _softmax_composed(x.masked_fill(mask, float("-inf")), -1),
        [finite.detach().numpy()],
        device,
    )


@examples(15)
@given(data=st.data(), shape=shapes(min_dims=1), affine=st.booleans())
def test_fused_layer_norm_equals_composition(device, data, shape, affine):
    k = data.draw(st.integers(1, len(shape)))
    normalized = shape[len(shape) - k :]
    x = data.draw(distinct_arrays(shape))
    if not affine:
        assert_same_value_and_gradient(
            lambda x: F.layer_norm(x, normalized), lambda x: _layer_norm_composed(x, k, None, None), [x], device
        )
        return
    w, b = data.draw(arrays(normalized)), data.draw(arrays(normalized))
    assert_same_value_and_gradient(
        lambda x, w, b: F.layer_norm(x, normalized, w, b),
        lambda x, w, b: _layer_norm_composed(x, k, w, b),
        [x, w, b],
        device,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("scale", [1.0, 1000.0])
@examples(15)
@given(data=st.data())
def test_fused_cross_entropy_equals_composition(device, reduction, scale, data):
    logits, targets = data.draw(logits_and_targets())
    t = torch.tensor(targets, device=device)
    assert_same_value_and_gradient(
        lambda x: F.cross_entropy(x, t, reduction=reduction),
        lambda x: _cross_entropy_composed(x, t, -100, reduction),
        [logits * scale],
        device,
    )


@examples(15)
@given(data=st.data(), batch=shapes(max_dims=2, max_side=3), fan_in=st.integers(1, 4), fan_out=st.integers(1, 4))
def test_fused_linear_equals_composition(device, data, batch, fan_in, fan_out):
    x, w, b = data.draw(arrays((*batch, fan_in))), data.draw(arrays((fan_out, fan_in))), data.draw(arrays((fan_out,)))
    assert_same_value_and_gradient(F.linear, lambda x, w, b: x @ w.T + b, [x, w, b], device)
    assert_same_value_and_gradient(lambda x, w: F.linear(x, w), lambda x, w: x @ w.t(), [x, w], device)
