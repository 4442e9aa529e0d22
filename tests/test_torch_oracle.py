"""PyTorch as the oracle: forward values and gradients of every op, optimizer trajectories and initialisation.

Everything runs in float64, where the engine and PyTorch should agree to rounding (rel 1e-10 / abs 1e-12).
The engine is imported as ``tg``; ``torch`` is the fixture (the test is skipped when PyTorch is absent).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_edu as tg
import tinygrad_edu.nn as tnn
from tinygrad_edu.nn import functional as tF

RTOL, ATOL = 1e-10, 1e-12
# the `torch` fixture is a module, the same for every example: resetting it between examples is not needed
EXAMPLES = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
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


# -- elementwise ---------------------------------------------------------------------------------------------

BINARY = {
    "add": lambda m, F, a, b: a + b,
    "sub": lambda m, F, a, b: a - b,
    "mul": lambda m, F, a, b: a * b,
    "div": lambda m, F, a, b: a / b,
    "pow": lambda m, F, a, b: a**b,
}


@pytest.mark.parametrize("name", list(BINARY))
@EXAMPLES
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4), seed=seeds)
def test_binary_broadcasting_matches_torch(torch, name, shapes, seed):
    """a op b for broadcasting shapes: values and both gradients (summed back over broadcast axes)."""
    a_shape, b_shape = shapes.input_shapes
    positive = name in ("div", "pow")
    check(torch, BINARY[name], randn(seed, a_shape, positive), randn(seed + 1, b_shape, positive), seed=seed)


REVERSED = {
    "radd": lambda m, F, a: 2.5 + a,
    "rsub": lambda m, F, a: 2.5 - a,
    "rmul": lambda m, F, a: 2.5 * a,
    "rdiv": lambda m, F, a: 2.5 / a,
    "rpow": lambda m, F, a: 2.5**a,
    "pow_scalar": lambda m, F, a: a**3,
    "pow_fraction": lambda m, F, a: a**0.5,
    "neg": lambda m, F, a: -a,
    "sub_scalar": lambda m, F, a: a - 1.5,
    "div_scalar": lambda m, F, a: a / 4,
}


@pytest.mark.parametrize("name", list(REVERSED))
@EXAMPLES
@given(shape=shapes, seed=seeds)
def test_scalar_and_reversed_forms_match_torch(torch, name, shape, seed):
    """Python numbers on either side of an operator."""
    check(torch, REVERSED[name], randn(seed, shape, positive=True), seed=seed)


UNARY = {
    "exp": (lambda m, F, a: a.exp(), False),
    "log": (lambda m, F, a: a.log(), True),
    "sqrt": (lambda m, F, a: a.sqrt(), True),
    "tanh": (lambda m, F, a: a.tanh(), False),
    "sigmoid": (lambda m, F, a: a.sigmoid(), False),
    "relu": (lambda m, F, a: a.relu(), False),
    "abs": (lambda m, F, a: a.abs(), False),
    "sin": (lambda m, F, a: a.sin(), False),
    "cos": (lambda m, F, a: a.cos(), False),
    "clamp": (lambda m, F, a: a.clamp(-0.5, 0.7), False),
    "clamp_min": (lambda m, F, a: a.clamp(min=0.1), False),
    "clamp_max": (lambda m, F, a: a.clamp(max=-0.2), False),
    "torch.exp": (lambda m, F, a: m.exp(a), False),
}


@pytest.mark.parametrize("name", list(UNARY))
@EXAMPLES
@given(shape=shapes, seed=seeds)
def test_unary_matches_torch(torch, name, shape, seed):
    fn, positive = UNARY[name]
    check(torch, fn, randn(seed, shape, positive), seed=seed)


# -- reductions ----------------------------------------------------------------------------------------------


@EXAMPLES
@given(shape=shapes, seed=seeds, keepdim=st.booleans(), data=st.data())
def test_reductions_with_dim_match_torch(torch, shape, seed, keepdim, data):
    """sum, mean, var (unbiased and not), max and min along a drawn dim, with and without keepdim."""
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    x = randn(seed, shape)
    check(torch, lambda m, F, a: a.sum(dim=dim, keepdim=keepdim), x, seed=seed)
    check(torch, lambda m, F, a: a.mean(dim=dim, keepdim=keepdim), x, seed=seed)
    if shape[dim] > 1:
        check(torch, lambda m, F, a: a.var(dim=dim, keepdim=keepdim), x, seed=seed)
        check(torch, lambda m, F, a: a.var(dim=dim, unbiased=False, keepdim=keepdim), x, seed=seed)
    # max(dim) returns (values, indices): both compared, the gradient flows through the values
    check(torch, lambda m, F, a: tuple(a.max(dim=dim, keepdim=keepdim)), x, seed=seed)
    check(torch, lambda m, F, a: tuple(a.min(dim, keepdim)), x, seed=seed)


@EXAMPLES
@given(shape=shapes, seed=seeds)
def test_full_reductions_match_torch(torch, shape, seed):
    x = randn(seed, shape)
    check(torch, lambda m, F, a: a.sum(), x)
    check(torch, lambda m, F, a: a.mean(), x)
    check(torch, lambda m, F, a: a.max(), x)
    check(torch, lambda m, F, a: a.min(), x)
    if x.ndim > 1:
        check(torch, lambda m, F, a: a.sum(dim=(0, -1)), x)
    if x.size > 1:
        check(torch, lambda m, F, a: a.var(), x)
        check(torch, lambda m, F, a: a.std(), x)


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


# -- matmul --------------------------------------------------------------------------------------------------

MATMUL_SHAPES = [
    ((4,), (4,)),
    ((4,), (4, 3)),
    ((2, 4), (4,)),
    ((2, 4), (4, 3)),
    ((5, 2, 4), (5, 4, 3)),
    ((5, 2, 4), (4, 3)),
    ((4,), (5, 4, 3)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((1, 3, 4), (2, 1, 4, 2)),
]


@pytest.mark.parametrize(("a_shape", "b_shape"), MATMUL_SHAPES)
def test_matmul_matches_torch(torch, a_shape, b_shape):
    """1-D, 2-D, batched and broadcast-batch products, including vectors on either side."""
    check(torch, lambda m, F, a, b: a @ b, randn(1, a_shape), randn(2, b_shape))
    check(torch, lambda m, F, a, b: m.matmul(a, b), randn(3, a_shape), randn(4, b_shape))


# -- movement ------------------------------------------------------------------------------------------------

MOVEMENT = {
    "reshape": lambda m, F, a: a.reshape(6, 4),
    "reshape_infer": lambda m, F, a: a.reshape(-1, 3),
    "view": lambda m, F, a: a.view(4, 6),
    "permute": lambda m, F, a: a.permute(2, 0, 1),
    "transpose": lambda m, F, a: a.transpose(0, 2),
    "T_2d": lambda m, F, a: a.reshape(6, 4).T,
    "expand": lambda m, F, a: a[:, :1, :].expand(2, 3, 4),
    "expand_new_axis": lambda m, F, a: a[0].expand(5, 3, 4),
    "unsqueeze": lambda m, F, a: a.unsqueeze(1),
    "unsqueeze_neg": lambda m, F, a: a.unsqueeze(-1),
    "squeeze": lambda m, F, a: a[:, :1].squeeze(),
    "squeeze_dim": lambda m, F, a: a[:, :1].squeeze(1),
    "flatten": lambda m, F, a: a.flatten(),
    "flatten_range": lambda m, F, a: a.flatten(1),
    "index_int": lambda m, F, a: a[1],
    "index_slice": lambda m, F, a: a[:, 1:3, ::2],
    "index_negative": lambda m, F, a: a[-1, -2],
    "index_none": lambda m, F, a: a[None, :, None, 0],
    "index_ellipsis": lambda m, F, a: a[..., 1],
    "index_ellipsis_none": lambda m, F, a: a[0, ..., None],
    "index_int_tensor_repeats": lambda m, F, a: a[m.tensor([0, 1, 0, 0])],
    "index_int_tensor_2d": lambda m, F, a: a[:, m.tensor([[2, 2], [0, 1]])],
    "index_two_int_tensors": lambda m, F, a: a[m.tensor([1, 0, 1]), m.tensor([2, 2, 0])],
    "index_bool_mask": lambda m, F, a: a[a > 0],
    "cat": lambda m, F, a: m.cat([a, a * 2, a[:, :1]], dim=1),
    "cat_last": lambda m, F, a: m.cat((a, a.exp()), dim=-1),
    "stack": lambda m, F, a: m.stack([a, a * a], dim=1),
    "stack_last": lambda m, F, a: m.stack([a[0], a[1]], dim=-1),
    "where": lambda m, F, a: m.where(a > 0, a, a * 3),
    "where_scalar": lambda m, F, a: m.where(a > 0, a, 0.0),
    "masked_fill": lambda m, F, a: a.masked_fill(a < 0, -1.5),
    "masked_fill_broadcast": lambda m, F, a: a.masked_fill(m.tensor([True, False, True, False]), 0.0),
    "tril": lambda m, F, a: a.tril(),
    "tril_diag": lambda m, F, a: m.tril(a, diagonal=1),
    "triu": lambda m, F, a: a.triu(),
    "triu_diag": lambda m, F, a: m.triu(a, -1),
    "split": lambda m, F, a: a.split(3, dim=2),
    "chunk": lambda m, F, a: a.chunk(2, dim=2),
    "contiguous_view": lambda m, F, a: a.transpose(0, 1).contiguous().view(-1),
}


@pytest.mark.parametrize("name", list(MOVEMENT))
def test_movement_matches_torch(torch, name):
    """Shape ops and indexing on a (2, 3, 4) tensor; integer-tensor indices that repeat add their gradients."""
    check(torch, MOVEMENT[name], randn(7, (2, 3, 4)))


@EXAMPLES
@given(shape=shapes, seed=seeds, data=st.data())
def test_drawn_permute_and_slices_match_torch(torch, shape, seed, data):
    perm = data.draw(st.permutations(range(len(shape))), label="perm")
    stops = [data.draw(st.integers(1, n), label="stop") for n in shape]
    index = tuple(slice(0, s) for s in stops)
    check(torch, lambda m, F, a: a.permute(*perm), randn(seed, shape), seed=seed)
    check(torch, lambda m, F, a: a[index] * 2, randn(seed, shape), seed=seed)


# -- nn.functional -------------------------------------------------------------------------------------------


@EXAMPLES
@given(shape=shapes, seed=seeds, data=st.data())
def test_softmax_and_log_softmax_match_torch(torch, shape, seed, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    x = randn(seed, shape) * 5
    check(torch, lambda m, F, a: F.softmax(a, dim=dim), x, seed=seed)
    check(torch, lambda m, F, a: F.log_softmax(a, dim=dim), x, seed=seed)
    check(torch, lambda m, F, a: a.softmax(dim), x, seed=seed)


def test_softmax_with_minus_inf_matches_torch(torch):
    """A causal mask writes -inf: softmax must stay finite and its gradient too."""
    x = randn(0, (4, 4))
    check(torch, lambda m, F, a: F.softmax(a.masked_fill(m.ones(4, 4).triu(1) == 1, float("-inf")), dim=-1), x)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [-100, 2])
@EXAMPLES
@given(rows=st.integers(1, 6), classes=st.integers(2, 5), seed=seeds)
def test_cross_entropy_matches_torch(torch, reduction, ignore_index, rows, classes, seed):
    """Every reduction, with some targets equal to ignore_index (left out of the mean's count)."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, rows)
    target[rng.random(rows) < 0.3] = ignore_index
    if reduction == "mean" and (target == ignore_index).all():
        target[0] = 0  # all ignored: 0/0 = nan in both; tested separately
    logits = rng.standard_normal((rows, classes)) * 3
    check(
        torch,
        lambda m, F, x, t: F.cross_entropy(x, t, ignore_index=ignore_index, reduction=reduction),
        logits,
        target,
        seed=seed,
    )


def test_cross_entropy_spatial_and_unbatched_match_torch(torch):
    """(N, C, d) logits with (N, d) targets, and a single (C,) row with a 0-d target."""
    check(torch, lambda m, F, x, t: F.cross_entropy(x, t), randn(1, (2, 4, 3)), np.array([[0, 3, 1], [2, 2, 0]]))
    check(torch, lambda m, F, x, t: F.cross_entropy(x, t, reduction="none"), randn(2, (2, 4, 3)), np.ones((2, 3), int))
    check(torch, lambda m, F, x, t: F.cross_entropy(x, t), randn(3, (5,)), np.array(4))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_cross_entropy_all_ignored_is_nan_like_torch(torch):
    ours = tF.cross_entropy(tg.tensor(randn(0, (2, 3))), tg.tensor([-100, -100]))
    theirs = torch.nn.functional.cross_entropy(torch.tensor(randn(0, (2, 3))), torch.tensor([-100, -100]))
    assert math.isnan(ours.item()) and math.isnan(theirs.item())


@pytest.mark.parametrize("affine", [True, False])
@EXAMPLES
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=5), seed=seeds)
def test_layer_norm_matches_torch(torch, affine, shape, seed):
    """Over the last axis, with weight and bias (gradients of all three) or without."""
    d = shape[-1]
    x = randn(seed, shape) * 2 + 1
    if affine:
        w, b = randn(seed + 1, (d,)), randn(seed + 2, (d,))
        check(torch, lambda m, F, a, w, b: F.layer_norm(a, (d,), w, b, eps=1e-5), x, w, b, seed=seed)
    else:
        check(torch, lambda m, F, a: F.layer_norm(a, (d,)), x, seed=seed)


def test_layer_norm_over_two_axes_matches_torch(torch):
    check(torch, lambda m, F, a, w: F.layer_norm(a, (3, 4), w), randn(0, (2, 3, 4)), randn(1, (3, 4)))


@EXAMPLES
@given(shape=shapes, seed=seeds)
def test_gelu_exact_matches_torch_to_1e7(torch, shape, seed):
    """The exact (erf) GELU must agree with PyTorch to 1e-7 relative in float64, values and gradients."""
    x = randn(seed, shape) * 4
    check(torch, lambda m, F, a: F.gelu(a), x, rtol=1e-7, atol=1e-12, seed=seed)
    check(torch, lambda m, F, a: m.nn.GELU()(a), x, rtol=1e-7, atol=1e-12, seed=seed)


@EXAMPLES
@given(shape=shapes, seed=seeds)
def test_gelu_tanh_tanh_and_relu_match_torch(torch, shape, seed):
    x = randn(seed, shape) * 3
    check(torch, lambda m, F, a: F.gelu(a, approximate="tanh"), x, seed=seed)
    check(torch, lambda m, F, a: F.tanh(a), x, seed=seed)
    check(torch, lambda m, F, a: F.relu(a), x, seed=seed)


@EXAMPLES
@given(batch=hnp.array_shapes(min_dims=0, max_dims=2, max_side=4), vocab=st.integers(1, 6), seed=seeds)
def test_embedding_matches_torch(torch, batch, vocab, seed):
    """Rows looked up repeatedly accumulate their gradients in the weight."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, vocab, batch)
    check(torch, lambda m, F, i, w: F.embedding(i, w), idx, randn(seed, (vocab, 3)), seed=seed)


@pytest.mark.parametrize("bias", [True, False])
@EXAMPLES
@given(lead=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), fin=st.integers(1, 4), seed=seeds)
def test_linear_matches_torch(torch, bias, lead, fin, seed):
    x, w, b = randn(seed, (*lead, fin)), randn(seed + 1, (3, fin)), randn(seed + 2, (3,))
    if bias:
        check(torch, lambda m, F, x, w, b: F.linear(x, w, b), x, w, b, seed=seed)
    else:
        check(torch, lambda m, F, x, w: F.linear(x, w), x, w, seed=seed)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch(torch, reduction):
    check(torch, lambda m, F, a, b: F.mse_loss(a, b, reduction=reduction), randn(0, (3, 4)), randn(1, (3, 4)))


@pytest.mark.parametrize("is_causal", [False, True])
@EXAMPLES
@given(t=st.integers(1, 5), d=st.integers(1, 4), seed=seeds)
def test_scaled_dot_product_attention_matches_torch(torch, is_causal, t, d, seed):
    """(B, H, T, D) queries, keys and values; gradients of all three."""
    q, k, v = (randn(seed + i, (2, 2, t, d)) for i in range(3))
    check(torch, lambda m, F, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=is_causal), q, k, v, seed=seed)


def test_scaled_dot_product_attention_bool_mask_matches_torch(torch):
    mask = np.tril(np.ones((3, 3), dtype=bool))
    q, k, v = (randn(i, (1, 3, 2)) for i in range(3))
    check(torch, lambda m, F, q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=m.tensor(mask)), q, k, v)


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
