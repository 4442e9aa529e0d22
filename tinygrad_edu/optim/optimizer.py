"""``Optimizer``: parameter groups, ``zero_grad``, and a state that can be saved and restored."""

from __future__ import annotations

import copy
import functools
import numbers
import warnings

from ..handles import add_hook
from ..nn.utils import zero_grad
from ..tensor import Tensor

_global_step_pre_hooks: dict = {}
_global_step_post_hooks: dict = {}


def register_optimizer_step_pre_hook(hook):
    """``hook(optimizer, args, kwargs)`` runs before every optimizer's ``step`` (PyTorch's global hook); a
    compiler's trace uses it to see a step begin. Returns a handle whose ``remove()`` unregisters it."""
    return add_hook(_global_step_pre_hooks, hook)


def register_optimizer_step_post_hook(hook):
    """``hook(optimizer, args, kwargs)`` runs after every optimizer's ``step``."""
    return add_hook(_global_step_post_hooks, hook)


def _with_step_hooks(step):
    """``step`` wrapped so that the global hooks run around it, once per call from outside (a subclass's
    ``step`` that calls ``super().step()`` does not run them twice)."""

    @functools.wraps(step)
    def hooked_step(self, *args, **kwargs):
        if getattr(self, "_in_hooked_step", False) or not (_global_step_pre_hooks or _global_step_post_hooks):
            return step(self, *args, **kwargs)
        for hook in list(_global_step_pre_hooks.values()):
            hook(self, args, kwargs)
        self._in_hooked_step = True
        try:
            result = step(self, *args, **kwargs)
        finally:
            self._in_hooked_step = False
        for hook in list(_global_step_post_hooks.values()):
            hook(self, args, kwargs)
        return result

    return hooked_step


class Optimizer:
    """Holds ``param_groups`` (each a dict with ``params`` and its hyper-parameters) and per-parameter
    ``state`` (Tensors and numbers). Subclasses implement ``step`` with in-place Tensor ops inside ``no_grad()``,
    as PyTorch's optimizers do: an update is not part of any graph."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:  # every subclass's own step runs the global step hooks
            cls.step = _with_step_hooks(cls.__dict__["step"])

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: dict = {}
        self.param_groups: list[dict] = []
        self.check_hyperparameters(defaults)
        if isinstance(params, Tensor):  # iterating it would optimize its rows
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                f"tinygrad_edu.{type(params).__name__}"
            )
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        if not isinstance(group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(group).__name__}")
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor (optimize the leaf it was computed from)")
            if not p.requires_grad:
                raise ValueError(
                    "optimizer can only optimize tensors that require grad (is_leaf with requires_grad=True)"
                )
        unique = list({id(p): p for p in group["params"]}.values())
        if len(unique) != len(group["params"]):
            # PyTorch warns, then updates such a parameter once per appearance; here it is kept once
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; each is kept once", stacklevel=3
            )
            group["params"] = unique
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.check_hyperparameters(group)
        self.param_groups.append(group)

    def check_hyperparameters(self, group: dict) -> None:
        """Raise ValueError, in PyTorch's words, for a group's value out of its range (subclasses)."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        zero_grad([p for group in self.param_groups for p in group["params"]], set_to_none)

    def step(self):
        raise NotImplementedError

    # -- state ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {index: {name: Tensor or number}}, "param_groups": [... "params": [indices]]}``,
        parameters numbered in group order, as in PyTorch."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if id(p) in self.state:
                    state[index[id(p)]] = dict(self.state[id(p)])
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)
        ):
            raise ValueError("loaded optimizer state has a different number of parameter groups or parameters")
        params = [p for group in self.param_groups for p in group["params"]]
        self.state = {}
        for key, values in state_dict["state"].items():
            p = params[int(key)]
            entry = {}
            for name, v in values.items():
                if isinstance(v, Tensor) or hasattr(v, "shape"):
                    v = v if isinstance(v, Tensor) else Tensor(v)
                    if tuple(v.shape) != tuple(p.shape) and v.dim():
                        raise ValueError(
                            f"optimizer state {name!r} of parameter {key} has shape "
                            f"{tuple(v.shape)}, the parameter has {tuple(p.shape)}"
                        )
                    entry[name] = v.detach().to(device=p.device, dtype=p.dtype if v.dim() else None).clone()
                else:
                    entry[name] = v
            self.state[id(p)] = entry
        for own, saved in zip(self.param_groups, groups):
            for k, v in saved.items():
                if k != "params":
                    own[k] = copy.deepcopy(v)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


def check_non_negative(name: str, value) -> None:
    """``Invalid learning rate: -1``, as PyTorch words it, for a hyper-parameter that must be a number >= 0."""
    if not isinstance(value, (numbers.Real, Tensor)) or not value >= 0:
        raise ValueError(f"Invalid {name}: {value!r}")


def check_implementation_options(fused, foreach, differentiable) -> None:
    """PyTorch's switches between implementations of one update, checked as PyTorch checks them.

    ``foreach`` and ``fused`` choose among PyTorch's kernels (a loop per tensor, multi-tensor launches, one fused
    kernel); ``capturable`` keeps the step count on the GPU for CUDA graphs. None changes the arithmetic, and here
    the engine picks its own fused path where a kernel applies (``fused.py``), so any value is accepted and stored
    in the group as PyTorch stores it. ``differentiable=True`` would record the update in the autograd graph (for
    learning an optimizer); updates here run under ``no_grad()``, so it is refused rather than ignored."""
    if fused:
        if differentiable:
            raise RuntimeError("`fused` does not support `differentiable`")
        if foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError(
            "differentiable=True is not supported by tinygrad_edu: its optimizers update under no_grad(); to "
            "differentiate through an update, write it with Tensor ops (p - lr * g) outside no_grad()"
        )
