"""The fixes the op table (``benchmarks/op_table.py``) led to: each fast path equals its reference op and has its
gradient checked, and each faster reference still equals NumPy."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import kernels
from tinygrad_edu.autograd import gradcheck, gradgradcheck

needs_numba = pytest.mark.skipif(not kernels.numba_available(), reason="numba is not installed")


def _sigmoid_both(x: np.ndarray, upstream: np.ndarray):
    """(output, input gradient, op class name) of the fast path, then of the reference."""
    results = []
    for context in (contextlib.nullcontext(), kernels.reference()):
        t = tg.tensor(x, requires_grad=True)
        with context:
            out = t.sigmoid()
            out.backward(tg.tensor(upstream))
        results.append((out.detach().numpy(), t.grad.numpy(), type(out._ctx).__name__))
    return results


@needs_numba
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-7), (np.float64, 1e-15)])
def test_sigmoid_kernel_equals_the_reference(dtype, rtol):
    """Values across the range, the far tails (where σ underflows towards 0 and rounds to 1) and the special
    values: forward and backward within the exp's last-bit difference of the reference's."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(997) * 4, [0.0, -0.0, 30.0, -30.0, 90.0, -90.0, 800.0, -800.0]])
    x = np.concatenate([x, [np.inf, -np.inf, np.nan]]).astype(dtype).reshape(-1, 3)
    upstream = rng.standard_normal(x.shape).astype(dtype)
    (fast, fast_grad, fast_kind), (ref, ref_grad, ref_kind) = _sigmoid_both(x, upstream)
    assert (fast_kind, ref_kind) == ("SigmoidKernel", "Sigmoid")
    assert fast.dtype == ref.dtype == dtype
    np.testing.assert_allclose(fast, ref, rtol=4 * rtol, atol=0)
    # σ(1 - σ) near σ = 1: one ulp of σ is a larger part of 1 - σ, so the bound is absolute there
    slack = 16 * rtol * np.abs(ref_grad) + 2 * np.finfo(dtype).eps * np.abs(upstream)
    finite = np.isfinite(ref_grad)
    assert np.all(np.abs(fast_grad - ref_grad)[finite] <= slack[finite])
    assert np.array_equal(np.isnan(fast_grad), np.isnan(ref_grad))
    assert np.isnan(fast[-1, -1]) and fast[-1, 0] == 1 and fast[-1, 1] == 0


@needs_numba
def test_sigmoid_kernel_gradient_and_strided_input():
    x = tg.tensor(np.random.default_rng(1).standard_normal((4, 5)), requires_grad=True)
    assert gradcheck(lambda t: t.sigmoid(), (x,))
    assert type(x.sigmoid()._ctx).__name__ == "SigmoidKernel"
    transposed = tg.tensor(np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)).T
    expected = 1 / (1 + np.exp(-transposed.numpy().astype(np.float64)))
    np.testing.assert_allclose(transposed.sigmoid().numpy(), expected, rtol=1e-6)


def test_einsum_through_blas_equals_numpy_and_its_gradient_checks():
    """einsum asks NumPy for optimize=True (a product over shared letters goes to BLAS): the values equal
    NumPy's plain einsum, and the gradients of a batched product and a diagonal still check."""
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 5, 2))
    np.testing.assert_allclose(tg.einsum("bij,bjk->bik", tg.tensor(a), tg.tensor(b)).numpy(),
                               np.einsum("bij,bjk->bik", a, b), rtol=1e-12)  # fmt: skip
    ta, tb = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    assert gradcheck(lambda x, y: tg.einsum("bij,bjk->bik", x, y), (ta, tb))
    square = tg.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    assert gradcheck(lambda x: tg.einsum("ii->i", x), (square,))


def _grads_fast_and_reference(fn, x: np.ndarray, seed=0):
    """(gradient, the op classes whose backward ran) with the fast paths, then inside ``reference()``."""
    from tinygrad_edu.autograd import graph

    results = []
    for context in (contextlib.nullcontext(), kernels.reference()):
        kinds = []

        def backward(op, grad_outputs, run, kinds=kinds):
            kinds.append(type(op).__name__)
            return run()

        t = tg.tensor(x, requires_grad=True)
        with context:
            out = fn(t)
            upstream = np.random.default_rng(seed).standard_normal(tuple(out.shape)).astype(x.dtype)
            with graph.observe_ops(backward=backward):
                out.backward(tg.tensor(upstream))
        results.append((t.grad.numpy(), kinds))
    return results


ALONG_ONE_AXIS = {
    "x[idx], rows as embedding picks them": lambda t: t[tg.tensor([[1, 0], [1, -1]])],
    "index_select, repeats and negatives": lambda t: t.index_select(1, tg.tensor([2, 0, 2, -1, 2, 1])),
    "x[:, :, idx] with a 2-d idx": lambda t: t[:, :, tg.tensor([[3, 3], [0, -4]])],
    "repeat_interleave": lambda t: t.repeat_interleave(3, dim=2),
    "repeat_interleave by counts": lambda t: t.repeat_interleave(tg.tensor([0, 2, 1]), dim=1),
    "pad reflect": lambda t: tg.nn.functional.pad(t, (2, 2), mode="reflect"),
    "pad circular over two dims": lambda t: tg.nn.functional.pad(t, (1, 3, 2, 1), mode="circular"),
}


@pytest.mark.parametrize("name", ALONG_ONE_AXIS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_a_pick_along_one_axis_has_the_references_gradient(name, dtype):
    """The backward of a pick along one axis (index_select, repeat_interleave, F.pad's copying modes): the
    compiled pass adds in add.at's order (float32, float64: the same bits), the NumPy rounds of ``+=`` (float16,
    or without numba) in another order (equal to rounding)."""
    x = np.random.default_rng(7).standard_normal((2, 3, 4)).astype(dtype)
    (fast, fast_kinds), (ref, ref_kinds) = _grads_fast_and_reference(ALONG_ONE_AXIS[name], x)
    compiled = kernels.numba_available() and dtype != np.float16
    assert ("IndexAlongAxisKernel" if compiled else "IndexAlongAxis") in fast_kinds
    assert not {"IndexAlongAxisKernel", "IndexAlongAxis"} & set(ref_kinds)
    if compiled:
        np.testing.assert_array_equal(fast, ref)
    else:
        np.testing.assert_allclose(fast, ref, rtol=1e-2, atol=1e-2)


def test_the_rounds_of_plain_adds_equal_add_at():
    """The NumPy path alone, on many repeats of few positions, negative positions and a 2-d index."""
    from tinygrad_edu.kernels.scatter_add_sorted import add_along_axis_in_rounds

    rng = np.random.default_rng(9)
    index = rng.integers(-5, 5, (7, 3))
    values = rng.standard_normal((2, 7, 3, 4))
    expected = np.zeros((2, 5, 4))
    np.add.at(expected, (slice(None), index), values)
    got = np.zeros((2, 5, 4))
    add_along_axis_in_rounds(got, 1, index, values)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_scatter_add_along_one_axis_gradients_check():
    """First and second derivatives through index_select and a reflect pad (backward of the fast path is indexing)."""
    x = tg.tensor(np.random.default_rng(8).standard_normal((2, 3, 4)), requires_grad=True)
    pick = tg.tensor([1, 1, -1, 0])
    assert gradcheck(lambda t: t.index_select(2, pick) * t.index_select(2, pick), (x,))
    assert gradcheck(lambda t: tg.nn.functional.pad(t, (2, 1), mode="reflect"), (x,))
    assert gradgradcheck(lambda t: t.index_select(2, pick) ** 2, (x,))


@needs_numba
def test_erf_kernel_is_within_its_fit_of_float64s_erf_and_keeps_nan():
    """float32 erf by the fitted rational function: within 1e-6 relative of float64's erf over the whole range
    (±inf to ±1, NaN kept); float64 stays on SciPy; the gradient is the reference's."""
    from scipy import special

    x = np.concatenate([np.linspace(-6, 6, 100_001), [0.0, -0.0, 1e-30, np.inf, -np.inf, np.nan]])
    out = tg.tensor(x.astype(np.float32), requires_grad=True).erf()
    assert type(out._ctx).__name__ == "ErfKernel" and out.dtype == tg.float32
    got, exact = out.detach().numpy().astype(np.float64), special.erf(x.astype(np.float32).astype(np.float64))
    finite = ~np.isnan(exact)
    assert np.all(np.abs(got - exact)[finite] <= 1e-6 * np.abs(exact)[finite] + 1e-45)
    assert np.isnan(got[-1]) and got[-3] == 1 and got[-2] == -1
    assert type(tg.tensor(x, requires_grad=True).erf()._ctx).__name__ == "Erf"
    leaf = tg.tensor(np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    leaf.erf().backward(tg.ones(3, 4))
    expected = 2 / np.sqrt(np.pi) * np.exp(-(leaf.detach().numpy().astype(np.float64) ** 2))
    np.testing.assert_allclose(leaf.grad.numpy(), expected, rtol=1e-6)


def test_tanh_gelu_reference_multiplies_instead_of_pow():
    """The reference's tanh GELU with a·a·a equals the formula in float64, negative inputs included."""
    x = np.random.default_rng(6).standard_normal((4, 5)) * 3
    with kernels.reference():
        got = tg.nn.functional.gelu(tg.tensor(x), approximate="tanh").numpy()
    expected = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    t = tg.tensor(x, requires_grad=True)
    with kernels.reference():
        assert gradcheck(lambda v: tg.nn.functional.gelu(v, approximate="tanh"), (t,))


@pytest.mark.parametrize("exponent", [0.5, -0.5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_half_powers_by_a_square_root_equal_the_reference(exponent, dtype):
    """x ** ±½ by √x: values and gradients of the reference's pow, at 0, inf and negative bases too."""
    x = np.concatenate([np.random.default_rng(10).uniform(0.01, 9, 40), [0.0, np.inf, -1.0, 4.0]]).astype(dtype)
    upstream = np.ones_like(x)
    results = []
    for context in (contextlib.nullcontext(), kernels.reference()):
        t = tg.tensor(x, requires_grad=True)
        with context, np.errstate(all="ignore"):
            out = t**exponent
            out.backward(tg.tensor(upstream))
        results.append((out.detach().numpy(), t.grad.numpy(), type(out._ctx).__name__))
    (fast, fast_grad, kind), (ref, ref_grad, ref_kind) = results
    assert (kind, ref_kind) == ("HalfPower", "Pow") and fast.dtype == dtype
    rtol = 4 * np.finfo(dtype).eps
    np.testing.assert_allclose(fast, ref, rtol=rtol)
    np.testing.assert_allclose(fast_grad, ref_grad, rtol=rtol)


def test_half_power_gradient_checks():
    x = tg.tensor(np.random.default_rng(11).uniform(0.5, 3, (3, 4)), requires_grad=True)
    assert gradcheck(lambda t: t**0.5 + t**-0.5, (x,))
    assert gradgradcheck(lambda t: t**-0.5, (x,))
