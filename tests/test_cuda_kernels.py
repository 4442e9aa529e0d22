"""Every CUDA kernel (``tinygrad_edu/kernels/cuda``) against the reference op, at small sizes.

Without a GPU they run in numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, set by conftest.py before numba
loads), on NumPy arrays: the kernels' indexing, reductions, masks and atomics are checked here, their speed
only on a GPU. On a GPU machine the same tests run the kernels on CuPy arrays.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import examples

import tinygrad_edu as tg
from tinygrad_edu import kernels
from tinygrad_edu.kernels import cuda as kcuda
from tinygrad_edu.nn import functional as F

pytestmark = pytest.mark.skipif(
    kcuda.cuda() is None, reason="numba-cuda is not installed (or sees neither a GPU nor its simulator)"
)


@pytest.fixture(scope="module")
def xp():
    """NumPy in the simulator, CuPy on a GPU."""
    if kcuda.simulated():
        return np
    return pytest.importorskip("cupy")


def host(xp, a):
    return a if xp is np else xp.asnumpy(a)


def reference(fn, *arrays, upstream=None):
    """[value, gradients...] of ``fn`` on the CPU with the kernels off (the reference ops)."""
    with kernels.reference():
        leaves = [tg.tensor(a, requires_grad=True) for a in arrays]
        out = fn(*leaves)
        out.backward(tg.tensor(upstream) if upstream is not None else None)
        return [out.detach().numpy()] + [x.grad.numpy() for x in leaves]


def tolerance(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)


row_shapes = st.tuples(st.integers(1, 5), st.integers(1, 300))  # rows, and widths past one block of 256
dtypes = st.sampled_from([np.float32, np.float64])


@examples(6)
@given(st.tuples(st.integers(1, 4), st.integers(1, 70)), dtypes, st.integers(0, 99))
def test_gelu_kernel(xp, shape, dtype, seed):
    from tinygrad_edu.kernels.cuda import gelu

    rng = np.random.default_rng(seed)
    a, grad = (rng.standard_normal(shape).astype(dtype) * 3 for _ in range(2))
    value, dx = reference(F.gelu, a, upstream=grad)
    out, cdf = gelu.gelu(xp, xp.asarray(a))
    back = gelu.gelu_backward(xp, xp.asarray(grad), xp.asarray(a), cdf)
    np.testing.assert_allclose(host(xp, out), value, **tolerance(dtype))
    np.testing.assert_allclose(host(xp, back), dx, **tolerance(dtype))


@examples(6)
@given(row_shapes, dtypes, st.booleans(), st.integers(0, 99))
def test_layer_norm_kernel(xp, shape, dtype, affine, seed):
    from tinygrad_edu.kernels.cuda import layer_norm

    rng = np.random.default_rng(seed)
    x, grad = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    n = shape[-1]
    w, b = (rng.standard_normal(n).astype(dtype) for _ in range(2))
    if affine:
        value, dx, dw, db = reference(lambda t, w, b: F.layer_norm(t, (n,), w, b), x, w, b, upstream=grad)
    else:
        value, dx = reference(lambda t: F.layer_norm(t, (n,)), x, upstream=grad)
    args = (xp.asarray(w), xp.asarray(b)) if affine else (None, None)
    out, mean, rstd = layer_norm.layer_norm(xp, xp.asarray(x), *args, 1e-5, 1)
    got_dx, got_dw, got_db = layer_norm.layer_norm_backward(xp, xp.asarray(grad), xp.asarray(x), args[0], mean, rstd, 1)
    tol = dict(tolerance(dtype), atol=1e-4) if dtype == np.float32 else tolerance(dtype)  # n = 1, 2: cancellation
    np.testing.assert_allclose(host(xp, out), value, **tol)
    np.testing.assert_allclose(host(xp, got_dx), dx, **tol)
    if affine:
        np.testing.assert_allclose(host(xp, got_dw), dw, **tol)
        np.testing.assert_allclose(host(xp, got_db), db, **tol)


@examples(6)
@given(row_shapes, dtypes, st.integers(0, 99))
def test_softmax_kernel(xp, shape, dtype, seed):
    from tinygrad_edu.kernels.cuda import softmax

    rng = np.random.default_rng(seed)
    x, grad = (rng.standard_normal(shape).astype(dtype) * 4 for _ in range(2))
    value, dx = reference(lambda t: F.softmax(t, dim=-1), x, upstream=grad)
    y = softmax.softmax_last(xp, xp.asarray(x))
    np.testing.assert_allclose(host(xp, y), value, **tolerance(dtype))
    np.testing.assert_allclose(host(xp, softmax.softmax_last_backward(xp, xp.asarray(grad), y)), dx, **tolerance(dtype))


@pytest.mark.parametrize("t_q, t_k", [(5, 5), (3, 7), (1, 4)])
def test_causal_softmax_kernel_masks_the_future_without_a_mask_tensor(xp, t_q, t_k):
    from tinygrad_edu.kernels.cuda import softmax

    x = np.random.default_rng(0).standard_normal((2, t_q, t_k)).astype(np.float32)
    future = np.triu(np.ones((t_q, t_k), dtype=bool), k=1)  # query i sees keys 0..i, as PyTorch's is_causal
    with kernels.reference():
        expected = F.softmax(tg.tensor(x).masked_fill(tg.tensor(future), float("-inf")), dim=-1).numpy()
    got = host(xp, softmax.softmax_last(xp, xp.asarray(x), causal=True))
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-7)
    assert (got[:, future] == 0).all()


@examples(6)
@given(st.integers(1, 9), st.integers(1, 12), st.integers(1, 5), dtypes, st.data())
def test_embedding_backward_kernel(xp, vocab, n, width, dtype, data):
    from tinygrad_edu.kernels.cuda import scatter_add

    idx = np.array(data.draw(st.lists(st.integers(-vocab, vocab - 1), min_size=n, max_size=n)))
    grad = np.random.default_rng(n).standard_normal((n, width)).astype(dtype)
    expected = np.zeros((vocab, width), dtype)
    np.add.at(expected, idx, grad)
    out = xp.zeros((vocab, width), dtype)
    scatter_add.scatter_add_rows(xp, out, xp.asarray(idx), xp.asarray(grad))
    np.testing.assert_allclose(host(xp, out), expected, **tolerance(dtype))


@pytest.mark.parametrize("decoupled", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_kernel(xp, decoupled, dtype):
    """Five steps on the GPU kernel equal five steps of the CPU kernel, itself tested against the reference."""
    from tinygrad_edu.kernels import adam
    from tinygrad_edu.kernels.cuda import adam as adam_cuda

    rng = np.random.default_rng(0)
    p, m, v = rng.standard_normal(70).astype(dtype), np.zeros(70, dtype), np.zeros(70, dtype)
    dev = [xp.asarray(a.copy()) for a in (p, m, v)]
    settings = dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, decoupled=decoupled)
    for t in range(1, 6):
        g = rng.standard_normal(70).astype(dtype)
        adam.adam_step(p, g, m, v, t=t, **settings)
        adam_cuda.adam_step(xp, dev[0], xp.asarray(g), dev[1], dev[2], t=t, **settings)
    for got, expected in zip(dev, (p, m, v)):
        np.testing.assert_allclose(host(xp, got), expected, **tolerance(dtype))


@examples(6)
@given(st.integers(1, 5), st.integers(1, 300), dtypes, st.data())
def test_cross_entropy_kernel(xp, rows, classes, dtype, data):
    from tinygrad_edu.kernels.cuda import cross_entropy

    targets = np.array(data.draw(st.lists(st.sampled_from([0, classes - 1, -100]), min_size=rows, max_size=rows)))
    logits = np.random.default_rng(rows).standard_normal((rows, classes)).astype(dtype) * 3
    upstream = np.random.default_rng(1).standard_normal(rows).astype(dtype)
    value, dx = reference(lambda t: F.cross_entropy(t, tg.tensor(targets), reduction="none"), logits, upstream=upstream)
    losses, probs = cross_entropy.cross_entropy(xp, xp.asarray(logits), xp.asarray(targets), -100)
    got_dx = cross_entropy.cross_entropy_backward(xp, probs, xp.asarray(targets), -100, xp.asarray(upstream))
    np.testing.assert_allclose(host(xp, losses), value, **tolerance(dtype))
    np.testing.assert_allclose(host(xp, got_dx), dx, **tolerance(dtype))


# the simulator runs the hash on NumPy uint64 scalars, which warn where they wrap (as intended, mod 2**64)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@examples(6)
@given(st.tuples(st.integers(1, 4), st.integers(1, 300)), dtypes, st.sampled_from([0.1, 0.5, 1.0]), st.integers(0, 99))
def test_dropout_kernel(xp, shape, dtype, p, seed):
    """The CUDA kernel hashes the reference op's mask (ops/counter_hash.py) from the same seed."""
    from tinygrad_edu.kernels.cuda import dropout
    from tinygrad_edu.ops import counter_hash

    rng = np.random.default_rng(seed)
    x, grad = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    key = int(rng.integers(0, 2**63))
    keep = counter_hash.keep_mask(np, key, shape, p)
    scale = dtype(1 / (1 - p)) if p < 1 else dtype(0)
    out, mask = dropout.dropout(xp, xp.asarray(x), key, counter_hash.threshold(p), scale)
    back = dropout.dropout_backward(xp, xp.asarray(grad), mask, scale)
    np.testing.assert_array_equal(host(xp, mask), keep)
    np.testing.assert_array_equal(host(xp, out), np.where(keep, x * scale, x * 0))
    np.testing.assert_array_equal(host(xp, back), np.where(keep, grad * scale, grad * 0))
