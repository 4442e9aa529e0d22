"""Hook points with PyTorch's semantics: Module forward pre-hooks, forward hooks, full backward (pre-)hooks,
``Tensor.register_hook``, removable handles; and the engine's op observers (what profilers and tracers use)."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu.autograd import graph


def _rounded(grads):
    return [None if g is None else np.round(g.detach().numpy(), 5).tolist() for g in grads]


def hook_log(lib, input_requires_grad: bool, remove_then_rerun: bool = True) -> list:
    """Every hook of a small Sequential, in the order they fire, with what they receive."""
    nn = lib.nn
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    weights = np.random.default_rng(0)
    with lib.no_grad():
        for p in model.parameters():
            p.copy_(lib.tensor(weights.standard_normal(tuple(p.shape)), dtype=lib.float32))
    log, handles = [], []
    for name, module in [("first", model[0]), ("relu", model[1]), ("last", model[2]), ("model", model)]:
        handles += [
            module.register_forward_pre_hook(lambda m, args, n=name: log.append(("pre", n, [a.shape for a in args]))),
            module.register_forward_hook(lambda m, args, out, n=name: log.append(("forward", n, tuple(out.shape)))),
            module.register_full_backward_pre_hook(lambda m, go, n=name: log.append(("backward pre", n, _rounded(go)))),
            module.register_full_backward_hook(
                lambda m, gi, go, n=name: log.append(("backward", n, _rounded(gi), _rounded(go)))
            ),
        ]
    x = lib.tensor(np.arange(6.0).reshape(2, 3), dtype=lib.float32, requires_grad=input_requires_grad)
    model(x).sum().backward()
    if remove_then_rerun:
        for handle in handles:
            handle.remove()
        model(x).sum().backward()  # no hook may fire any more
    return [(kind, name, *[tuple(map(tuple, a)) if kind == "pre" else a for a in rest]) for kind, name, *rest in log]


def test_hooks_fire_in_order_with_their_arguments():
    log = hook_log(tg, input_requires_grad=True)
    kinds = [(kind, name) for kind, name, *_ in log]
    assert kinds[:8] == [
        ("pre", "model"),
        ("pre", "first"),
        ("forward", "first"),
        ("pre", "relu"),
        ("forward", "relu"),
        ("pre", "last"),
        ("forward", "last"),
        ("forward", "model"),
    ]
    assert kinds[8:] == [("backward pre", "model")] + [
        kind for name in ("last", "relu", "first") for kind in (("backward pre", name), ("backward", name))
    ] + [("backward", "model")]
    assert len(log) == 16  # and nothing fired after the handles were removed


@pytest.mark.torch
@pytest.mark.parametrize("input_requires_grad", [True, False])
def test_hooks_equal_pytorchs_in_order_and_arguments(torch, input_requires_grad):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch warns that a full backward hook fires on outputs only
        expected = hook_log(torch, input_requires_grad)
    assert hook_log(tg, input_requires_grad) == expected


def test_hooks_may_replace_inputs_outputs_and_gradients():
    layer = tg.nn.Linear(2, 2)
    x = tg.ones(1, 2, requires_grad=True)
    expected = layer(x * 2)
    with layer.register_forward_pre_hook(lambda m, args: (args[0] * 2,)):
        assert tg.allclose(layer(x), expected)
    with layer.register_forward_hook(lambda m, args, out: out * 0):
        assert layer(x).abs().sum().item() == 0
    handle = layer.register_full_backward_hook(lambda m, gi, go: (gi[0] * 10,))
    layer(x).sum().backward()
    first = x.grad.clone()
    handle.remove()
    x.grad = None
    layer(x).sum().backward()
    assert tg.allclose(first, x.grad * 10)
    with layer.register_full_backward_pre_hook(lambda m, go: (go[0] * 0,)):
        x.grad = None
        layer(x).sum().backward()
        assert x.grad.abs().sum().item() == 0


def test_prepend_with_kwargs_and_always_call():
    layer = tg.nn.Identity()
    order = []
    layer.register_forward_hook(lambda m, a, o: order.append("second"))
    layer.register_forward_hook(lambda m, a, o: order.append("first"), prepend=True)
    layer.register_forward_pre_hook(lambda m, a, kw: order.append(("kwargs", sorted(kw))) or None, with_kwargs=True)
    layer(tg.ones(2))
    assert order == [("kwargs", []), "first", "second"]

    class Failing(tg.nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    seen = []
    failing = Failing()
    failing.register_forward_hook(lambda m, a, o: seen.append(o), always_call=True)
    with pytest.raises(ValueError):
        failing(tg.ones(1))
    assert seen == [None]


def test_tensor_hook_handle_removes_and_works_as_a_context_manager():
    x = tg.ones(2, requires_grad=True)
    with x.register_hook(lambda g: g * 3):
        (x * 1).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    x.grad = None
    (x * 1).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_backward_hooks_work_under_create_graph():
    layer = tg.nn.Linear(2, 1)
    x = tg.tensor([[0.5, -1.0]], dtype=tg.float32, requires_grad=True)
    seen = []
    layer.register_full_backward_hook(lambda m, gi, go: seen.append(gi[0].requires_grad))
    (gx,) = tg.autograd.grad(layer(x).tanh().sum(), x, create_graph=True)
    assert seen == [True] and gx.requires_grad


def test_op_observers_see_every_forward_and_backward_and_are_removed():
    forward, backward = [], []

    def on_forward(op_class, run):
        out = run()
        forward.append(op_class.__name__)
        return out

    def on_backward(op, grad_outputs, run):
        grads = run()
        backward.append((op.name, len(grad_outputs), len(grads)))
        return grads

    x = tg.ones(2, 2, requires_grad=True)
    with graph.observe_ops(forward=on_forward, backward=on_backward):
        (x * 2).sum().backward()
    assert forward == ["Mul", "Sum"] and backward == [("Sum", 1, 1), ("Mul", 1, 2)]
    assert graph.forward_observers == [] and graph.backward_observers == []


def test_a_hook_may_return_an_array_which_becomes_the_gradient():
    """A hook's result replaces the gradient; a NumPy array is taken as a Tensor of it (on the tensor's device)."""
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.register_hook(lambda g: g.numpy() * 3)
    h.register_hook(lambda g: g + 1)  # and the next hook sees it as a Tensor
    h.sum().backward()
    assert x.grad.tolist() == [8.0, 8.0]


@pytest.mark.parametrize(
    "hook, what", [(lambda g: g.double(), "type"), (lambda g: g[:1], "size")], ids=["dtype", "shape"]
)
def test_a_hook_that_changes_the_gradients_dtype_or_shape_is_refused_as_in_pytorch(torch, hook, what):
    for m in (tg, torch):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        x.register_hook(hook)
        with pytest.raises(RuntimeError, match=f"hook '<lambda>' has changed the {what} of value"):
            (x * 3).sum().backward()


def test_a_refused_hook_without_a_name_is_named_by_its_type():
    class Doubling:
        def __call__(self, grad):
            return grad.double()

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(Doubling())
    with pytest.raises(RuntimeError, match="hook 'Doubling' has changed the type of value"):
        (x * 3).sum().backward()
