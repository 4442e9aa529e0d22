"""Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay (PyTorch's update)."""

from __future__ import annotations

from ..autograd.grad_mode import no_grad
from .optimizer import Optimizer, check_implementation_options, check_non_negative


class SGD(Optimizer):
    """p ← p - lr·d, where d = g + wd·p, or with momentum μ: buf ← μ·buf + (1-dampening)·d, d ← buf
    (Nesterov: d ← d + μ·buf). ``maximize=True`` climbs instead: g ← -g before all of this.

    ``foreach``, ``fused`` and ``differentiable`` as PyTorch's: see ``check_implementation_options``."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        check_implementation_options(fused=fused, foreach=foreach, differentiable=differentiable)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        defaults.update(maximize=maximize, foreach=foreach, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    def check_hyperparameters(self, group: dict) -> None:
        check_non_negative("learning rate", group["lr"])
        check_non_negative("momentum value", group["momentum"])
        check_non_negative("weight_decay value", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")

    @no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = -p.grad if group["maximize"] else p.grad
                if wd:
                    d = d.add(p, alpha=wd)
                if momentum:
                    state = self.state.setdefault(id(p), {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = d.clone()
                    else:
                        buf.mul_(momentum).add_(d, alpha=1 - group["dampening"])
                    d = d.add(buf, alpha=momentum) if group["nesterov"] else buf
                p.add_(d, alpha=-lr)
