"""Guards: what a trace depended on, so that a replay runs only where the trace would have been the same.

The key of a call: grad mode and autocast; each tensor argument's shape, dtype, device and ``requires_grad``;
the other arguments' values (numbers and strings; other objects by identity); whether the fast kernels are on;
and the ``training`` flag of every ``nn.Module`` the function can reach (itself, its ``self``, its arguments, the
variables it closes over and the globals it names): dropout runs only in training. The parameters and other
tensors the function reads are checked separately, per trace (``compiler/__init__.py``): their shapes, dtypes,
``requires_grad``, and whether their ``.grad`` is None (a first backward stores, a later one adds).
"""

from __future__ import annotations

import numbers

from .. import kernels
from ..autograd import autocast
from ..autograd.grad_mode import is_grad_enabled


def guard_key(fn, args, kwargs, arg_tensors) -> tuple:
    tensors = tuple(
        (t._data.shape, t._data.dtype.str, str(t.device), t.requires_grad, t.grad is None) for t in arg_tensors
    )
    values = tuple(_value_key(v) for v in list(args) + [kwargs[k] for k in sorted(kwargs)])
    flags = tuple(m.training for m in _modules(fn, args, kwargs))
    state = (is_grad_enabled(), tuple(sorted(autocast.active.items())), kernels.enabled())
    return state, tensors, values, tuple(sorted(kwargs)), flags


def _value_key(value):
    if isinstance(value, (numbers.Number, str, bytes, type(None))):
        return (type(value).__name__, value)
    if isinstance(value, (list, tuple)):
        return tuple(_value_key(v) for v in value)
    if hasattr(value, "_data") and hasattr(value, "requires_grad"):
        return "tensor"
    return ("id", id(value))


def _modules(fn, args, kwargs) -> list:
    """Every ``nn.Module`` (and sub-module) that ``fn`` can reach without running it."""
    found, seen = [], set()
    candidates = [fn, getattr(fn, "__self__", None), *args, *kwargs.values()]
    code = getattr(fn, "__code__", None)
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            candidates.append(cell.cell_contents)
        except ValueError:  # an empty cell
            pass
    if code is not None:
        module_globals = getattr(fn, "__globals__", {})
        candidates += [module_globals[n] for n in code.co_names if n in module_globals]
    for c in candidates:
        if hasattr(c, "modules") and hasattr(c, "training") and id(c) not in seen:
            for m in c.modules():
                if id(m) not in seen:
                    seen.add(id(m))
                    found.append(m)
    return found
