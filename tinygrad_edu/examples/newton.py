"""Newton's method with derivatives from autograd: x ← x - f'(x) / f''(x), and x ← x - H⁻¹∇f in n dimensions.

Run it with ``python -m tinygrad_edu.examples.newton``. The first derivative comes from
``grad(f(x), x, create_graph=True)``: that gradient is itself a graph, so differentiating it once more gives
f'' (or, one row at a time, the Hessian). Near the minimum the error is squared at every step (quadratic
convergence): the number of correct digits doubles, and e_{k+1} / e_k² settles to a constant.

1. In 1-D, f(x) = x·ln(x) has its minimum at x* = 1/e; the ratio e_{k+1} / e_k² tends to |f'''/(2f'')| = e/2.
2. In 2-D, Rosenbrock's banana f(x, y) = (1 - x)² + 100(y - x²)², from (-1.2, 1) to its minimum (1, 1).
"""

from __future__ import annotations

import argparse
import math

import numpy

import tinygrad_edu as tg


def first_and_second_derivative(f, x: float) -> tuple[float, float]:
    point = tg.tensor(x, dtype=tg.float64, requires_grad=True)
    (slope,) = tg.autograd.grad(f(point), point, create_graph=True)  # recorded, so it can be differentiated
    (curvature,) = tg.autograd.grad(slope, point)
    return slope.item(), curvature.item()


def gradient_and_hessian(f, x: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    """∇f(x), and H row by row: row i is the gradient of ∂f/∂xᵢ (the graph is kept for the next row)."""
    point = tg.tensor(x, dtype=tg.float64, requires_grad=True)
    (gradient,) = tg.autograd.grad(f(point), point, create_graph=True)
    rows = [tg.autograd.grad(gradient[i], point, retain_graph=True)[0].numpy() for i in range(len(x))]
    return gradient.detach().numpy(), numpy.stack(rows)


def newton_1d(f, x: float, steps: int) -> list[float]:
    iterates = [x]
    for _ in range(steps):
        slope, curvature = first_and_second_derivative(f, x)
        x = x - slope / curvature
        iterates.append(x)
    return iterates


def newton_nd(f, x: numpy.ndarray, steps: int) -> list[numpy.ndarray]:
    iterates = [x]
    for _ in range(steps):
        gradient, hessian = gradient_and_hessian(f, x)
        x = x - numpy.linalg.solve(hessian, gradient)  # the Newton step solves H·step = ∇f
        iterates.append(x)
    return iterates


def x_log_x(x):
    return x * x.log()


def rosenbrock(v):
    x, y = v[0], v[1]
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m tinygrad_edu.examples.newton", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="Newton steps in 1-D (2-D takes two more)")
    args = parser.parse_args(argv)

    print("1-D: f(x) = x ln x, minimum at 1/e; quadratic convergence: e_{k+1}/e_k² → e/2 =", f"{math.e / 2:.4f}")
    print(f"{'k':>2}  {'x_k':>20}  {'error e_k':>10}  {'e_k / e_(k-1)²':>14}")
    iterates = newton_1d(x_log_x, 0.5, args.steps)
    errors_1d = [abs(x - 1 / math.e) for x in iterates]
    ratios_1d = []
    for k, (x, error) in enumerate(zip(iterates, errors_1d)):
        ratio = error / errors_1d[k - 1] ** 2 if k and errors_1d[k - 1] > 0 and error > 0 else None
        if ratio is not None:
            ratios_1d.append(ratio)
        print(f"{k:>2}  {x:>20.16f}  {error:>10.2e}  {'' if ratio is None else f'{ratio:.4f}':>14}")

    print("\n2-D: Rosenbrock from (-1.2, 1); the Hessian is the gradient of the gradient, one row per coordinate")
    print(f"{'k':>2}  {'x_k':>12}  {'y_k':>12}  {'error ‖(x, y) - (1, 1)‖':>24}")
    points = newton_nd(rosenbrock, numpy.array([-1.2, 1.0]), args.steps + 2)
    errors_2d = [float(numpy.linalg.norm(p - 1.0)) for p in points]
    for k, (p, error) in enumerate(zip(points, errors_2d)):
        print(f"{k:>2}  {p[0]:>12.8f}  {p[1]:>12.8f}  {error:>24.2e}")
    return {"errors_1d": errors_1d, "ratios_1d": ratios_1d, "errors_2d": errors_2d}


if __name__ == "__main__":
    main()
