"""FlashAttention (``kernels/flash_attention.py``) against the naive attention op (``ops/attention.py``).

Values and gradients over drawn batch, heads, query and key lengths (past one block, not a multiple of it, and
1), head sizes, masks (causal, bool, additive, both), scales and dropout; float64 to 1e-10, float32 within its
rounding. Then: the dropout mask is the reference's for the same seed, gradcheck and gradgradcheck, what is
saved for backward (O and one number per row, no T×S array), the PyTorch oracle and the model's switch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import examples

import tinygrad_edu as tg
from tinygrad_edu import kernels
from tinygrad_edu.autograd import gradcheck, gradgradcheck
from tinygrad_edu.kernels import flash_attention
from tinygrad_edu.nn import functional as F
from tinygrad_edu.ops.attention import ScaledDotProductAttention

pytestmark = pytest.mark.skipif(not kernels.enabled(), reason="numba is not installed (or the kernels are off)")


@pytest.fixture(autouse=True, scope="module")
def flash_at_every_size():
    """The table picks FlashAttention on the CPU only for large probabilities; here it runs at small sizes."""
    kept, kernels.FLASH_ATTENTION_FROM_BYTES = kernels.FLASH_ATTENTION_FROM_BYTES, 0
    yield
    kernels.FLASH_ATTENTION_FROM_BYTES = kept


BLOCK = flash_attention.BLOCK_QUERIES
lengths = st.sampled_from([1, 2, 5, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 3])


@st.composite
def attention_calls(draw):
    """(q, k, v, kwargs, upstream): drawn shapes, masks, scale and dropout, as NumPy float64 arrays."""
    batch = draw(st.sampled_from([(), (1,), (2,), (2, 3), (1, 2)]))
    t_q = draw(lengths)
    causal = draw(st.booleans())
    t_k = t_q if causal and draw(st.booleans()) else draw(lengths)
    d, d_v = draw(st.sampled_from([1, 3, 8, 16])), draw(st.sampled_from([1, 4, 8]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    q = rng.standard_normal((*batch, t_q, d))
    k, v = rng.standard_normal((*batch, t_k, d)), rng.standard_normal((*batch, t_k, d_v))
    kwargs = {"is_causal": causal, "scale": draw(st.sampled_from([None, 0.3, 1.7]))}
    mask_kind = draw(st.sampled_from(["none", "bool", "additive", "bool-per-head"]))
    if mask_kind != "none":
        shape = (*batch, t_q, t_k) if mask_kind == "bool-per-head" else (t_q, t_k)
        if mask_kind == "additive":
            kwargs["attn_mask"] = rng.standard_normal(shape)
        else:
            allowed = rng.random(shape) < 0.7
            allowed[..., 0] = True  # key 0 is never masked, so that no row is (causal keeps it too)
            kwargs["attn_mask"] = allowed
    kwargs["dropout_p"] = draw(st.sampled_from([0.0, 0.0, 0.25]))
    upstream = rng.standard_normal((*batch, t_q, d_v))
    return q, k, v, kwargs, upstream


def run(q, k, v, kwargs, upstream, dtype, *, reference, seed=7):
    """(implementation, [out, dq, dk, dv]) of F.scaled_dot_product_attention, fast or the reference."""
    leaves = [tg.tensor(a.astype(dtype), requires_grad=True) for a in (q, k, v)]
    args = dict(kwargs)
    if "attn_mask" in args:
        mask = args["attn_mask"]
        args["attn_mask"] = tg.tensor(mask if mask.dtype == bool else mask.astype(dtype))
    tg.manual_seed(seed)
    with kernels.reference() if reference else _nothing():
        out = F.scaled_dot_product_attention(*leaves, **args)
        out.backward(tg.tensor(upstream.astype(dtype)))
    return type(out._ctx), [out.detach().numpy()] + [x.grad.numpy() for x in leaves]


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@examples(25)
@given(attention_calls(), st.sampled_from([np.float64, np.float32]))
def test_flash_attention_equals_the_naive_op(call, dtype):
    fast_op, fast = run(*call, dtype, reference=False)
    naive_op, naive = run(*call, dtype, reference=True)
    assert fast_op is flash_attention.FlashAttention and naive_op is ScaledDotProductAttention
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    for name, got, expected in zip(("out", "dq", "dk", "dv"), fast, naive):
        scale = max(1.0, float(np.abs(expected).max(initial=0)))  # float32: rounding relative to the largest
        np.testing.assert_allclose(got / scale, expected / scale, **tol, err_msg=name)


def test_the_dropout_mask_is_the_references_and_backward_regenerates_it():
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 3, 70, 8)) for _ in range(3))
    call = (q, k, v, {"dropout_p": 0.4, "is_causal": True}, rng.standard_normal((2, 3, 70, 8)))
    _, fast = run(*call, np.float64, reference=False, seed=3)
    _, naive = run(*call, np.float64, reference=True, seed=3)
    _, other_seed = run(*call, np.float64, reference=False, seed=4)
    for got, expected in zip(fast, naive):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert not np.allclose(fast[0], other_seed[0])
    # the same call without dropout differs: some weights really were dropped
    _, undropped = run(q, k, v, {"is_causal": True}, call[4], np.float64, reference=False)
    assert not np.allclose(fast[0], undropped[0])


def test_dropout_keeps_each_weight_with_probability_one_minus_p():
    """With V = I (one value per key), O = P̃: the kept share of the causal weights is 1 - p."""
    t = 200
    q, k = np.zeros((1, t, 4)), np.zeros((1, t, 4))
    tg.manual_seed(0)
    out = F.scaled_dot_product_attention(tg.tensor(q), tg.tensor(k), tg.tensor(np.eye(t)[None]), dropout_p=0.3)
    kept = (out.numpy() != 0).mean()
    assert abs(kept - 0.7) < 0.01
    np.testing.assert_allclose(out.numpy()[out.numpy() != 0], 1 / t / 0.7)


def test_only_o_and_the_row_log_sum_exp_are_saved():
    t, d = 300, 8
    q, k, v = (tg.tensor(np.random.default_rng(2).standard_normal((2, t, d)), requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    saved = [s for s in out._ctx.saved_tensors if s is not None]
    assert all(s.size <= 2 * t * d for s in saved)  # the inputs, O, L: nothing of t·t
    assert any(s.shape == (2, t) for s in saved)  # L, one number per row


@pytest.mark.parametrize("kwargs", [
    {"is_causal": True}, {"is_causal": False, "scale": 0.5}, {"mask": "bool", "dropout_p": 0.3},
    {"mask": "additive", "is_causal": True, "dropout_p": 0.5},
])  # fmt: skip
def test_gradcheck_and_gradgradcheck(kwargs):
    rng = np.random.default_rng(5)
    q, k, v = (tg.tensor(rng.standard_normal((2, 5, 3)), requires_grad=True) for _ in range(3))
    args = {key: value for key, value in kwargs.items() if key != "mask"}
    if kwargs.get("mask") == "bool":
        allowed = rng.random((5, 5)) < 0.6
        allowed[:, 0] = True
        args["attn_mask"] = tg.tensor(allowed)
    elif kwargs.get("mask") == "additive":
        args["attn_mask"] = tg.tensor(rng.standard_normal((5, 5)), requires_grad=True)

    def attention(q, k, v, *mask):
        tg.manual_seed(11)  # the same dropout mask at every evaluation
        return F.scaled_dot_product_attention(q, k, v, **dict(args, **({"attn_mask": mask[0]} if mask else {})))

    inputs = (q, k, v, *((args["attn_mask"],) if kwargs.get("mask") == "additive" else ()))
    assert type(attention(*inputs)._ctx) is flash_attention.FlashAttention
    assert gradcheck(attention, inputs)
    assert gradgradcheck(attention, inputs)


@pytest.mark.parametrize("is_causal, mask", [(False, None), (True, None), (False, "bool"), (False, "additive")])
def test_pytorch_agrees(is_causal, mask):
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2, 2, 130, 16)).astype(np.float32) for _ in range(3))
    attn_mask = None
    if mask == "bool":
        attn_mask = rng.random((130, 130)) < 0.5
        attn_mask[:, 0] = True
    elif mask == "additive":
        attn_mask = rng.standard_normal((130, 130)).astype(np.float32)
    ours = [tg.tensor(a, requires_grad=True) for a in (q, k, v)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(
        *ours, attn_mask=None if attn_mask is None else tg.tensor(attn_mask), is_causal=is_causal
    )
    expected = torch.nn.functional.scaled_dot_product_attention(
        *theirs, attn_mask=None if attn_mask is None else torch.tensor(attn_mask), is_causal=is_causal
    )
    upstream = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(tg.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-4, atol=1e-5)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-3, atol=1e-4)


def test_bad_shapes_are_named():
    q = tg.zeros(2, 4, 8)
    with pytest.raises(RuntimeError, match="must share E"):
        F.scaled_dot_product_attention(q, tg.zeros(2, 4, 7), tg.zeros(2, 4, 8))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        F.scaled_dot_product_attention(tg.zeros(8), tg.zeros(8), tg.zeros(8))
    with pytest.raises(ValueError, match="dropout probability"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=1.5)


@pytest.mark.parametrize("causal, mask, dropout_p, t_q, t_k", [
    (True, None, 0.0, 37, 37), (False, "bool", 0.3, 5, 40), (False, "additive", 0.0, 33, 1), (True, None, 0.5, 1, 3),
])  # fmt: skip
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the hash's wrapping uint64 arithmetic
def test_cuda_kernel_in_the_simulator(causal, mask, dropout_p, t_q, t_k):
    """The CUDA twin against the reference op, called on NumPy arrays in numba's simulator (or CuPy on a GPU)."""
    from tinygrad_edu.kernels import cuda as kcuda

    if kcuda.cuda() is None:
        pytest.skip("numba-cuda is not installed (or sees neither a GPU nor its simulator)")
    from tinygrad_edu.kernels.cuda import flash_attention as twin

    xp = np if kcuda.simulated() else pytest.importorskip("cupy")
    rng = np.random.default_rng(9)
    q, k, v = rng.standard_normal((2, t_q, 8)), rng.standard_normal((2, t_k, 8)), rng.standard_normal((2, t_k, 5))
    upstream = rng.standard_normal((2, t_q, 5))
    kwargs = {"is_causal": causal, "dropout_p": dropout_p}
    if mask == "bool":
        kwargs["attn_mask"] = rng.random((t_q, t_k)) < 0.6
        kwargs["attn_mask"][:, 0] = True
    elif mask == "additive":
        kwargs["attn_mask"] = rng.standard_normal((t_q, t_k))
    _, expected = run(q, k, v, kwargs, upstream, np.float64, reference=True, seed=5)
    tg.manual_seed(5)
    seed = F._dropout_key("cpu") if dropout_p > 0 else 0
    kinds = flash_attention.mask_arrays(np, kwargs.get("attn_mask"), (2,), t_q, t_k, np.float64)
    arguments = (causal, np.float64(q.shape[-1] ** -0.5), *kinds,
                 *flash_attention.dropout_arguments(np.float64, dropout_p, seed))  # fmt: skip
    on_device = [xp.asarray(a) for a in (q, k, v)]
    arguments = tuple(xp.asarray(a) if isinstance(a, np.ndarray) else a for a in arguments)
    out, lse = twin.forward(xp, *on_device, *arguments)
    dq, dk, dv, _ = twin.backward(xp, *on_device, *arguments, out, lse, xp.asarray(upstream), False)
    host = (lambda a: a) if xp is np else xp.asnumpy
    for name, got, want in zip(("out", "dq", "dk", "dv"), (out, dq, dk, dv), expected):
        np.testing.assert_allclose(host(got), want, rtol=1e-10, atol=1e-12, err_msg=name)


def _model(attention, library="tinygrad_edu"):
    from gpt.library import model_module

    module = model_module(library)
    config = module.GPTConfig(vocab_size=65, block_size=20, n_layer=2, n_head=2, n_embd=16, attention=attention)
    return module.GPT(config)


def test_the_models_fused_switch_computes_the_explicit_attention():
    tokens = np.random.default_rng(0).integers(0, 65, (3, 20))
    results = {}
    for attention in ("explicit", "fused"):
        tg.manual_seed(0)
        model = _model(attention)
        logits, loss = model(tg.tensor(tokens), tg.tensor(tokens))
        loss.backward()
        results[attention] = [logits.detach().numpy()] + [p.grad.numpy() for p in model.parameters()]
    for got, expected in zip(results["fused"], results["explicit"]):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_the_fused_switch_generates_with_the_cache_as_without():
    """With a cache, the queries after the first prompt see the past through the sliced causal mask."""
    tg.manual_seed(0)
    model = _model("fused")
    model.eval()
    prompt = tg.tensor(np.random.default_rng(1).integers(0, 65, (1, 4)))
    with_cache = model.generate(prompt, 8, top_k=1, kv_cache=True).numpy()
    without = model.generate(prompt, 8, top_k=1, kv_cache=False).numpy()
    np.testing.assert_array_equal(with_cache, without)


def test_pytorch_runs_the_same_file_with_its_own_sdpa():
    weights = {k: v.detach().numpy() for k, v in _model("fused").state_dict().items()}
    model = _model("fused", "torch")
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
    ours = _model("fused")
    ours.load_state_dict({k: tg.tensor(v) for k, v in weights.items()})
    tokens = np.random.default_rng(2).integers(0, 65, (2, 20))
    theirs, _ = model(torch.from_numpy(tokens))
    mine, _ = ours(tg.tensor(tokens))
    np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_attention_maps_of_a_fused_model_are_the_explicit_ones():
    tokens = tg.tensor(np.random.default_rng(3).integers(0, 65, (1, 12)))
    maps = {}
    for attention in ("explicit", "fused"):
        tg.manual_seed(0)
        model = _model(attention)
        maps[attention] = [m.numpy() for m in model.attention_maps(tokens)]
        assert all(block.attn.fused == (attention == "fused") for block in model.blocks)  # the switch is restored
    assert len(maps["fused"]) == 2
    for got, expected in zip(maps["fused"], maps["explicit"]):
        np.testing.assert_array_equal(got, expected)


def test_the_table_keeps_small_attention_on_the_naive_op_on_the_cpu():
    """Below the size where memory runs out the naive op is the faster one, so the table leaves it there."""
    kept, kernels.FLASH_ATTENTION_FROM_BYTES = kernels.FLASH_ATTENTION_FROM_BYTES, 32 * 2**20
    try:
        small = [np.zeros((2, 4, 64, 32), np.float32)] * 3 + [None]
        assert kernels.choose(ScaledDotProductAttention, np, small, {}) is ScaledDotProductAttention
        large = [np.zeros((12, 4, 1024, 32), np.float32)] * 3 + [None]  # P: 12·4·1024·1024·4 bytes = 192 MiB
        assert kernels.choose(ScaledDotProductAttention, np, large, {}) is flash_attention.FlashAttention
    finally:
        kernels.FLASH_ATTENTION_FROM_BYTES = kept
