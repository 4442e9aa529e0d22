"""Higher-order gradients at the level of ``autograd.grad`` and ``Tensor.backward``, checked against closed forms and
against PyTorch (float64, the same inputs).

Covers: ``grad``'s options (allow_unused, materialize_grads, create_graph implies retain_graph, several outputs
weighted by grad_outputs, non-leaf inputs, an input that is an ancestor of another); ``backward(inputs=...)``;
``backward(create_graph=True)`` then differentiating ``.grad``; nth derivatives of tanh; user ``Function``s that
are twice differentiable, ``@once_differentiable`` ones that must not be, and gradgradcheck catching a wrong second
derivative; hooks under create_graph; double backward through the fused ops (layer_norm, gelu, cross_entropy,
softmax). The engine is imported as ``tg``; ``torch`` is the fixture (skipped when PyTorch is absent).
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as tF
from tinygrad_edu.autograd import Function, GradcheckError, gradcheck, gradgradcheck, once_differentiable

RTOL, ATOL = 1e-10, 1e-12
X = np.array([0.3, -0.5, 1.2])


def f64(array, requires_grad=False, m=tg):
    return m.tensor(np.asarray(array, dtype=np.float64), dtype=m.float64, requires_grad=requires_grad)


def randn(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)


def numpy_of(values):
    """Arrays for Tensors (of either library), None stays None, lists and tuples are walked."""
    if values is None:
        return None
    if isinstance(values, (list, tuple)):
        return [numpy_of(v) for v in values]
    return values.detach().numpy()


def assert_same(ours, theirs, path="result"):
    if ours is None or theirs is None:
        assert ours is None and theirs is None, f"{path}: {ours} vs {theirs}"
    elif isinstance(ours, list):
        assert isinstance(theirs, list) and len(ours) == len(theirs), f"{path}: structure differs"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{path}[{i}]")
    else:
        assert ours.shape == theirs.shape, f"{path}: shape {ours.shape} vs {theirs.shape}"
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=path)


# -- autograd.grad ----------------------------------------------------------------------------------------------
def test_grad_returns_gradients_without_touching_dot_grad():
    x = f64(X, requires_grad=True)
    (g,) = tg.autograd.grad((x**3).sum(), x)
    np.testing.assert_allclose(g.numpy(), 3 * X**2, rtol=RTOL)
    assert x.grad is None and not g.requires_grad


def test_unused_input_is_an_error_unless_allowed():
    x, y = f64(X, requires_grad=True), f64(X, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"input 1 \(shape \(3,\)\) was not used.*allow_unused=True"):
        tg.autograd.grad((x * x).sum(), (x, y))
    gx, gy = tg.autograd.grad((x * x).sum(), (x, y), allow_unused=True)
    assert gy is None
    np.testing.assert_allclose(gx.numpy(), 2 * X, rtol=RTOL)
    gx, gy = tg.autograd.grad((x * x).sum(), (x, y), materialize_grads=True)
    assert gy.tolist() == [0.0, 0.0, 0.0] and gy.dtype == tg.float64
    with pytest.raises(ValueError, match="materialize_grads=True needs allow_unused"):
        tg.autograd.grad((x * x).sum(), (x, y), materialize_grads=True, allow_unused=False)


def test_materialized_zeros_under_create_graph_can_be_differentiated():
    # the zero gradient of an unused input is a Tensor like any other: grad of an expression using it works
    x, y = f64(X, requires_grad=True), f64(X, requires_grad=True)
    gx, gy = tg.autograd.grad((x**3).sum(), (x, y), create_graph=True, materialize_grads=True)
    (h,) = tg.autograd.grad((gx + gy).sum(), x)
    np.testing.assert_allclose(h.numpy(), 6 * X, rtol=RTOL)


def test_create_graph_keeps_the_graph_unless_retain_graph_is_false():
    x = f64(X, requires_grad=True)
    y = (x.exp() * x).sum()
    (first,) = tg.autograd.grad(y, x, create_graph=True)
    (second,) = tg.autograd.grad(y, x)  # the graph survived the first pass
    np.testing.assert_allclose(second.numpy(), first.detach().numpy(), rtol=RTOL)
    with pytest.raises(RuntimeError, match="second time"):
        tg.autograd.grad(y, x)  # ... but not the second, which had neither create_graph nor retain_graph
    z = (x.exp() * x).sum()
    tg.autograd.grad(z, x, create_graph=True, retain_graph=False)
    with pytest.raises(RuntimeError, match="second time"):
        tg.autograd.grad(z, x)


def test_several_outputs_are_weighted_by_their_grad_outputs():
    # outputs x⊙x and (Σx)·x, weighted by u and w: uᵀJ₁ + wᵀJ₂ = 2x⊙u + (Σx)·w + (w·x)·1
    x, u, w = f64(X, requires_grad=True), randn(1, 3), randn(2, 3)
    (g,) = tg.autograd.grad([x * x, x.sum() * x], x, [f64(u), f64(w)])
    np.testing.assert_allclose(g.numpy(), 2 * X * u + (w @ X) + X.sum() * w, rtol=RTOL)
    with pytest.raises(RuntimeError, match="got 1 grad_outputs for 2 outputs"):
        tg.autograd.grad([x * x, x * 2], x, [f64(u)])


def test_gradient_with_respect_to_a_non_leaf():
    # z = Σ h²·x with h = tanh(x): dz/dh = 2hx; dz/dx is the total derivative, through h too: h² + 2hx(1 - h²)
    x = f64(X, requires_grad=True)
    h = x.tanh()
    gh, gx = tg.autograd.grad((h * h * x).sum(), (h, x))
    t = np.tanh(X)
    np.testing.assert_allclose(gh.numpy(), 2 * t * X, rtol=RTOL)
    np.testing.assert_allclose(gx.numpy(), t * t + 2 * t * X * (1 - t * t), rtol=RTOL)


def test_an_input_that_is_an_ancestor_of_another_input_gets_its_total_derivative():
    # z = Σ x·y with y = 3x: dz/dy = x, and dz/dx = y + 3x = 6x (through y too), as PyTorch
    x = f64(X, requires_grad=True)
    y = x * 3
    gx, gy = tg.autograd.grad((x * y).sum(), (x, y))
    np.testing.assert_allclose(gy.numpy(), X, rtol=RTOL)
    np.testing.assert_allclose(gx.numpy(), 6 * X, rtol=RTOL)


GRAD_SCENARIOS = {}


def scenario(fn):
    GRAD_SCENARIOS[fn.__name__] = fn
    return fn


@scenario
def several_outputs_create_graph(m):
    x = f64(X, requires_grad=True, m=m)
    u, w = f64(randn(3, 3), requires_grad=True, m=m), f64(randn(4, 3), m=m)
    (g,) = m.autograd.grad([x.sin() * x, x.sum() * x.exp()], x, [u, w], create_graph=True)
    return [g, *m.autograd.grad((g * g).sum(), (x, u))]


@scenario
def non_leaf_inputs_create_graph(m):
    x = f64(X, requires_grad=True, m=m)
    h = x.tanh()
    gh, gx = m.autograd.grad((h * h * x.exp()).sum(), (h, x), create_graph=True)
    return [gh, gx, *m.autograd.grad((gh * gx).sum(), x)]


@scenario
def ancestor_input_create_graph(m):
    x = f64(X, requires_grad=True, m=m)
    y = x.sin() * x
    gx, gy = m.autograd.grad((x * y.exp()).sum(), (x, y), create_graph=True)
    return [gx, gy, *m.autograd.grad((gx + gy * gy).sum(), (x, y), allow_unused=True)]


@scenario
def unused_then_materialized(m):
    x, y = f64(X, requires_grad=True, m=m), f64(X, requires_grad=True, m=m)
    return [
        *m.autograd.grad((x * x).sum(), (x, y), allow_unused=True),
        *m.autograd.grad((x * x).sum(), (x, y), materialize_grads=True),
    ]


@scenario
def third_derivative_by_three_calls(m):
    x = f64(X, requires_grad=True, m=m)
    (g1,) = m.autograd.grad((x.exp() * x.sin()).sum(), x, create_graph=True)
    (g2,) = m.autograd.grad(g1.sum(), x, create_graph=True)
    (g3,) = m.autograd.grad(g2.sum(), x)
    return [g1, g2, g3]


@pytest.mark.torch
@pytest.mark.parametrize("name", list(GRAD_SCENARIOS))
def test_grad_matches_torch(torch, name):
    assert_same(numpy_of(GRAD_SCENARIOS[name](tg)), numpy_of(GRAD_SCENARIOS[name](torch)))


# -- Tensor.backward ----------------------------------------------------------------------------------------------
def test_backward_with_inputs_accumulates_only_into_those():
    x, y = f64(X, requires_grad=True), f64(X * 2, requires_grad=True)
    h = x * y
    z = (h * x).sum()  # z = Σ x²y: dz/dx = 2xy, dz/dy = x², dz/dh = x
    z.backward(inputs=[x, h], retain_graph=True)
    assert y.grad is None
    np.testing.assert_allclose(x.grad.numpy(), 2 * X * (2 * X), rtol=RTOL)
    np.testing.assert_allclose(h.grad.numpy(), X, rtol=RTOL)  # a non-leaf input receives its .grad too
    z.backward(inputs=y)
    np.testing.assert_allclose(y.grad.numpy(), X**2, rtol=RTOL)
    np.testing.assert_allclose(x.grad.numpy(), 2 * X * (2 * X), rtol=RTOL)  # unchanged by the second call


def test_backward_with_inputs_accumulates_across_calls():
    x, y = f64(X, requires_grad=True), f64(X, requires_grad=True)
    (x * y).sum().backward(inputs=[x])
    (x * x).sum().backward(inputs=[x])
    np.testing.assert_allclose(x.grad.numpy(), X + 2 * X, rtol=RTOL)
    assert y.grad is None
    with pytest.raises(RuntimeError, match="inputs= was given but is empty"):
        (x * y).sum().backward(inputs=[])


def test_backward_with_create_graph_gives_a_differentiable_dot_grad():
    x = f64(X, requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    np.testing.assert_allclose(x.grad.detach().numpy(), 3 * X**2, rtol=RTOL)
    (h,) = tg.autograd.grad(x.grad.sum(), x, retain_graph=True)
    np.testing.assert_allclose(h.numpy(), 6 * X, rtol=RTOL)
    # differentiating .grad by backward accumulates the second derivative into the same .grad, as PyTorch
    x.grad.sum().backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), 3 * X**2 + 6 * X, rtol=RTOL)


def test_autograd_backward_of_several_tensors_is_one_pass():
    x = f64(X, requires_grad=True)
    u = randn(5, 3)
    tg.autograd.backward([x.exp(), (x * x).sum()], [f64(u), None], inputs=[x])
    np.testing.assert_allclose(x.grad.numpy(), u * np.exp(X) + 2 * X, rtol=RTOL)


BACKWARD_SCENARIOS = {}


def backward_scenario(fn):
    BACKWARD_SCENARIOS[fn.__name__] = fn
    return fn


@backward_scenario
def backward_inputs_first_call(m):
    x, y = f64(X, requires_grad=True, m=m), f64(X * 2, requires_grad=True, m=m)
    h = x.sin() * y
    (h * x.exp()).sum().backward(inputs=[x, h])
    return [x.grad, y.grad, h.grad]


@backward_scenario
def backward_create_graph_then_grad_of_grad(m):
    x, w = f64(X, requires_grad=True, m=m), f64(randn(6, 3), requires_grad=True, m=m)
    ((x * w).tanh().sum() * x.sum()).backward(create_graph=True)
    gx, gw = x.grad, w.grad
    return [gx, gw, *m.autograd.grad((gx * gw).sum(), (x, w))]


@backward_scenario
def backward_create_graph_inputs(m):
    x, w = f64(X, requires_grad=True, m=m), f64(randn(7, 3), requires_grad=True, m=m)
    ((x * w).exp().sum()).backward(create_graph=True, inputs=[w])
    return [x.grad, w.grad, *m.autograd.grad(w.grad.sum(), (x, w))]


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")
@pytest.mark.parametrize("name", list(BACKWARD_SCENARIOS))
def test_backward_matches_torch(torch, name):
    assert_same(numpy_of(BACKWARD_SCENARIOS[name](tg)), numpy_of(BACKWARD_SCENARIOS[name](torch)))


# -- nth derivatives ----------------------------------------------------------------------------------------------
def tanh_derivatives_closed_form(x):
    """tanh and its first four derivatives, in t = tanh(x)."""
    t = np.tanh(x)
    return [t, 1 - t**2, -2 * t * (1 - t**2), -2 * (1 - t**2) * (1 - 3 * t**2), 8 * t * (1 - t**2) * (2 - 3 * t**2)]


def nth_derivatives(m, f, x, n):
    """f(x), f'(x), ..., f⁽ⁿ⁾(x) (elementwise f) by n calls of grad(create_graph=True)."""
    values = [f(x)]
    for _ in range(n):
        (d,) = m.autograd.grad(values[-1].sum(), x, create_graph=True)
        values.append(d)
    return values


def test_tanh_derivatives_up_to_the_fourth_match_closed_forms():
    points = np.linspace(-2.5, 2.5, 11)
    got = nth_derivatives(tg, lambda x: x.tanh(), f64(points, requires_grad=True), 4)
    for order, (ours, exact) in enumerate(zip(got, tanh_derivatives_closed_form(points))):
        np.testing.assert_allclose(ours.detach().numpy(), exact, rtol=1e-10, atol=1e-12, err_msg=f"order {order}")


@pytest.mark.torch
def test_nth_derivatives_match_torch(torch):
    def f(x):
        return (x.sin() * x.exp()).tanh()

    points = np.linspace(-1.5, 1.5, 7)
    ours = nth_derivatives(tg, f, f64(points, requires_grad=True), 4)
    theirs = nth_derivatives(torch, f, f64(points, requires_grad=True, m=torch), 4)
    assert_same(numpy_of(ours), numpy_of(theirs))


# -- user Functions ----------------------------------------------------------------------------------------------
def sin_function(m, detach_in_backward=False, once=False):
    """sin as a user Function of library ``m``: the honest version, one whose backward uses a detached x (right
    first derivative, wrong second) and one marked @once_differentiable."""
    mark = once_differentiable if m is tg else m.autograd.function.once_differentiable

    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sin()

    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.detach() if detach_in_backward else x).cos()

    name = "DetachedSin" if detach_in_backward else "OnceSin" if once else "Sin"
    methods = {"forward": staticmethod(forward), "backward": staticmethod(mark(backward) if once else backward)}
    return type(name, (m.autograd.Function,), methods)  # class <name>(Function) with these two methods


class ScaledExp(Function):
    """f(x, y) = y·eˣ, saving its output: df/dx = f, df/dy = eˣ = f / y."""

    @staticmethod
    def forward(ctx, x, y):
        out = y * x.exp()
        ctx.save_for_backward(out, y)
        return out

    @staticmethod
    def backward(ctx, grad):
        out, y = ctx.saved_tensors
        return grad * out, grad * out / y


class SinCosExp(Function):
    """(sin x, cos x, eˣ), all three saved, so backward reads its own outputs: d sin = cos, d cos = −sin, d eˣ = eˣ."""

    @staticmethod
    def forward(ctx, x):
        outputs = (x.sin(), x.cos(), x.exp())
        ctx.save_for_backward(*outputs)
        return outputs

    @staticmethod
    def backward(ctx, grad_sin, grad_cos, grad_exp):
        sin, cos, exp = ctx.saved_tensors
        return grad_sin * cos - grad_cos * sin + grad_exp * exp


@pytest.mark.parametrize("kept", [0, 1, 2])
def test_second_derivative_through_outputs_that_were_garbage_collected(device, kept):
    """Only output ``kept`` is held: the other two are collected before backward, which saved them. Under
    create_graph each comes back as a new handle on the same node (same output slot, same device, requiring
    grad), so the second derivative still reaches x through it."""
    x = tg.tensor(X, dtype=tg.float64, requires_grad=True, device=device)
    held = SinCosExp.apply(x)[kept]  # the tuple, and the two other outputs with it, are freed here
    node = held._ctx
    assert sum(ref() is not None for ref in node.outputs) == 1
    (first,) = tg.autograd.grad(held.sum(), x, create_graph=True)
    assert len(node.outputs) == 3 and node.outputs[kept]() is held
    for index, ref in enumerate(node.outputs):
        handle = ref()  # alive again: the recorded backward holds the handles it made
        assert handle is not None and handle._ctx is node and handle._output_index == index
        assert handle.requires_grad and handle.device == x.device and handle.shape == x.shape
    (second,) = tg.autograd.grad(first.sum(), x)
    closed_forms = [(np.cos(X), -np.sin(X)), (-np.sin(X), -np.cos(X)), (np.exp(X), np.exp(X))]
    np.testing.assert_allclose(first.detach().to("cpu").numpy(), closed_forms[kept][0], rtol=RTOL)
    np.testing.assert_allclose(second.to("cpu").numpy(), closed_forms[kept][1], rtol=RTOL)


def test_second_derivative_through_a_product_with_a_constant():
    """Mul saves None for the operand no gradient needs; the recorded backward must take it as it is."""
    x, c = f64(X, requires_grad=True), f64(X + 2)
    (g,) = tg.autograd.grad((x * c * x).sum(), x, create_graph=True)
    (h,) = tg.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g.detach().numpy(), 2 * (X + 2) * X, rtol=RTOL)
    np.testing.assert_allclose(h.numpy(), 2 * (X + 2), rtol=RTOL)


def test_user_function_with_a_differentiable_backward_is_twice_differentiable():
    x = f64(X, requires_grad=True)
    sin = sin_function(tg)
    first, second, third = nth_derivatives(tg, sin.apply, x, 3)[1:]
    np.testing.assert_allclose(first.detach().numpy(), np.cos(X), rtol=RTOL)
    np.testing.assert_allclose(second.detach().numpy(), -np.sin(X), rtol=RTOL)
    np.testing.assert_allclose(third.detach().numpy(), -np.cos(X), rtol=RTOL)
    assert gradgradcheck(sin.apply, (f64(X, requires_grad=True),))
    assert gradgradcheck(ScaledExp.apply, (f64(X, requires_grad=True), f64(X + 2, requires_grad=True)))


@pytest.mark.torch
def test_user_function_second_derivatives_match_torch(torch):
    def scenario(m, sin):
        x, y = f64(X, requires_grad=True, m=m), f64(X + 2, requires_grad=True, m=m)
        z = sin.apply(x * y).sum() + (sin.apply(y) * x.exp()).sum()
        gx, gy = m.autograd.grad(z, (x, y), create_graph=True)
        return [gx, gy, *m.autograd.grad((gx * gy).sum(), (x, y))]

    assert_same(numpy_of(scenario(tg, sin_function(tg))), numpy_of(scenario(torch, sin_function(torch))))


def test_once_differentiable_backward_works_once():
    once = sin_function(tg, once=True)
    x = f64(X, requires_grad=True)
    once.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.cos(X), rtol=RTOL)
    # under create_graph the first derivative is still right: only differentiating it again is refused
    (g,) = tg.autograd.grad((once.apply(x) * x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), np.sin(X) + X * np.cos(X), rtol=RTOL)


@pytest.mark.parametrize("where", ["at the output", "inside a chain"])
def test_differentiating_a_once_differentiable_backward_again_is_a_clear_error(where):
    once = sin_function(tg, once=True)
    x = f64(X, requires_grad=True)
    y = once.apply(x) if where == "at the output" else once.apply(x.exp()).exp()
    (g,) = tg.autograd.grad(y.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match=r"differentiate twice.*@once_differentiable \(OnceSin\.backward\)"):
        tg.autograd.grad(g.sum(), x)


def test_gradgradcheck_catches_a_wrong_second_derivative_and_names_the_op():
    """The negative control: DetachedSin's backward is grad·cos(x) with x detached, so its first derivative is
    right (gradcheck passes) and its second is zero instead of -sin(x)·grad (gradgradcheck must fail)."""
    bad = sin_function(tg, detach_in_backward=True)
    assert gradcheck(bad.apply, (f64(X, requires_grad=True),))
    with pytest.raises(
        GradcheckError, match=r"(?s)second derivative.*DetachedSin.*input 0 \(shape \(3,\)\) at element"
    ):
        gradgradcheck(bad.apply, (f64(X, requires_grad=True),))
    assert gradgradcheck(bad.apply, (f64(X, requires_grad=True),), raise_exception=False) is False
    # inside a larger function the message still names the op
    with pytest.raises(GradcheckError, match=r"(?s)DetachedSin.*at element \("):
        gradgradcheck(lambda x: bad.apply(x * 2).exp(), (f64(X, requires_grad=True),))


@pytest.mark.torch
def test_the_negative_control_is_wrong_for_torch_too(torch):
    bad = sin_function(torch, detach_in_backward=True)
    x = f64(X, requires_grad=True, m=torch)
    assert torch.autograd.gradcheck(bad.apply, (x,))
    assert not torch.autograd.gradgradcheck(bad.apply, (x,), raise_exception=False)


# -- hooks under create_graph ---------------------------------------------------------------------------------------
HOOK_SCENARIOS = {}


def hook_scenario(fn):
    HOOK_SCENARIOS[fn.__name__] = fn
    return fn


@hook_scenario
def hook_replaces_the_gradient_with_a_differentiable_expression(m):
    x = f64(X, requires_grad=True, m=m)
    y = x.tanh()
    seen = []
    y.register_hook(lambda g: (seen.append(g.requires_grad), g * y)[1])  # uses y: its graph joins the gradient's
    (g,) = m.autograd.grad((y * x).sum(), x, create_graph=True)
    (h,) = m.autograd.grad((g * g).sum(), x)
    assert seen == [True, False], "under create_graph the hook sees a recorded gradient; in the second pass, not"
    return [g, h]


@hook_scenario
def hook_that_only_observes(m):
    x = f64(X, requires_grad=True, m=m)
    y = x.exp()
    seen = []
    y.register_hook(lambda g: seen.append(g.detach().clone()))
    (g,) = m.autograd.grad((y * y * x).sum(), x, create_graph=True)
    (h,) = m.autograd.grad(g.sum(), x)
    return [g, h, *seen]


@hook_scenario
def leaf_hook_with_backward_create_graph(m):
    x = f64(X, requires_grad=True, m=m)
    x.register_hook(lambda g: g * 2)
    (x**3).sum().backward(create_graph=True)
    return [x.grad]


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")
@pytest.mark.parametrize("name", list(HOOK_SCENARIOS))
def test_hooks_under_create_graph_match_torch(torch, name):
    assert_same(numpy_of(HOOK_SCENARIOS[name](tg)), numpy_of(HOOK_SCENARIOS[name](torch)))


# -- double backward through the fused ops ----------------------------------------------------------------------
TARGETS = np.array([1, 4, 0])
FUSED = {
    "layer_norm": (lambda m, F, x, w, b: F.layer_norm(x, (5,), w, b), 3),
    "layer_norm_no_affine": (lambda m, F, x, w, b: F.layer_norm(x, (5,)), 1),
    "layer_norm_weight_only": (lambda m, F, x, w, b: F.layer_norm(x, (5,), w) * x, 2),
    "gelu": (lambda m, F, x, w, b: F.gelu(x), 1),
    "gelu_tanh": (lambda m, F, x, w, b: F.gelu(x * w, approximate="tanh"), 2),
    "cross_entropy": (lambda m, F, x, w, b: F.cross_entropy(x, m.tensor(TARGETS)), 1),
    "cross_entropy_sum_ignore_index": (
        lambda m, F, x, w, b: F.cross_entropy(x * w, m.tensor(np.array([1, -100, 0])), reduction="sum"),
        2,
    ),
    "cross_entropy_none": (lambda m, F, x, w, b: F.cross_entropy(x, m.tensor(TARGETS), reduction="none"), 1),
    "softmax": (lambda m, F, x, w, b: F.softmax(x, dim=1), 1),
    "log_softmax": (lambda m, F, x, w, b: x.log_softmax(dim=0) * w, 2),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", list(FUSED))
def test_double_backward_through_fused_ops_matches_torch(torch, name):
    """First derivatives (weighted by a random u, itself differentiated) and the derivatives of a random
    combination of them, with respect to every input and u."""
    fn, count = FUSED[name]
    results = {}
    for m, F in ((tg, tF), (torch, torch.nn.functional)):
        x, w, b = f64(randn(10, 3, 5), True, m), f64(randn(11, 5), True, m), f64(randn(12, 5), True, m)
        inputs = (x, w, b)[:count]
        out = fn(m, F, x, w, b)
        u = f64(randn(13, *out.shape), requires_grad=True, m=m)
        firsts = m.autograd.grad(out, inputs, u, create_graph=True)
        combination = sum((g * f64(randn(20 + i, *g.shape), m=m)).sum() for i, g in enumerate(firsts))
        seconds = m.autograd.grad(combination, (*inputs, u), allow_unused=True)
        results[m.__name__] = numpy_of([out, *firsts, *seconds])
    assert_same(results["tinygrad_edu"], results["torch"])


# -- regressions of two engine bugs found while writing these tests ------------------------------------------------
@pytest.mark.torch
@pytest.mark.parametrize("op", ["tanh", "exp", "sqrt", "rsqrt"])
def test_second_derivative_of_a_zero_dim_tensor_matches_torch(torch, op):
    """NumPy's ufuncs return scalars for 0-d arrays: the op's saved output must still be its output."""

    def second(m):
        x = f64(0.7, requires_grad=True, m=m)
        (g,) = m.autograd.grad(getattr(x, op)() * x, x, create_graph=True)
        return m.autograd.grad(g, x)[0].item()

    assert second(tg) == pytest.approx(second(torch), rel=1e-10)


@pytest.mark.torch
@pytest.mark.parametrize("create_graph", [False, True])
def test_hooks_on_the_inputs_of_grad_apply_to_the_result(torch, create_graph):
    """A hook on an input of grad() runs on its complete gradient before it is returned, as in PyTorch."""

    def scenario(m):
        x = f64(X, requires_grad=True, m=m)
        x.register_hook(lambda g: g * 2)
        (g,) = m.autograd.grad((x**3).sum(), x, create_graph=create_graph)
        return [g]

    assert_same(numpy_of(scenario(tg)), numpy_of(scenario(torch)))
