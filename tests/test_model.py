"""Tests of the GPT (gpt/model.py) and the lecture's modules (gpt/lecture.py).

Every test runs on each device (the ``device`` fixture): models are built on the CPU and moved with
``.to(device)``, token ids are made there, and results come back to the host for the assertions. PyTorch, the
oracle, stays on the CPU."""

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


def tokens(B, T, vocab, seed=0, device="cpu"):
    return tg.tensor(np.random.default_rng(seed).integers(0, vocab, size=(B, T)), device=device)


def host(t) -> np.ndarray:
    """A tensor's values as a NumPy array on the host, from any device."""
    return t.detach().cpu().numpy()


def rel_err(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


# -- config --------------------------------------------------------------------------------------------------


def test_config_round_trip_and_validation(device):
    # device-independent (a dataclass, no tensor): the fixture only keeps the file's tests uniform
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


def test_batched_attention_equals_lecture_heads(device):
    n_embd, n_head, T = 16, 4, 7
    mha = MultiHeadAttention(n_embd, n_head, n_embd // n_head, block_size=8, dropout=0.0).double().to(device)
    for p in mha.parameters():  # the default init is fine, but random biases make the check stronger
        tg.nn.init.normal_(p, std=0.5)
    attn = heads_to_batched(mha, CausalSelfAttention(tiny(n_embd=n_embd, n_head=n_head)).double().to(device))

    x = tg.tensor(np.random.default_rng(1).standard_normal((3, T, n_embd)), device=device, requires_grad=True)
    x2 = tg.tensor(host(x).copy(), device=device, requires_grad=True)
    upstream = tg.tensor(np.random.default_rng(2).standard_normal((3, T, n_embd)), device=device)
    y_heads, y_batched = mha(x), attn(x2)
    assert y_heads.device.type == device and y_batched.device.type == device
    assert rel_err(host(y_batched), host(y_heads)) < 1e-10
    y_heads.backward(upstream)
    y_batched.backward(upstream)
    assert rel_err(host(x2.grad), host(x.grad)) < 1e-10

    hs, g = n_embd // n_head, host(attn.c_attn.weight.grad)
    for part_index, part in enumerate(("query", "key", "value")):
        for h, head in enumerate(mha.heads):
            rows = g[part_index * n_embd + h * hs : part_index * n_embd + (h + 1) * hs]
            assert rel_err(rows, host(getattr(head, part).weight.grad)) < 1e-10
    assert rel_err(host(attn.c_proj.weight.grad), host(mha.proj.weight.grad)) < 1e-10
    assert rel_err(host(attn.c_proj.bias.grad), host(mha.proj.bias.grad)) < 1e-10


def test_heads_to_batched_rejects_mismatched_shapes(device):
    mha = MultiHeadAttention(16, 4, 4, block_size=8).to(device)
    with pytest.raises(ValueError, match="4 heads of size 4"):
        heads_to_batched(mha, CausalSelfAttention(tiny(n_embd=16, n_head=2)).to(device))
    with pytest.raises(ValueError, match="bias"):
        heads_to_batched(mha, CausalSelfAttention(tiny(n_embd=16, n_head=4, bias=False)).to(device))


def test_attention_maps_are_causal_distributions_and_leave_no_hook_behind(device):
    model = GPT(tiny()).to(device)
    idx = tokens(2, 5, 11, device=device)
    before = host(model(idx)[0])
    maps = model.attention_maps(idx)
    assert len(maps) == model.config.n_layer and maps[0].shape == (2, 2, 5, 5)
    assert all(m.device.type == device for m in maps)
    att = host(maps[0])
    np.testing.assert_allclose(att.sum(-1), 1.0, rtol=1e-5)
    assert np.all(np.triu(att, k=1) == 0)  # no weight on the future
    assert all(not m._forward_pre_hooks for m in model.modules())
    assert np.array_equal(before, host(model(idx)[0]))


# -- causality, loss, tying, init ----------------------------------------------------------------------------


@pytest.mark.parametrize("position_embedding", ["learned", "rope", "none"])
def test_future_tokens_never_change_earlier_logits(position_embedding, device):
    model = GPT(tiny(position_embedding=position_embedding)).double().to(device)
    idx = tokens(2, 8, 11, device=device)
    base = host(model(idx)[0])
    for t in (3, 7):
        changed = host(idx).copy()
        changed[:, t] = (changed[:, t] + 1) % 11
        logits = host(model(tg.tensor(changed, device=device))[0])
        assert np.array_equal(logits[:, :t], base[:, :t])
        assert not np.allclose(logits[:, t], base[:, t])


def test_loss_at_init_is_uniform_guess(device):
    model = GPT(GPTConfig(n_layer=2)).to(device)
    _, loss = model(tokens(8, 64, 65, seed=1, device=device), tokens(8, 64, 65, seed=2, device=device))
    assert abs(loss.item() - math.log(65)) < 0.1


def test_ignored_targets_are_left_out_of_the_loss(device):
    model = GPT(tiny()).double().to(device)
    idx, targets = tokens(2, 8, 11, seed=3, device=device), tokens(2, 8, 11, seed=4).numpy().copy()
    keep = np.ones_like(targets, dtype=bool)
    keep[0, :3] = keep[1, 5] = False
    targets[~keep] = -1
    logits, loss = model(idx, tg.tensor(targets, device=device))
    logits = host(logits)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.mean(np.take_along_axis(logp, np.where(keep, targets, 0)[..., None], -1)[..., 0][keep])
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_weight_tying_shares_one_parameter(device):
    model = GPT(tiny()).to(device)
    assert model.lm_head.weight is model.wte.weight  # moving keeps the tie
    params = list(model.parameters())
    assert sum(p is model.wte.weight for p in params) == 1
    untied = GPT(tiny(tie_weights=False)).to(device)
    assert untied.num_params(non_embedding=False) == model.num_params(non_embedding=False) + 11 * 16
    assert model.num_params() == model.num_params(non_embedding=False) - 8 * 16  # wpe left out
    logits, loss = model(tokens(2, 8, 11, device=device), tokens(2, 8, 11, seed=1, device=device))
    loss.backward()
    assert model.lm_head.weight.grad is model.wte.weight.grad  # one gradient, from both uses
    assert model.wte.weight.grad.device.type == device


def test_init_statistics(device):
    n_layer = 4
    model = GPT(GPTConfig(n_layer=n_layer, mlp="gelu")).to(device)  # initialised on the CPU, then moved
    residual_std = 0.02 / math.sqrt(2 * n_layer)
    for name, p in model.named_parameters():
        assert p.device.type == device, name
        data = host(p)
        if name.endswith("c_proj.weight"):
            assert data.std() == pytest.approx(residual_std, rel=0.05), name
        elif name.endswith("bias"):
            assert np.all(data == 0), name  # Linear biases and LayerNorm shifts start at 0
        elif "ln_" in name and name.endswith("weight"):
            assert np.all(data == 1), name  # LayerNorm gains start at 1
        elif name.endswith("c_fc.weight") or name.endswith("c_attn.weight") or name == "wte.weight":
            assert data.std() == pytest.approx(0.02, rel=0.05), name
    swiglu = GPT(GPTConfig(n_layer=n_layer, mlp="swiglu")).to(device)
    assert host(swiglu.blocks[0].mlp.w2.weight).std() == pytest.approx(residual_std, rel=0.05)


def test_swiglu_matches_mlp_parameter_count(device):
    for n_embd, bias in [(128, True), (64, False), (48, True)]:
        c = GPTConfig(n_embd=n_embd, n_head=4, bias=bias)
        gelu, swiglu = MLP(c).to(device).num_parameters(), SwiGLU(c).to(device).num_parameters()
        assert abs(swiglu - gelu) <= 3 * n_embd + 2, (n_embd, bias)  # within one hidden unit
    assert swiglu_hidden_size(128) == 341


def test_overfits_one_batch(device):
    tg.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=32)).to(device)
    x, y = tokens(4, 8, 16, seed=5, device=device), tokens(4, 8, 16, seed=6, device=device)
    opt = tg.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    for _ in range(200):
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1


# -- switches ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", SWITCHES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_every_switch_builds_trains_and_samples(overrides, device):
    model = GPT(tiny(**overrides)).to(device)
    logits, loss = model(tokens(2, 8, 11, device=device), tokens(2, 8, 11, seed=1, device=device))
    assert tuple(logits.shape) == (2, 8, 11) and logits.device.type == device
    # GPT-2's small init makes every switch start near the uniform guess over the 11 tokens
    assert loss.item() == pytest.approx(math.log(11), abs=0.15)
    loss.backward()
    assert all(p.grad is not None and p.grad.device.type == device for p in model.parameters())
    # longer than block_size: the context is cropped
    out = model.generate(tokens(1, 3, 11, device=device), max_new_tokens=10)
    assert tuple(out.shape) == (1, 13) and out.device.type == device
    maps = model.attention_maps(tokens(2, 5, 11, device=device))
    heads = 1 if overrides.get("single_head") else 2
    assert len(maps) == 2 and all(tuple(m.shape) == (2, heads, 5, 5) for m in maps)
    assert model.training  # generate and attention_maps restore the mode


def test_switch_structure(device):
    def gpt(**overrides):
        return GPT(tiny(**overrides)).to(device)

    assert tiny(single_head=True).heads == 1 and gpt(single_head=True).blocks[0].attn.head_size == 16
    assert gpt(mlp="none").blocks[0].mlp is None and gpt(mlp="none").blocks[0].ln_2 is None
    assert isinstance(gpt(layer_norm=False).ln_f, tg.nn.Identity)
    rope = gpt(position_embedding="rope")
    assert rope.wpe is None and rope.blocks[0].attn.rope_cos.device.type == device  # buffers move too
    assert gpt(bias=False).blocks[0].attn.c_attn.bias is None


def test_no_position_embedding_last_token_ignores_order_of_the_past(device):
    """Without position information a 1-layer model's last position attends to the earlier tokens as a set:
    each key and value depends only on its own token, and softmax-weighted sums do not care about order.
    (With 2+ layers this fails: an earlier position's output depends on its own causal prefix.)"""
    idx = tokens(1, 8, 11, seed=7).numpy()
    perm = np.concatenate([np.random.default_rng(8).permutation(7), [7]])
    assert not np.array_equal(idx[:, perm], idx)

    def last_logits(model, seq):
        return host(model(tg.tensor(seq, device=device))[0])[:, -1]

    model = GPT(tiny(position_embedding="none", n_layer=1)).double().to(device)
    np.testing.assert_allclose(last_logits(model, idx[:, perm]), last_logits(model, idx), rtol=1e-12, atol=1e-14)
    learned = GPT(tiny(position_embedding="learned", n_layer=1)).double().to(device)  # it can tell order apart
    assert not np.allclose(last_logits(learned, idx[:, perm]), last_logits(learned, idx))


def test_rope_preserves_norms_and_sees_relative_positions_only(device):
    T, hs = 8, 6
    cos, sin = (table.to(device) for table in rope_tables(T, hs, dtype=tg.float64))
    rng = np.random.default_rng(9)
    x = tg.tensor(rng.standard_normal((2, 3, T, hs)), device=device)
    rotated = apply_rope(x, cos, sin)
    assert rotated.device.type == device
    np.testing.assert_allclose(np.linalg.norm(host(rotated), axis=-1), np.linalg.norm(host(x), axis=-1))
    np.testing.assert_allclose(host(rotated)[:, :, 0], host(x)[:, :, 0])  # position 0 is not rotated

    # the same query vector at every position, the same key vector at every position
    q = apply_rope(tg.tensor(np.tile(rng.standard_normal(hs), (T, 1)), device=device), cos, sin)
    k = apply_rope(tg.tensor(np.tile(rng.standard_normal(hs), (T, 1)), device=device), cos, sin)
    scores = host(q @ k.T)
    for m in range(T):
        for n in range(T):
            for s in range(1, T - max(m, n)):
                assert scores[m + s, n + s] == pytest.approx(scores[m, n], rel=1e-10, abs=1e-12)
    assert not np.allclose(scores[0, 1], scores[0, 2])  # but it does depend on the distance


@pytest.mark.parametrize("overrides", [{"position_embedding": "rope"}, {"mlp": "swiglu"}], ids=["rope", "swiglu"])
def test_gradcheck_loss_wrt_parameters(overrides, device):
    config = GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=2, n_embd=8, **overrides)
    model = GPT(config).double().to(device)
    for p in model.parameters():  # away from the tiny init, so every path carries a visible gradient
        tg.nn.init.normal_(p, std=0.3)
    # every (module, name) slot of each parameter; a tied weight fills two slots with one tensor
    slots = {}
    for module in model.modules():
        for name, p in module._parameters.items():
            if p is not None:
                slots.setdefault(id(p), (p, []))[1].append((module, name))
    params = [p for p, _ in slots.values()]
    idx, targets = tokens(2, 4, 5, seed=10, device=device), tokens(2, 4, 5, seed=11, device=device)

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
def test_matches_pytorch(torch, overrides, device):
    from gpt.library import model_module

    config = GPTConfig(vocab_size=65, block_size=16, n_layer=2, n_head=4, n_embd=32, **overrides)
    ours = GPT(config).double().to(device)
    theirs = model_module("torch").GPT(config).double()  # the same file, gpt/model.py, run on PyTorch's CPU
    state = {k: torch.tensor(host(v)) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(state, strict=True)

    idx, targets = tokens(3, 16, 65, seed=12).numpy(), tokens(3, 16, 65, seed=13).numpy().copy()
    targets[0, :4] = -1
    logits, loss = ours(tg.tensor(idx, device=device), tg.tensor(targets, device=device))
    t_logits, t_loss = theirs(torch.tensor(idx), torch.tensor(targets))
    assert logits.device.type == device
    assert rel_err(host(logits), t_logits.detach().numpy()) < 1e-6
    assert loss.item() == pytest.approx(t_loss.item(), rel=1e-6)

    loss.backward()
    t_loss.backward()
    t_params = dict(theirs.named_parameters())
    ours_params = dict(ours.named_parameters())
    assert set(ours_params) == set(t_params)
    for name, p in ours_params.items():
        assert rel_err(host(p.grad), t_params[name].grad.numpy()) < 1e-6, name


# -- generate ------------------------------------------------------------------------------------------------


def test_generate_shapes_range_and_options(device):
    model = GPT(tiny()).to(device)
    idx = tokens(3, 4, 11, device=device)
    out = model.generate(idx, max_new_tokens=6, temperature=0.7, top_k=3)
    assert tuple(out.shape) == (3, 10) and out.device.type == device
    assert np.array_equal(host(out)[:, :4], host(idx))
    assert host(out).min() >= 0 and host(out).max() < 11
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="temperature"):
            model.generate(idx, 1, temperature=bad)
    with pytest.raises(ValueError, match="top_k"):
        model.generate(idx, 1, top_k=0)
    with pytest.raises(ValueError, match="block size"):
        model(tokens(1, 9, 11, device=device))


def test_top_k_one_is_greedy(device):
    model = GPT(tiny()).to(device)
    for p in model.parameters():
        tg.nn.init.normal_(p, std=0.5)  # distinct logits, so the argmax is unique
    idx = tokens(2, 3, 11, device=device)
    a = model.generate(idx, 8, temperature=2.0, top_k=1)
    tg.manual_seed(123)
    b = model.generate(idx, 8, temperature=2.0, top_k=1)
    assert np.array_equal(host(a), host(b))
    greedy = idx
    for _ in range(8):
        logits, _ = model(greedy[:, -8:])
        greedy = tg.cat((greedy, logits.detach().argmax(-1)[:, -1:]), dim=1)
    assert np.array_equal(host(a), host(greedy))


def test_top_k_restricts_samples(device):
    model = BigramLanguageModel(11).to(device)
    with tg.no_grad():
        model.token_embedding_table.weight.copy_(tg.tensor(np.tile(np.arange(11.0), (11, 1)), device=device))
    out = host(model.generate(tg.zeros(64, 1, dtype=tg.long, device=device), 5, top_k=3))[:, 1:]
    assert set(np.unique(out)) <= {8, 9, 10} and len(np.unique(out)) == 3


def test_topk_engine_op(device):
    x = tg.tensor([[1.0, 5.0, 3.0, 2.0], [4.0, 0.0, 9.0, 7.0]], device=device, requires_grad=True)
    values, indices = x.topk(2)
    assert values.device.type == device and indices.device.type == device
    assert values.tolist() == [[5.0, 3.0], [9.0, 7.0]] and indices.tolist() == [[1, 2], [2, 3]]
    values.sum().backward()
    assert x.grad.tolist() == [[0, 1, 1, 0], [0, 0, 1, 1]]
    smallest = tg.topk(x.detach(), 1, dim=0, largest=False)
    assert smallest.values.tolist() == [[1.0, 0.0, 3.0, 2.0]] and smallest.indices.tolist() == [[0, 1, 0, 0]]
    with pytest.raises(RuntimeError, match="out of range"):
        x.topk(5)


# -- the lecture's modules -----------------------------------------------------------------------------------


def test_bigram_model(device):
    model = BigramLanguageModel(65).to(device)
    with tg.no_grad():
        model.token_embedding_table.weight.mul_(0.01)  # near-uniform predictions
    logits, loss = model(tokens(4, 8, 65, device=device), tokens(4, 8, 65, seed=1, device=device))
    assert tuple(logits.shape) == (4, 8, 65) and logits.device.type == device
    assert abs(loss.item() - math.log(65)) < 0.05
    assert model(tokens(4, 8, 65, device=device))[1] is None
    out = model.generate(tg.zeros(2, 1, dtype=tg.long, device=device), 20)
    assert tuple(out.shape) == (2, 21) and host(out).max() < 65


def test_lecture_gpt_forward_backward_generate(device):
    model = LectureGPT(vocab_size=11, n_embd=16, n_head=4, n_layer=2, block_size=8, dropout=0.1).to(device)
    logits, loss = model(tokens(2, 8, 11, device=device), tokens(2, 8, 11, seed=1, device=device))
    assert tuple(logits.shape) == (2, 8, 11) and logits.device.type == device
    loss.backward()
    assert all(p.grad is not None and p.grad.device.type == device for p in model.parameters())
    assert tuple(model.generate(tokens(1, 2, 11, device=device), 10).shape) == (1, 12)
    assert model.training
    head = Head(16, 4, block_size=8).to(device)
    assert tuple(head(tg.randn(2, 5, 16, device=device)).shape) == (2, 5, 4)
    assert tuple(FeedForward(16).to(device)(tg.randn(2, 5, 16, device=device)).shape) == (2, 5, 16)


def test_the_pytorch_run_is_the_same_file(torch, device):
    """gpt.library runs gpt/model.py itself on PyTorch: same source lines, PyTorch modules underneath."""
    # device-independent (inspects source, builds no tensor): the fixture only keeps the file's tests uniform
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
