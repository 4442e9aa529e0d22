"""``Module`` and ``Parameter``: the bookkeeping that finds a model's weights, as ``torch.nn.Module`` does.

Assigning a ``Parameter``, a ``Module`` or (via ``register_buffer``) a buffer to an attribute registers it, so
``parameters()``, ``state_dict()``, ``to()`` and ``train()/eval()`` reach everything in the tree.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple

from .. import dtypes
from ..autograd.grad_mode import no_grad
from ..handles import add_hook
from ..tensor import Tensor, parse_to_args
from . import hooks, utils


class Parameter(Tensor):
    """A tensor that is a model weight: registered by the module that holds it, ``requires_grad`` by default."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = Tensor([])
        source = data if isinstance(data, Tensor) else Tensor(data)
        # share storage with the tensor it wraps, as torch.nn.Parameter does
        Tensor._init_fields(self, source._data, source.device)
        self.requires_grad_(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + Tensor.__repr__(self)


_HOOK_DICTS = ("_forward_pre_hooks", "_forward_hooks", "_backward_pre_hooks", "_backward_hooks")
_HOOK_SETS = ("_forward_pre_hooks_with_kwargs", "_forward_hooks_with_kwargs", "_forward_hooks_always_called")

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of layers and models: subclass it, create sub-modules in ``__init__``, write ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        for name in _HOOK_DICTS:
            object.__setattr__(self, name, OrderedDict())
        for name in _HOOK_SETS:
            object.__setattr__(self, name, set())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        if self._forward_pre_hooks or self._forward_hooks or self._backward_hooks or self._backward_pre_hooks:
            return hooks.call_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # -- hooks, as PyTorch's (see nn/hooks.py) ------------------------------------------------------------------
    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False):
        """``hook(module, args)`` before ``forward``; it may return new args (``(args, kwargs)`` with_kwargs)."""
        handle = add_hook(self._forward_pre_hooks, hook, prepend)
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs.add(handle.id)
        return handle

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False, always_call=False):
        """``hook(module, args, output)`` after ``forward``; it may return a new output."""
        handle = add_hook(self._forward_hooks, hook, prepend)
        if with_kwargs:
            self._forward_hooks_with_kwargs.add(handle.id)
        if always_call:
            self._forward_hooks_always_called.add(handle.id)
        return handle

    def register_full_backward_pre_hook(self, hook, prepend: bool = False):
        """``hook(module, grad_output)`` when the gradients of the outputs are known; may return new ones."""
        return add_hook(self._backward_pre_hooks, hook, prepend)

    def register_full_backward_hook(self, hook, prepend: bool = False):
        """``hook(module, grad_input, grad_output)`` once the gradients of the inputs are computed; it may return
        new grad_input. Entries are None for inputs that are not Tensors requiring grad."""
        return add_hook(self._backward_hooks, hook, prepend)

    # -- registration -------------------------------------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"call super().__init__() in {type(self).__name__}.__init__ before assigning {name!r}")
        if name in self._buffers and (value is None or isinstance(value, Tensor)) and not isinstance(value, Parameter):
            self._buffers[name] = value  # reassigning a buffer keeps it a buffer
            return
        # as PyTorch: a parameter is replaced by a Parameter (or None), a sub-module by a Module (or None)
        if value is not None and name in self._parameters and not isinstance(value, Parameter):
            raise TypeError(
                f"cannot assign '{type(value).__name__}' as parameter '{name}' (nn.Parameter or None expected)"
            )
        if value is not None and name in self._modules and not isinstance(value, (Module, Parameter)):
            raise TypeError(
                f"cannot assign '{type(value).__name__}' as child module '{name}' (nn.Module or None expected)"
            )
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        self.__dict__.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        # only called when normal lookup fails: parameters, buffers and sub-modules live in their registries
        for registry in ("_parameters", "_buffers", "_modules"):
            store = self.__dict__.get(registry)
            if store is not None and name in store:
                return store[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        self._check_new_name(name, "parameter", self._parameters)
        if param is not None and not isinstance(param, Parameter):  # setattr would keep it as a plain attribute
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' (nn.Parameter or None required)"
            )
        if param is None:
            self._parameters[name] = None
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """A tensor that belongs to the module's state (moved by ``to``) but is not trained, e.g. a mask."""
        self._check_new_name(name, "buffer", self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        self._check_new_name(name, "module", self._modules)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._modules[name] = module

    def _check_new_name(self, name, kind: str, registry) -> None:
        """PyTorch's rules for a registered name: a non-empty string without a dot (state_dict keys are dotted
        paths) that no other attribute has. KeyError, as PyTorch raises."""
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if "." in name or not name:
            raise KeyError(f'{kind} name can\'t contain "." or be empty, got {name!r}')
        if hasattr(self, name) and name not in registry:
            raise KeyError(f"attribute '{name}' already exists")

    register_module = add_module

    # -- traversal ----------------------------------------------------------------------------------------
    def named_modules(self, prefix: str = "", memo=None):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """(name, parameter) pairs; a parameter shared by two modules (tied weights) is listed once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for mod_prefix, module in modules:
            for name, p in module._parameters.items():
                if p is None or (remove_duplicate and id(p) in seen):
                    continue
                seen.add(id(p))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = ""):
        for mod_prefix, module in self.named_modules(prefix):
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{mod_prefix}.{name}" if mod_prefix else name), b

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    def apply(self, fn):
        """Call ``fn`` on every sub-module (children first) and on self, e.g. for weight initialisation."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- modes and gradients ------------------------------------------------------------------------------
    def train(self, mode: bool = True):
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        utils.zero_grad(self.parameters(), set_to_none)

    # -- devices, dtypes, state ---------------------------------------------------------------------------
    def to(self, *args, **kwargs):
        """Move (and/or cast) every parameter and buffer in place; returns self, as in PyTorch."""
        dev, dtype = parse_to_args(args, kwargs)
        with no_grad():
            for module in self.modules():
                for registry in (module._parameters, module._buffers):
                    for t in registry.values():
                        if t is None:
                            continue
                        # only floating-point tensors change dtype: integer buffers (indices) keep theirs
                        cast = dtype if dtype is not None and t.dtype.is_floating_point else None
                        converted = t.to(device=dev, dtype=cast)
                        if converted is not t:
                            t.data = converted  # in place: the module's tensor objects stay the same
                            if t.grad is not None:
                                t.grad = t.grad.to(device=dev, dtype=cast)
        return self

    # cpu/cuda/float/double/half repeat Tensor's on purpose: a Module answers to the same PyTorch calls
    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}")

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def state_dict(self, prefix: str = "") -> OrderedDict:
        """Every parameter and persistent buffer by dotted name (detached tensors sharing storage)."""
        state = OrderedDict()
        for mod_prefix, module in self.named_modules(prefix):
            for name, p in module._parameters.items():
                if p is not None:
                    state[f"{mod_prefix}.{name}" if mod_prefix else name] = p.detach()
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    state[f"{mod_prefix}.{name}" if mod_prefix else name] = b.detach()
        return state

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values into this module's parameters and buffers; mismatched shapes are an error naming the key."""
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}")
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise RuntimeError(
                f"error loading state_dict into {type(self).__name__}: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = value if isinstance(value, Tensor) else Tensor(value)
            if tuple(value.shape) != tuple(target.shape):
                raise RuntimeError(
                    f"error loading state_dict: size mismatch for {key}: checkpoint has shape "
                    f"{tuple(value.shape)}, the model has {tuple(target.shape)}"
                )
            with no_grad():
                target.copy_(value.to(target.device))
        return IncompatibleKeys(missing, unexpected)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- printing -----------------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
