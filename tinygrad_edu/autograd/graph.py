"""Recording the graph: ``apply`` runs an op on its inputs' arrays and, when a gradient is wanted, makes the op
the ``_ctx`` of its outputs. The op object is both the context of its backward and the graph node
(``op.inputs`` are its parents).

This layer knows Tensors only by their fields (``_data device requires_grad grad _ctx _output_index _version
_hooks _retains_grad _readers``); ``tensor.py`` plugs its class in with ``use_tensor_type`` when it is imported, so the
graph makes Tensors without importing the layer built on top of it.
"""

from __future__ import annotations

import contextlib
import functools
import weakref

import numpy

from .. import backend, kernels
from . import autocast
from .grad_mode import is_grad_enabled

_tensor_type: list = [None]  # [Tensor], set by tensor.py
forward_observers: list = []  # profilers and tracers: see observe_ops
backward_observers: list = []


def use_tensor_type(cls) -> None:
    """Called once by ``tensor.py``: the class whose instances ops return."""
    _tensor_type[0] = cls


def tensor_type():
    return _tensor_type[0]


def new_tensor(array, device):
    """A Tensor around ``array`` (already of the right dtype and device), outside the graph."""
    return _tensor_type[0]._wrap(array, device)


def apply(op_class, *args, **params):
    """Run ``op_class`` on ``args`` (Tensors and Python values) and record it if any input requires grad."""
    if autocast.active and op_class in autocast.TABLE:  # inside torch.autocast: the op may run in another dtype
        return _autocast_apply(op_class, args, params)
    if forward_observers:
        return _observed_apply(op_class, args, params)
    return _apply(op_class, args, params)


def _autocast_apply(op_class, args, params):
    """``op_class`` in the precision autocast's table gives it on its inputs' device (``autograd/autocast.py``)."""
    Tensor = _tensor_type[0]
    device_type = next((a.device.type for a in args if isinstance(a, Tensor)), "cpu")
    precision = autocast.wants(op_class, device_type)
    run = _observed_apply if forward_observers else _apply
    if precision is None:
        return run(op_class, args, params)
    low_dtype = autocast.active[device_type]
    cast = autocast.cast_inputs(args, precision, low_dtype, apply, Tensor)
    out = run(op_class, tuple(cast), params)
    rounded = any(a is not b for a, b in zip(args, cast))
    if precision == autocast.LOW_PRECISION and low_dtype == "bfloat16" and rounded:
        out = apply(autocast.RoundToBFloat16, out)  # a bfloat16 GEMM writes bfloat16: round what it wrote
    return out


def _apply(op_class, args, params):
    Tensor = _tensor_type[0]
    dev, needs_input_grad, raw = _unpack(op_class, args, Tensor)
    xp = backend.array_module(dev)
    # the one place where a fast implementation is chosen over the reference op (kernels/__init__.py's table)
    runs = kernels.choose(op_class, xp, raw, params) if op_class in kernels.FAST_PATHS else op_class
    ctx = runs()
    ctx.device, ctx.xp, ctx.needs_input_grad = dev, xp, needs_input_grad
    record = is_grad_enabled() and any(needs_input_grad)
    try:
        if ctx.takes_tensors:  # a user Function: its forward sees Tensors (autograd/function.py)
            result = ctx.run_forward_on_tensors(args, params)
        else:
            result = runs.forward(ctx, *raw, **params)
    except ValueError as exc:  # NumPy's shape errors don't say which op, nor what the inputs were
        raise RuntimeError(f"{op_class.__name__}: {exc} (inputs: {_describe(args, Tensor)})") from None

    out_dev = getattr(ctx, "output_device", dev)  # only ToDevice moves data between devices
    if not record and not isinstance(result, tuple):  # most ops, outside the graph: nothing to record
        return Tensor._wrap(_as_0d_array(ctx, result) if isinstance(result, numpy.generic) else result, out_dev)
    outputs = result if isinstance(result, tuple) else (result,)
    wrapped = []
    for index, out in enumerate(outputs):
        if isinstance(out, numpy.generic):  # NumPy gives scalars for 0-d results: they have no views of their own
            out = _as_0d_array(ctx, out)
        t = Tensor._wrap(out, out_dev)
        if record and out.dtype.kind == "f":
            t.requires_grad = True
            t._ctx = ctx
            t._output_index = index
        wrapped.append(t)
    if record:
        ctx.inputs = args
        ctx.params = params
        ctx.outputs = tuple(weakref.ref(t) for t in wrapped)
        ctx.output_meta = tuple((t._data.shape, t._data.dtype) for t in wrapped)
        ctx.saved_versions = _versions_of_saved(ctx, args, wrapped, Tensor)
        ctx.released = False
        _remember_readers(ctx, args, Tensor)
    return tuple(wrapped) if isinstance(result, tuple) else wrapped[0]


def _remember_readers(ctx, args, Tensor) -> None:
    """Each input made by another op (not a leaf) keeps a weak reference to this op, which reads it: an indexed
    write into that tensor later (``Tensor.__setitem__`` in the graph) re-points these ops at its old value."""
    for a in args:
        if isinstance(a, Tensor) and a._ctx is not None:
            if a._readers is None:
                a._readers = []
            a._readers.append(weakref.ref(ctx))


def _as_0d_array(ctx, scalar):
    """``scalar`` as a 0-d array, also where forward saved it, so that backward still sees it as the output."""
    array = numpy.asarray(scalar)
    if any(s is scalar for s in ctx.saved_tensors):
        ctx.saved_tensors = tuple(array if s is scalar else s for s in ctx.saved_tensors)
    return array


# -- observing ops (profilers) -------------------------------------------------------------------------------


@contextlib.contextmanager
def observe_ops(forward=None, backward=None):
    """Watch ops run, for profilers and tracers, without touching the engine's code.

    Inside the block every op's forward goes through ``forward(op_class, run)`` and every op's backward through
    ``backward(op, grad_outputs, run)``; each must call ``run()`` (the op itself, recording included) and return
    its result. A profiler times ``run()``; a tracer reads what went in and what came out."""
    entries = [(forward_observers, forward), (backward_observers, backward)]
    for observers, observer in entries:
        if observer is not None:
            observers.append(observer)
    try:
        yield
    finally:
        for observers, observer in entries:
            if observer is not None:
                observers.remove(observer)


def _observed_apply(op_class, args, params):
    def run():
        return _apply(op_class, args, params)

    run.op_args, run.op_params = args, params  # what goes in, for a tracer (tinygrad_edu/compiler/trace.py)
    for observer in reversed(forward_observers):
        run = functools.partial(observer, op_class, run)
        run.op_args, run.op_params = args, params
    return run()


effect_observers: list = []  # tracers: see note_effect


def note_effect(tensor, what: str) -> None:
    """Called by ``tensor.py`` where a tensor's values leave the ops' sight: read into Python (``item()``,
    ``bool()``, ``tolist()``, ``numpy()``) or written in place (``add_``, ``copy_``, ``x[i] = v``). A tracer
    (``tinygrad_edu/compiler``) cannot replay such a step, so it must hear of it; nothing else listens."""
    for observer in effect_observers:
        observer(tensor, what)


def observed_backward(op, grad_outputs, run):
    """``run()`` (one op's backward) through the backward observers; called by the engine."""
    for observer in reversed(backward_observers):
        run = functools.partial(observer, op, grad_outputs, run)
    return run()


# -- bookkeeping that the engine reads ---------------------------------------------------------------------


def release(op) -> None:
    """Free what backward needed; a second backward through this node becomes a clear error."""
    op.saved_tensors = ()
    op.inputs = tuple(None for _ in op.inputs)
    op.released = True


def output_tensor(op, index: int, data):
    """Output ``index`` of ``op`` (whose array is ``data``) as a Tensor in the graph: the live one, or a new handle
    on the same node if the original was garbage-collected."""
    tensor = op.outputs[index]()
    if tensor is None:
        tensor = _tensor_type[0]._wrap(data, getattr(op, "output_device", op.device))
        tensor.requires_grad, tensor._ctx, tensor._output_index = True, op, index
        op.outputs = op.outputs[:index] + (weakref.ref(tensor),) + op.outputs[index + 1 :]
    return tensor


def saved_as_tensors(op) -> tuple:
    """``op.saved_tensors`` with each array replaced by the Tensor it belongs to in the graph.

    An array that is an input's data becomes that input, one that is an output's data becomes that output (whose
    node is ``op`` itself), so that a gradient of the backward pass flows back through them. Anything else was
    computed inside forward and is used by backward as a constant (a mask becomes a Tensor outside the graph,
    integer indices stay arrays); ops whose backward reads
    differentiable values of that kind define ``composite`` instead (see ``Op``).
    """
    Tensor = _tensor_type[0]
    by_id = {id(a._data): a for a in op.inputs if isinstance(a, Tensor)}
    result = []
    for value in op.saved_tensors:
        if isinstance(value, numpy.generic) and value.dtype.kind == "f":
            # a float scalar operand (the 2 of 2 ** x) is a constant on the op's device, like a saved mask
            result.append(Tensor._wrap(backend.to_device(numpy.asarray(value), op.device), op.device))
        elif (
            value is None or not hasattr(value, "dtype") or isinstance(value, numpy.generic) or value.dtype.kind in "iu"
        ):
            result.append(value)  # Python values, NumPy scalars and integer arrays (indices) stay as they are
        elif id(value) in by_id:
            result.append(by_id[id(value)])
        elif id(value) in op.output_ids:
            result.append(output_tensor(op, op.output_ids[id(value)], value))
        else:
            result.append(Tensor._wrap(value, op.device))
    return tuple(result)


def _unpack(op, args, Tensor):
    """The inputs' common device (an error names two that differ), which inputs need a gradient, and the
    arrays of the Tensor inputs beside the other arguments as they are. One loop: this runs for every op."""
    dev, needs, raw = None, [], []
    for a in args:
        if isinstance(a, Tensor):
            if dev is None:
                dev = a.device
            elif a.device != dev:
                raise RuntimeError(
                    f"{op.__name__}: expected all tensors on the same device, found {dev} and {a.device}"
                )
            needs.append(a.requires_grad)
            raw.append(a._data)
        else:
            needs.append(False)
            raw.append(a)
    return (dev if dev is not None else backend.CPU), tuple(needs), raw


def _describe(args, Tensor) -> str:
    return ", ".join(
        f"{a.dtype.name} tensor of shape {tuple(a.shape)}" if isinstance(a, Tensor) else repr(a) for a in args
    )


def _versions_of_saved(ctx, args, outputs, Tensor):
    """Remember the version of every tensor whose array backward will read, to catch later in-place writes;
    and which saved arrays are outputs (``output_ids``), for the differentiable backward."""
    saved = ctx.saved_tensors
    ctx.output_ids = {}
    if not saved:
        return ()
    ids = {id(s) for s in saved}
    watched = [(a, a._version) for a in args if isinstance(a, Tensor) and id(a._data) in ids]
    for index, t in enumerate(outputs):
        if id(t._data) in ids:
            watched.append((weakref.ref(t), 0))
            ctx.output_ids[id(t._data)] = index
    return tuple(watched)


def check_versions(op) -> None:
    for tensor, version in op.saved_versions:
        if isinstance(tensor, weakref.ref):
            tensor = tensor()
            if tensor is None:
                continue
        if tensor._version != version:
            raise RuntimeError(
                f"one of the tensors needed by {op.name}'s backward (shape {tuple(tensor.shape)}) was modified "
                f"in place after it was used (version {version} then, {tensor._version} now). Clone it before "
                "modifying it, or modify it before using it in the graph."
            )
