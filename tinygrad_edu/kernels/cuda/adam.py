"""Adam and AdamW on the GPU, one thread per element: the update of ``kernels/adam.py``, in the parameter's dtype."""

from __future__ import annotations

import math

from numba import cuda

from . import THREADS, blocks_for, stream


@cuda.jit
def step(p, g, m, v, shrink, l2, one_minus_beta1, beta2, step_size, bias2_sqrt, eps):
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        gi = g[i] + l2 * p[i]
        mi = m[i] + one_minus_beta1 * (gi - m[i])
        vi = beta2 * v[i] + (1.0 - beta2) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] = p[i] * shrink - step_size * mi / (math.sqrt(vi) / bias2_sqrt + eps)


def adam_step(xp, p, g, m, v, *, lr, beta1, beta2, eps, weight_decay, decoupled, t):
    step[blocks_for(p.size), THREADS, stream(xp)](
        p, g, m, v,
        1.0 - lr * weight_decay if decoupled else 1.0,
        0.0 if decoupled else weight_decay,
        1.0 - beta1, beta2, lr / (1 - beta1**t), math.sqrt(1 - beta2**t), eps,
    )  # fmt: skip
