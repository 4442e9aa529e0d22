"""Fast paths against the plain implementations they replace (the plain version is the oracle)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import tinygrad_edu as torch
from tinygrad_edu.nn import functional as F
from tinygrad_edu.ops.elementwise import normal_cdf_float32


def test_float32_normal_cdf_keeps_relative_accuracy_in_both_tails():
    x = np.linspace(-12, 12, 200_001).astype(np.float32)
    exact = 0.5 * special.erfc(-x.astype(np.float64) / np.sqrt(2))
    fast = normal_cdf_float32(np, x)
    assert fast.dtype == np.float32
    assert np.max(np.abs(fast - exact)) < 3e-7
    tail = exact > 1e-30
    assert np.max(np.abs(fast - exact)[tail] / exact[tail]) < 3e-5


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_float32_gelu_matches_float64_gelu(approximate):
    x64 = torch.randn(64, 257, dtype=torch.float64) * 4
    x32 = x64.float().requires_grad_()
    x64 = x32.double().detach().requires_grad_()
    y32, y64 = F.gelu(x32, approximate), F.gelu(x64, approximate)
    g = torch.randn(64, 257, dtype=torch.float64)
    y32.backward(g.float())
    y64.backward(g)
    assert y32.dtype == torch.float32 and x32.grad.dtype == torch.float32
    np.testing.assert_allclose(y32.detach().numpy(), y64.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x32.grad.numpy(), x64.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_blocked_normal_cdf_equals_the_unblocked_one():
    x = np.random.default_rng(0).standard_normal((70, 1000)).astype(np.float32) * 3
    np.testing.assert_array_equal(normal_cdf_float32(np, x, block=4096), normal_cdf_float32(np, x, block=10**9))


@pytest.mark.parametrize("shape", [(0,), (7,), (3, 50), (2, 3, 4)])
def test_sorted_embedding_backward_equals_add_at(shape):
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 11, size=shape)
    weight = torch.randn(11, 5, dtype=torch.float64, requires_grad=True)
    grad = rng.standard_normal((*shape, 5))
    F.embedding(torch.tensor(idx), weight).backward(torch.tensor(grad))
    expected = np.zeros((11, 5))
    np.add.at(expected, idx.ravel(), grad.reshape(-1, 5))
    np.testing.assert_allclose(weight.grad.numpy(), expected, rtol=1e-12, atol=1e-12)
