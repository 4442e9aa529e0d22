"""Autograd behaviour: accumulation, freed graphs, errors, grad modes, hooks, custom Functions, deep graphs."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as torch
from tinygrad_edu.autograd import Function


def test_backward_accumulates_into_leaves_across_calls():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [3.0 + 2.0, 3.0 + 4.0]


def test_second_backward_through_freed_graph_raises_clear_error():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]


def test_backward_on_non_scalar_without_gradient_errors():
    x = torch.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"(?s)shape \(2, 3\).*gradient"):
        (x * 2).backward()


def test_backward_with_explicit_gradient_weights_the_output():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward(torch.tensor([1.0, 0.0, -1.0]))
    assert x.grad.tolist() == [2.0, 0.0, -6.0]


def test_backward_gradient_of_wrong_shape_errors():
    x = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="gradient has shape"):
        (x * 2).backward(torch.ones(2))


def test_backward_on_tensor_without_grad_errors():
    with pytest.raises(RuntimeError, match="does not require grad"):
        torch.ones(2).sum().backward()


def test_requires_grad_on_integer_tensor_errors():
    with pytest.raises(RuntimeError, match="floating point"):
        torch.tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        torch.arange(3).requires_grad_()


def test_setitem_on_tensor_requiring_grad_errors():
    x = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = 1.0
    with torch.no_grad():
        x[0] = 5.0  # allowed outside the graph, as for parameter updates
    assert x.tolist() == [5.0, 1.0, 1.0]


def test_modifying_saved_tensor_in_place_then_backward_raises_version_error():
    """y = w * x saves x; changing x under no_grad afterwards would make the gradient of w wrong."""
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    x = torch.tensor([3.0, 4.0])
    y = (w * x).sum()
    with torch.no_grad():
        x.mul_(10)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_modifying_a_saved_leaf_in_place_then_backward_raises_version_error():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    with torch.no_grad():
        w[0] = 7.0
    with pytest.raises(RuntimeError, match="version"):
        y.backward()


def test_deep_chain_of_20000_ops_backward_without_recursion_error():
    x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001**20_000, rel=1e-9)


def test_no_grad_context_manager_records_no_graph():
    x = torch.ones(2, requires_grad=True)
    with torch.no_grad():
        y = x * 2
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None


def test_no_grad_as_decorator():
    @torch.no_grad()
    def double(t):
        return t * 2

    x = torch.ones(2, requires_grad=True)
    assert not double(x).requires_grad
    assert (x * 2).requires_grad


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(ValueError), torch.no_grad():
        raise ValueError
    assert torch.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = torch.ones(2, requires_grad=True)
    with torch.no_grad():
        with torch.enable_grad():
            y = x * 2
        z = x * 2
    assert y.requires_grad and not z.requires_grad


def test_set_grad_enabled():
    x = torch.ones(2, requires_grad=True)
    with torch.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


def test_set_grad_enabled_true_turns_recording_back_on_and_a_plain_call_takes_effect():
    """True inside no_grad records again (a falsy mode would pass the test above but not this one), the state
    is exactly True/False, and a plain call switches at once until switched back (as in PyTorch)."""
    x = torch.ones(2, requires_grad=True)
    with torch.no_grad():
        with torch.set_grad_enabled(True):
            assert torch.is_grad_enabled() is True and (x * 2).requires_grad
        assert torch.is_grad_enabled() is False
    try:
        torch.set_grad_enabled(False)
        assert torch.is_grad_enabled() is False and not (x * 2).requires_grad
        torch.set_grad_enabled(True)
        assert torch.is_grad_enabled() is True and (x * 2).requires_grad
    finally:
        torch.set_grad_enabled(True)


def test_detach_cuts_the_graph_but_shares_data():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    y = (x * d).sum()
    y.backward()
    assert x.grad.tolist() == [2.0, 4.0]  # d is a constant: no gradient flows through it


def test_retain_grad_on_non_leaf():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    assert h.grad.tolist() == [6.0, 12.0]
    assert x.grad.tolist() == [18.0, 36.0]


def test_non_leaf_grad_is_not_kept_without_retain_grad():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.sum().backward()
    assert h.grad is None and not h.is_leaf and x.is_leaf


def test_register_hook_modifies_gradient_and_remove_undoes_it():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
    (x * 2).sum().backward()
    assert seen == [[2.0, 2.0]]
    assert x.grad.tolist() == [20.0, 20.0]
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_register_hook_on_non_leaf_changes_what_flows_upstream():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.register_hook(lambda g: g * 0)
    (h * h).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]


class MulAdd(Function):
    """out = a * b + c, with a plain-number c."""

    @staticmethod
    def forward(ctx, a, b, c):
        ctx.save_for_backward(a, b)
        ctx.c = c
        return a * b + c

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad * b, grad * a, None


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 3 * x * x * grad


def test_user_function_forward_and_backward():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = Cube.apply(x)
    assert y.tolist() == [1.0, -8.0]
    assert y.requires_grad and y.grad_fn is not None
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 12.0]


def test_user_function_with_several_inputs_and_a_non_tensor_argument():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([3.0, 4.0], requires_grad=True)
    out = MulAdd.apply(a, b, 5.0)
    assert out.tolist() == [8.0, 13.0]
    (out * torch.tensor([1.0, 2.0])).sum().backward()
    assert a.grad.tolist() == [3.0, 8.0]
    assert b.grad.tolist() == [1.0, 4.0]


def test_user_function_composes_with_builtin_ops():
    x = torch.tensor([2.0], requires_grad=True)
    (Cube.apply(x.exp()) * 2).sum().backward()  # d/dx 2e^{3x} = 6e^{3x}
    assert x.grad.item() == pytest.approx(6 * np.exp(6.0), rel=1e-6)


def test_user_function_without_grad_records_nothing():
    x = torch.tensor([2.0])
    assert not Cube.apply(x).requires_grad


def test_user_function_returning_wrong_number_of_gradients_errors():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, grad):
            return grad

    a = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="returned 1 gradients, expected 2"):
        Bad.apply(a, torch.ones(2)).sum().backward()


class ScaleAndShift(Function):
    """out = a * scale + shift, both keywords; saves None beside a, as forward may when a value is not needed."""

    @staticmethod
    def forward(ctx, a, *, scale, shift=0.0):
        ctx.save_for_backward(a, None)
        ctx.scale = scale
        return a * scale + shift

    @staticmethod
    def backward(ctx, grad):
        a, nothing = ctx.saved_tensors
        assert nothing is None and a.shape == grad.shape
        return grad * ctx.scale


class HalfAndSquare(Function):
    """(a / 2, a²): two outputs; backward records the dtypes of the gradients it is given."""

    seen_dtypes: list = []

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a / 2, a * a

    @staticmethod
    def backward(ctx, grad_half, grad_square):
        HalfAndSquare.seen_dtypes.append((grad_half.dtype, grad_square.dtype))
        (a,) = ctx.saved_tensors
        return grad_half / 2 + grad_square * 2 * a


class Total(Function):
    """A 0-d output: sum(a)."""

    @staticmethod
    def forward(ctx, a):
        ctx.shape = a.shape
        return a.sum()

    @staticmethod
    def backward(ctx, grad):
        return grad * torch.ones(ctx.shape, dtype=grad.dtype)


def test_user_function_takes_keywords_saves_none_and_returns_a_zero_dim_tensor():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    out = ScaleAndShift.apply(a, scale=3.0, shift=1.0)
    assert out.tolist() == [4.0, 7.0]
    out.sum().backward()
    assert a.grad.tolist() == [3.0, 3.0]
    total = Total.apply(a)
    assert total.shape == () and total.item() == 3.0
    total.backward()
    assert a.grad.tolist() == [4.0, 4.0]


@pytest.mark.parametrize("create_graph", [False, True])
def test_an_output_without_a_gradient_gets_zeros_of_its_own_dtype(create_graph):
    """As PyTorch materialises it: zeros of the output's shape and dtype (float32 here, not NumPy's float64)."""
    HalfAndSquare.seen_dtypes.clear()
    a = torch.tensor([1.0, 3.0], requires_grad=True)
    half, _ = HalfAndSquare.apply(a)
    (g,) = torch.autograd.grad(half.sum(), a, create_graph=create_graph)
    assert g.tolist() == [0.5, 0.5] and g.dtype == torch.float32
    assert HalfAndSquare.seen_dtypes == [(torch.float32, torch.float32)]


def test_backward_with_create_graph_keeps_the_graph_for_another_pass():
    """retain_graph defaults to create_graph, as in PyTorch."""
    for backward in (lambda y, **kw: y.backward(**kw), lambda y, **kw: torch.autograd.backward(y, **kw)):
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (x**3).sum()
        backward(y, create_graph=True)
        backward(y)  # the graph is still there
        assert x.grad.tolist() == [6.0, 24.0]


def test_a_non_leaf_named_in_inputs_keeps_its_grad_from_then_on_as_in_pytorch():
    torch_oracle = pytest.importorskip("torch", reason="PyTorch is not installed: oracle comparison skipped")
    results = []
    for m in (torch, torch_oracle):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        (y * y).sum().backward(inputs=[y], retain_graph=True)
        first = y.grad.tolist()
        (y * y).sum().backward()  # a plain backward now accumulates into y.grad as well
        results.append((first, y.grad.tolist(), x.grad.tolist()))
    assert results[0] == results[1] == ([4.0, 8.0], [8.0, 16.0], [8.0, 16.0])


def test_backward_with_create_graph_accumulates_recorded_gradients():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x**2).sum().backward(create_graph=True)
    (x**3).sum().backward(create_graph=True)
    assert x.grad.tolist() == [5.0, 16.0] and x.grad.requires_grad  # 2x + 3x², still differentiable
    (g,) = torch.autograd.grad(x.grad.sum(), x)
    assert g.tolist() == [8.0, 14.0]  # 2 + 6x


def test_grad_with_create_graph_gives_each_input_its_own_dtype():
    """x is float32, the path to the output float64: the gradient comes back as float32, graph kept."""
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    w = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad((x * w * x).sum(), x, create_graph=True)
    assert gx.dtype == torch.float32 and gx.requires_grad and gx.tolist() == [6.0, 16.0]


def test_a_value_error_in_an_op_names_the_op_and_describes_its_inputs():
    with pytest.raises(RuntimeError) as caught:
        torch.ones(2, 3) + torch.ones(4)
    message = str(caught.value)
    assert message.startswith("Add: ") and message.endswith(
        " (inputs: float32 tensor of shape (2, 3), float32 tensor of shape (4,))"
    )

    class Refuses(Function):
        @staticmethod
        def forward(ctx, a, k):
            raise ValueError(f"k must be at most 1, got {k}")

    with pytest.raises(RuntimeError) as caught:
        Refuses.apply(torch.ones(2, dtype=torch.float64), 5.5)
    assert str(caught.value) == "Refuses: k must be at most 1, got 5.5 (inputs: float64 tensor of shape (2,), 5.5)"


def test_autograd_grad_returns_gradients_without_touching_grad():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    gx, gw = torch.autograd.grad(y, [x, w])
    assert gx.tolist() == [3.0, 4.0] and gw.tolist() == [1.0, 2.0]
    assert x.grad is None and w.grad is None


def test_autograd_grad_of_unused_input_errors_unless_allowed():
    x = torch.ones(2, requires_grad=True)
    z = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        torch.autograd.grad((x * 2).sum(), [x, z], retain_graph=True)
    gx, gz = torch.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gx.tolist() == [2.0, 2.0] and gz is None


def test_create_graph_gives_a_differentiable_gradient():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    (x * x * x).sum().backward(create_graph=True)  # x.grad = 3x², recorded
    assert x.grad.tolist() == [3.0, 12.0] and x.grad.grad_fn is not None
    (second,) = torch.autograd.grad(x.grad.sum(), x)  # d(Σ3x²)/dx = 6x
    assert second.tolist() == [6.0, -12.0]


def test_diamond_graph_sums_both_paths():
    """x feeds y and z, both feed out: d out/dx = dy/dx + dz/dx."""
    x = torch.tensor([2.0, 3.0], requires_grad=True)
    y = x * x
    z = x.exp()
    out = (y * z).sum()  # d/dx x²eˣ = (2x + x²)eˣ
    out.backward()
    expected = [(2 * v + v * v) * np.exp(v) for v in (2.0, 3.0)]
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-6)


def test_tensor_used_twice_in_one_op_gets_both_gradients():
    x = torch.tensor([3.0], requires_grad=True)
    (x * x + x).sum().backward()
    assert x.grad.tolist() == [7.0]


def test_gradient_does_not_flow_into_integer_outputs():
    x = torch.tensor([[1.0, 5.0], [7.0, 2.0]], requires_grad=True)
    values, indices = x.max(dim=1)
    assert values.requires_grad and not indices.requires_grad
    values.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0], [1.0, 0.0]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU to mix devices")
def test_mixing_devices_errors():
    a = torch.ones(2, device="cpu")
    b = torch.ones(2, device="cuda")
    with pytest.raises(RuntimeError, match="same device"):
        a + b


def test_mixing_devices_error_message_via_fake_device():
    """Without a GPU: a tensor that claims another device is enough to reach the same-device check."""
    a = torch.ones(2)
    b = torch.ones(2)
    b.device = torch.device("cuda")  # only the label; no op reaches its (NumPy) array
    with pytest.raises(RuntimeError, match="same device.*cpu.*cuda"):
        a + b


def test_autograd_backward_keeps_the_graph_only_when_asked():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    torch.autograd.backward([y], retain_graph=True)
    torch.autograd.backward(y)
    assert x.grad.tolist() == [4.0, 8.0]
    with pytest.raises(RuntimeError, match="second time"):
        torch.autograd.backward(y)


def test_autograd_backward_weights_each_output_by_its_gradient_and_fills_only_inputs():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([3.0, 5.0], requires_grad=True)
    torch.autograd.backward([a * b, a.sum()], [torch.tensor([1.0, 10.0]), torch.tensor(2.0)], inputs=[a])
    assert a.grad.tolist() == [3.0 + 2.0, 50.0 + 2.0] and b.grad is None


def test_autograd_backward_with_create_graph_records_the_weighting_gradient():
    """With create_graph the seed is part of the graph: x.grad = v·2x depends on v, so d(Σ x.grad)/dv = 2x."""
    x = torch.tensor([1.0, -3.0], requires_grad=True)
    v = torch.tensor([0.5, 2.0], requires_grad=True)
    torch.autograd.backward(x * x, grad_tensors=v, create_graph=True)
    assert x.grad.tolist() == [1.0, -12.0] and x.grad.grad_fn is not None
    assert torch.autograd.grad(x.grad.sum(), v)[0].tolist() == [2.0, -6.0]


def test_autograd_grad_keeps_each_inputs_dtype():
    x = torch.tensor([1.0, 2.0], dtype=torch.float32, requires_grad=True)
    (g,) = torch.autograd.grad((x * x).sum(), x)
    assert g.dtype == torch.float32 and g.tolist() == [2.0, 4.0]
    (g2,) = torch.autograd.grad((x * x).sum(), x, create_graph=True)
    assert g2.dtype == torch.float32 and g2.grad_fn is not None


def test_autograd_grad_with_create_graph_keeps_the_graph_unless_told_not_to():
    x = torch.tensor([2.0], requires_grad=True)
    y = (x * x * x).sum()
    torch.autograd.grad(y, x, create_graph=True)
    assert torch.autograd.grad(y, x)[0].tolist() == [12.0]  # retained: create_graph's default
    z = (x * x).sum()
    torch.autograd.grad(z, x, create_graph=True, retain_graph=False)
    with pytest.raises(RuntimeError, match="second time"):
        torch.autograd.grad(z, x)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: torch.autograd.grad([x.sum(), 3.0], [x]), r"outputs\[1\] must be a Tensor, got float"),
        (lambda x: torch.autograd.grad(x.sum(), [x, "x"]), r"inputs\[1\] must be a Tensor, got str"),
        (lambda x: torch.autograd.backward([x.sum(), None]), r"tensors\[1\] must be a Tensor, got NoneType"),
        (lambda x: torch.autograd.backward(x.sum(), inputs=[1]), r"inputs\[0\] must be a Tensor, got int"),
    ],
)
def test_autograd_functions_name_the_argument_that_is_not_a_tensor(call, message):
    with pytest.raises(TypeError, match=message):
        call(torch.ones(2, requires_grad=True))


@pytest.mark.parametrize("fn, name", [(torch.autograd.grad, "grad"), (torch.autograd.backward, "backward")])
def test_autograd_functions_name_themselves_in_seed_errors(fn, name):
    x = torch.ones(2, requires_grad=True)
    args = (x * 2, x) if name == "grad" else (x * 2,)
    with pytest.raises(RuntimeError, match=rf"^{name}: got 2 grad_outputs for 1 outputs"):
        fn(*args, [torch.ones(2), torch.ones(2)])
    with pytest.raises(RuntimeError, match=rf"^{name}: grad can be created implicitly only for scalar outputs"):
        fn(*args)


def test_modifying_a_saved_output_in_place_then_backward_raises_version_error():
    """exp saves its output (held weakly by the node); an in-place change to it is caught like any other."""
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    loss = (y * 3).sum()
    with torch.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="Exp's backward .* was modified in place"):
        loss.backward()


def test_a_gradient_given_as_a_list_or_an_array_is_taken_as_a_tensor_on_the_outputs_device(device):
    for gradient in ([1.0, 2.0], np.array([1.0, 2.0], dtype=np.float32)):
        x = torch.tensor([1.0, 2.0], requires_grad=True, device=device)
        (x * 3).backward(gradient)
        assert x.grad.device == x.device and x.grad.tolist() == [3.0, 6.0]


def test_grad_outputs_of_another_dtype_are_cast_to_the_outputs_under_create_graph():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (g,) = torch.autograd.grad(x * x, x, grad_outputs=torch.ones(2, dtype=torch.float64), create_graph=True)
    assert g.dtype == torch.float32 and g.requires_grad and g.tolist() == [2.0, 4.0]


def test_create_graph_records_the_backward_even_under_no_grad_as_in_pytorch():
    torch_oracle = pytest.importorskip("torch", reason="PyTorch is not installed: oracle comparison skipped")
    for m in (torch, torch_oracle):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = (x**3).sum()
        with m.no_grad():
            (g,) = m.autograd.grad(y, x, create_graph=True)
        assert g.requires_grad, m.__name__
        assert m.autograd.grad(g.sum(), x)[0].tolist() == [6.0, 12.0]


def test_a_second_derivative_while_a_profiler_observes_the_ops():
    from tinygrad_edu.autograd import graph

    seen = []

    def backward_observer(op, grad_outputs, run):
        seen.append(op.name)
        return run()

    x = torch.tensor([1.0, 2.0], requires_grad=True)
    with graph.observe_ops(backward=backward_observer):
        (g,) = torch.autograd.grad((x**3).sum(), x, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), x)
    assert h.tolist() == [6.0, 12.0] and "Pow" in seen


def test_an_input_that_needs_no_gradient_gets_none_even_when_backward_returns_one():
    a, b = torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([3.0, 4.0])
    MulAdd.apply(a, b, 5.0).sum().backward()  # MulAdd.backward returns a gradient for b too
    assert a.grad.tolist() == [3.0, 4.0] and b.grad is None


def test_a_gradient_of_the_wrong_shape_from_a_user_backward_is_named():
    class WrongShape(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad):
            return grad.sum()

    with pytest.raises(RuntimeError) as caught:
        WrongShape.apply(torch.ones(3, requires_grad=True)).sum().backward()
    assert str(caught.value) == ("WrongShape.backward returned a gradient of shape () for an input of shape (3,)")


@pytest.mark.parametrize("create_graph", [False, True])
def test_retain_grad_on_the_second_output_when_the_first_gets_no_gradient(create_graph):
    a = torch.tensor([1.0, 3.0], requires_grad=True)
    _, square = HalfAndSquare.apply(a)
    square.retain_grad()
    square.register_hook(lambda g: g * 2)
    w = torch.tensor([5.0, 5.0], requires_grad=True)
    (square * w).sum().backward(create_graph=create_graph)
    assert square.grad.tolist() == [10.0, 10.0] and square.grad.requires_grad == create_graph  # 2w: recorded
    assert a.grad.tolist() == [20.0, 60.0]


class SavesBothOutputs(Function):
    """(2a, 3a), saving both outputs: the version check walks the saved outputs in order."""

    @staticmethod
    def forward(ctx, a):
        doubled, tripled = a * 2, a * 3
        ctx.save_for_backward(doubled, tripled)
        return doubled, tripled

    @staticmethod
    def backward(ctx, grad_doubled, grad_tripled):
        return grad_doubled * 2 + grad_tripled * 3


def test_the_version_check_goes_on_past_a_saved_output_that_was_collected():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    tripled = SavesBothOutputs.apply(a)[1]  # the first output, saved, is collected here
    loss = (tripled * 1).sum()
    with torch.no_grad():
        tripled.mul_(2)
    with pytest.raises(RuntimeError, match="SavesBothOutputs's backward .* was modified in place"):
        loss.backward()


def test_tensors_on_two_devices_are_refused_by_name(device):
    if not torch.cuda.is_available():
        pytest.skip("CUDA is off (TINYGRAD_EDU_CUDA=off, or no CuPy and no GPU): one device only")
    other = "cpu" if device == "cuda" else "cuda"
    with pytest.raises(RuntimeError) as caught:
        torch.ones(2, device=device) + torch.ones(2, device=other)
    assert str(caught.value) == f"Add: expected all tensors on the same device, found {device} and {other}"
