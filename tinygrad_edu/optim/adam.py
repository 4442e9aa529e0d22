"""Adam and AdamW, step for step the same arithmetic as PyTorch's (single-tensor, non-fused) update."""

from __future__ import annotations

import math
import numbers

from .. import fused
from ..autograd.grad_mode import no_grad
from .optimizer import Optimizer, check_implementation_options, check_non_negative


class Adam(Optimizer):
    """m ← β₁m + (1-β₁)g, v ← β₂v + (1-β₂)g², p ← p - lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε).

    ``weight_decay`` here is L2 regularisation, added to the gradient (g ← g + wd·p); AdamW (or
    ``decoupled_weight_decay=True``) decouples it. ``amsgrad=True`` divides by the running maximum of v instead
    of v; ``maximize=True`` climbs: g ← -g first. ``foreach``, ``fused``, ``capturable`` and ``differentiable``
    as PyTorch's: see ``check_implementation_options``. The fused path (``fused.py``) does plain Adam and AdamW;
    a group with ``amsgrad`` or ``maximize`` takes the reference chain below."""

    decoupled = False  # decoupled_weight_decay's default; AdamW turns it on

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ):
        check_implementation_options(fused=fused, foreach=foreach, differentiable=differentiable)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize)
        defaults.update(foreach=foreach, capturable=capturable, differentiable=differentiable, fused=fused)
        defaults["decoupled_weight_decay"] = decoupled_weight_decay or self.decoupled
        super().__init__(params, defaults)
        self._flat_groups: dict = {}  # id(group) -> its flat buffers (fused.adam_group_)

    def check_hyperparameters(self, group: dict) -> None:
        check_non_negative("learning rate", group["lr"])
        check_non_negative("epsilon value", group["eps"])
        check_non_negative("weight_decay value", group["weight_decay"])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            if not isinstance(beta, numbers.Real) or not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta!r}")
        group["betas"] = tuple(betas)

    @no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            if self._flat_step(group):
                continue
            lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            decoupled = group["decoupled_weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = -p.grad if group["maximize"] else p.grad
                state = self._state_of(p, group)
                state["step"] += 1
                t = state["step"]
                if _fused_step(p, grad, state, group):
                    continue
                if wd and decoupled:
                    p.mul_(1 - lr * wd)  # AdamW: shrink the weights, apart from the gradient
                elif wd:
                    grad = grad.add(p, alpha=wd)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(grad, 1 - beta1)  # = β₁m + (1-β₁)g, PyTorch's lerp form
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                if group["amsgrad"]:
                    v = state["max_exp_avg_sq"].copy_(state["max_exp_avg_sq"].maximum(v))
                step_size = lr / (1 - beta1**t)
                denom = v.sqrt().div_(math.sqrt(1 - beta2**t)).add_(eps)
                p.addcdiv_(m, denom, value=-step_size)  # in-place chains: one new array per step, as PyTorch's

    def _state_of(self, p, group) -> dict:
        state = self.state.get(id(p))
        if state is None:
            state = self.state[id(p)] = {
                "step": 0,
                "exp_avg": p.detach().new_zeros(p.shape),
                "exp_avg_sq": p.detach().new_zeros(p.shape),
            }
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = p.detach().new_zeros(p.shape)
        return state

    def _flat_step(self, group) -> bool:
        """The whole group in one compiled pass over flat buffers (``fused.adam_group_``), where every parameter
        has a gradient and all have taken the same number of steps (and the kernel applies); False, nothing
        done, otherwise, and the per-parameter loop runs."""
        params = group["params"]
        if group["amsgrad"] or group["maximize"] or any(p.grad is None for p in params):
            return False
        states = [self._state_of(p, group) for p in params]
        if len({s["step"] for s in states}) != 1:
            return False
        t = states[0]["step"] + 1
        beta1, beta2 = group["betas"]
        done = fused.adam_group_(
            params, states, self._flat_groups, id(group), lr=group["lr"], beta1=beta1, beta2=beta2,
            eps=group["eps"], weight_decay=group["weight_decay"], decoupled=group["decoupled_weight_decay"], t=t,
        )  # fmt: skip
        if done:
            for s in states:
                s["step"] = t
        return done


def _fused_step(p, grad, state, group) -> bool:
    """The same update in one compiled pass, where it applies (``fused.adam_``); False where it does not."""
    if group["amsgrad"] or group["maximize"]:
        return False
    beta1, beta2 = group["betas"]
    return fused.adam_(
        p, grad, state["exp_avg"], state["exp_avg_sq"], lr=group["lr"], beta1=beta1, beta2=beta2,
        eps=group["eps"], weight_decay=group["weight_decay"], decoupled=group["decoupled_weight_decay"],
        step=state["step"],
    )  # fmt: skip


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p ← p·(1 - lr·wd) before the Adam step."""

    decoupled = True

    # the same signature as Adam's on purpose (as PyTorch's): only weight_decay's default differs, and
    # help(AdamW) shows it
    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
            foreach=foreach, capturable=capturable, differentiable=differentiable, fused=fused,
        )  # fmt: skip
