"""``nn.utils``: gradient clipping."""

from __future__ import annotations

import math

from ..autograd.grad_mode import no_grad
from ..tensor import Tensor


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``; returns the norm before."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return Tensor(0.0)
    xp = grads[0]._xp
    if norm_type == math.inf:
        total = max(float(xp.abs(g._data).max()) for g in grads)
    else:
        total = float(sum(float((xp.abs(g._data) ** norm_type).sum()) for g in grads) ** (1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"the total norm of gradients is {total}: clip_grad_norm_ was asked to fail on it")
    coefficient = max_norm / (total + 1e-6)
    if coefficient < 1:
        with no_grad():
            for g in grads:
                g._data *= g._data.dtype.type(coefficient)
    return Tensor(total, dtype=grads[0].dtype)


def parameters_to_vector(parameters) -> Tensor:
    from .. import factories

    return factories.cat([p.reshape(-1) for p in parameters])
