"""``tinygrad_edu.compile``: trace a function once, fuse its elementwise chains, replay it without per-op Python.

The next chapter after backprop: how a graph of ops becomes a handful of kernels. Four steps, one module each:

1. **Trace** (``trace.py``): the first call runs the function eagerly while the engine's observers report every
   op's forward and backward; the tracer writes them down as nodes over array *slots*. The optimizer's ``step``
   is recorded as one opaque node (its update is already one compiled pass over a flat buffer).
2. **Fuse** (``fuse.py``): consecutive elementwise ops of one shape become one generated numba kernel; matmuls
   stay BLAS calls, and the hand-written kernels (layer norm, softmax, GELU, cross-entropy) stay nodes as they are.
3. **Plan and replay** (``replay.py``): each slot dies after its last reader; fused kernels' buffers are reused.
   Later calls run the schedule on the new arrays and write back what the function changed.
4. **Guards** (``guards.py``): a replay is valid only for what the trace depended on: the inputs' shapes,
   dtypes, devices and ``requires_grad``, grad mode, modules' ``training`` flags, the parameters read (their
   shapes, and whether their ``.grad`` was None). Another combination traces again, up to ``recompile_limit``
   (8, as ``torch._dynamo.config.recompile_limit``); past it the function runs eagerly, with one warning.

When the trace meets something it cannot replay (``.item()``, ``bool(tensor)``, an in-place write outside any
op, a user ``Function``), the first call's result is still the eager one; the function then runs eagerly from
then on and a warning says why, once: the whole function is the region, and it ends there.

A function that returns tensors still in the autograd graph (``model = compile(model)``, ``loss.backward()``
outside) has that backward traced too, once, from placeholder gradients; its replay is one node of the eager
graph (``replay.CompiledStep``) whose backward runs the traced backward.

Debug: ``compile(fn, options={"debug": True})`` or ``TINYGRAD_EDU_COMPILE_DEBUG=1`` prints the traced graph,
the fusion groups and every generated kernel's source. ``docs/compiler.md`` walks a GELU through all of this.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings

from . import fuse as fusion
from .guards import guard_key
from .replay import Replay
from .trace import TraceFailed, Tracer, _flatten

RECOMPILE_LIMIT = 8


class CompiledFunction:
    """``fn`` behind guards: a replay per guard key, traced on the first call with that key."""

    def __init__(self, fn, *, debug: bool = False, fuse: bool = True, recompile_limit: int = RECOMPILE_LIMIT):
        self.fn = fn
        self.debug = debug
        self.fuse = fuse
        self.recompile_limit = recompile_limit
        self.cache: dict = {}  # guard key -> [(external checks, Replay)]
        self.traces = 0
        self.eager_reason: str | None = None
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        if self.eager_reason is not None:
            return self.fn(*args, **kwargs)
        arg_tensors = _flatten([list(args), kwargs], [])
        key = guard_key(self.fn, args, kwargs, arg_tensors)
        for checks, replay in self.cache.get(key, ()):
            if _externals_match(checks, arg_tensors):
                return replay(arg_tensors)
        if self.traces >= self.recompile_limit:
            self._go_eager(f"recompile_limit ({self.recompile_limit}) reached: the guards keep changing ({key!r})")
            return self.fn(*args, **kwargs)
        return self._trace(key, args, kwargs, arg_tensors)

    def _trace(self, key, args, kwargs, arg_tensors):
        tracer = Tracer(arg_tensors)
        with tracer.watching():
            result = self.fn(*args, **kwargs)
        try:
            trace = tracer.finish(result)
        except TraceFailed as reason:
            self._go_eager(str(reason))
            return result
        self.traces += 1
        schedule = fusion.fuse(trace, enabled=self.fuse and fusion.available())
        replay = Replay(trace, schedule)
        checks = ([c for c in trace.external_checks if c[0].arg_index is None], trace.grad_checks)
        self.cache.setdefault(key, []).append((checks, replay))
        if self.debug or os.environ.get("TINYGRAD_EDU_COMPILE_DEBUG", "0") not in ("0", "", "false"):
            print(explain(self.__name__, trace, schedule), file=sys.stderr)
        return result

    def _go_eager(self, reason: str) -> None:
        self.eager_reason = reason
        name = getattr(self.fn, "__qualname__", type(self.fn).__name__)
        warnings.warn(f"tinygrad_edu.compile: {name} runs eagerly from now on: {reason}", stacklevel=3)


def _externals_match(checks, arg_tensors) -> bool:
    """The tensors the trace read are still of the traced shapes and dtypes, and the leaves' ``.grad`` is None
    where it was None (a backward then stores) and set where it was set (a backward then adds)."""
    tensor_checks, grad_checks = checks
    for ref, shape, dtype, requires_grad in tensor_checks:
        tensor = ref.resolve(arg_tensors)
        if tensor._data.shape != shape or tensor._data.dtype != dtype or tensor.requires_grad != requires_grad:
            return False
    return all((ref.resolve(arg_tensors).grad is None) == grad_none for ref, grad_none in grad_checks)


def explain(name, trace, schedule) -> str:
    """The traced graph, the fusion groups and each generated kernel's source, for a reader."""
    lines = [f"=== tinygrad_edu.compile: {name}: traced graph ({len(trace.nodes)} nodes, {trace.n_slots} slots)"]
    lines.append(trace.describe())
    groups = [n for n in schedule if isinstance(n, fusion.Fused)]
    lines.append(f"=== schedule: {len(schedule)} steps, {len(groups)} fused kernels")
    from .trace import describe_node

    lines += ["  " + describe_node(n) for n in schedule]
    for group in groups:
        how = "a loop nest that ends in its reduction" if group.reduction else "flat loop; a nested twin broadcasts"
        lines.append(f"=== kernel {group.name} ({how})")
        lines += [f"{k} = np.{v.dtype.name}({float(v)!r})" for k, v in group.constants.items()]
        lines.append(group.flat_source)
    return "\n".join(lines)


class CompiledModule:
    """``compile(module)``: calling it calls the compiled ``module.__call__``; everything else is the module's
    (``_orig_mod`` is the module itself, as in PyTorch's ``OptimizedModule``)."""

    def __init__(self, module, compiled):
        object.__setattr__(self, "_orig_mod", module)
        object.__setattr__(self, "_compiled", compiled)

    def __call__(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._orig_mod, name)

    def __setattr__(self, name, value):
        setattr(self._orig_mod, name, value)


def compile(  # noqa: A001 - PyTorch's name
    model=None, *, fullgraph=False, dynamic=None, backend=None, mode=None, options=None, name=None, disable=False,
    recompile_limit=None, isolate_recompiles=False, shapes_spec=None,
):  # fmt: skip
    """``torch.compile``: a function (or ``nn.Module``) that traces ``model`` on its first call, fuses the
    elementwise chains into generated kernels, and replays that on later calls (see this module's docstring).

    As a decorator: ``@compile`` or ``@compile(options={"debug": True})``. ``disable=True`` returns ``model``
    unchanged. ``options``: ``debug`` (print the graph, fusion groups and kernels), ``fuse`` (False: replay
    without generated kernels). ``recompile_limit``: traces per function before it runs eagerly (default 8).
    ``fullgraph=True`` raises instead of running eagerly when the trace cannot be replayed. ``dynamic``,
    ``backend``, ``mode`` are accepted as PyTorch's and change nothing here: shapes are always specialized."""
    options = dict(options or {})
    unknown = set(options) - {"debug", "fuse"}
    if unknown:
        raise RuntimeError(f"compile: unexpected options {sorted(unknown)}; known: 'debug', 'fuse'")
    if backend is not None and not (isinstance(backend, str) or callable(backend)):
        raise RuntimeError(f"compile: backend must be a string or a callable, got {type(backend).__name__}")

    def wrap(target):
        if disable:
            return target
        if not callable(target):
            raise RuntimeError(f"compile: expected a function or nn.Module, got {type(target).__name__}")
        limit = RECOMPILE_LIMIT if recompile_limit is None else int(recompile_limit)
        compiled = CompiledFunction(
            target, debug=bool(options.get("debug", False)), fuse=bool(options.get("fuse", True)),
            recompile_limit=limit,
        )  # fmt: skip
        if fullgraph:
            compiled._go_eager = functools.partial(_refuse, compiled)
        if isinstance(getattr(target, "_parameters", None), dict) and hasattr(target, "modules"):
            return CompiledModule(target, compiled)
        return compiled

    return wrap if model is None else wrap(model)


def _refuse(compiled, reason: str) -> None:
    raise RuntimeError(f"tinygrad_edu.compile(fullgraph=True): {reason}")


__all__ = ["compile", "CompiledFunction", "CompiledModule", "explain", "TraceFailed"]
