"""The first four derivatives of tanh by repeated ``grad(create_graph=True)``, against their closed forms.

Run it with ``python -m tinygrad_edu.examples.tanh_derivatives [--out PLOT.png]``. Each call of
``grad(..., create_graph=True)`` returns a gradient that is itself a graph, so it can be differentiated again:
four calls give tanh', tanh'', tanh''' and tanh''''. With t = tanh(x) the closed forms are

    tanh'    = 1 - t²
    tanh''   = -2t(1 - t²)
    tanh'''  = -2(1 - t²)(1 - 3t²)
    tanh'''' = 8t(1 - t²)(2 - 3t²)

The plot needs matplotlib (``pip install -e ".[plot]"``); without it the check still runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy

import tinygrad_edu as tg

ORDERS = 4


def derivatives_by_autograd(x: numpy.ndarray, orders: int = ORDERS) -> list[numpy.ndarray]:
    """[tanh(x), tanh'(x), ..., tanh⁽ⁿ⁾(x)], elementwise. Summing before each grad is fine because the kth
    derivative at xᵢ depends on xᵢ alone: the gradient of the sum is the elementwise derivative."""
    point = tg.tensor(x, dtype=tg.float64, requires_grad=True)
    values = [point.tanh()]
    for _ in range(orders):
        (derivative,) = tg.autograd.grad(values[-1].sum(), point, create_graph=True)
        values.append(derivative)
    return [v.detach().numpy() for v in values]


def derivatives_closed_form(x: numpy.ndarray) -> list[numpy.ndarray]:
    t = numpy.tanh(x)
    return [t, 1 - t**2, -2 * t * (1 - t**2), -2 * (1 - t**2) * (1 - 3 * t**2), 8 * t * (1 - t**2) * (2 - 3 * t**2)]


def plot(x, values, path: str) -> str | None:
    """Draw the curves to ``path``; None (and a message) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # draw to a file, with no window (also on machines without a display)
        import matplotlib.pyplot as plt
    except ImportError:
        print('matplotlib is not installed, so no plot (pip install -e ".[plot]"); the check above still ran')
        return None
    figure, axes = plt.subplots(figsize=(7, 4.5))
    labels = ["tanh", "tanh'", "tanh''", "tanh'''", "tanh''''"]
    for label, value in zip(labels, values):
        axes.plot(x, value, label=label)
    axes.axhline(0, color="gray", linewidth=0.5)
    axes.set_xlabel("x")
    axes.set_title("tanh and its first four derivatives, by repeated autograd.grad")
    axes.legend()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    print(f"plot written to {path}")
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m tinygrad_edu.examples.tanh_derivatives", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--out", default=os.path.join(tempfile.gettempdir(), "tanh_derivatives.png"), help="where the plot goes"
    )
    parser.add_argument("--points", type=int, default=201, help="points on [-3, 3]")
    args = parser.parse_args(argv)

    x = numpy.linspace(-3, 3, args.points)
    ours, exact = derivatives_by_autograd(x), derivatives_closed_form(x)
    max_errors = [float(numpy.abs(a - b).max()) for a, b in zip(ours, exact)]
    print(f"{'order':>5}  {'max |autograd - closed form|':>28}  {'max |value|':>11}")
    for order, (error, value) in enumerate(zip(max_errors, exact)):
        print(f"{order:>5}  {error:>28.2e}  {numpy.abs(value).max():>11.4f}")
    return {"max_errors": max_errors, "plot": plot(x, ours, args.out)}


if __name__ == "__main__":
    main()
