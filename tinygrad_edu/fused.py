"""Fused in-place updates on Tensors, for optimizers (as PyTorch's ``torch._fused_adamw_``): one compiled pass
over each parameter instead of a chain of in-place ops. Each returns False, touching nothing, where its
kernel does not apply (another device, dtype or layout, or kernels switched off), and the caller then runs
its reference chain."""

from __future__ import annotations

from . import kernels
from .flat_buffer import FlatGroup


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


def adam_group_(params, states, flat_groups: dict, key, *, lr, beta1, beta2, eps, weight_decay, decoupled, t) -> bool:
    """Step ``t`` of Adam or AdamW on a whole parameter group in one pass over flat buffers (``flat_buffer.py``),
    kept in ``flat_groups[key]`` between steps and built again when a tensor's array was rebound. Every
    parameter must have a gradient; False, touching nothing, where the group is not one dtype on one device."""
    first = params[0]
    if not kernels.applies(first._xp, first._data) or not FlatGroup.fits(params):
        return False
    flat = flat_groups.get(key)
    if flat is None or not flat.still_bound(params, states):
        flat = flat_groups[key] = FlatGroup(params, states)
    flat.gather_grads(params)
    for p in params:
        p._version += 1  # an in-place write, as the reference chain's mul_ and addcdiv_ count it
    from .kernels import adam

    adam.adam_step(
        flat.param, flat.grad, flat.exp_avg, flat.exp_avg_sq, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
        weight_decay=weight_decay, decoupled=decoupled, t=t,
    )  # fmt: skip
    return True
