"""The engine's examples (``tinygrad_edu/examples``): each ``main()`` runs in well under a second or two, and the
figures it prints are checked, not just that it ran."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_edu.examples import gradient_penalty, mlp_hessian, newton, tanh_derivatives


def test_newton_converges_quadratically_in_one_dimension():
    figures = newton.main(["--steps", "6"])
    errors, ratios = figures["errors_1d"], figures["ratios_1d"]
    assert errors[-1] < 1e-15
    # quadratic: once close, each error is about (e/2)·(previous error)², so the ratio settles at e/2
    assert ratios[-1] == pytest.approx(math.e / 2, rel=1e-3)
    for previous, current in zip(errors, errors[1:]):
        if previous < 1e-2:
            assert current <= 1.5 * previous**2


def test_newton_converges_quadratically_on_rosenbrock():
    errors = newton.main(["--steps", "6"])["errors_2d"]
    assert errors[0] == pytest.approx(2.2)
    assert errors[-1] < 1e-12
    for previous, current in zip(errors, errors[1:]):
        if previous < 1e-1:
            assert current <= 10 * previous**2


def test_newton_hessian_from_autograd_is_rosenbrocks():
    x, y = 0.3, -0.7
    gradient, hessian = newton.gradient_and_hessian(newton.rosenbrock, np.array([x, y]))
    np.testing.assert_allclose(gradient, [-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)], rtol=1e-12)
    expected = [[2 - 400 * (y - x**2) + 800 * x**2, -400 * x], [-400 * x, 200]]
    np.testing.assert_allclose(hessian, expected, rtol=1e-12)


def test_newton_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "tinygrad_edu.examples.newton", "--steps", "5"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Rosenbrock" in result.stdout and "0.36787944117" in result.stdout  # 1/e


def test_tanh_derivatives_match_closed_forms_and_are_plotted(tmp_path):
    out = tmp_path / "plots" / "tanh.png"
    figures = tanh_derivatives.main(["--out", str(out), "--points", "101"])
    assert len(figures["max_errors"]) == 5
    assert max(figures["max_errors"]) < 1e-12
    if importlib.util.find_spec("matplotlib") is None:
        assert figures["plot"] is None
    else:
        assert figures["plot"] == str(out)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tanh_derivatives_without_matplotlib_skip_the_plot_with_a_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    out = tmp_path / "tanh.png"
    figures = tanh_derivatives.main(["--out", str(out), "--points", "11"])
    assert figures["plot"] is None and not out.exists()
    assert max(figures["max_errors"]) < 1e-12
    assert "matplotlib is not installed" in capsys.readouterr().out


def test_mlp_hessian_matches_finite_differences_of_the_gradient():
    figures = mlp_hessian.main([])
    assert figures["parameters"] == 3 * 4 + 4 + 4 * 2 + 2
    assert figures["max_error"] < 1e-7
    assert figures["asymmetry"] < 1e-12
    assert figures["min_eigenvalue"] < figures["max_eigenvalue"]


def test_gradient_penalty_step_is_checked_and_lowers_the_loss():
    figures = gradient_penalty.main([])
    assert figures["fd_error"] < 1e-8
    if importlib.util.find_spec("torch") is None:
        assert figures["torch_error"] is None
    else:
        assert figures["torch_error"] < 1e-12
    assert figures["penalty_before"] > 0
    assert figures["loss_after"] < figures["loss_before"]
