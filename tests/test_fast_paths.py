"""Fast paths against the plain implementations they replace (the plain version is the oracle).

* A fused op (softmax, log_softmax, layer_norm, cross_entropy, linear, gelu: one node with a hand-written
  backward) equals its composition from primitive ops, value and gradient, for every registry entry that names
  one (``composition``), also at scales where a naive exp would overflow;
* the float32 path of every op (float32 kernels such as GELU's normal CDF, float32 gradients) agrees with the
  float64 path to float32 accuracy, and keeps float32;
* the float32 reference GELU (SciPy's erf) within float32's rounding, and the sorted scatter-add.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_registry import (
    REGISTRY,
    TG,
    WITH_COMPOSITION,
    Sample,
    dtype_name,
    is_float,
    parametrize,
    run,
    softmax_composed,
    to_numpy,
)
from scipy import special
from strategies import examples, leaf

import tinygrad_edu as torch
from tinygrad_edu import kernels
from tinygrad_edu.kernels.scatter_add_sorted import add_rows_sorted

FLOAT32 = tuple(e for e in REGISTRY if "float32" in e.dtypes)


def _with_inputs(sample: Sample, inputs) -> Sample:
    return dataclasses.replace(sample, inputs=tuple(inputs))


def _values_and_grads(entry, sample, device, dtype=np.float64, fn=None, seed=0):
    outputs, leaves = run(entry, TG, sample, device, dtype, seed, fn)
    return [to_numpy(o) for o in outputs], [None if x.grad is None else to_numpy(x.grad) for x in leaves]


@parametrize(WITH_COMPOSITION, "composition")
@examples(8)
@given(data=st.data())
def test_fused_op_equals_its_composition(device, entry, data):
    sample = data.draw(entry.samples, label="sample")
    for scale in entry.composition_scales:
        scaled = _with_inputs(sample, (x * scale for x in sample.inputs))
        fused, fused_grads = _values_and_grads(entry, scaled, device)
        composed, composed_grads = _values_and_grads(entry, scaled, device, fn=entry.composition)
        for a, b in zip(fused, composed):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"value at scale {scale}")
        for a, b in zip(fused_grads, composed_grads):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"gradient at scale {scale}")


def test_fused_softmax_stable_for_minus_inf_and_large_logits(device):
    x = np.array([[1000.0, 999.0, -np.inf], [-1000.0, -np.inf, -1001.0]])
    y = torch.tensor(x, device=device).softmax(-1).cpu().numpy()
    ls = torch.tensor(x, device=device).log_softmax(-1).cpu().numpy()
    e = np.exp(np.array([[1.0, 0.0], [0.0, -1.0]]))
    expected = np.array([[e[0, 0], e[0, 1], 0.0], [e[1, 0], 0.0, e[1, 1]]]) / e.sum(1, keepdims=True)[:, [0, 0, 0]]
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert np.isfinite(ls[[0, 0, 1, 1], [0, 1, 0, 2]]).all() and np.isneginf(ls[[0, 1], [2, 1]]).all()
    np.testing.assert_allclose(np.exp(ls), expected, rtol=1e-12)
    mask = torch.tensor(np.isinf(x), device=device)
    results = []
    for fn in (lambda x: x.softmax(-1), lambda x: softmax_composed(TG, x, -1)):
        finite = leaf(np.where(np.isinf(x), 0.0, x), device)
        out = fn(finite.masked_fill(mask, float("-inf")))
        out.backward(torch.tensor(np.random.default_rng(0).standard_normal(x.shape), device=device))
        results.append((out.detach().cpu().numpy(), finite.grad.cpu().numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@parametrize(FLOAT32, "float32")
@examples(4)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_float32_path_matches_float64_and_keeps_float32(device, entry, data, seed):
    """Inputs rounded to float32 first, so that only the computation differs; upstream gradients alike."""
    sample = data.draw(entry.samples, label="sample")
    rounded = _with_inputs(sample, (x.astype(np.float32).astype(np.float64) for x in sample.inputs))
    outputs, leaves = run(entry, TG, rounded, device, np.float32, seed)
    reference, reference_leaves = run(entry, TG, rounded, device, np.float64, seed)
    tolerance = {"rtol": entry.float32_rtol, "atol": entry.float32_atol}
    for out, ref in zip(outputs, reference):
        if entry.keeps_dtype and is_float(out):
            assert dtype_name(out) == "float32", f"{entry.name} turned float32 into {dtype_name(out)}"
        np.testing.assert_allclose(to_numpy(out).astype(np.float64), to_numpy(ref), **tolerance, err_msg="value")
    for x, ref in zip(leaves, reference_leaves):
        assert (x.grad is None) == (ref.grad is None)
        if x.grad is not None:
            assert dtype_name(x.grad) == "float32", f"a float32 input got a {dtype_name(x.grad)} gradient"
            np.testing.assert_allclose(to_numpy(x.grad), to_numpy(ref.grad), **tolerance, err_msg="gradient")


# -- kernels ------------------------------------------------------------------------------------------------


def test_float32_reference_gelu_is_float64s_rounded():
    """The reference's Φ is SciPy's erf in float32: as PyTorch's float32 GELU, absolute accuracy in the left tail."""
    x = np.linspace(-12, 12, 200_001).astype(np.float32)
    exact = x.astype(np.float64) * 0.5 * special.erfc(-x.astype(np.float64) / np.sqrt(2))
    with kernels.reference():
        out = torch.nn.functional.gelu(torch.tensor(x)).numpy()
    assert out.dtype == np.float32
    assert np.max(np.abs(out - exact) / np.maximum(np.abs(x), 1)) < 3e-7


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 50)])
def test_sorted_scatter_add_equals_add_at_with_negative_positions(shape):
    """The NumPy fast path of embedding's backward: the same row named from either end gets both rows."""
    rng = np.random.default_rng(3)
    idx = rng.integers(-11, 11, size=shape)
    rows = rng.standard_normal((*shape, 5))
    out, expected = np.zeros((11, 5)), np.zeros((11, 5))
    add_rows_sorted(out, idx, rows)
    np.add.at(expected, idx.ravel(), rows.reshape(-1, 5))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(0,), (7,), (3, 50), (2, 3, 4)])
def test_sorted_embedding_backward_equals_add_at(shape):
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 11, size=shape)
    weight = torch.randn(11, 5, dtype=torch.float64, requires_grad=True)
    grad = rng.standard_normal((*shape, 5))
    torch.nn.functional.embedding(torch.tensor(idx), weight).backward(torch.tensor(grad))
    expected = np.zeros((11, 5))
    np.add.at(expected, idx.ravel(), grad.reshape(-1, 5))
    np.testing.assert_allclose(weight.grad.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(7,), (3, 50)])
def test_sorted_index_backward_equals_add_at_with_negative_positions(shape):
    """x[idx] with positions counted from either end: the same row named twice gets both gradients."""
    rng = np.random.default_rng(2)
    idx = rng.integers(-11, 11, size=shape)
    x = torch.randn(11, 5, dtype=torch.float64, requires_grad=True)
    grad = rng.standard_normal((*shape, 5))
    x[torch.tensor(idx)].backward(torch.tensor(grad))
    expected = np.zeros((11, 5))
    np.add.at(expected, idx.ravel(), grad.reshape(-1, 5))
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, atol=1e-12)


@given(st.integers(1, 3), st.integers(1, 70), st.integers(1, 40), st.integers(1, 70), st.booleans(), st.integers(0, 99))
def test_matmul_by_transposed_small_matrices_equals_numpy(batch, m, k, n, copy_taken, seed):
    """``MatMul`` copies a transposed right-hand stack to row-major for small products (a speed path,
    ``ops/reduce.py``): the value and both gradients are NumPy's, at sizes on both sides of the threshold."""
    import tinygrad_edu as tg
    from tinygrad_edu.ops import reduce

    rng = np.random.default_rng(seed)
    a = rng.standard_normal((batch, m, k))
    b_rows = rng.standard_normal((batch, n, k))
    if not copy_taken:  # the same product, taken past the threshold: no copy
        m = max(m, reduce.SMALL_PRODUCT // (k * n) + 1)
        a = rng.standard_normal((batch, m, k))
    b = b_rows.swapaxes(-1, -2)  # a transposed view, as kᵀ in attention
    assert (m * k * n <= reduce.SMALL_PRODUCT) == copy_taken
    ta, tb = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    out = ta @ tb
    upstream = rng.standard_normal(tuple(out.shape))
    out.backward(tg.tensor(upstream))
    np.testing.assert_allclose(out.detach().numpy(), a @ b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ta.grad.numpy(), upstream @ b.swapaxes(-1, -2), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), a.swapaxes(-1, -2) @ upstream, rtol=1e-12, atol=1e-12)


@given(st.lists(st.integers(0, 4), min_size=1, max_size=4), st.integers(0, 2), st.data())
def test_split_as_one_op_equals_slicing_each_piece(sizes, axis, data):
    """``Tensor.split`` records one op whose backward concatenates the pieces' gradients; the plain way, one
    slice per piece, is the oracle: the same gradient when every piece is used, when some are not (those parts
    are zero), and differentiated again (create_graph)."""
    import tinygrad_edu as tg

    shape = [3, 2, 2]
    shape[axis] = sum(sizes)
    base = np.random.default_rng(sum(sizes)).standard_normal(shape)
    used = data.draw(st.lists(st.booleans(), min_size=len(sizes), max_size=len(sizes)).filter(any))
    weights = [np.random.default_rng(i).standard_normal() for i in range(len(sizes))]

    def loss(pieces):
        return sum((p * p * p).sum() * w for p, w, u in zip(pieces, weights, used) if u)

    def sliced(x):
        out, start = [], 0
        for size in sizes:
            index = [slice(None)] * 3
            index[axis] = slice(start, start + size)
            out.append(x[tuple(index)])
            start += size
        return out

    x, y = tg.tensor(base, requires_grad=True), tg.tensor(base, requires_grad=True)
    pieces = x.split(sizes, dim=axis)
    assert pieces[0]._ctx is not None and type(pieces[0]._ctx).__name__ == "Split"
    (gx,) = tg.autograd.grad(loss(pieces), [x], create_graph=True)
    (gy,) = tg.autograd.grad(loss(sliced(y)), [y], create_graph=True)
    np.testing.assert_allclose(gx.detach().numpy(), gy.detach().numpy(), rtol=1e-12, atol=1e-12)
    gx.sum().backward()
    gy.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-12, atol=1e-12)
