"""Fused in-place updates on Tensors, for optimizers (as PyTorch's ``torch._fused_adamw_``): one compiled pass
over each parameter instead of a chain of in-place ops. Each returns False, touching nothing, where its
kernel does not apply (another device, dtype or layout, or kernels switched off), and the caller then runs
its reference chain."""

from __future__ import annotations

from . import kernels


def adam_(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay, decoupled, step) -> bool:
    """Adam's (``decoupled=False``) or AdamW's step on ``param``, ``exp_avg`` and ``exp_avg_sq`` in place."""
    arrays = (param._data, grad._data, exp_avg._data, exp_avg_sq._data)
    if not kernels.applies(param._xp, *arrays) or not all(a.flags.c_contiguous for a in arrays):
        return False
    from .kernels import adam

    param._version += 1  # an in-place write, as the reference chain's mul_ and addcdiv_ count it
    adam.adam_step(
        *(a.reshape(-1) for a in arrays), lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
        decoupled=decoupled, t=step,
    )  # fmt: skip
    return True
