"""``gradcheck`` itself: it must catch wrong derivatives (negative controls), report where, and pass correct ones."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from user_functions import Square, WrongSecondInput, WrongSquare

import tinygrad_edu as torch
from tinygrad_edu.autograd import GradcheckError, gradcheck


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


def test_non_contiguous_input_is_perturbed(device):
    """A transposed input: the finite differences must reach it (a reshape(-1) copy would give all zeros)."""
    if device != "cpu":
        pytest.skip("from_numpy layouts are CPU-only")
    x = torch.from_numpy(np.asfortranarray(np.linspace(0.5, 2.0, 12).reshape(3, 4))).requires_grad_()
    assert not x.is_contiguous()
    assert gradcheck(lambda x: x.exp(), (x,)) is True
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
