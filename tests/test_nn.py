"""nn.Module bookkeeping, containers, layers and nn.init.

Every test runs on each device (the ``device`` fixture): modules are built on the CPU and moved with
``.to(device)``, inputs are made there, and results come back to the host for the assertions."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_edu as torch
import tinygrad_edu.nn as nn
from tinygrad_edu.nn import functional as F


def host(t) -> np.ndarray:
    """A tensor's values as a NumPy array on the host, from any device."""
    return t.detach().cpu().numpy()


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.norm = nn.LayerNorm(4)
        self.drop = nn.Dropout(0.1)
        self.register_buffer("mask", torch.tril(torch.ones(2, 2)))
        self.register_buffer("cache", torch.zeros(2), persistent=False)
        self.register_buffer("positions", torch.arange(3))

    def forward(self, x):
        return self.drop(self.norm(self.fc(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 3)
        self.block = Block()
        self.head = nn.Linear(4, 2, bias=False)
        self.scale = nn.Parameter(torch.ones(1))
        self.not_a_param = torch.ones(3)  # a plain tensor attribute is not registered

    def forward(self, idx):
        return self.head(self.block(self.embed(idx))) * self.scale


# -- registration and traversal -----------------------------------------------------------------------------


def test_named_parameters_order_and_names(device):
    names = [name for name, _ in Net().to(device).named_parameters()]
    assert names == [
        "scale",
        "embed.weight",
        "block.fc.weight",
        "block.fc.bias",
        "block.norm.weight",
        "block.norm.bias",
        "head.weight",
    ]


def test_parameters_are_parameters_requiring_grad(device):
    params = list(Net().to(device).parameters())
    assert len(params) == 7
    assert all(isinstance(p, nn.Parameter) and p.requires_grad and p.is_leaf for p in params)
    assert all(p.device.type == device for p in params)
    assert sum(p.numel() for p in params) == 1 + 30 + 12 + 4 + 4 + 4 + 8


def test_children_and_modules(device):
    net = Net().to(device)
    assert [type(c).__name__ for c in net.children()] == ["Embedding", "Block", "Linear"]
    assert [name for name, _ in net.named_children()] == ["embed", "block", "head"]
    names = [name for name, _ in net.named_modules()]
    assert names == ["", "embed", "block", "block.fc", "block.norm", "block.drop", "head"]
    assert len(list(net.modules())) == 7


def test_apply_visits_every_module_children_first(device):
    visited = []
    net = Net().to(device)
    assert net.apply(lambda m: visited.append(type(m).__name__)) is net
    assert visited == ["Embedding", "Linear", "LayerNorm", "Dropout", "Block", "Linear", "Net"]


def test_apply_for_weight_initialisation(device):
    def init(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)

    net = Net().to(device).apply(init)
    assert net.block.fc.weight.abs().sum().item() == 0 and net.head.weight.abs().sum().item() == 0
    assert net.embed.weight.abs().sum().item() > 0


def test_train_eval_propagates_training_flag(device):
    net = Net().to(device)
    assert net.training and net.block.drop.training
    assert net.eval() is net
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not net.block.training


def test_dropout_is_identity_in_eval_and_scales_in_train(device):
    drop = nn.Dropout(0.5)
    x = torch.ones(1000, device=device)
    y = drop(x)
    assert y.device.type == device
    assert set(np.unique(host(y)).tolist()) <= {0.0, 2.0}
    assert 350 < (y == 0).sum().item() < 650
    drop.eval()
    assert drop(x).tolist() == x.tolist()
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_module_zero_grad(device):
    net = Net().to(device)
    net(torch.tensor([1, 2], device=device)).sum().backward()
    assert all(p.grad is not None and p.grad.device.type == device for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and p.grad.abs().sum().item() == 0 for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_register_buffer_persistent_and_not(device):
    block = Block().to(device)
    assert all(b.device.type == device for b in block.buffers())
    assert [name for name, _ in block.named_buffers()] == ["mask", "cache", "positions"]
    state = block.state_dict()
    assert "mask" in state and "positions" in state and "cache" not in state
    assert all(name not in dict(block.named_parameters()) for name in ("mask", "cache"))


def test_reassigning_a_buffer_keeps_it_a_buffer(device):
    block = Block().to(device)
    block.mask = torch.zeros(2, 2, device=device)
    assert "mask" in dict(block.named_buffers())
    assert block.state_dict()["mask"].tolist() == [[0, 0], [0, 0]]
    assert "mask" not in dict(block.named_parameters())


def test_register_buffer_rejects_non_tensors(device):
    with pytest.raises(TypeError, match="Tensor"):
        nn.Module().to(device).register_buffer("x", [1, 2])


def test_assigning_before_super_init_errors(device):
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    # device-independent (fails in __init__, before any tensor exists): the fixture keeps the file uniform
    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_unknown_attribute_error(device):
    with pytest.raises(AttributeError, match="nope"):
        _ = Net().to(device).nope


# -- state_dict ------------------------------------------------------------------------------------------------


def test_state_dict_round_trip(device):
    """Keys in PyTorch's order: a module's own parameters, then its buffers, then its children's."""
    a, b = Net().to(device), Net().to(device)
    assert list(a.state_dict()) == [
        "scale",
        "embed.weight",
        "block.mask",
        "block.positions",
        "block.fc.weight",
        "block.fc.bias",
        "block.norm.weight",
        "block.norm.bias",
        "head.weight",
    ]
    idx = torch.tensor([[1, 2, 3]], device=device)
    a.eval()
    b.eval()
    assert not np.allclose(host(a(idx)), host(b(idx)))
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(host(a(idx)), host(b(idx)))


def test_state_dict_values_are_detached_and_loading_copies(device):
    a, b = Net().to(device), Net().to(device)
    state = a.state_dict()
    assert not state["head.weight"].requires_grad
    b.load_state_dict(state)
    loaded = b.head.weight.tolist()
    assert loaded == a.head.weight.tolist()
    with torch.no_grad():
        a.head.weight.fill_(0.5)
    assert b.head.weight.tolist() == loaded  # b got a copy, not a's storage


def test_load_state_dict_strict_names_missing_and_unexpected_keys(device):
    net = Net().to(device)
    state = net.state_dict()
    del state["head.weight"]
    state["extra.weight"] = torch.zeros(1, device=device)
    with pytest.raises(RuntimeError, match=r"(?s)head\.weight.*extra\.weight"):
        net.load_state_dict(state)
    result = net.load_state_dict(state, strict=False)
    assert result.missing_keys == ["head.weight"] and result.unexpected_keys == ["extra.weight"]


def test_load_state_dict_size_mismatch_names_key_and_both_shapes(device):
    net = Net().to(device)
    state = net.state_dict()
    state["block.fc.weight"] = torch.zeros(5, 3, device=device)
    with pytest.raises(RuntimeError, match=r"block\.fc\.weight.*\(5, 3\).*\(4, 3\)"):
        net.load_state_dict(state)


def test_to_dtype_casts_float_params_and_keeps_integer_buffers(device):
    net = Net().to(device)
    assert net.to(torch.float64) is net
    assert all(p.dtype == torch.float64 for p in net.parameters())
    assert net.block.mask.dtype == torch.float64
    assert net.block.positions.dtype == torch.int64
    assert net.block.fc.weight.requires_grad and isinstance(net.block.fc.weight, nn.Parameter)
    assert all(t.device.type == device for t in [*net.parameters(), *net.buffers()])  # a cast does not move
    out = net(torch.tensor([1, 2], device=device))
    assert out.dtype == torch.float64
    net.double().float()
    assert net.head.weight.dtype == torch.float32


def test_to_keeps_parameter_identity_for_optimizers(device):
    net = Net()
    before = list(net.parameters())
    net.to(device)
    assert all(p.device.type == device for p in net.parameters())
    net.to(torch.float64)
    net.to("cpu")  # and back: still the same Parameter objects
    assert all(a is b for a, b in zip(before, net.parameters()))


# -- Parameter sharing ---------------------------------------------------------------------------------------------


def test_tied_weights_are_counted_once_and_get_both_gradients(device):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(5, 3)
            self.head = nn.Linear(3, 5, bias=False)
            self.head.weight = self.embed.weight

        def forward(self, idx):
            return self.head(self.embed(idx))

    model = Tied().to(device)
    params = list(model.parameters())
    assert len(params) == 1 and params[0] is model.embed.weight
    assert [n for n, _ in model.named_parameters()] == ["embed.weight"]
    assert model.head.weight is model.embed.weight  # moving keeps the tie
    model(torch.tensor([0, 1], device=device)).sum().backward()
    # gradient from the lookup (rows 0 and 1) plus from the head (every row): both paths accumulate
    w = host(model.embed.weight)
    head_grad = np.ones((2, 5)).T @ w[[0, 1]]
    lookup_grad = np.zeros_like(w)
    lookup_grad[[0, 1]] += np.ones((2, 5)) @ w
    np.testing.assert_allclose(host(model.embed.weight.grad), head_grad + lookup_grad, rtol=1e-5)


def test_parameter_shares_storage_with_its_tensor(device):
    t = torch.zeros(3, device=device)
    p = nn.Parameter(t)
    assert p.requires_grad and isinstance(p, torch.Tensor) and p.device == t.device
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:")


# -- containers ----------------------------------------------------------------------------------------------------


def test_sequential_calls_in_order_and_indexes(device):
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).to(device)
    x = torch.randn(4, 2, device=device)
    manual = seq[2](seq[1](seq[0](x)))
    assert seq(x).tolist() == manual.tolist()
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU)
    assert isinstance(seq[:2], nn.Sequential) and len(seq[:2]) == 2
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]


def test_sequential_from_ordered_dict(device):
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.GELU())])).to(device)
    assert [n for n, _ in seq.named_children()] == ["fc", "act"]
    assert seq(torch.ones(1, 2, device=device)).shape == (1, 2)


def test_module_list_registers_and_iterates(device):
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)]).to(device)
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.Linear(2, 1).to(device))
    assert len(layers) == 4 and isinstance(layers[-1], nn.Linear) and layers[-1].out_features == 1
    assert [n for n, _ in layers.named_parameters()][-2:] == ["3.weight", "3.bias"]
    x = torch.ones(1, 2, device=device)
    for layer in layers:
        x = layer(x)
    assert x.shape == (1, 1) and x.device.type == device
    with pytest.raises(NotImplementedError):
        layers(torch.ones(1, 2, device=device))


def test_module_list_inside_a_module_exposes_parameters(device):
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2, bias=False) for _ in range(2)])

    assert [n for n, _ in Stack().to(device).named_parameters()] == ["layers.0.weight", "layers.1.weight"]


def test_module_dict(device):
    d = nn.ModuleDict({"a": nn.Linear(2, 3), "b": nn.ReLU()}).to(device)
    assert "a" in d and "c" not in d and len(d) == 2
    assert list(d.keys()) == ["a", "b"] and isinstance(d["b"], nn.ReLU)
    d["c"] = nn.Linear(3, 1).to(device)
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias", "c.weight", "c.bias"]
    assert [k for k, _ in d.items()] == ["a", "b", "c"]


# -- layers ----------------------------------------------------------------------------------------------------


def test_linear_shapes_and_formula(device):
    layer = nn.Linear(3, 5).to(device)
    assert layer.weight.shape == (5, 3) and layer.bias.shape == (5,)
    x = torch.randn(2, 4, 3, device=device)
    out = layer(x)
    assert out.shape == (2, 4, 5) and out.device.type == device
    expected = host(x) @ host(layer.weight).T + host(layer.bias)
    np.testing.assert_allclose(host(out), expected, rtol=1e-5, atol=1e-6)
    assert nn.Linear(3, 5, bias=False).bias is None


def test_linear_wrong_in_features_names_both_sizes(device):
    with pytest.raises(RuntimeError, match=r"(?s)\b4\b.*\b3\b"):
        nn.Linear(3, 5).to(device)(torch.ones(2, 4, device=device))


def test_embedding_shapes_and_out_of_range_index(device):
    emb = nn.Embedding(10, 4).to(device)
    assert emb.weight.shape == (10, 4)
    assert emb(torch.tensor([[1, 2, 3], [4, 5, 6]], device=device)).shape == (2, 3, 4)
    assert emb(torch.tensor([1, 1], device=device)).tolist()[0] == emb.weight[1].tolist()
    with pytest.raises(IndexError, match=r"index 12"):
        # raised at once on the CPU; on CUDA at the next host read, as PyTorch's device asserts (backend.check)
        emb(torch.tensor([1, 12], device=device)).tolist()
    with pytest.raises(RuntimeError, match="integer"):
        emb(torch.tensor([1.0], device=device))


def test_layer_norm_normalises_the_last_axis(device):
    ln = nn.LayerNorm(6).to(device)
    out = host(ln(torch.randn(4, 6, device=device) * 3 + 2))
    np.testing.assert_allclose(out.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=-1), 1, atol=1e-3)
    with pytest.raises(RuntimeError, match="trailing shape"):
        ln(torch.ones(2, 5, device=device))
    no_affine = nn.LayerNorm(6, elementwise_affine=False).to(device)
    assert no_affine.weight is None and list(no_affine.parameters()) == []


def test_activation_modules(device):
    x = torch.tensor([-1.0, 0.0, 2.0], device=device)
    assert nn.ReLU()(x).tolist() == [0.0, 0.0, 2.0]
    gelu = nn.GELU()(x).tolist()
    assert gelu[2] == pytest.approx(2 * 0.5 * (1 + math.erf(2 / math.sqrt(2))), rel=1e-6)
    assert nn.GELU(approximate="tanh")(x).shape == (3,)
    assert nn.Tanh()(x).tolist() == pytest.approx(np.tanh([-1.0, 0.0, 2.0]).tolist(), rel=1e-6)
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(x, approximate="fast")


def test_loss_modules(device):
    logits = torch.tensor([[2.0, 0.5], [0.1, 0.3]], device=device)
    target = torch.tensor([0, 1], device=device)
    assert nn.CrossEntropyLoss()(logits, target).item() == pytest.approx(F.cross_entropy(logits, target).item())
    assert nn.MSELoss()(logits, logits * 0).item() == pytest.approx((logits * logits).mean().item())


# -- nn.init ----------------------------------------------------------------------------------------------------


def test_init_functions_fill_in_place_without_a_graph(device):
    w = nn.Parameter(torch.empty(200, 300, device=device))
    assert nn.init.zeros_(w) is w and w.abs().sum().item() == 0
    nn.init.ones_(w)
    assert w.min().item() == 1 and w.grad_fn is None and w.requires_grad
    nn.init.constant_(w, 0.25)
    assert w.max().item() == 0.25
    nn.init.normal_(w, mean=1.0, std=0.02)
    assert w.mean().item() == pytest.approx(1.0, abs=1e-3) and w.std().item() == pytest.approx(0.02, rel=0.02)
    nn.init.uniform_(w, -2, 3)
    assert w.min().item() >= -2 and w.max().item() < 3 and w.mean().item() == pytest.approx(0.5, abs=0.03)


def test_init_fan_based_bounds(device):
    w = torch.empty(200, 300, device=device)
    nn.init.xavier_uniform_(w)
    bound = math.sqrt(6 / (200 + 300))
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.98 * bound
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    assert w.abs().max().item() <= 1 / math.sqrt(300)
    nn.init.xavier_normal_(w)
    assert w.std().item() == pytest.approx(math.sqrt(2 / 500), rel=0.03)
    with pytest.raises(ValueError, match="2 dims"):
        nn.init.xavier_uniform_(torch.empty(3, device=device))


# -- repr --------------------------------------------------------------------------------------------------------


def test_module_repr(device):
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.LayerNorm(3), nn.Dropout(0.2), nn.Embedding(5, 3)).to(device)
    assert repr(seq) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): LayerNorm((3,), eps=1e-05)\n"
        "  (3): Dropout(p=0.2)\n"
        "  (4): Embedding(5, 3)\n"
        ")"
    )
    assert "(block): Block(\n    (fc): Linear" in repr(Net().to(device))
