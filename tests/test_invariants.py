"""Properties that hold for every input: gradient shapes and dtypes, no mutation and no aliasing for every op of
the registry (``op_registry.py``), and the mathematical invariants of softmax, layer norm, cross-entropy with
ignore_index, dropout and broadcasting."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_registry import (
    DIFFERENTIABLE,
    TG,
    make_function,
    make_leaves,
    outputs_of,
    parametrize,
    to_numpy,
    upstream_gradients,
)
from strategies import arrays, broadcast_pairs, dim_of, distinct_arrays, examples, floats, leaf, shapes

import tinygrad_edu as torch
from tinygrad_edu.nn import functional as F
from tinygrad_edu.ops.broadcasting import unbroadcast


def _arrays_of(value) -> list:
    """The NumPy arrays in a sample's arguments (masks, indices, targets), nested ones included."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _arrays_of(v)]
    if isinstance(value, dict):
        return _arrays_of(list(value.values()))
    return []


@parametrize(DIFFERENTIABLE, "invariants", dtypes=True)
@examples(4)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_backward_keeps_shapes_and_dtypes_mutates_nothing_and_shares_no_memory(device, entry, dtype, data, seed):
    """For every op: each input's gradient has the input's shape and dtype; the inputs, the other arguments and
    the upstream gradients are left as they were; and no gradient shares memory with another gradient, an
    upstream gradient or an input (an in-place update of one must never change another)."""
    sample = data.draw(entry.samples, label="sample")
    leaves = make_leaves(TG, sample, device, dtype)
    outputs = outputs_of(make_function(entry, TG, sample, device, dtype)(*leaves))
    pairs = upstream_gradients(TG, outputs, seed, device)
    upstream = [g for _, g in pairs]
    arguments = _arrays_of([sample.args, sample.kwargs])
    before = [to_numpy(t).copy() for t in leaves + upstream] + [a.copy() for a in arguments]
    torch.autograd.backward([o for o, _ in pairs], upstream)
    for i, x in enumerate(leaves):
        assert x.grad is not None, f"input {i} got no gradient"
        assert tuple(x.grad.shape) == tuple(x.shape) and x.grad.dtype == x.dtype, f"input {i}"
    for now, saved in zip([to_numpy(t) for t in leaves + upstream] + arguments, before):
        np.testing.assert_array_equal(now, saved)
    xp = leaves[0]._xp  # NumPy, or CuPy on a GPU
    grads = [x.grad._data for x in leaves]
    others = [t._data for t in leaves + upstream]
    for i, g in enumerate(grads):
        for j, other in enumerate(grads[i + 1 :] + others):
            if type(g) is not type(other):  # x.cpu(): an upstream gradient on the host, a gradient on the device
                continue
            assert not xp.shares_memory(g, other), f"the gradient of input {i} shares memory with array {j}"


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: torch.stack([a, b])[:, :] * torch.stack([b, a]).sum(0),
        lambda a, b: a.sum(0) + b.sum(0) + 0 * (a + b),
        lambda a, b: a.expand(2, 3) + b + a,
    ],
)
def test_gradients_summed_over_several_paths_never_alias_each_other_or_the_upstream_gradient(device, fn):
    a, b = leaf(np.ones((2, 3)), device), leaf(np.full((2, 3), 2.0), device)
    out = fn(a, b)
    g = torch.tensor(np.arange(math.prod(out.shape), dtype=np.float64).reshape(tuple(out.shape)), device=device)
    g_before = g.cpu().numpy().copy()
    out.backward(g)
    b_grad_before = b.grad.cpu().numpy().copy()
    with torch.no_grad():
        a.grad.mul_(0).add_(-7)  # in place: must not leak into b.grad or g
    np.testing.assert_array_equal(b.grad.cpu().numpy(), b_grad_before)
    np.testing.assert_array_equal(g.cpu().numpy(), g_before)
    assert not np.shares_memory(a.grad.cpu().numpy(), b.grad.cpu().numpy())


def test_leaf_backward_does_not_alias_the_upstream_gradient(device):
    x = leaf(np.zeros(3), device)
    g = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, device=device)
    x.backward(g)
    with torch.no_grad():
        x.grad.add_(10)
    assert g.tolist() == [1.0, 2.0, 3.0]


# -- softmax, layer norm, cross-entropy ---------------------------------------------------------------------


@examples(20)
@given(data=st.data(), shape=shapes(min_dims=1), shift=floats(-50, 50))
def test_softmax_rows_sum_to_one_and_ignore_a_constant_shift(device, data, shape, shift):
    dim = data.draw(dim_of(len(shape)))
    x = data.draw(arrays(shape, floats(-20, 20)))
    row_shift = data.draw(arrays(tuple(1 if i == dim % len(shape) else n for i, n in enumerate(shape)))) + shift
    y = F.softmax(torch.tensor(x, device=device), dim).cpu().numpy()
    np.testing.assert_allclose(y.sum(axis=dim), 1.0, rtol=1e-12)
    assert np.all(y >= 0)
    y_shifted = F.softmax(torch.tensor(x + row_shift, device=device), dim).cpu().numpy()
    np.testing.assert_allclose(y_shifted, y, rtol=1e-9, atol=1e-15)


@examples(20)
@given(data=st.data(), shape=shapes(min_dims=1))
def test_layer_norm_without_affine_has_mean_zero_and_variance_one(device, data, shape):
    k = data.draw(st.integers(1, len(shape)))
    normalized, axes = shape[len(shape) - k :], tuple(range(len(shape) - k, len(shape)))
    x = data.draw(distinct_arrays(shape)) * 10
    y = F.layer_norm(torch.tensor(x, device=device), normalized, eps=1e-12).cpu().numpy()
    np.testing.assert_allclose(y.mean(axis=axes), 0.0, atol=1e-10)
    if math.prod(normalized) > 1:
        np.testing.assert_allclose(y.var(axis=axes), 1.0, rtol=1e-8)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@examples(20)
@given(data=st.data(), n=st.integers(1, 6), c=st.integers(1, 5), ignore_index=st.sampled_from([-100, 0, 3]))
def test_cross_entropy_with_ignore_index_equals_loss_over_kept_rows(device, reduction, data, n, c, ignore_index):
    x = data.draw(arrays((n, c), floats(-5, 5)))
    t = np.array(data.draw(st.lists(st.integers(0, c - 1) | st.just(ignore_index), min_size=n, max_size=n)))
    keep = t != ignore_index
    if not keep.any():
        t[0], keep[0] = (ignore_index + 1) % c if ignore_index in range(c) else 0, True
        keep = t != ignore_index
    full = leaf(x, device)
    loss = F.cross_entropy(full, torch.tensor(t, device=device), ignore_index=ignore_index, reduction=reduction)
    kept = leaf(x[keep], device)
    loss_kept = F.cross_entropy(kept, torch.tensor(t[keep], device=device), reduction=reduction)
    if reduction == "none":
        np.testing.assert_allclose(loss.detach().cpu().numpy()[keep], loss_kept.detach().cpu().numpy(), rtol=1e-12)
        assert np.all(loss.detach().cpu().numpy()[~keep] == 0)
        loss, loss_kept = loss.sum(), loss_kept.sum()
    np.testing.assert_allclose(loss.item(), loss_kept.item(), rtol=1e-12)
    loss.backward()
    loss_kept.backward()
    np.testing.assert_allclose(full.grad.cpu().numpy()[keep], kept.grad.cpu().numpy(), rtol=1e-12, atol=1e-15)
    assert np.all(full.grad.cpu().numpy()[~keep] == 0)


# -- dropout ----------------------------------------------------------------------------------------------


def test_dropout_is_identity_with_p0_or_in_eval(device):
    x = torch.randn(4, 5, device=device, requires_grad=True)
    for out in (F.dropout(x, p=0.0), F.dropout(x, p=0.7, training=False)):
        assert out is x or np.array_equal(out.detach().cpu().numpy(), x.detach().cpu().numpy())
    layer = torch.nn.Dropout(0.5)
    layer.eval()
    np.testing.assert_array_equal(layer(x).detach().cpu().numpy(), x.detach().cpu().numpy())


def test_dropout_keeps_the_expectation_and_zeroes_about_p(device):
    p, n = 0.5, 200_000
    x = torch.full((n,), 3.0, device=device)
    y = F.dropout(x, p=p).cpu().numpy()
    zero_fraction = float((y == 0).mean())
    # a Binomial(n, p) fraction has standard deviation sqrt(p(1-p)/n) ~ 0.0011: 6 sigmas is 0.007
    assert abs(zero_fraction - p) < 0.007
    assert abs(y.mean() - 3.0) < 6 * 3.0 * math.sqrt(p / (1 - p) / n)
    assert set(np.unique(y).tolist()) == {0.0, 6.0}
    means = np.mean([F.dropout(torch.ones(50, device=device), p=0.3).cpu().numpy().mean() for _ in range(400)])
    assert abs(means - 1.0) < 0.02


def test_dropout_gradient_uses_the_forward_mask(device):
    x = torch.randn(100, device=device, dtype=torch.float64, requires_grad=True)
    y = F.dropout(x, p=0.4)
    y.backward(torch.ones(100, device=device, dtype=torch.float64))
    mask = y.detach().cpu().numpy() != 0
    np.testing.assert_allclose(x.grad.cpu().numpy(), np.where(mask, 1 / 0.6, 0.0), rtol=1e-12)


# -- broadcasting -------------------------------------------------------------------------------------------


@examples(20)
@given(shape=shapes(min_dims=1), value=floats())
def test_zero_d_tensor_broadcasts_against_any_shape(device, shape, value):
    s = leaf(np.array(value), device)
    x = leaf(np.ones(shape), device)
    out = s * x + s
    assert tuple(out.shape) == shape
    out.sum().backward()
    assert s.grad.shape == () and x.grad.shape == shape
    np.testing.assert_allclose(s.grad.item(), 2 * math.prod(shape), rtol=1e-12)
    np.testing.assert_allclose(x.grad.cpu().numpy(), np.full(shape, value))


@examples(30)
@given(pair=broadcast_pairs())
def test_unbroadcast_of_ones_counts_the_copies(pair):
    """Each element of an input is read prod(result)/prod(input) times: its summed gradient of ones is that."""
    for shape in pair.input_shapes:
        grad = unbroadcast(np.ones(pair.result_shape), shape)
        assert np.shape(grad) == shape
        np.testing.assert_array_equal(grad, math.prod(pair.result_shape) // math.prod(shape))


def test_unbroadcast_sums_the_right_axes():
    grad = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(unbroadcast(grad, (3, 1)), grad.sum(axis=(0, 2)).reshape(3, 1))
    np.testing.assert_array_equal(unbroadcast(grad, ()), grad.sum())
    assert unbroadcast(grad, (2, 3, 4)) is grad
