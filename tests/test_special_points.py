"""Gradients at the special points, where a derivative is a convention rather than a limit: kinks (relu, abs
and sign at 0, clamp at its bounds), ties (maximum/minimum, max/min/amax/amin reductions), masked positions (where,
masked_fill, softmax with −inf entries) and domain edges (sqrt and log at 0, pow at a zero or negative base).
Finite differences cannot check these (the one-sided slopes disagree), so the inputs are drawn *exactly at*
those points and the gradients compared with PyTorch's, whose convention each op's docstring promises.

Each case draws its values from a small set that contains the special point, so ties and zeros are common
rather than measure-zero; the upstream gradient is drawn too, so a wrong share cannot hide behind a sum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import examples

import tinygrad_edu as tg

# NumPy warns where the gradient is inf or nan by design (sqrt and log at 0, −inf rows of softmax)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

# values that hit the special points often: 0, ±1 (bounds and ties), and a few others
SPECIAL = st.sampled_from([0.0, 0.0, 1.0, -1.0, 0.5, -0.5, 2.0])
SHAPES = st.tuples(st.integers(1, 4), st.integers(1, 5))


def arrays(shape_strategy=SHAPES, values=SPECIAL):
    return shape_strategy.flatmap(
        lambda shape: st.lists(values, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))).map(
            lambda v: np.array(v, dtype=np.float64).reshape(shape)
        )
    )


def gradients(torch, function, inputs: list[np.ndarray], upstream_seed: int):
    """Our and PyTorch's gradients of ``sum(function(*inputs) * w)``, ``w`` a random upstream gradient."""
    ours = [tg.tensor(x, requires_grad=True) for x in inputs]
    theirs = [torch.tensor(x, requires_grad=True) for x in inputs]
    out_ours, out_theirs = function(tg, *ours), function(torch, *theirs)
    w = np.random.default_rng(upstream_seed).standard_normal(tuple(out_theirs.shape))
    (out_ours * tg.tensor(w)).sum().backward()
    (out_theirs * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(out_ours.detach().numpy(), out_theirs.detach().numpy(), rtol=1e-15, atol=0)
    return [t.grad.numpy() for t in ours], [t.grad.numpy() for t in theirs]


def assert_same_gradients(torch, function, inputs, seed):
    ours, theirs = gradients(torch, function, inputs, seed)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)  # inf and nan must match too (and where they are)


UNARY_AT_KINKS = {
    "relu at 0 (gradient 0)": lambda lib, x: lib.relu(x),
    "abs at 0 (gradient 0)": lambda lib, x: x.abs(),
    "sign at 0 and elsewhere (gradient 0)": lambda lib, x: x.sign() * x,
    "clamp(-1, 1) at both bounds (gradient 1 there)": lambda lib, x: x.clamp(-1.0, 1.0),
    "clamp(min=0) at its bound": lambda lib, x: x.clamp(min=0.0),
    "clamp(max=0.5) at its bound": lambda lib, x: x.clamp(max=0.5),
    "sqrt at 0 (gradient inf)": lambda lib, x: x.abs().sqrt(),
    "log at 0 (gradient inf)": lambda lib, x: x.abs().log(),
    "masked_fill at the masked points (gradient 0)": lambda lib, x: x.masked_fill(x == 0, 3.0),
    "where at both branches": lambda lib, x: lib.where(x > 0, x * 2, x * x),
}


@pytest.mark.parametrize("case", UNARY_AT_KINKS)
@examples(40)
@given(x=arrays(), seed=st.integers(0, 2**16))
def test_unary_gradients_at_special_points_match_pytorch(torch, case, x, seed):
    assert_same_gradients(torch, UNARY_AT_KINKS[case], [x], seed)


BINARY_TIES = {
    "maximum: ties share the gradient, ½ each": lambda lib, a, b: lib.maximum(a, b),
    "minimum: ties share the gradient, ½ each": lambda lib, a, b: lib.minimum(a, b),
}


@pytest.mark.parametrize("case", BINARY_TIES)
@examples(40)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_ties_of_maximum_and_minimum_match_pytorch(torch, case, data, seed):
    a = data.draw(arrays())
    b = data.draw(arrays(st.just(a.shape)))  # same shape: many elementwise ties
    assert_same_gradients(torch, BINARY_TIES[case], [a, b], seed)
    broadcast_b = data.draw(arrays(st.just((1, a.shape[1]))))  # and broadcast against a row
    assert_same_gradients(torch, BINARY_TIES[case], [a, broadcast_b], seed)


@examples(40)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_pow_at_zero_and_negative_bases_matches_pytorch(torch, data, seed):
    """Slope in a: 0 at 0⁰. Slope in b: 0 where a = 0 and b ≥ 0 (the limit), nan for a < 0
    (no real logarithm), -inf·sign where a = 0 and b < 0."""
    a = data.draw(arrays())
    b = data.draw(arrays(st.just(a.shape), values=st.sampled_from([0.0, 0.0, 1.0, 2.0, -1.0, 0.5, 3.0])))
    assert_same_gradients(torch, lambda lib, a, b: a**b, [a, b], seed)


REDUCTION_TIES = {
    "max of everything: 1/k to each of k tied maxima": lambda lib, x: x.max(),
    "min of everything: 1/k to each of k tied minima": lambda lib, x: x.min(),
    "amax along a dim: split evenly among ties": lambda lib, x: x.amax(dim=1),
    "amin along a dim: split evenly among ties": lambda lib, x: x.amin(dim=0),
    "max along a dim: all to the index it returns": lambda lib, x: x.max(dim=1)[0],
    "min along a dim: all to the index it returns": lambda lib, x: x.min(dim=0)[0],
}


@pytest.mark.parametrize("case", REDUCTION_TIES)
@examples(40)
@given(x=arrays(values=st.sampled_from([0.0, 1.0, 1.0, 2.0])), seed=st.integers(0, 2**16))
def test_ties_of_max_and_min_reductions_match_pytorch(torch, case, x, seed):
    assert_same_gradients(torch, REDUCTION_TIES[case], [x], seed)
    if "index it returns" in case:  # the index is the first of the tied extremes, as PyTorch's
        dim = 1 if "max" in case else 0
        ours = getattr(tg.tensor(x), "max" if "max" in case else "min")(dim=dim)[1].numpy()
        theirs = getattr(torch.tensor(x), "max" if "max" in case else "min")(dim=dim)[1].numpy()
        np.testing.assert_array_equal(ours, theirs)


@examples(40)
@given(x=arrays(values=st.sampled_from([0.0, 1.0, -np.inf, -np.inf])), seed=st.integers(0, 2**16))
def test_softmax_with_minus_inf_entries_matches_pytorch(torch, x, seed):
    """−inf scores get weight 0 and gradient 0; a row of nothing but −inf is nan in PyTorch, and here."""
    assert_same_gradients(torch, lambda lib, s: lib.nn.functional.softmax(s, dim=-1), [x], seed)


def test_the_conventions_are_written_in_the_docstrings():
    from tinygrad_edu.ops import elementwise, reduce

    assert "½ where they tie" in elementwise.Maximum.__doc__
    assert "0 at 0" in elementwise.Abs.__doc__
    assert "lo <= a <= hi" in elementwise.Clamp.__doc__
    assert "ties evenly" in reduce.MaxAll.__doc__
    assert "the index returned" in reduce.MaxAlong.__doc__
    assert "0 at 0⁰" in elementwise.Pow.__doc__ and "0 where a = 0 and b ≥ 0" in elementwise.Pow.__doc__
