"""PyTorch as the oracle: forward values and gradients of every op, optimizer trajectories and initialisation.

Every op of the registry (``op_registry.py``) runs on both libraries with the same inputs, in float64, where
the engine and PyTorch should agree to rounding (rel 1e-10 / abs 1e-12). The engine is imported as ``tg``;
``torch`` is the fixture (the test is skipped when PyTorch is absent).
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
from hypothesis import given, reject
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from op_registry import TG, WITH_TORCH, dtype_name, parametrize, run, to_numpy, torch_library
from strategies import empty_dims, examples

import tinygrad_edu as tg
import tinygrad_edu.nn as tnn
from tinygrad_edu.nn import functional as tF

pytestmark = pytest.mark.torch

RTOL, ATOL = 1e-10, 1e-12
seeds = st.integers(0, 2**31 - 1)


def _modules(torch, which):
    """(module, functional) of the engine or of PyTorch."""
    if which == "tg":
        return tg, tF
    return torch, torch.nn.functional


def _as_tensor(m, array, grad):
    if array.dtype.kind == "f":
        return m.tensor(array, dtype=m.float64, requires_grad=grad)
    return m.tensor(array)


def _to_numpy(t):
    return t.detach().cpu().numpy() if hasattr(t, "cpu") else t.detach().numpy()


def check(torch, fn, *arrays, rtol=RTOL, atol=ATOL, seed=0):
    """Run ``fn(m, F, *tensors)`` on both engines; compare outputs and the gradients of every float input
    (backward with one shared random upstream gradient per output)."""
    results = {}
    for which in ("tg", "torch"):
        m, F = _modules(torch, which)
        inputs = [_as_tensor(m, a, grad=True) for a in arrays]
        out = fn(m, F, *inputs)
        outs = out if isinstance(out, tuple) else (out,)
        rng = np.random.default_rng(seed)
        total = None
        for o in outs:
            if o.dtype in (m.float64, m.float32):
                upstream = m.tensor(rng.standard_normal(tuple(o.shape)), dtype=o.dtype)
                term = (o * upstream).sum()
                total = term if total is None else total + term
        if total is not None:
            total.backward()
        grads = [None if t.grad is None else _to_numpy(t.grad) for t in inputs if t.dtype == m.float64]
        results[which] = ([_to_numpy(o) for o in outs], grads)
    (tg_outs, tg_grads), (pt_outs, pt_grads) = results["tg"], results["torch"]
    assert len(tg_outs) == len(pt_outs)
    for a, b in zip(tg_outs, pt_outs):
        assert a.shape == b.shape
        assert a.dtype == b.dtype, f"dtype {a.dtype} vs PyTorch's {b.dtype}"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
    for i, (a, b) in enumerate(zip(tg_grads, pt_grads)):
        assert (a is None) == (b is None), f"input {i}: gradient presence differs"
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")


def randn(seed, shape, positive=False):
    a = np.random.default_rng(seed).standard_normal(shape)
    return np.abs(a) + 0.5 if positive else a


# -- every op of the registry -----------------------------------------------------------------------------


@parametrize(WITH_TORCH, "torch")
@examples(6)
@given(data=st.data(), seed=seeds)
def test_op_matches_torch(torch, entry, data, seed):
    """Outputs (values, shapes, dtypes; indices too) and the gradient of every input, backward from one shared
    random upstream gradient per output, for every registry op that PyTorch has."""
    sample = data.draw(entry.samples, label="sample")
    ours = run(entry, TG, sample, seed=seed)
    assert_same_as_torch(entry, ours, run(entry, torch_library(torch), sample, seed=seed))


def assert_same_as_torch(entry, ours, theirs):
    """Outputs (dtype, shape, values) and input gradients (presence, values) of two ``run`` results agree."""
    (ours, our_leaves), (theirs, their_leaves) = ours, theirs
    assert len(ours) == len(theirs), f"{len(ours)} outputs, PyTorch has {len(theirs)}"
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert dtype_name(a) == dtype_name(b), f"output {i}: dtype {dtype_name(a)} vs PyTorch's {dtype_name(b)}"
        a, b = to_numpy(a), to_numpy(b)
        assert np.shape(a) == np.shape(b), f"output {i}: shape {np.shape(a)} vs PyTorch's {np.shape(b)}"
        np.testing.assert_allclose(a, b, rtol=entry.torch_rtol, atol=ATOL, err_msg=f"output {i}")
    for i, (x, y) in enumerate(zip(our_leaves, their_leaves)):
        assert (x.grad is None) == (y.grad is None), f"input {i}: gradient presence differs"
        if x.grad is not None:
            np.testing.assert_allclose(
                to_numpy(x.grad), to_numpy(y.grad), rtol=entry.torch_rtol, atol=ATOL, err_msg=f"gradient of input {i}"
            )


# sample strategies built from the sizes of a shape that cannot hold a size-0 dim (an index below the size, a
# shape that broadcasts to it, a target shape with the same count); their empty cases are not drawn here
NO_EMPTY_SAMPLES = {
    "reshape_as", "view_as", "expand", "expand_as", "getitem", "getitem.repeated", "masked_fill",
    "F.cross_entropy.spatial",
    # the strategies cannot draw these around a size-0 dim (an index into it, reflect/replicate padding of it)
    "gather", "scatter", "scatter.value", "scatter.multiply", "scatter_add", "F.pad.reflect", "F.pad.replicate",
}  # fmt: skip


@parametrize([e for e in WITH_TORCH if e.name not in NO_EMPTY_SAMPLES], "torch")
@examples(4)
@given(data=st.data(), seed=seeds)
def test_op_on_empty_tensors_matches_torch(torch, entry, data, seed):
    """Every shape drawn has a size-0 dim: where PyTorch computes an (empty) result, ours gives the same shapes,
    dtypes and gradients; where PyTorch raises, ours raises too."""
    try:
        with empty_dims():
            sample = data.draw(entry.samples, label="sample with a size-0 dim")
    except (InvalidArgument, ZeroDivisionError):  # this draw's strategy cannot build around a 0 (see above)
        reject()
    try:
        theirs = run(entry, torch_library(torch), sample, seed=seed)
    except Exception:  # PyTorch's refusal, whatever its class, is what ours must match
        with pytest.raises(Exception):  # noqa: B017
            run(entry, TG, sample, seed=seed)
        return
    assert_same_as_torch(entry, run(entry, TG, sample, seed=seed), theirs)


# -- situations no sample strategy draws -------------------------------------------------------------------


def test_max_values_and_indices_fields_match_torch(torch):
    x = randn(3, (4, 5))
    ours = tg.tensor(x).max(dim=1)
    theirs = torch.tensor(x).max(dim=1)
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    assert ours.indices.dtype == tg.int64


def test_max_of_ties_splits_gradient_like_torch(torch):
    """max() over tied elements: PyTorch spreads the gradient evenly over the ties."""
    check(torch, lambda m, F, a: a.max(), np.array([1.0, 3.0, 3.0, 2.0]))


@pytest.mark.parametrize(
    "index",
    [lambda m: m.tensor(True), lambda m: m.tensor(False), lambda m: m.tensor(2), lambda m: (m.tensor(1), m.tensor(0))],
    ids=["true", "false", "int", "ints"],
)
def test_zero_dim_tensor_indices_match_torch(torch, device, index):
    """A 0-d integer tensor indexes as an int (the dim goes); a 0-d bool is a mask (a new dim of 1 or 0)."""
    values = np.arange(12.0).reshape(3, 4)
    results = []
    for m, dev in ((tg, device), (torch, "cpu")):
        x = m.tensor(values, dtype=m.float64, requires_grad=True, device=dev)
        i = index(m)
        picked = x[tuple(part.to(dev) for part in i) if isinstance(i, tuple) else i.to(dev)]
        (picked * 2).sum().backward()
        results.append((tuple(picked.shape), picked.detach().cpu().numpy(), x.grad.cpu().numpy()))
    (shape, forward, grad), (torch_shape, torch_forward, torch_grad) = results
    assert shape == torch_shape
    np.testing.assert_array_equal(forward, torch_forward)
    np.testing.assert_array_equal(grad, torch_grad)


def test_softmax_with_minus_inf_matches_torch(torch):
    """A causal mask writes -inf: softmax must stay finite and its gradient too."""
    x = randn(0, (4, 4))
    check(torch, lambda m, F, a: F.softmax(a.masked_fill(m.ones(4, 4).triu(1) == 1, float("-inf")), dim=-1), x)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_cross_entropy_all_ignored_is_nan_like_torch(torch):
    ours = tF.cross_entropy(tg.tensor(randn(0, (2, 3))), tg.tensor([-100, -100]))
    theirs = torch.nn.functional.cross_entropy(torch.tensor(randn(0, (2, 3))), torch.tensor([-100, -100]))
    assert math.isnan(ours.item()) and math.isnan(theirs.item())


@pytest.mark.parametrize("path", ["kernels", "reference"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_at_its_edges_matches_torch(torch, device, path, reduction):
    """One row kept of four (the mean divides by 1), logits of ±1e4 (a naive exp overflows), a single class."""
    from tinygrad_edu import kernels

    cases = [
        (randn(1, (4, 3)), [-100, 2, -100, -100]),
        (randn(2, (3, 5)) * 1e4, [0, 4, 1]),
        (randn(3, (2, 1)), [0, 0]),
    ]
    for logits, target in cases:
        results = []
        for m, dev in ((tg, device), (torch, "cpu")):
            x = m.tensor(logits, dtype=m.float32, requires_grad=True, device=dev)
            with kernels.reference() if (m is tg and path == "reference") else contextlib.nullcontext():
                loss = m.nn.functional.cross_entropy(x, m.tensor(target, device=dev), reduction=reduction)
                (loss * m.arange(1.0, loss.numel() + 1, device=dev).reshape(loss.shape)).sum().backward()
            results.append((loss.detach().cpu().numpy(), x.grad.cpu().numpy()))
        (loss, grad), (torch_loss, torch_grad) = results
        np.testing.assert_allclose(loss, torch_loss, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(grad, torch_grad, rtol=1e-5, atol=1e-6)
        # and its composition from primitive ops (what create_graph differentiates) gives the same loss
        from tinygrad_edu.ops.nn_ops import CrossEntropy

        x = tg.tensor(logits, dtype=tg.float32, device=device)
        composed = CrossEntropy.composite(x, tg.tensor(target, device=device), reduction=reduction)
        np.testing.assert_allclose(composed.cpu().numpy(), torch_loss, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "a_shape, b_shape", [((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)), ((2, 2, 3), (3,)), ((3,), (2, 3, 4))]
)
@pytest.mark.parametrize("needs", ["a", "b"])
def test_matmul_with_a_vector_where_only_one_operand_needs_grad_matches_torch(torch, device, a_shape, b_shape, needs):
    results = []
    for m, dev in ((tg, device), (torch, "cpu")):
        a = m.tensor(randn(5, a_shape), dtype=m.float64, device=dev, requires_grad=needs == "a")
        b = m.tensor(randn(6, b_shape), dtype=m.float64, device=dev, requires_grad=needs == "b")
        out = a @ b
        (out * m.tensor(randn(7, tuple(out.shape)), dtype=m.float64, device=dev)).sum().backward()
        results.append((a if needs == "a" else b).grad.cpu().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12, atol=1e-12)


# -- optimizers ----------------------------------------------------------------------------------------------


def _trajectories(torch, make_optimizer, steps=20, quadratic=False, shapes=((3, 2), (4,))):
    """Run both optimizers from the same float64 params, with a fixed gradient sequence (or the gradient of a
    small quadratic loss); return the final params of each."""
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]
    targets = [rng.standard_normal(s) for s in shapes]
    finals = {}
    for which, m in (("tg", tg), ("torch", torch)):
        params = [m.tensor(p.copy(), dtype=m.float64, requires_grad=True) for p in init]
        opt = make_optimizer(m, params)
        for k in range(steps):
            opt.zero_grad()
            if quadratic:
                loss = sum(((p - m.tensor(t)) ** 2 * 0.5).sum() for p, t in zip(params, targets))
                loss.backward()
            else:
                for p, g in zip(params, grads[k]):
                    p.grad = m.tensor(g)
            opt.step()
        finals[which] = [_to_numpy(p) for p in params]
    return finals["tg"], finals["torch"]


OPTIMIZERS = {
    "sgd": lambda m, ps: m.optim.SGD(ps, lr=0.1),
    "sgd_momentum": lambda m, ps: m.optim.SGD(ps, lr=0.05, momentum=0.9),
    "sgd_dampening": lambda m, ps: m.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.3),
    "sgd_nesterov": lambda m, ps: m.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True),
    "sgd_weight_decay": lambda m, ps: m.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.1),
    "adam": lambda m, ps: m.optim.Adam(ps, lr=0.01),
    "adam_betas": lambda m, ps: m.optim.Adam(ps, lr=0.02, betas=(0.8, 0.95), eps=1e-6),
    "adam_weight_decay": lambda m, ps: m.optim.Adam(ps, lr=0.01, weight_decay=0.1),
    "adam_amsgrad": lambda m, ps: m.optim.Adam(ps, lr=0.01, amsgrad=True),
    "adamw": lambda m, ps: m.optim.AdamW(ps, lr=0.01),
    "adamw_decay_amsgrad": lambda m, ps: m.optim.AdamW(ps, lr=0.01, weight_decay=0.3, amsgrad=True),
}


@pytest.mark.parametrize("quadratic", [False, True], ids=["fixed_grads", "quadratic_loss"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_trajectory_matches_torch(torch, name, quadratic):
    """20 steps from the same start: the parameters equal PyTorch's to 1e-10."""
    ours, theirs = _trajectories(torch, OPTIMIZERS[name], quadratic=quadratic)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam", "AdamW"])
def test_param_groups_with_different_lr_match_torch(torch, optimizer):
    """The first group overrides lr, the second takes the default."""

    def make(m, ps):
        kwargs = {"momentum": 0.5} if optimizer == "SGD" else {}
        return getattr(m.optim, optimizer)([{"params": [ps[0]], "lr": 0.2}, {"params": [ps[1]]}], lr=0.01, **kwargs)

    ours, theirs = _trajectories(torch, make)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_param_group_lr_change_mid_run_matches_torch(torch):
    """Changing ``group['lr']`` between steps (a learning-rate schedule) takes effect like PyTorch's."""
    finals = []
    for m in (tg, torch):
        p = m.tensor([1.0, -2.0], dtype=m.float64, requires_grad=True)
        opt = m.optim.AdamW([p], lr=0.1)
        for k in range(10):
            for group in opt.param_groups:
                group["lr"] = 0.1 * (0.8**k)
            opt.zero_grad()
            (p**2).sum().backward()
            opt.step()
        finals.append(_to_numpy(p))
    np.testing.assert_allclose(finals[0], finals[1], rtol=1e-10)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_zero_grad_set_to_none_semantics_match_torch(torch, optimizer):
    """zero_grad() (default set_to_none=True) leaves None; set_to_none=False leaves zeros; a param with no grad
    is skipped by step."""
    for m in (tg, torch):
        a = m.tensor([1.0, 2.0], requires_grad=True)
        b = m.tensor([3.0], requires_grad=True)
        opt = getattr(m.optim, optimizer)([a, b], lr=0.1)
        (a * a).sum().backward()
        opt.zero_grad(set_to_none=False)
        assert a.grad is not None and a.grad.tolist() == [0.0, 0.0]
        assert b.grad is None
        opt.zero_grad()
        assert a.grad is None
        (a * 3).sum().backward()
        before = b.detach().clone()
        opt.step()
        assert b.tolist() == before.tolist(), f"{m.__name__}: a parameter without grad must not move"


@pytest.mark.parametrize(("max_norm", "norm_type"), [(0.5, 2.0), (100.0, 2.0), (0.3, math.inf), (1.0, 1.0)])
def test_clip_grad_norm_matches_torch(torch, max_norm, norm_type):
    """The returned total norm (before clipping) and the clipped gradients."""
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 2)), rng.standard_normal((4,))]
    results = []
    for m, clip in ((tg, tnn.utils.clip_grad_norm_), (torch, torch.nn.utils.clip_grad_norm_)):
        params = [m.zeros(g.shape, dtype=m.float64, requires_grad=True) for g in grads]
        for p, g in zip(params, grads):
            p.grad = m.tensor(g)
        norm = clip(params, max_norm, norm_type=norm_type)
        results.append((float(norm), [_to_numpy(p.grad) for p in params]))
    (norm_a, grads_a), (norm_b, grads_b) = results
    assert norm_a == pytest.approx(norm_b, rel=1e-12)
    for a, b in zip(grads_a, grads_b):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("float32", "float64")])
def test_clip_grad_norm_of_float32_and_of_mixed_dtypes_matches_torch(torch, dtypes):
    """float32 gradients take the dot-product path, a mix of dtypes the stacked one; both give PyTorch's norm (in
    its dtype) and PyTorch's clipped gradients."""
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal((5, 3)), rng.standard_normal((7,))]
    results = []
    for m, clip in ((tg, tnn.utils.clip_grad_norm_), (torch, torch.nn.utils.clip_grad_norm_)):
        params = [m.zeros(g.shape, dtype=getattr(m, d), requires_grad=True) for g, d in zip(grads, dtypes)]
        for p, g, d in zip(params, grads, dtypes):
            p.grad = m.tensor(g.astype(d))
        norm = clip(params, 0.5)
        results.append((float(norm), str(norm.dtype).split(".")[-1], [_to_numpy(p.grad) for p in params]))
    (norm_a, dtype_a, grads_a), (norm_b, dtype_b, grads_b) = results
    assert dtype_a == dtype_b and norm_a == pytest.approx(norm_b, rel=1e-6)
    for a, b in zip(grads_a, grads_b):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# -- initialisation ------------------------------------------------------------------------------------------


def test_linear_init_is_uniform_with_torch_bounds(torch):
    """Weight and bias ~ U(-1/√in, 1/√in): within the bounds, std ≈ bound/√3, as PyTorch's layer."""
    fan_in, fan_out = 400, 300
    ours, theirs = tnn.Linear(fan_in, fan_out), torch.nn.Linear(fan_in, fan_out)
    bound = 1 / math.sqrt(fan_in)
    for name in ("weight", "bias"):
        w = getattr(ours, name).detach().numpy()
        ref = getattr(theirs, name).detach().numpy()
        assert w.shape == ref.shape and w.dtype == ref.dtype == np.float32
        assert np.abs(w).max() <= bound
        if name == "weight":
            assert np.abs(w).max() > 0.99 * bound  # fills the interval, not a narrower one
            assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)
            assert w.std() == pytest.approx(ref.std(), rel=0.03)
            assert abs(w.mean()) < 0.01 * bound


def test_embedding_init_is_standard_normal(torch):
    ours, theirs = tnn.Embedding(500, 200), torch.nn.Embedding(500, 200)
    w = ours.weight.detach().numpy()
    assert w.shape == tuple(theirs.weight.shape) and w.dtype == np.float32
    assert abs(w.mean()) < 0.01
    assert w.std() == pytest.approx(1.0, rel=0.01)
    assert w.std() == pytest.approx(theirs.weight.detach().numpy().std(), rel=0.02)


def test_layer_norm_init_is_ones_and_zeros(torch):
    ours, theirs = tnn.LayerNorm(7), torch.nn.LayerNorm(7)
    np.testing.assert_array_equal(ours.weight.detach().numpy(), theirs.weight.detach().numpy())
    np.testing.assert_array_equal(ours.bias.detach().numpy(), theirs.bias.detach().numpy())
    assert ours.weight.tolist() == [1.0] * 7 and ours.bias.tolist() == [0.0] * 7


def test_default_dtypes_match_torch(torch):
    """Python floats give float32, ints int64, bools bool, division of ints float32, as in PyTorch."""
    cases = [
        lambda m: m.tensor([1.0, 2.0]),
        lambda m: m.tensor([1, 2]),
        lambda m: m.tensor([True]),
        lambda m: m.tensor([1, 2]) / 2,
        lambda m: m.tensor([1, 2]) * 1.5,
        lambda m: m.tensor([1.0], dtype=m.float64) * 2.0,
        lambda m: m.tensor([1.0], dtype=m.float64) + m.tensor(1.0),
        lambda m: m.tensor([1, 2]) + m.tensor(1.5),
        lambda m: m.arange(5),
        lambda m: m.arange(0.0, 1.0, 0.25),
        lambda m: m.tensor([1, 2]).sum(),
        lambda m: m.tensor([True, False]).sum(),
        lambda m: m.tensor(np.float64(1.5)),
        lambda m: m.tensor(m.tensor([1.0, 2.0], dtype=m.float64).sum()),
        lambda m: m.cat([m.tensor([1]), m.tensor([2.0])]),
        lambda m: m.stack([m.tensor([True]), m.tensor([2])]),
        lambda m: m.cat([m.tensor([1], dtype=m.uint8), m.tensor([2], dtype=m.int8)]),
    ]
    for make in cases:
        assert str(make(tg).dtype).split(".")[-1] == str(make(torch).dtype).split(".")[-1]
