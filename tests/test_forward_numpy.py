"""Forward values of every op against NumPy references written independently here, in float32 and float64,
and PyTorch's dtype rules: no float64 promotion of float32 inputs, ints stay int64, ``int / 2`` is float32."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import (
    arrays,
    away_from_zero,
    broadcast_pairs,
    dim_of,
    distinct_arrays,
    examples,
    floats,
    grid,
    positive,
    shapes,
)

import tinygrad_edu as torch
from tinygrad_edu.nn import functional as F

DTYPES = {"float32": (np.float32, torch.float32), "float64": (np.float64, torch.float64)}
TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


# name -> (engine function, NumPy reference on float64, element strategy)
UNARY = {
    "neg": (lambda x: -x, lambda x: -x, floats()),
    "exp": (lambda x: x.exp(), np.exp, floats()),
    "log": (lambda x: x.log(), np.log, positive()),
    "sqrt": (lambda x: torch.sqrt(x), np.sqrt, positive()),
    "rsqrt": (lambda x: x.rsqrt(), lambda x: 1 / np.sqrt(x), positive()),
    "tanh": (lambda x: x.tanh(), np.tanh, floats()),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), floats(-30, 30)),
    "relu": (lambda x: x.relu(), lambda x: np.where(x > 0, x, 0.0), floats()),
    "abs": (lambda x: x.abs(), np.abs, floats()),
    "sin": (lambda x: x.sin(), np.sin, floats()),
    "cos": (lambda x: x.cos(), np.cos, floats()),
    "square": (lambda x: x.square(), lambda x: x * x, floats()),
    "gelu": (lambda x: F.gelu(x), lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), floats(-5, 5)),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), _gelu_tanh, floats(-5, 5)),
    "pow_scalar": (lambda x: x**3, lambda x: x**3, floats()),
    "pow_float_scalar": (lambda x: x**0.5, np.sqrt, positive()),
    "rpow": (lambda x: 2**x, lambda x: 2.0**x, floats()),
    "add_float": (lambda x: x + 0.25, lambda x: x + 0.25, floats()),
    "rsub_int": (lambda x: 3 - x, lambda x: 3 - x, floats()),
    "div_int": (lambda x: x / 4, lambda x: x / 4, floats()),
    "rdiv_float": (lambda x: 1.5 / x, lambda x: 1.5 / x, away_from_zero(0.3)),
    "clamp": (lambda x: x.clamp(-0.5, 0.5), lambda x: np.minimum(np.maximum(x, -0.5), 0.5), floats()),
    "clamp_min": (lambda x: x.clamp(min=0.1), lambda x: np.maximum(x, 0.1), floats()),
    "maximum_scalar_tensor": (lambda x: x.maximum(torch.tensor(0.5)), lambda x: np.maximum(x, 0.5), floats()),
    "minimum_scalar_tensor": (lambda x: x.minimum(torch.tensor(0.5)), lambda x: np.minimum(x, 0.5), floats()),
    "sum": (lambda x: x.sum(), np.sum, floats()),
    "mean": (lambda x: x.mean(), np.mean, floats()),
    "var_biased": (lambda x: x.var(unbiased=False), np.var, floats()),
    "max": (lambda x: x.max(), np.max, floats()),
    "min": (lambda x: x.min(), np.min, floats()),
    "tril": (lambda x: x.tril() if x.dim() >= 2 else x, lambda x: np.tril(x) if x.ndim >= 2 else x, floats()),
    "triu_1": (lambda x: x.triu(1) if x.dim() >= 2 else x, lambda x: np.triu(x, 1) if x.ndim >= 2 else x, floats()),
    "transpose_T": (lambda x: x.T, lambda x: x.T, floats()),
    "flatten": (lambda x: x.flatten(), lambda x: x.reshape(-1), floats()),
    "index_step": (
        lambda x: x[..., ::2] if x.dim() else x,
        lambda x: x[..., ::2] if x.ndim else x,
        floats(),
    ),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", UNARY)
@examples(8)
@given(data=st.data(), shape=shapes(min_side=1))
def test_unary_forward_matches_numpy(device, name, dtype, data, shape):
    fn, reference, elements = UNARY[name]
    np_dtype, dt = DTYPES[dtype]
    x = data.draw(arrays(shape, elements)).astype(np_dtype)
    out = fn(torch.tensor(x, device=device))
    assert out.dtype == dt, f"{name} changed {dt} into {out.dtype}"
    assert tuple(out.shape) == np.shape(reference(x.astype(np.float64)))
    np.testing.assert_allclose(out.cpu().numpy(), reference(x.astype(np.float64)), **TOLERANCE[np_dtype])


BINARY = {
    "add": (lambda a, b: a + b, np.add, floats()),
    "sub": (lambda a, b: a - b, np.subtract, floats()),
    "mul": (lambda a, b: a * b, np.multiply, floats()),
    "div": (lambda a, b: a / b, np.divide, away_from_zero(0.3)),
    "pow": (lambda a, b: a.abs() ** b, lambda a, b: np.abs(a) ** b, positive()),
    "maximum": (lambda a, b: a.maximum(b), np.maximum, floats()),
    "minimum": (lambda a, b: torch.min(a, b), np.minimum, floats()),
    "where": (lambda a, b: torch.where(a > b, a, b), lambda a, b: np.where(a > b, a, b), floats()),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", BINARY)
@examples(8)
@given(data=st.data(), pair=broadcast_pairs())
def test_binary_forward_matches_numpy_with_broadcasting(device, name, dtype, data, pair):
    fn, reference, elements = BINARY[name]
    np_dtype, dt = DTYPES[dtype]
    a, b = (data.draw(arrays(s, elements)).astype(np_dtype) for s in pair.input_shapes)
    out = fn(torch.tensor(a, device=device), torch.tensor(b, device=device))
    assert out.dtype == dt and tuple(out.shape) == pair.result_shape
    np.testing.assert_allclose(out.cpu().numpy(), reference(a.astype(np.float64), b), **TOLERANCE[np_dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@examples(10)
@given(data=st.data(), shape=shapes(min_dims=1), keepdim=st.booleans())
def test_reductions_along_dim_match_numpy(device, dtype, data, shape, keepdim):
    np_dtype, dt = DTYPES[dtype]
    dim = data.draw(dim_of(len(shape)))
    x = data.draw(distinct_arrays(shape)).astype(np_dtype)
    t, x64, tol = torch.tensor(x, device=device), x.astype(np.float64), TOLERANCE[np_dtype]
    for out, expected in [
        (t.sum(dim, keepdim=keepdim), x64.sum(dim, keepdims=keepdim)),
        (t.mean(dim, keepdim=keepdim), x64.mean(dim, keepdims=keepdim)),
        (t.var(dim, unbiased=False, keepdim=keepdim), x64.var(dim, keepdims=keepdim)),
        (t.max(dim, keepdim=keepdim).values, x64.max(dim, keepdims=keepdim)),
        (t.min(dim, keepdim=keepdim).values, x64.min(dim, keepdims=keepdim)),
        (t.softmax(dim), _softmax(x64, dim)),
        (t.log_softmax(dim), np.log(_softmax(x64, dim))),
    ]:
        assert out.dtype == dt and tuple(out.shape) == expected.shape
        np.testing.assert_allclose(out.cpu().numpy(), expected, **tol)
    indices = t.max(dim, keepdim=keepdim).indices
    assert indices.dtype == torch.int64
    np.testing.assert_array_equal(indices.cpu().numpy(), x.argmax(dim, keepdims=keepdim))
    if shape[dim] > 1:
        np.testing.assert_allclose(t.var(dim).cpu().numpy(), x64.var(dim, ddof=1), **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@examples(10)
@given(data=st.data(), m=st.integers(1, 4), k=st.integers(1, 4), n=st.integers(1, 4), b=st.integers(1, 3))
def test_matmul_and_linear_match_numpy(device, dtype, data, m, k, n, b):
    np_dtype, dt = DTYPES[dtype]
    tol = TOLERANCE[np_dtype]
    for sa, sb in [((k,), (k,)), ((m, k), (k, n)), ((k,), (k, n)), ((b, m, k), (k, n)), ((2, 1, m, k), (b, k, n))]:
        a, w = data.draw(arrays(sa)).astype(np_dtype), data.draw(arrays(sb)).astype(np_dtype)
        out = torch.tensor(a, device=device) @ torch.tensor(w, device=device)
        assert out.dtype == dt
        np.testing.assert_allclose(out.cpu().numpy(), np.matmul(a.astype(np.float64), w), **tol)
    x = data.draw(arrays((b, m, k))).astype(np_dtype)
    w, bias = data.draw(arrays((n, k))).astype(np_dtype), data.draw(arrays((n,))).astype(np_dtype)
    out = F.linear(*(torch.tensor(v, device=device) for v in (x, w, bias)))
    assert out.dtype == dt
    np.testing.assert_allclose(out.cpu().numpy(), x.astype(np.float64) @ w.T.astype(np.float64) + bias, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@examples(10)
@given(data=st.data(), shape=shapes(min_dims=1))
def test_layer_norm_matches_numpy(device, dtype, data, shape):
    np_dtype, dt = DTYPES[dtype]
    k = data.draw(st.integers(1, len(shape)))
    normalized, axes = shape[len(shape) - k :], tuple(range(len(shape) - k, len(shape)))
    x = data.draw(distinct_arrays(shape)).astype(np_dtype)
    w, b = data.draw(arrays(normalized)).astype(np_dtype), data.draw(arrays(normalized)).astype(np_dtype)
    tx, tw, tb = (torch.tensor(v, device=device) for v in (x, w, b))
    out = F.layer_norm(tx, normalized, tw, tb)
    x64 = x.astype(np.float64)
    mean, var = x64.mean(axes, keepdims=True), x64.var(axes, keepdims=True)
    expected = (x64 - mean) / np.sqrt(var + 1e-5) * w + b
    assert out.dtype == dt
    np.testing.assert_allclose(out.cpu().numpy(), expected, rtol=1e-4 if np_dtype == np.float32 else 1e-10, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@examples(10)
@given(data=st.data(), n=st.integers(1, 5), c=st.integers(1, 5))
def test_cross_entropy_matches_numpy(device, dtype, reduction, data, n, c):
    np_dtype, dt = DTYPES[dtype]
    x = data.draw(arrays((n, c), floats(-10, 10))).astype(np_dtype)
    t = np.array(data.draw(st.lists(st.integers(0, c - 1) | st.just(-100), min_size=n, max_size=n)), dtype=np.int64)
    t[0] = 0  # at least one row kept
    out = F.cross_entropy(torch.tensor(x, device=device), torch.tensor(t, device=device), reduction=reduction)
    x64 = x.astype(np.float64)
    lse = np.log(np.exp(x64 - x64.max(1, keepdims=True)).sum(1)) + x64.max(1)
    keep = t != -100
    losses = np.where(keep, lse - x64[np.arange(n), np.where(keep, t, 0)], 0.0)
    expected = {"none": losses, "sum": losses.sum(), "mean": losses.sum() / keep.sum()}[reduction]
    assert out.dtype == dt and tuple(out.shape) == np.shape(expected)
    np.testing.assert_allclose(out.cpu().numpy(), expected, **TOLERANCE[np_dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@examples(10)
@given(data=st.data(), shape=shapes(min_dims=1, max_dims=3))
def test_movement_ops_match_numpy(device, dtype, data, shape):
    np_dtype, dt = DTYPES[dtype]
    x = data.draw(arrays(shape)).astype(np_dtype)
    y = data.draw(arrays(shape)).astype(np_dtype)
    perm = data.draw(st.permutations(range(len(shape))))
    dim = data.draw(dim_of(len(shape)))
    mask = data.draw(arrays(shape, st.booleans(), dtype=np.bool_))
    idx = np.array(data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=4)))
    tx, ty = torch.tensor(x, device=device), torch.tensor(y, device=device)
    cases = [
        (tx.permute(*perm), x.transpose(perm)),
        (tx.transpose(0, -1), np.swapaxes(x, 0, -1)),
        (tx.reshape(-1), x.reshape(-1)),
        (tx.unsqueeze(0).expand(2, *shape), np.broadcast_to(x, (2, *shape))),
        (torch.cat([tx, ty], dim), np.concatenate([x, y], dim)),
        (torch.stack([tx, ty], dim), np.stack([x, y], dim)),
        (tx.masked_fill(torch.tensor(mask, device=device), -2.5), np.where(mask, np_dtype(-2.5), x)),
        (tx[torch.tensor(idx, device=device)], x[idx]),
        (tx[None, ..., -1], x[None, ..., -1]),
    ]
    for out, expected in cases:
        assert out.dtype == dt
        np.testing.assert_array_equal(out.cpu().numpy(), expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_dropout_and_attention_match_numpy(device, dtype):
    np_dtype, dt = DTYPES[dtype]
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 3)).astype(np_dtype)
    idx = np.array([[0, 4, 4], [2, 2, 1]])
    out = F.embedding(torch.tensor(idx, device=device), torch.tensor(w, device=device))
    assert out.dtype == dt
    np.testing.assert_array_equal(out.cpu().numpy(), w[idx])

    x = rng.standard_normal((40, 50)).astype(np_dtype)
    dropped = F.dropout(torch.tensor(x, device=device), p=0.5).cpu().numpy()
    assert dropped.dtype == np_dtype
    assert np.all((dropped == 0) | np.isclose(dropped, 2 * x, rtol=1e-6))

    q, k, v = (rng.standard_normal((2, 4, 3)).astype(np_dtype) for _ in range(3))
    out = F.scaled_dot_product_attention(*(torch.tensor(a, device=device) for a in (q, k, v)), is_causal=True)
    scores = q.astype(np.float64) @ k.transpose(0, 2, 1) / math.sqrt(3)
    scores[:, np.triu(np.ones((4, 4), dtype=bool), 1)] = -np.inf
    assert out.dtype == dt
    np.testing.assert_allclose(out.cpu().numpy(), _softmax(scores, -1) @ v, **TOLERANCE[np_dtype])


# -- dtype rules ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: torch.tensor([1, 2]) / 2, torch.float32),
        (lambda: torch.tensor([1, 2]) / torch.tensor([2, 4]), torch.float32),
        (lambda: torch.tensor([1, 2]) + 2, torch.int64),
        (lambda: torch.tensor([1, 2]) * 2.5, torch.float32),
        (lambda: torch.tensor([1, 2]).sum(), torch.int64),
        (lambda: torch.tensor([True, False]).sum(), torch.int64),
        (lambda: torch.tensor([1, 2]).max(), torch.int64),
        (lambda: torch.tensor([1, 2], dtype=torch.int32) + 2, torch.int32),
        (lambda: torch.tensor([1.0, 2.0]) + 2.5, torch.float32),
        (lambda: 2.5 * torch.tensor([1.0, 2.0]) - 1, torch.float32),
        (lambda: torch.tensor([1.0, 2.0]) + torch.tensor(2.0, dtype=torch.float64), torch.float32),
        (lambda: torch.tensor([1.0, 2.0]) * torch.tensor([1, 2]), torch.float32),
        (lambda: torch.tensor([1.0, 2.0], dtype=torch.float64) * 2.5, torch.float64),
        (lambda: torch.tensor([1.0, 2.0]) ** 2, torch.float32),
        (lambda: 2 ** torch.tensor([1.0, 2.0]), torch.float32),
        (lambda: torch.tensor([1, 2]).exp(), torch.float32),
        (lambda: torch.tensor([1.0, 2.0]).mean(), torch.float32),
        (lambda: torch.tensor([1.0, 2.0]).var(), torch.float32),
        (lambda: torch.where(torch.tensor([True, False]), torch.tensor([1.0, 2.0]), 0.0), torch.float32),
        (lambda: torch.cat([torch.tensor([1, 2]), torch.tensor([3])]), torch.int64),
        (lambda: torch.tensor([1.0, 2.0]).to(torch.float64), torch.float64),
    ],
)
def test_result_dtype_follows_pytorch(make, expected):
    assert make().dtype == expected


def test_float32_backward_keeps_float32_gradients():
    x = torch.tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
    loss = (F.softmax(x * 2.5, -1) + F.layer_norm(x, (2,)) + F.gelu(x)).sum() + x.var() + x.max() / 3
    loss.backward()
    assert loss.dtype == torch.float32 and x.grad.dtype == torch.float32


@examples(10)
@given(shape=shapes(), value=grid(0.5))
def test_zero_d_tensor_broadcasts_like_a_number(shape, value):
    x = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    out = torch.tensor(x) * torch.tensor(value) + torch.tensor(1.0)
    assert out.dtype == torch.float32 and tuple(out.shape) == shape
    np.testing.assert_allclose(out.numpy(), x * np.float32(value) + 1, rtol=1e-6)
