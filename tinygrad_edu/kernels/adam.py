"""Adam and AdamW in one pass over each parameter, instead of the reference's eight array passes.

With g the gradient (plus wd·p for Adam's L2 decay), per element:
    p ← p·(1 - lr·wd)                       (AdamW only: decay decoupled from the gradient)
    m ← m + (1-β₁)(g - m)                   (= β₁m + (1-β₁)g, PyTorch's lerp form)
    v ← β₂v + (1-β₂)g²
    p ← p - lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε)
The arithmetic runs in float64 registers and is stored in the parameter's dtype. The reference is
``optim/adam.py``'s in-place Tensor chain, which the tests compare this with.
"""

from __future__ import annotations

import math

import numba

from .devices import cupy, on_gpu


@numba.njit(cache=True, error_model="numpy")
def step(p, g, m, v, shrink, l2, one_minus_beta1, beta2, step_size, bias2_sqrt, eps):
    for i in numba.prange(p.size):
        pi = p[i] * shrink
        gi = g[i] + l2 * p[i]
        mi = m[i] + one_minus_beta1 * (gi - m[i])
        vi = beta2 * v[i] + (1.0 - beta2) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] = pi - step_size * mi / (math.sqrt(vi) / bias2_sqrt + eps)


def adam_step(p, g, m, v, *, lr, beta1, beta2, eps, weight_decay, decoupled, t):
    """One step on flat contiguous arrays of one dtype, in place (p, m, v); CuPy ones run ``kernels/cuda``."""
    if on_gpu(p):
        from .cuda import adam as twin

        return twin.adam_step(
            cupy(), p, g, m, v, lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
            decoupled=decoupled, t=t,
        )  # fmt: skip
    step(
        p, g, m, v,
        1.0 - lr * weight_decay if decoupled else 1.0,
        0.0 if decoupled else weight_decay,
        1.0 - beta1, beta2, lr / (1 - beta1**t), math.sqrt(1 - beta2**t), eps,
    )  # fmt: skip
