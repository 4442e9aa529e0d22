"""Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay (PyTorch's update)."""

from __future__ import annotations

from ..autograd.grad_mode import no_grad
from .optimizer import Optimizer


class SGD(Optimizer):
    """p ← p - lr·d, where d = g + wd·p, or with momentum μ: buf ← μ·buf + (1-dampening)·d, d ← buf
    (Nesterov: d ← d + μ·buf)."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"SGD: invalid lr={lr}, momentum={momentum} or weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        super().__init__(
            params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        )

    @no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad
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
