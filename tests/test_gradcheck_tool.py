"""``gradcheck`` itself: it must catch wrong derivatives (negative controls), report where, and pass correct ones."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from strategies import leaf
from user_functions import Square, SquareDetachedGrad, SquareDetachedX, WrongSecondInput, WrongSquare

import tinygrad_edu as torch
from tinygrad_edu.autograd import GradcheckError, gradcheck, gradgradcheck


def _x(device, shape=(3, 4)):
    values = np.linspace(0.5, 2.0, int(np.prod(shape))).reshape(shape)
    return torch.tensor(values, dtype=torch.float64, device=device, requires_grad=True)


def test_wrong_backward_raises_and_returns_false(device):
    x = _x(device)
    with pytest.raises(GradcheckError):
        gradcheck(WrongSquare.apply, (x,))
    assert gradcheck(WrongSquare.apply, (x,), raise_exception=False) is False


def test_correct_user_function_passes(device):
    x = _x(device)
    assert gradcheck(Square.apply, (x,)) is True
    assert gradcheck(lambda x: Square.apply(x).sum() * x, (x,)) is True


def test_failure_message_names_input_element_and_both_values(device):
    a, b = _x(device, (2, 3)), _x(device, (2, 3))
    with pytest.raises(GradcheckError) as info:
        gradcheck(WrongSecondInput.apply, (a, b))
    message = str(info.value)
    assert "input 1" in message and "input 0" not in message
    match = re.search(r"element \((\d+), (\d+)\): numerical (\S+), analytical (\S+)", message)
    assert match, message
    numerical, analytical = float(match.group(3).rstrip(",")), float(match.group(4).rstrip(","))
    assert abs(numerical - analytical) > 1e-3


def test_too_large_eps_fails_on_curved_functions(device):
    x = _x(device)
    assert gradcheck(lambda x: x**3, (x,)) is True
    assert gradcheck(lambda x: x**3, (x,), eps=1.0, raise_exception=False) is False
    assert gradcheck(lambda x: x.exp(), (x,), eps=1.0, raise_exception=False) is False
    with pytest.raises(GradcheckError):
        gradcheck(lambda x: x.exp(), (x,), eps=1.0)


def test_fast_mode_passes_on_correct_ops_and_fails_on_wrong_one(device):
    x, w = _x(device), _x(device, (4, 2))
    assert gradcheck(lambda x, w: (x @ w).tanh(), (x, w), fast_mode=True) is True
    assert gradcheck(lambda x: torch.nn.functional.softmax(x, -1), (x,), fast_mode=True) is True
    assert gradcheck(Square.apply, (x,), fast_mode=True) is True
    assert gradcheck(WrongSquare.apply, (x,), fast_mode=True, raise_exception=False) is False
    with pytest.raises(GradcheckError, match="fast mode"):
        gradcheck(WrongSquare.apply, (x,), fast_mode=True)


@pytest.mark.parametrize("layout", ["transposed", "strided", "offset"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_input_layout_survives_the_float64_copy(device, layout, dtype):
    """gradcheck checks in float64 on a copy, and the copy keeps the input's strides (in elements): the op sees
    the layout the caller drew, and the finite differences reach it (a reshape(-1) copy would give all zeros)."""
    x = leaf(np.linspace(0.5, 2.0, 12).reshape(3, 4).astype(dtype), device, layout)
    element_strides = tuple(s // x._data.itemsize for s in x._data.strides)
    seen = []

    def exp_recording_layout(x):
        seen.append(tuple(s // x._data.itemsize for s in x._data.strides))
        return x.exp()

    assert gradcheck(exp_recording_layout, (x,)) is True
    assert set(seen) == {element_strides}
    assert gradcheck(WrongSquare.apply, (x,), raise_exception=False) is False


def test_broadcast_input_is_checked_element_by_element(device):
    """A stride-0 input shares memory between elements, so its float64 copy is contiguous: moving one element
    must not move the others (each element's gradient is checked alone)."""
    x = leaf(np.array([[0.5], [1.5]]).repeat(3, axis=1), device, "broadcast")
    assert 0 in x._data.strides
    assert gradcheck(lambda x: x.exp() * torch.arange(3.0, device=device), (x,)) is True
    assert gradcheck(WrongSquare.apply, (x,), raise_exception=False) is False


def test_only_inputs_requiring_grad_are_checked_and_none_is_an_error(device):
    x = _x(device)
    fixed = _x(device).detach()
    assert gradcheck(lambda x, f: x * f, (x, fixed)) is True
    with pytest.raises(ValueError):
        gradcheck(lambda f: f * 2, (fixed,))


def test_inputs_are_restored_after_checking(device):
    x = _x(device)
    before = x.detach().cpu().numpy().copy()
    gradcheck(lambda x: x.sin(), (x,))
    np.testing.assert_array_equal(x.detach().cpu().numpy(), before)


def test_gradcheck_never_imports_torch():
    code = (
        "import sys, tinygrad_edu as t; from tinygrad_edu.autograd import gradcheck; "
        "x = t.tensor([[0.5, 1.5], [2.0, 3.0]], dtype=t.float64, requires_grad=True); "
        "assert gradcheck(lambda x: t.nn.functional.softmax(x.exp(), -1), (x,)); "
        "assert gradcheck(lambda x: x.log(), (x,), fast_mode=True); "
        "assert 'torch' not in sys.modules, 'gradcheck imported torch'; print('ok')"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def _gradgrad_message(func, x, **kwargs) -> str:
    with pytest.raises(GradcheckError) as caught:
        gradgradcheck(func, (x,), **kwargs)
    return str(caught.value)


@pytest.mark.parametrize("wrong, bad_input", [(SquareDetachedX, 0), (SquareDetachedGrad, 1)])
def test_gradgradcheck_catches_a_backward_that_is_not_differentiable_in_each_argument(device, wrong, bad_input):
    """Input 0 is x; input 1 is the grad_output v, numbered after the function's inputs, as the message says."""
    x = _x(device, (3,))
    message = _gradgrad_message(wrong.apply, x)
    assert message.startswith(
        f"gradgradcheck: the second derivative of apply (ops: {wrong.__name__}) is wrong. "
        f"Inputs 0..0 are the function's, 1.. the grad_outputs. gradcheck failed for input {bad_input} (shape (3,))"
    )
    assert re.search(r"analytical 0 .*; 3 of 3 elements differ$", message)
    assert gradgradcheck(wrong.apply, (x,), raise_exception=False) is False
    assert gradgradcheck(wrong.apply, (x,), check_rev_over_rev=False) is True  # nothing asked: nothing checked


def test_gradgradcheck_names_a_callable_object_by_its_type(device):
    class Squarer:
        def __call__(self, x):
            return SquareDetachedX.apply(x)

    assert "the second derivative of Squarer (ops: SquareDetachedX)" in _gradgrad_message(Squarer(), _x(device, (3,)))


def test_gradgradcheck_draws_its_grad_outputs_from_the_seed(device):
    """The same seed gives the same random v (the same figures in the report), another seed another v."""
    x = _x(device, (3,))
    default, zero, again, one = (
        _gradgrad_message(SquareDetachedGrad.apply, x, **kw) for kw in ({}, {"seed": 0}, {"seed": 0}, {"seed": 1})
    )
    assert default == zero == again and one != zero


def test_gradgradcheck_takes_grad_outputs_as_one_tensor_or_a_tuple(device):
    x = _x(device, (3,))
    v = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, device=device)
    assert gradgradcheck(lambda t: t * t * t, (x,), grad_outputs=v)
    assert gradgradcheck(lambda t: (t * t, t.exp()), (x,), grad_outputs=(v, v * 2))
    with pytest.raises(GradcheckError, match="failed for input 1"):  # a given v is checked too
        gradgradcheck(SquareDetachedGrad.apply, (x,), grad_outputs=v)


def test_gradgradcheck_of_an_output_that_does_not_depend_on_the_inputs_passes(device):
    x = _x(device, (3,))
    assert gradgradcheck(lambda t: torch.ones(3, dtype=torch.float64, device=device), (x,))
    assert gradgradcheck(lambda t, c: t * t * c, (x, _x(device, (3,)).detach()))  # c: no gradient asked


@pytest.mark.parametrize("option", ["check_fwd_over_rev", "check_batched_grad", "masked"])
def test_gradgradcheck_says_which_checks_it_does_not_implement(device, option):
    with pytest.raises(NotImplementedError, match="forward-mode, batched and masked checks are not implemented"):
        gradgradcheck(lambda t: t * t, (_x(device, (3,)),), **{option: True})


def test_gradgradcheck_takes_a_bare_tensor_and_checks_every_output_of_a_tuple(device):
    x = _x(device, (3,))
    assert gradgradcheck(lambda x: x**3, x) is True  # one Tensor, not a tuple of them
    assert gradgradcheck(lambda x, k: x**k, (x, 3)) is True  # a Python value among the inputs
    assert gradgradcheck(lambda x: (x * 2, x**3), (x,)) is True
    with pytest.raises(GradcheckError, match="the second derivative of <lambda> "):
        gradgradcheck(lambda x: (x * 2, SquareDetachedX.apply(x)), (x,))  # the wrong one is the second output


def test_gradgradcheck_of_an_input_the_function_ignores_passes(device):
    """Its first derivative is None, taken as zeros, whose derivative is zero: right."""
    x, unused = _x(device, (3,)), _x(device, (2,))
    assert gradgradcheck(lambda x, unused: x**3, (x, unused)) is True


def test_gradgradcheck_names_itself_when_grad_outputs_have_the_wrong_shape(device):
    x = _x(device, (3,))
    with pytest.raises(RuntimeError) as caught:
        gradgradcheck(lambda x: x**3, (x,), grad_outputs=(torch.ones(2, dtype=torch.float64, device=device),))
    assert str(caught.value) == "gradgradcheck: gradient has shape (2,) but the output has shape (3,)"


def test_gradgradcheck_lists_each_op_once_nearest_the_output_first(device):
    x = _x(device, (3,))
    message = _gradgrad_message(lambda x: (SquareDetachedX.apply(x * 2) * 3).exp() * 2, x)
    assert "(ops: Mul, Exp, SquareDetachedX) is wrong." in message

    def shared(x):  # exp(x) is reached twice, and the walk goes on past the second visit to tanh
        a = x.exp()
        return x.tanh() + SquareDetachedX.apply(a.sin() + a)

    assert "(ops: Add, SquareDetachedX, Exp, Sin, Tanh) is wrong." in _gradgrad_message(shared, x)


def test_gradgradcheck_passes_its_tolerances_and_mode_to_the_check_it_runs(device):
    """A wrong second derivative passes with tolerances wide enough, and its failure in fast mode says so."""
    x = _x(device, (3,))
    assert gradgradcheck(SquareDetachedX.apply, (x,), atol=1e3) is True
    assert gradgradcheck(SquareDetachedX.apply, (x,), atol=0.0, rtol=1e3) is True
    assert "fast mode" in _gradgrad_message(SquareDetachedX.apply, x, fast_mode=True)


def test_gradcheck_takes_a_bare_tensor_an_integer_input_and_an_empty_one(device):
    x = _x(device, (3,))
    assert gradcheck(lambda x: x.exp(), x) is True  # one Tensor, not a tuple of them
    index = torch.tensor([2, 0, 2], device=device)  # an integer input stays integer (it is not perturbed)
    assert gradcheck(lambda x, index: x[index] * 2, (x, index)) is True
    empty = torch.zeros(0, 3, dtype=torch.float64, device=device, requires_grad=True)
    assert gradcheck(lambda x: x.exp(), (empty,)) is True


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided", "offset", "broadcast"])
def test_the_float64_copy_lies_inside_its_own_buffer(layout):
    """The strided copy is a view of a buffer sized for its strides: no element may lie past the buffer's end."""
    from tinygrad_edu.autograd.gradcheck import _same_layout

    x = leaf(np.linspace(0.5, 2.0, 12).reshape(3, 4).astype(np.float32), "cpu", layout)
    copy = _same_layout(x._data, np.float64)
    low, high = np.lib.array_utils.byte_bounds(copy)
    base = copy if copy.base is None else copy.base
    base_low, base_high = np.lib.array_utils.byte_bounds(base)
    assert base_low <= low and high <= base_high
    np.testing.assert_array_equal(copy, x._data.astype(np.float64))


def test_gradcheck_skips_integer_outputs(device):
    x = _x(device, (4,))
    assert gradcheck(lambda x: (x.exp(), x.argmax()), (x,)) is True  # the index is not a differentiable output
