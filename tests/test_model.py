"""Tests of the GPT (gpt/model.py) and the lecture's modules (gpt/lecture.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_edu as tg
from gpt.lecture import (
    BigramLanguageModel,
    FeedForward,
    Head,
    LectureGPT,
    MultiHeadAttention,
    heads_to_batched,
)
from gpt.model import GPT, MLP, CausalSelfAttention, GPTConfig, SwiGLU, apply_rope, rope_tables, swiglu_hidden_size
from tinygrad_edu.autograd import gradcheck

TINY = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)
SWITCHES = [
    {},
    {"residual": False},
    {"layer_norm": False},
    {"position_embedding": "none"},
    {"position_embedding": "rope"},
    {"attention_scale": False},
    {"mlp": "swiglu"},
    {"mlp": "none"},
    {"single_head": True},
    {"tie_weights": False},
    {"bias": False},
    {"dropout": 0.2},
]


def tiny(**overrides) -> GPTConfig:
    return GPTConfig(**{**TINY, **overrides})


def tokens(B, T, vocab, seed=0):
    return tg.tensor(np.random.default_rng(seed).integers(0, vocab, size=(B, T)))


def rel_err(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


# -- config --------------------------------------------------------------------------------------------------


def test_config_round_trip_and_validation():
    c = GPTConfig(n_layer=2, position_embedding="rope", mlp="swiglu")
    assert GPTConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="unknown keys \\['n_layers'\\]"):
        GPTConfig.from_dict({"n_layers": 3})
    for bad, match in [
        ({"n_embd": 130, "n_head": 4}, "divisible"),
        ({"n_layer": 0}, "n_layer"),
        ({"dropout": 1.0}, "dropout"),
        ({"position_embedding": "sinusoidal"}, "position_embedding"),
        ({"mlp": "relu"}, "mlp"),
        ({"n_embd": 12, "n_head": 4, "position_embedding": "rope"}, "even"),
    ]:
        with pytest.raises(ValueError, match=match):
            GPTConfig(**bad)
    assert GPTConfig(n_embd=130, n_head=4, single_head=True).head_size == 130


# -- EX1: the lecture's heads and the batched attention compute the same function ------------------------


def test_batched_attention_equals_lecture_heads():
    n_embd, n_head, T = 16, 4, 7
    mha = MultiHeadAttention(n_embd, n_head, n_embd // n_head, block_size=8, dropout=0.0).double()
    for p in mha.parameters():  # the default init is fine, but random biases make the check stronger
        tg.nn.init.normal_(p, std=0.5)
    attn = heads_to_batched(mha, CausalSelfAttention(tiny(n_embd=n_embd, n_head=n_head)).double())

    x = tg.tensor(np.random.default_rng(1).standard_normal((3, T, n_embd)), requires_grad=True)
    x2 = tg.tensor(x.detach().numpy().copy(), requires_grad=True)
    upstream = tg.tensor(np.random.default_rng(2).standard_normal((3, T, n_embd)))
    y_heads, y_batched = mha(x), attn(x2)
    assert rel_err(y_batched.detach().numpy(), y_heads.detach().numpy()) < 1e-10
    y_heads.backward(upstream)
    y_batched.backward(upstream)
    assert rel_err(x2.grad.numpy(), x.grad.numpy()) < 1e-10

    hs, g = n_embd // n_head, attn.c_attn.weight.grad.numpy()
    for part_index, part in enumerate(("query", "key", "value")):
        for h, head in enumerate(mha.heads):
            rows = g[part_index * n_embd + h * hs : part_index * n_embd + (h + 1) * hs]
            assert rel_err(rows, getattr(head, part).weight.grad.numpy()) < 1e-10
    assert rel_err(attn.c_proj.weight.grad.numpy(), mha.proj.weight.grad.numpy()) < 1e-10
    assert rel_err(attn.c_proj.bias.grad.numpy(), mha.proj.bias.grad.numpy()) < 1e-10


def test_heads_to_batched_rejects_mismatched_shapes():
    mha = MultiHeadAttention(16, 4, 4, block_size=8)
    with pytest.raises(ValueError, match="4 heads of size 4"):
        heads_to_batched(mha, CausalSelfAttention(tiny(n_embd=16, n_head=2)))
    with pytest.raises(ValueError, match="bias"):
        heads_to_batched(mha, CausalSelfAttention(tiny(n_embd=16, n_head=4, bias=False)))


def test_attention_maps_are_causal_distributions_and_leave_no_hook_behind():
    model = GPT(tiny())
    idx = tokens(2, 5, 11)
    before = model(idx)[0].detach().numpy()
    maps = model.attention_maps(idx)
    assert len(maps) == model.config.n_layer and maps[0].shape == (2, 2, 5, 5)
    att = maps[0].numpy()
    np.testing.assert_allclose(att.sum(-1), 1.0, rtol=1e-5)
    assert np.all(np.triu(att, k=1) == 0)  # no weight on the future
    assert all(not m._forward_pre_hooks for m in model.modules())
    assert np.array_equal(before, model(idx)[0].detach().numpy())


# -- causality, loss, tying, init ----------------------------------------------------------------------------


@pytest.mark.parametrize("position_embedding", ["learned", "rope", "none"])
def test_future_tokens_never_change_earlier_logits(position_embedding):
    model = GPT(tiny(position_embedding=position_embedding)).double()
    idx = tokens(2, 8, 11)
    base, _ = model(idx)
    for t in (3, 7):
        changed = idx.numpy().copy()
        changed[:, t] = (changed[:, t] + 1) % 11
        logits, _ = model(tg.tensor(changed))
        assert np.array_equal(logits.detach().numpy()[:, :t], base.detach().numpy()[:, :t])
        assert not np.allclose(logits.detach().numpy()[:, t], base.detach().numpy()[:, t])


def test_loss_at_init_is_uniform_guess():
    model = GPT(GPTConfig(n_layer=2))
    _, loss = model(tokens(8, 64, 65, seed=1), tokens(8, 64, 65, seed=2))
    assert abs(loss.item() - math.log(65)) < 0.1


def test_ignored_targets_are_left_out_of_the_loss():
    model = GPT(tiny()).double()
    idx, targets = tokens(2, 8, 11, seed=3), tokens(2, 8, 11, seed=4).numpy().copy()
    keep = np.ones_like(targets, dtype=bool)
    keep[0, :3] = keep[1, 5] = False
    targets[~keep] = -1
    logits, loss = model(idx, tg.tensor(targets))
    logp = logits.detach().numpy() - np.log(np.exp(logits.detach().numpy()).sum(-1, keepdims=True))
    expected = -np.mean(np.take_along_axis(logp, np.where(keep, targets, 0)[..., None], -1)[..., 0][keep])
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_weight_tying_shares_one_parameter():
    model = GPT(tiny())
    assert model.lm_head.weight is model.wte.weight
    params = list(model.parameters())
    assert sum(p is model.wte.weight for p in params) == 1
    untied = GPT(tiny(tie_weights=False))
    assert untied.num_params(non_embedding=False) == model.num_params(non_embedding=False) + 11 * 16
    assert model.num_params() == model.num_params(non_embedding=False) - 8 * 16  # wpe left out
    logits, loss = model(tokens(2, 8, 11), tokens(2, 8, 11, seed=1))
    loss.backward()
    assert model.lm_head.weight.grad is model.wte.weight.grad  # one gradient, from both uses


def test_init_statistics():
    n_layer = 4
    model = GPT(GPTConfig(n_layer=n_layer, mlp="gelu"))
    residual_std = 0.02 / math.sqrt(2 * n_layer)
    for name, p in model.named_parameters():
        data = p.detach().numpy()
        if name.endswith("c_proj.weight"):
            assert data.std() == pytest.approx(residual_std, rel=0.05), name
        elif name.endswith("bias"):
            assert np.all(data == 0) if ".ln_" not in name and "ln_f" not in name else True
        elif name.endswith("c_fc.weight") or name.endswith("c_attn.weight") or name == "wte.weight":
            assert data.std() == pytest.approx(0.02, rel=0.05), name
    swiglu = GPT(GPTConfig(n_layer=n_layer, mlp="swiglu"))
    assert swiglu.blocks[0].mlp.w2.weight.detach().numpy().std() == pytest.approx(residual_std, rel=0.05)


def test_swiglu_matches_mlp_parameter_count():
    for n_embd, bias in [(128, True), (64, False), (48, True)]:
        c = GPTConfig(n_embd=n_embd, n_head=4, bias=bias)
        gelu, swiglu = MLP(c).num_parameters(), SwiGLU(c).num_parameters()
        assert abs(swiglu - gelu) <= 3 * n_embd + 2, (n_embd, bias)  # within one hidden unit
    assert swiglu_hidden_size(128) == 341


def test_overfits_one_batch():
    tg.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=32))
    x, y = tokens(4, 8, 16, seed=5), tokens(4, 8, 16, seed=6)
    opt = tg.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    for _ in range(200):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1


# -- switches ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", SWITCHES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_every_switch_builds_trains_and_samples(overrides):
    model = GPT(tiny(**overrides))
    logits, loss = model(tokens(2, 8, 11), tokens(2, 8, 11, seed=1))
    assert tuple(logits.shape) == (2, 8, 11) and np.isfinite(loss.item())
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    out = model.generate(tokens(1, 3, 11), max_new_tokens=10)  # longer than block_size: the context is cropped
    assert tuple(out.shape) == (1, 13)
    maps = model.attention_maps(tokens(2, 5, 11))
    heads = 1 if overrides.get("single_head") else 2
    assert len(maps) == 2 and all(tuple(m.shape) == (2, heads, 5, 5) for m in maps)
    assert model.training  # generate and attention_maps restore the mode


def test_switch_structure():
    assert tiny(single_head=True).heads == 1 and GPT(tiny(single_head=True)).blocks[0].attn.head_size == 16
    assert GPT(tiny(mlp="none")).blocks[0].mlp is None and GPT(tiny(mlp="none")).blocks[0].ln_2 is None
    assert isinstance(GPT(tiny(layer_norm=False)).ln_f, tg.nn.Identity)
    assert GPT(tiny(position_embedding="rope")).wpe is None
    assert GPT(tiny(bias=False)).blocks[0].attn.c_attn.bias is None


def test_no_position_embedding_last_token_ignores_order_of_the_past():
    """Without position information a 1-layer model's last position attends to the earlier tokens as a set:
    each key and value depends only on its own token, and softmax-weighted sums do not care about order.
    (With 2+ layers this fails: an earlier position's output depends on its own causal prefix.)"""
    idx = tokens(1, 8, 11, seed=7).numpy()
    perm = np.concatenate([np.random.default_rng(8).permutation(7), [7]])
    assert not np.array_equal(idx[:, perm], idx)

    def last_logits(model, seq):
        return model(tg.tensor(seq))[0].detach().numpy()[:, -1]

    model = GPT(tiny(position_embedding="none", n_layer=1)).double()
    np.testing.assert_allclose(last_logits(model, idx[:, perm]), last_logits(model, idx), rtol=1e-12, atol=1e-14)
    learned = GPT(tiny(position_embedding="learned", n_layer=1)).double()  # the test can tell order apart
    assert not np.allclose(last_logits(learned, idx[:, perm]), last_logits(learned, idx))


def test_rope_preserves_norms_and_sees_relative_positions_only():
    T, hs = 8, 6
    cos, sin = rope_tables(T, hs, dtype=tg.float64)
    rng = np.random.default_rng(9)
    x = tg.tensor(rng.standard_normal((2, 3, T, hs)))
    rotated = apply_rope(x, cos, sin)
    np.testing.assert_allclose(np.linalg.norm(rotated.numpy(), axis=-1), np.linalg.norm(x.numpy(), axis=-1))
    np.testing.assert_allclose(rotated.numpy()[:, :, 0], x.numpy()[:, :, 0])  # position 0 is not rotated

    # the same query vector at every position, the same key vector at every position
    q = apply_rope(tg.tensor(np.tile(rng.standard_normal(hs), (T, 1))), cos, sin)
    k = apply_rope(tg.tensor(np.tile(rng.standard_normal(hs), (T, 1))), cos, sin)
    scores = (q @ k.T).numpy()
    for m in range(T):
        for n in range(T):
            for s in range(1, T - max(m, n)):
                assert scores[m + s, n + s] == pytest.approx(scores[m, n], rel=1e-10, abs=1e-12)
    assert not np.allclose(scores[0, 1], scores[0, 2])  # but it does depend on the distance


@pytest.mark.parametrize("overrides", [{"position_embedding": "rope"}, {"mlp": "swiglu"}], ids=["rope", "swiglu"])
def test_gradcheck_loss_wrt_parameters(overrides):
    config = GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=2, n_embd=8, **overrides)
    model = GPT(config).double()
    for p in model.parameters():  # away from the tiny init, so every path carries a visible gradient
        tg.nn.init.normal_(p, std=0.3)
    # every (module, name) slot of each parameter; a tied weight fills two slots with one tensor
    slots = {}
    for module in model.modules():
        for name, p in module._parameters.items():
            if p is not None:
                slots.setdefault(id(p), (p, []))[1].append((module, name))
    params = [p for p, _ in slots.values()]
    idx, targets = tokens(2, 4, 5, seed=10), tokens(2, 4, 5, seed=11)

    def loss_of(*tensors):
        for (_, places), t in zip(slots.values(), tensors):
            for module, name in places:
                module._parameters[name] = t
        try:
            return model(idx, targets)[1]
        finally:
            for p, places in slots.values():
                for module, name in places:
                    module._parameters[name] = p

    assert gradcheck(loss_of, tuple(params), eps=1e-6, atol=1e-7, rtol=1e-5)


# -- PyTorch as an oracle ------------------------------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"position_embedding": "rope", "mlp": "swiglu"},
        {"single_head": True, "layer_norm": False, "bias": False},
        {
            "position_embedding": "none",
            "mlp": "none",
            "residual": False,
            "attention_scale": False,
            "tie_weights": False,
        },
    ],
    ids=["default", "rope-swiglu", "single-head-no-ln", "bare-attention"],
)
def test_matches_pytorch(torch, overrides):
    from gpt.library import model_module

    config = GPTConfig(vocab_size=65, block_size=16, n_layer=2, n_head=4, n_embd=32, **overrides)
    ours = GPT(config).double()
    theirs = model_module("torch").GPT(config).double()  # the same file, gpt/model.py, run on PyTorch
    state = {k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state, strict=True)

    idx, targets = tokens(3, 16, 65, seed=12).numpy(), tokens(3, 16, 65, seed=13).numpy().copy()
    targets[0, :4] = -1
    logits, loss = ours(tg.tensor(idx), tg.tensor(targets))
    t_logits, t_loss = theirs(torch.tensor(idx), torch.tensor(targets))
    assert rel_err(logits.detach().numpy(), t_logits.detach().numpy()) < 1e-6
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-6)

    loss.backward()
    t_loss.backward()
    t_params = dict(theirs.named_parameters())
    ours_params = dict(ours.named_parameters())
    assert set(ours_params) == set(t_params)
    for name, p in ours_params.items():
        assert rel_err(p.grad.numpy(), t_params[name].grad.numpy()) < 1e-6, name


# -- generate ------------------------------------------------------------------------------------------------


def test_generate_shapes_range_and_options():
    model = GPT(tiny())
    idx = tokens(3, 4, 11)
    out = model.generate(idx, max_new_tokens=6, temperature=0.7, top_k=3)
    assert tuple(out.shape) == (3, 10)
    assert np.array_equal(out.numpy()[:, :4], idx.numpy())
    assert out.numpy().min() >= 0 and out.numpy().max() < 11
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="temperature"):
            model.generate(idx, 1, temperature=bad)
    with pytest.raises(ValueError, match="top_k"):
        model.generate(idx, 1, top_k=0)
    with pytest.raises(ValueError, match="block size"):
        model(tokens(1, 9, 11))


def test_top_k_one_is_greedy():
    model = GPT(tiny())
    for p in model.parameters():
        tg.nn.init.normal_(p, std=0.5)  # distinct logits, so the argmax is unique
    idx = tokens(2, 3, 11)
    a = model.generate(idx, 8, temperature=2.0, top_k=1)
    tg.manual_seed(123)
    b = model.generate(idx, 8, temperature=2.0, top_k=1)
    assert np.array_equal(a.numpy(), b.numpy())
    greedy = idx
    for _ in range(8):
        logits, _ = model(greedy[:, -8:])
        greedy = tg.cat((greedy, logits.detach().argmax(-1)[:, -1:]), dim=1)
    assert np.array_equal(a.numpy(), greedy.numpy())


def test_top_k_restricts_samples():
    model = BigramLanguageModel(11)
    with tg.no_grad():
        model.token_embedding_table.weight.copy_(tg.tensor(np.tile(np.arange(11.0), (11, 1))))
    out = model.generate(tg.zeros(64, 1, dtype=tg.long), 5, top_k=3).numpy()[:, 1:]
    assert set(np.unique(out)) <= {8, 9, 10} and len(np.unique(out)) == 3


def test_topk_engine_op():
    x = tg.tensor([[1.0, 5.0, 3.0, 2.0], [4.0, 0.0, 9.0, 7.0]], requires_grad=True)
    values, indices = x.topk(2)
    assert values.tolist() == [[5.0, 3.0], [9.0, 7.0]] and indices.tolist() == [[1, 2], [2, 3]]
    values.sum().backward()
    assert x.grad.tolist() == [[0, 1, 1, 0], [0, 0, 1, 1]]
    smallest = tg.topk(x.detach(), 1, dim=0, largest=False)
    assert smallest.values.tolist() == [[1.0, 0.0, 3.0, 2.0]] and smallest.indices.tolist() == [[0, 1, 0, 0]]
    with pytest.raises(RuntimeError, match="out of range"):
        x.topk(5)


# -- the lecture's modules -----------------------------------------------------------------------------------


def test_bigram_model():
    model = BigramLanguageModel(65)
    with tg.no_grad():
        model.token_embedding_table.weight.mul_(0.01)  # near-uniform predictions
    logits, loss = model(tokens(4, 8, 65), tokens(4, 8, 65, seed=1))
    assert tuple(logits.shape) == (4, 8, 65)
    assert abs(loss.item() - math.log(65)) < 0.05
    assert model(tokens(4, 8, 65))[1] is None
    out = model.generate(tg.zeros(2, 1, dtype=tg.long), 20)
    assert tuple(out.shape) == (2, 21) and out.numpy().max() < 65


def test_lecture_gpt_forward_backward_generate():
    model = LectureGPT(vocab_size=11, n_embd=16, n_head=4, n_layer=2, block_size=8, dropout=0.1)
    logits, loss = model(tokens(2, 8, 11), tokens(2, 8, 11, seed=1))
    assert tuple(logits.shape) == (2, 8, 11)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert tuple(model.generate(tokens(1, 2, 11), 10).shape) == (1, 12)
    assert model.training
    head = Head(16, 4, block_size=8)
    assert tuple(head(tg.randn(2, 5, 16)).shape) == (2, 5, 4)
    assert tuple(FeedForward(16)(tg.randn(2, 5, 16)).shape) == (2, 5, 16)


def test_the_pytorch_run_is_the_same_file(torch):
    """gpt.library runs gpt/model.py itself on PyTorch: same source lines, PyTorch modules underneath."""
    import inspect

    from gpt import model as ours
    from gpt.library import IMPORTS, model_module

    theirs = model_module("torch")
    assert model_module("torch") is theirs and model_module("tinygrad_edu") is ours
    assert inspect.getsourcefile(theirs.GPT.forward) == inspect.getsourcefile(ours.GPT.forward)
    assert theirs.GPT.forward.__code__.co_firstlineno == ours.GPT.forward.__code__.co_firstlineno
    assert issubclass(theirs.GPT, torch.nn.Module) and theirs.torch is torch
    assert set(IMPORTS) <= set(inspect.getsource(ours).splitlines())  # the lines it swaps are really there
    with pytest.raises(ValueError, match="library"):
        model_module("jax")
