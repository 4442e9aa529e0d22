"""One training step of a critic with a gradient penalty (WGAN-GP): double backprop on a tiny network.

Run it with ``python -m tinygrad_edu.examples.gradient_penalty``. A WGAN critic D should be 1-Lipschitz, so
WGAN-GP adds λ·mean((‖∂D/∂x̂‖ - 1)²) at points x̂ between real and fake samples. That term contains a gradient
(with respect to the input), and training needs *its* gradient with respect to the parameters: a gradient of
a gradient. ``grad(D(x̂).sum(), x̂, create_graph=True)`` records ∂D/∂x̂ as a graph, so that ``loss.backward()``
goes through it ("double backprop").

The penalty's gradient with respect to the parameters is then checked against central differences of the
penalty itself, and against PyTorch running the same function on the same numbers (when it is installed).
"""

from __future__ import annotations

import argparse

import numpy

import tinygrad_edu as tg

PENALTY_WEIGHT = 10.0  # λ, as in the WGAN-GP paper
SHAPES = [(8, 2), (8,), (1, 8), (1,)]  # W₁, b₁, W₂, b₂ of a 2-8-1 tanh critic


def critic(params, x):
    """D(x), one score per example. Written with methods that PyTorch's tensors share, so the same function
    runs on both libraries for the comparison."""
    W1, b1, W2, b2 = params
    return (x @ W1.T + b1).tanh() @ W2.T + b2


def gradient_penalty(library, params, points):
    """mean over examples of (‖∂D/∂x̂‖ - 1)². Summing the scores before ``grad`` is fine: example i's score
    depends on its own x̂ᵢ only, so row i of the gradient of the sum is ∂D(x̂ᵢ)/∂x̂ᵢ."""
    points = points.detach().requires_grad_(True)
    (slopes,) = library.autograd.grad(critic(params, points).sum(), points, create_graph=True)
    norms = (slopes * slopes).sum(dim=1).sqrt()
    return ((norms - 1) ** 2).mean()


def critic_loss(library, params, real, fake, between):
    """Wasserstein critic loss, D(fake) - D(real), plus the penalty."""
    wasserstein = critic(params, fake).mean() - critic(params, real).mean()
    return wasserstein + PENALTY_WEIGHT * gradient_penalty(library, params, between)


def penalty_gradient(library, arrays, between):
    """∂(penalty)/∂(parameters), as arrays. The output bias b₂ shifts D without changing its slope, so the
    penalty does not depend on it: ``materialize_grads`` gives zeros for it instead of None."""
    params = [library.tensor(a, requires_grad=True) for a in arrays]
    penalty = gradient_penalty(library, params, library.tensor(between))
    grads = library.autograd.grad(penalty, params, materialize_grads=True)
    return [g.detach().numpy() for g in grads]


def penalty_gradient_by_finite_differences(arrays, between, eps: float = 1e-6):
    def penalty_at(values):
        return gradient_penalty(tg, [tg.tensor(v) for v in values], tg.tensor(between)).item()

    grads = []
    for k, array in enumerate(arrays):
        grad = numpy.zeros_like(array)
        for index in numpy.ndindex(array.shape):
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[k][index] += eps
            minus[k][index] -= eps
            grad[index] = (penalty_at(plus) - penalty_at(minus)) / (2 * eps)
        grads.append(grad)
    return grads


def max_difference(a, b) -> float:
    return max(float(numpy.abs(x - y).max()) for x, y in zip(a, b))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m tinygrad_edu.examples.gradient_penalty", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=0.01)
    args = parser.parse_args(argv)

    rng = numpy.random.default_rng(args.seed)
    arrays = [rng.standard_normal(shape) * 0.8 for shape in SHAPES]
    real = rng.standard_normal((16, 2)) * 0.5 + numpy.array([2.0, 0.0])  # the "data": a blob off the origin
    fake = rng.standard_normal((16, 2))  # what a generator would produce (fixed here)
    mix = rng.uniform(size=(16, 1))
    between = mix * real + (1 - mix) * fake  # x̂: uniformly on the segments between real and fake pairs

    # the training step: loss.backward() runs through the recorded ∂D/∂x̂ (double backprop)
    params = [tg.tensor(a, requires_grad=True) for a in arrays]
    optimizer = tg.optim.SGD(params, lr=args.lr)
    real_t, fake_t, between_t = tg.tensor(real), tg.tensor(fake), tg.tensor(between)
    loss = critic_loss(tg, params, real_t, fake_t, between_t)
    penalty = gradient_penalty(tg, params, between_t).item()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    # evaluated with grad mode on (not under no_grad): the penalty itself takes a gradient
    loss_after = critic_loss(tg, params, real_t, fake_t, between_t).item()
    penalty_after = gradient_penalty(tg, params, between_t).item()
    print(f"before the step: critic loss {loss.item():.6f}, penalty {penalty:.6f}")
    print(f"after one SGD step (lr {args.lr}): critic loss {loss_after:.6f}, penalty {penalty_after:.6f}")

    # is the penalty's gradient right? first against finite differences, then against PyTorch
    ours = penalty_gradient(tg, arrays, between)
    fd_error = max_difference(ours, penalty_gradient_by_finite_differences(arrays, between))
    print(f"max |∂penalty/∂θ - central differences| = {fd_error:.2e}")
    try:
        import torch
    except ImportError:
        torch_error = None
        print("PyTorch is not installed: comparison with it skipped")
    else:
        torch_error = max_difference(ours, penalty_gradient(torch, arrays, between))
        print(f"max |∂penalty/∂θ - PyTorch's|          = {torch_error:.2e}")
    return {
        "loss_before": loss.item(),
        "loss_after": loss_after,
        "penalty_before": penalty,
        "penalty_after": penalty_after,
        "fd_error": fd_error,
        "torch_error": torch_error,
    }


if __name__ == "__main__":
    main()
