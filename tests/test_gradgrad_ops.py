"""Second derivatives of every differentiable op of the registry (``op_registry.py``), float64.

* ``gradgradcheck``: the backward of the backward against finite differences of the first derivative, with
  respect to the inputs and to the upstream gradient, at samples drawn like the first-order ones (broadcast
  pairs, 0-d, size-1 dims, non-contiguous layouts and views);
* Hessian-vector products v ↦ ∂/∂x (uᵀ ∂f/∂x · v), by two ``grad`` calls with the same random u and v, equal
  PyTorch's to 1e-7 relative; for ops whose second derivative is zero almost everywhere (relu, abs, max, clamp,
  masked_fill, the linear ops ...) exactly, and exactly zero even without PyTorch;
* a fused op's second derivative (differentiated through its ``composite``) equals its plain composition's.

Small inputs get the full check (every element); larger ones the fast mode, along one random direction of
all inputs at once (the PyTorch comparison still checks every element).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from op_registry import (
    DIFFERENTIABLE,
    TG,
    WITH_COMPOSITION,
    hessian_vector_product,
    is_float,
    make_function,
    make_leaves,
    outputs_of,
    parametrize,
    to_numpy,
    torch_library,
    upstream_gradients,
)
from strategies import examples

from tinygrad_edu.autograd import gradgradcheck

FULL_CHECK_ELEMENTS = 24  # inputs and upstream gradients together: above this, gradgradcheck's fast mode
RTOL, ATOL = 1e-7, 1e-12
ZERO_SECOND = tuple(e for e in DIFFERENTIABLE if e.second_derivative_zero_almost_everywhere)
WITH_TORCH = tuple(e for e in DIFFERENTIABLE if e.no_torch is None)


def _exact_upstream(outputs, seed: int):
    """Upstream gradients that are multiples of 1/8, for the casts: v ± eps stays exact in float16 too."""
    rng = np.random.default_rng(seed)
    return [
        TG.tensor(np.asarray(rng.integers(-8, 9, tuple(o.shape)) / 8), device=o.device) for o in outputs if is_float(o)
    ]


@parametrize(DIFFERENTIABLE, "gradgradcheck")
@examples(5)
@given(data=st.data())
def test_second_derivative_matches_finite_differences(device, entry, data):
    sample = data.draw(entry.samples, label="sample")
    leaves = make_leaves(TG, sample, device)
    fn = make_function(entry, TG, sample, device)
    outputs = [o for o in outputs_of(fn(*leaves)) if is_float(o)]
    elements = sum(x.numel() for x in leaves) + sum(o.numel() for o in outputs)
    if entry.eps != 1e-6:  # an exact difference quotient needs unit steps on a grid: the full check
        assert gradgradcheck(fn, leaves, _exact_upstream(outputs, 0), eps=entry.eps)
    else:
        assert gradgradcheck(fn, leaves, eps=entry.eps, fast_mode=elements > FULL_CHECK_ELEMENTS)


@parametrize(DIFFERENTIABLE, "gradgradcheck")
@examples(5)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_first_derivative_is_the_same_when_its_graph_is_recorded(device, entry, data, seed):
    """Under create_graph the backward runs again on Tensors (``autograd/differentiable.py``, or the op's
    composite): its values must be the ordinary backward's. gradgradcheck cannot see a difference here, since it
    differentiates the recorded backward against itself."""
    sample = data.draw(entry.samples, label="sample")
    leaves = make_leaves(TG, sample, device)
    outputs = outputs_of(make_function(entry, TG, sample, device)(*leaves))
    pairs = upstream_gradients(TG, outputs, seed, device)
    outs, seeds = [o for o, _ in pairs], [u for _, u in pairs]
    plain = TG.autograd.grad(outs, leaves, seeds, retain_graph=True, allow_unused=True)
    recorded = TG.autograd.grad(outs, leaves, seeds, create_graph=True, allow_unused=True)
    for i, (a, b) in enumerate(zip(plain, recorded)):
        assert (a is None) == (b is None), f"input {i}"
        if a is not None:
            np.testing.assert_allclose(to_numpy(b), to_numpy(a), rtol=1e-10, atol=1e-12, err_msg=f"input {i}")


@pytest.mark.torch
@parametrize(WITH_TORCH, "hvp")
@examples(5)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_hessian_vector_product_matches_torch(torch, entry, data, seed):
    sample = data.draw(entry.samples, label="sample")
    assume(entry.torch_second_derivative_wrong is None or not entry.torch_second_derivative_wrong(sample))
    ours = hessian_vector_product(entry, TG, sample, seed)
    theirs = hessian_vector_product(entry, torch_library(torch), sample, seed)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if entry.second_derivative_zero_almost_everywhere:
            np.testing.assert_array_equal(a, b, err_msg=f"input {i}")
        else:
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f"input {i}")


@parametrize(ZERO_SECOND, "zero_second_derivative")
@examples(3)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_piecewise_linear_ops_have_a_zero_second_derivative(device, entry, data, seed):
    """Their first derivative is piecewise constant: its derivative is exactly 0 (not a rounding residue)."""
    sample = data.draw(entry.samples, label="sample")
    for i, h in enumerate(hessian_vector_product(entry, TG, sample, seed, device)):
        assert np.all(h == 0), f"input {i}: {h}"


@parametrize(WITH_COMPOSITION, "composition")
@examples(5)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_fused_op_second_derivative_equals_its_composition(device, entry, data, seed):
    sample = data.draw(entry.samples, label="sample")
    fused = hessian_vector_product(entry, TG, sample, seed, device)
    composed = hessian_vector_product(entry, TG, sample, seed, device, fn=entry.composition)
    for i, (a, b) in enumerate(zip(fused, composed)):
        scale = max(1.0, float(np.abs(b).max(initial=0)))
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12 * scale * math.sqrt(b.size), err_msg=f"input {i}")
