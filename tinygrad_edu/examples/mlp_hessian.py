"""The Hessian of a small MLP's loss with respect to its parameters, checked against finite differences.

Run it with ``python -m tinygrad_edu.examples.mlp_hessian``. The loss is written as a function of one vector θ
holding every parameter (W₁, b₁, W₂, b₂ one after the other), so its Hessian is a plain matrix:
``autograd.functional.hessian`` builds it one row at a time, each row the gradient of one entry of ∇L
(a backward pass through the recorded backward pass).

The check needs no second derivatives at all: column j of H is the change of the gradient along θⱼ,
(∇L(θ + εeⱼ) - ∇L(θ - εeⱼ)) / 2ε, from first derivatives only. The Hessian is also symmetric, and its
eigenvalues say how curved the loss is in each direction (negative ones: this is not a convex problem).
"""

from __future__ import annotations

import argparse

import numpy

import tinygrad_edu as tg
from tinygrad_edu.autograd.functional import hessian

IN, HIDDEN, OUT, EXAMPLES = 3, 4, 2, 6
SHAPES = {"W1": (HIDDEN, IN), "b1": (HIDDEN,), "W2": (OUT, HIDDEN), "b2": (OUT,)}


def unpack(theta):
    """The parameters, as views of slices of θ (so the graph leads back to θ)."""
    params, start = {}, 0
    for name, shape in SHAPES.items():
        size = int(numpy.prod(shape))
        params[name] = theta[start : start + size].reshape(*shape)
        start += size
    return params


def mlp_loss(theta, x, y):
    """Mean squared error of a tanh MLP: ŷ = W₂ tanh(W₁x + b₁) + b₂."""
    p = unpack(theta)
    prediction = (x @ p["W1"].T + p["b1"]).tanh() @ p["W2"].T + p["b2"]
    return ((prediction - y) ** 2).mean()


def gradient(theta: numpy.ndarray, x, y) -> numpy.ndarray:
    point = tg.tensor(theta, requires_grad=True)
    (g,) = tg.autograd.grad(mlp_loss(point, x, y), point)
    return g.numpy()


def hessian_by_finite_differences(theta: numpy.ndarray, x, y, eps: float = 1e-5) -> numpy.ndarray:
    columns = []
    for j in range(theta.size):
        step = numpy.zeros_like(theta)
        step[j] = eps
        columns.append((gradient(theta + step, x, y) - gradient(theta - step, x, y)) / (2 * eps))
    return numpy.stack(columns, axis=1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m tinygrad_edu.examples.mlp_hessian", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = numpy.random.default_rng(args.seed)
    count = sum(int(numpy.prod(s)) for s in SHAPES.values())
    theta = rng.standard_normal(count) * 0.7
    x = tg.tensor(rng.standard_normal((EXAMPLES, IN)))
    y = tg.tensor(rng.standard_normal((EXAMPLES, OUT)))

    H = hessian(lambda t: mlp_loss(t, x, y), tg.tensor(theta)).numpy()
    H_numeric = hessian_by_finite_differences(theta, x, y)
    max_error = float(numpy.abs(H - H_numeric).max())
    asymmetry = float(numpy.abs(H - H.T).max())
    eigenvalues = numpy.linalg.eigvalsh((H + H.T) / 2)

    print(f"MLP {IN}-{HIDDEN}-{OUT} (tanh), {EXAMPLES} examples, {count} parameters: Hessian {H.shape}")
    print(f"max |H - finite differences of the gradient| = {max_error:.2e}  (largest |H| entry {abs(H).max():.3f})")
    print(f"max |H - Hᵀ|                                  = {asymmetry:.2e}")
    print(f"eigenvalues: min {eigenvalues.min():.4f}, max {eigenvalues.max():.4f}")
    return {
        "parameters": count,
        "max_error": max_error,
        "asymmetry": asymmetry,
        "min_eigenvalue": float(eigenvalues.min()),
        "max_eigenvalue": float(eigenvalues.max()),
    }


if __name__ == "__main__":
    main()
