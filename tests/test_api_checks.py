"""The API's argument checks where a raised message is not the whole story: what PyTorch warns about (and what we
do then), what it raises KeyError for, and the valid inputs next to the refused ones, which must still work.
The cases that only raise are in ``bad_inputs_api.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn


def _param(*values):
    return nn.Parameter(tg.tensor(list(values)))


# -- optimizers ------------------------------------------------------------------------------------------------


def test_a_parameter_listed_twice_warns_as_pytorch_and_is_updated_once():
    p = _param(1.0, 2.0)
    with pytest.warns(UserWarning, match="optimizer contains a parameter group with duplicate parameters"):
        opt = tg.optim.SGD([p, p], lr=0.1)
    assert opt.param_groups[0]["params"] == [p]
    p.grad = tg.ones(2)
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), [0.9, 1.9], rtol=1e-6)  # PyTorch would give 0.8, 1.8


def test_a_parameter_listed_twice_in_adam_gets_one_state():
    p = _param(1.0, 2.0)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        opt = tg.optim.AdamW([p, p], lr=0.1)
    p.grad = tg.ones(2)
    opt.step()
    assert opt.state[id(p)]["step"] == 1
    assert opt.state_dict()["param_groups"][0]["params"] == [0]


@pytest.mark.parametrize("options", [{"fused": None}, {"fused": False}, {"foreach": None}, {"foreach": False},
                                     {"maximize": False}, {"differentiable": False}])  # fmt: skip
def test_pytorchs_default_implementation_options_are_accepted_and_change_nothing(options):
    steps = []
    for kwargs in ({}, options):
        p = _param(1.0, -2.0)
        opt = tg.optim.SGD([p], lr=0.1, momentum=0.9, **kwargs)
        for _ in range(2):
            p.grad = tg.tensor([0.5, 0.25])
            opt.step()
        steps.append(p.detach().numpy().copy())
    np.testing.assert_array_equal(steps[0], steps[1])


def test_adams_options_at_their_defaults_are_accepted():
    p = _param(1.0)
    tg.optim.Adam([p], foreach=None, fused=False, capturable=False, maximize=False, decoupled_weight_decay=False)
    tg.optim.AdamW([p], foreach=False, fused=None, capturable=False, differentiable=False)


def test_hyper_parameters_at_the_edge_of_their_range_are_valid():
    p = _param(1.0)
    tg.optim.SGD([p], lr=0.0, momentum=0.0, weight_decay=0.0)
    tg.optim.Adam([p], lr=0.0, betas=(0.0, 0.0), eps=0.0, weight_decay=0.0)
    tg.optim.Adam([p], betas=[0.5, 0.9])  # a list is a pair too, stored as a tuple
    tg.optim.SGD([{"params": [p]}, {"params": [_param(2.0)], "lr": 0.5}], lr=0.1)


# -- .grad assignment --------------------------------------------------------------------------------------


def test_a_grad_of_the_right_kind_is_accepted_and_used():
    p = _param(1.0, 2.0)
    p.grad = tg.tensor([1.0, 1.0])
    assert p.grad.tolist() == [1.0, 1.0]
    p.grad = None
    assert p.grad is None
    q = nn.Parameter(tg.ones(2, dtype=tg.float64))
    q.grad = tg.ones(2, dtype=tg.float64)  # float64 on float64 is fine
    assert q.grad.dtype == tg.float64


def test_a_refused_grad_leaves_the_old_one():
    p = _param(1.0, 2.0)
    p.grad = tg.tensor([3.0, 4.0])
    with pytest.raises(RuntimeError, match="different type"):
        p.grad = tg.tensor([1.0, 1.0], dtype=tg.float64)
    assert p.grad.tolist() == [3.0, 4.0]


def test_backward_and_module_to_still_set_grad():
    model = nn.Linear(2, 1)
    model(tg.ones(3, 2)).sum().backward()
    assert model.weight.grad.shape == model.weight.shape
    model.double()  # moves each .grad with its parameter: never a grad of the old dtype on the new tensor
    assert model.weight.grad.dtype == tg.float64


@pytest.mark.skipif(not tg.cuda.is_available(), reason="CUDA is off (TINYGRAD_EDU_CUDA=off, or no CuPy and no GPU)")
def test_a_grad_on_another_device_is_refused():
    p = _param(1.0, 2.0)
    with pytest.raises(RuntimeError, match="assigned grad has data on a different device"):
        p.grad = tg.ones(2, device="cuda")
    q = nn.Parameter(tg.ones(2, device="cuda"))
    q.grad = tg.ones(2, device="cuda")
    with pytest.raises(RuntimeError, match="attempting to assign a gradient on cpu to a tensor on cuda"):
        q.grad = tg.ones(2)


# -- modules: PyTorch raises KeyError for a bad name ----------------------------------------------------------


@pytest.mark.parametrize("register", ["register_buffer", "register_parameter", "add_module"])
def test_a_registered_name_is_a_non_empty_string_without_a_dot(register):
    value = {"register_buffer": tg.ones(1), "register_parameter": _param(1.0), "add_module": nn.Linear(1, 1)}[register]
    module = nn.Module()
    module.x = 1
    for name, message in (("a.b", "can't contain"), ("", "be empty"), ("x", "attribute 'x' already exists"),
                          ("train", "attribute 'train' already exists")):  # fmt: skip
        with pytest.raises(KeyError) as caught:
            getattr(module, register)(name, value)
        assert message in caught.value.args[0]
    with pytest.raises(TypeError, match="name should be a string. Got int"):
        getattr(module, register)(1, value)
    getattr(module, register)("ok", value)
    getattr(module, register)("ok", value)  # registering again under its own name replaces it


def test_assignments_that_keep_a_modules_registries_right_still_work():
    layer = nn.Linear(2, 2)
    layer.weight = nn.Parameter(tg.zeros(2, 2))
    layer.bias = None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    holder = nn.Module()
    holder.child = nn.Linear(1, 1)
    holder.child = None
    holder.child = nn.Linear(1, 1)
    stack = nn.ModuleList([nn.Linear(1, 1), nn.Linear(2, 2)])
    stack[-2] = nn.Linear(3, 3)
    assert [m.in_features for m in stack] == [3, 2] and "0.weight" in dict(stack.named_parameters())


# -- values PyTorch accepts that we accept the same way ------------------------------------------------------


def test_manual_seed_takes_pytorchs_range_and_counts_a_negative_seed_from_2_to_the_64():
    tg.manual_seed(-1)
    a = tg.randn(3).tolist()
    tg.manual_seed(2**64 - 1)
    assert tg.randn(3).tolist() == a
    tg.manual_seed(1.9)  # int(seed), as PyTorch
    b = tg.randn(3).tolist()
    tg.manual_seed(1)
    assert tg.randn(3).tolist() == b


def test_clip_grad_norm_with_norm_type_0_is_pytorchs(torch):
    """PyTorch takes the 0-"norm" (count of non-zeros) of each gradient, then of those: how many are not zero."""
    grads = [[0.0, 3.0, 4.0], [0.0, 0.0], [1.0, 0.0]]
    norms = []
    for m, nn_m in ((tg, nn), (torch, torch.nn)):
        params = [nn_m.Parameter(m.ones(len(g))) for g in grads]
        for p, g in zip(params, grads):
            p.grad = m.tensor(g)
        norms.append(nn_m.utils.clip_grad_norm_(params, 1.0, norm_type=0).item())
        assert math.isclose(params[0].grad[1].item(), 3.0 / (2 + 1e-6), rel_tol=1e-6)
    assert norms == [2.0, 2.0]


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True to a scalar")  # PyTorch's own
def test_a_list_of_one_element_tensors_takes_their_dtype_as_pytorch(torch):
    for make in (
        lambda m: [m.tensor(1.0, requires_grad=True), 2.0],
        lambda m: [m.tensor(1.0, dtype=m.float64), 2.0],
        lambda m: [m.tensor(1.0, dtype=m.float16), 2.0],
        lambda m: [m.tensor(1), 2.0],
        lambda m: [[m.tensor(1)], [m.tensor(2)]],
    ):
        ours, theirs = tg.tensor(make(tg)), torch.tensor(make(torch))
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
        assert ours.tolist() == theirs.tolist()


def test_huge_ints_are_fine_where_the_dtype_holds_them():
    assert tg.tensor(2**70, dtype=tg.float64).item() == float(2**70)
    assert tg.tensor([2**63, 1.5]).dtype == tg.float32


def test_kaiming_uses_pytorchs_gains(torch):
    for nonlinearity, param in (("linear", None), ("tanh", None), ("relu", None), ("leaky_relu", 0.2), ("selu", None)):
        expected = torch.nn.init.calculate_gain(nonlinearity, param)
        assert math.isclose(nn.init.calculate_gain(nonlinearity, param), expected, rel_tol=1e-12)


def test_valid_neighbours_of_refused_inputs_still_work():
    assert tg.arange(5, 5).shape == (0,) and tg.arange(5, 0, -1).tolist() == [5, 4, 3, 2, 1]
    assert tg.randn(2, dtype=tg.float16).dtype == tg.float16  # drawn in float32, then rounded
    assert tg.zeros(0, 3).shape == (0, 3) and tg.ones(tg.tensor(2)).shape == (2,)
    assert tg.ones(6).reshape(-1, 3).shape == (2, 3) and tg.ones(0).reshape(-1, 3).shape == (0, 3)
    assert tg.mm(tg.ones(2, 3), tg.ones(3, 4)).shape == (2, 4)
    assert tg.bmm(tg.ones(5, 2, 3), tg.ones(5, 3, 4)).shape == (5, 2, 4)
    assert tg.ones(4).split([1, 3])[1].shape == (3,) and len(tg.ones(5).chunk(2)) == 2
    assert tg.multinomial(tg.tensor([0.0, 1.0]), 1).tolist() == [1]
    assert tg.device("cuda:0").index == 0 and tg.device("cpu:0").type == "cpu" and tg.device("cuda", 1).index == 1
    assert tg.ones(3).masked_fill(tg.tensor([True, False, True]), tg.tensor(0.0)).tolist() == [0.0, 1.0, 0.0]
    assert nn.functional.one_hot(tg.tensor([0, 2]), 3).tolist() == [[1, 0, 0], [0, 0, 1]]
    assert tg.ones(2, 3).sum((0, 1)).item() == 6.0
    with tg.set_grad_enabled(False):
        assert not tg.is_grad_enabled()
