"""Adam and AdamW, step for step the same arithmetic as PyTorch's (single-tensor, non-fused) update."""

from __future__ import annotations

import math

from .optimizer import Optimizer


class Adam(Optimizer):
    """m ← β₁m + (1-β₁)g, v ← β₂v + (1-β₂)g², p ← p - lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε).

    ``weight_decay`` here is L2 regularisation, added to the gradient (g ← g + wd·p); AdamW decouples it."""

    decoupled = False

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ):
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(
                f"{type(self).__name__}: invalid lr={lr}, betas={betas}, eps={eps} or weight_decay={weight_decay}"
            )
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def step(self) -> None:
        for group in self.param_groups:
            lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                xp, param, grad = p._xp, p._data, p.grad._data
                state = self.state.get(id(p))
                if state is None:
                    state = self.state[id(p)] = {
                        "step": 0,
                        "exp_avg": xp.zeros_like(param),
                        "exp_avg_sq": xp.zeros_like(param),
                    }
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = xp.zeros_like(param)
                state["step"] += 1
                t = state["step"]
                if wd and self.decoupled:
                    param *= param.dtype.type(1 - lr * wd)  # AdamW: shrink the weights, apart from the gradient
                elif wd:
                    grad = grad + wd * param
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m += (grad - m) * (1 - beta1)  # = β₁m + (1-β₁)g, PyTorch's lerp form
                v *= beta2
                v += (1 - beta2) * grad * grad
                if group["amsgrad"]:
                    xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                    v = state["max_exp_avg_sq"]
                step_size = lr / (1 - beta1**t)
                denom = xp.sqrt(v) / math.sqrt(1 - beta2**t) + eps
                param -= (m / denom * step_size).astype(param.dtype, copy=False)
                p._version += 1


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p ← p·(1 - lr·wd) before the Adam step."""

    decoupled = True

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
    ):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
