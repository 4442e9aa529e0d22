"""Optimizers without PyTorch: convergence, state round trips, argument errors, weight decay.

Every test runs on each device (the ``device`` fixture): parameters, gradients and optimizer state live there,
and the results come back to the host (``.cpu()``, ``.tolist()``, ``.item()``) for the assertions."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import tinygrad_edu as torch
import tinygrad_edu.nn as nn

TARGET = [1.0, -2.0, 0.5]


def host(t) -> np.ndarray:
    """A tensor's values as a NumPy array on the host, from any device."""
    return t.detach().cpu().numpy()


def _quadratic_steps(opt, p, steps):
    for _ in range(steps):
        opt.zero_grad()
        ((p - torch.tensor(TARGET, dtype=p.dtype, device=p.device)) ** 2).sum().backward()
        opt.step()


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: torch.optim.SGD(ps, lr=0.1),
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9),
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
        lambda ps: torch.optim.Adam(ps, lr=0.1),
        lambda ps: torch.optim.AdamW(ps, lr=0.1, weight_decay=0.0),
    ],
    ids=["sgd", "momentum", "nesterov", "adam", "adamw"],
)
def test_optimizer_converges_on_a_quadratic(make, device):
    p = torch.zeros(3, dtype=torch.float64, device=device, requires_grad=True)
    opt = make([p])
    _quadratic_steps(opt, p, 300)
    assert p.device.type == device
    np.testing.assert_allclose(host(p), TARGET, atol=1e-3)


def test_sgd_step_is_p_minus_lr_grad(device):
    p = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.5)
    p.grad = torch.tensor([2.0, -4.0], device=device)
    opt.step()
    assert p.tolist() == [0.0, 4.0]


def test_step_keeps_parameter_identity_dtype_and_leaf_status(device):
    p = torch.zeros(3, device=device, requires_grad=True)
    opt = torch.optim.AdamW([p], lr=0.1)
    _quadratic_steps(opt, p, 2)
    assert p.dtype == torch.float32 and p.is_leaf and p.requires_grad and p.grad_fn is None
    assert p.device.type == device and p.grad.device.type == device
    assert opt.param_groups[0]["params"][0] is p


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9),
        lambda ps: torch.optim.Adam(ps, lr=0.05, amsgrad=True),
        lambda ps: torch.optim.AdamW(ps, lr=0.05, weight_decay=0.1),
    ],
    ids=["sgd_momentum", "adam_amsgrad", "adamw"],
)
def test_state_dict_round_trip_gives_identical_continued_trajectories(make, device):
    """Train 5 steps, save; continue 5 more. A fresh optimizer loaded from the save continues identically."""
    p = torch.zeros(3, dtype=torch.float64, device=device, requires_grad=True)
    opt = make([p])
    _quadratic_steps(opt, p, 5)
    saved_params = p.detach().clone()
    saved_state = copy.deepcopy(opt.state_dict())
    _quadratic_steps(opt, p, 5)
    expected = host(p).copy()

    q = torch.tensor(host(saved_params), device=device, requires_grad=True)
    opt2 = make([q])
    opt2.load_state_dict(saved_state)
    _quadratic_steps(opt2, q, 5)
    np.testing.assert_array_equal(host(q), expected)


def test_state_dict_is_not_aliased_by_later_steps(device):
    p = torch.zeros(3, dtype=torch.float64, device=device, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.1)
    _quadratic_steps(opt, p, 2)
    q = torch.zeros(3, dtype=torch.float64, device=device, requires_grad=True)
    opt2 = torch.optim.Adam([q], lr=0.1)
    opt2.load_state_dict(opt.state_dict())
    before = opt2.state_dict()["state"][0]["exp_avg"].tolist()
    _quadratic_steps(opt, p, 3)  # the original keeps training; the loaded copy must not change
    assert opt2.state_dict()["state"][0]["exp_avg"].tolist() == before


def test_state_dict_layout_is_pytorch_like(device):
    a, b = torch.zeros(2, device=device, requires_grad=True), torch.zeros(3, device=device, requires_grad=True)
    opt = torch.optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    _quadratic_steps(opt, b, 1)  # only b gets a gradient, so only b has state
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert [g["lr"] for g in sd["param_groups"]] == [0.1, 0.5]
    assert list(sd["state"]) == [1] and sd["state"][1]["step"] == 1
    assert set(sd["state"][1]) >= {"step", "exp_avg", "exp_avg_sq"}


def test_load_state_dict_restores_hyper_parameters(device):
    p = torch.zeros(2, device=device, requires_grad=True)
    source = torch.optim.SGD([p], lr=0.123, momentum=0.5)
    target = torch.optim.SGD([torch.zeros(2, device=device, requires_grad=True)], lr=1.0)
    target.load_state_dict(source.state_dict())
    assert target.param_groups[0]["lr"] == 0.123 and target.param_groups[0]["momentum"] == 0.5


def test_load_state_dict_with_wrong_group_count_errors(device):
    a, b = torch.zeros(2, device=device, requires_grad=True), torch.zeros(2, device=device, requires_grad=True)
    sd = torch.optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="number of parameter groups or parameters"):
        torch.optim.SGD([a], lr=0.1).load_state_dict(sd)


def test_empty_parameter_list_errors(device):
    # device-independent (no tensor at all): the fixture only keeps the file's tests uniform
    with pytest.raises(ValueError, match="empty parameter list"):
        torch.optim.AdamW([])
    with pytest.raises(ValueError, match="empty parameter list"):
        torch.optim.SGD(iter([]), lr=0.1)


def test_tensor_that_does_not_require_grad_errors(device):
    with pytest.raises(ValueError, match="require grad"):
        torch.optim.SGD([torch.zeros(2, device=device)], lr=0.1)
    with pytest.raises(ValueError, match="require grad"):
        torch.optim.Adam([{"params": [torch.zeros(2, device=device)]}])


def test_parameter_in_two_groups_errors(device):
    p = torch.zeros(2, device=device, requires_grad=True)
    with pytest.raises(ValueError, match="more than one parameter group"):
        torch.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_invalid_hyper_parameters_error(device):
    p = [torch.zeros(2, device=device, requires_grad=True)]
    with pytest.raises(ValueError):
        torch.optim.SGD(p, lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        torch.optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError):
        torch.optim.Adam(p, betas=(0.9, 1.0))


def test_adamw_weight_decay_shrinks_weights_with_zero_grad(device):
    """Decoupled decay: p ← p·(1 - lr·wd) every step, even when the gradient is zero."""
    p = torch.tensor([2.0, -4.0], dtype=torch.float64, device=device, requires_grad=True)
    opt = torch.optim.AdamW([p], lr=0.1, weight_decay=0.5)
    for _ in range(10):
        p.grad = torch.zeros(2, dtype=torch.float64, device=device)
        opt.step()
    np.testing.assert_allclose(host(p), np.array([2.0, -4.0]) * (1 - 0.1 * 0.5) ** 10, rtol=1e-12)


def test_adam_weight_decay_with_zero_grad_is_not_a_plain_shrink(device):
    """Adam's weight_decay is L2 added to the gradient, which Adam then normalises: a different rule."""
    p = torch.tensor([2.0, -4.0], dtype=torch.float64, device=device, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.1, weight_decay=0.5)
    p.grad = torch.zeros(2, dtype=torch.float64, device=device)
    opt.step()
    np.testing.assert_allclose(host(p), [1.9, -3.9], rtol=1e-6)  # first Adam step moves by lr


def test_params_without_grad_are_skipped(device):
    a, b = torch.ones(2, device=device, requires_grad=True), torch.ones(2, device=device, requires_grad=True)
    opt = torch.optim.AdamW([a, b], lr=0.1)
    (a * 2).sum().backward()
    opt.step()
    assert b.tolist() == [1.0, 1.0] and a.tolist() != [1.0, 1.0]


def test_optimizer_trains_a_small_model(device):
    """A 2-layer MLP fits a small regression problem: the loss falls by a large factor."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.GELU(), nn.Linear(16, 1)).to(device)
    x = torch.randn(64, 2, device=device)
    y = (x[:, :1] * 2 - x[:, 1:] * x[:, 1:]).detach()
    opt = torch.optim.AdamW(model.parameters(), lr=0.02)
    losses = []
    for _ in range(200):
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10


def test_optimizer_repr_lists_groups(device):
    opt = torch.optim.SGD([torch.zeros(1, device=device, requires_grad=True)], lr=0.1, momentum=0.9)
    text = repr(opt)
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "lr: 0.1" in text
