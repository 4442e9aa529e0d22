"""Replay: run a schedule on new arrays, with no Tensors and no graph in between.

``Replay`` turns each node of the schedule into one small Python closure over a list of slot values, plans when
each slot dies, and on a call runs the closures in order: an op's forward (the same implementation that ran while
tracing, fast path or reference), its backward with the ``ctx`` that forward filled, a fused kernel, an opaque
call. Then it hands back what the function returned (new Tensors around the result slots), stores ``.grad`` of
the leaves and the arrays the function replaced.

Buffer plan: a slot's value is dropped right after the last node that reads it (a backward reads what its
forward saved), so memory peaks no higher than eager's. Buffers that fused kernels write go back to a pool at
their last use and are handed to the next kernel of that shape and dtype, in this call and the next ones; a
buffer that leaves the replay (returned, stored in ``.grad``) or that a view may still show is never reused.

Randomness: an op that draws (dropout) is replayed as it is, from the same generator in the same order, so a
compiled step draws exactly the masks the eager step would have drawn at that point of the stream.
"""

from __future__ import annotations

import numpy

from .. import backend, random
from ..autograd import graph
from ..ops.op import Op
from .fuse import Fused, reads
from .trace import Accumulate, Backward, Const, Constant, Forward, Load, Opaque, WriteGrads


class Replay:
    def __init__(self, trace, schedule):
        self.trace = trace
        self.schedule = schedule
        self.pool: dict = {}  # (shape, dtype) -> free buffers written by fused kernels
        self.steps = [self._step(node) for node in schedule]
        self.frees = self._plan()

    # -- the buffer plan ----------------------------------------------------------------------------------------
    def _plan(self) -> list:
        """For each step, the slots that die after it (``(slot, recycle)``: recycle into the pool)."""
        g = self.trace
        last: dict = {}
        for index, node in enumerate(self.schedule):
            for slot in reads(node):
                last[slot] = index
            for slot in writes(node):
                last.setdefault(slot, index)
        root = {}
        for slot in range(g.n_slots):  # views: a slot shares memory with an earlier one, transitively
            base = g.aliases.get(slot)
            root[slot] = root.get(base, base) if base is not None else slot
        group_last: dict = {}
        group_escapes: set = set()
        for slot, index in last.items():
            r = root[slot]
            group_last[r] = max(group_last.get(r, -1), index)
            if slot in g.escaping:
                group_escapes.add(r)
        pooled = {slot for node in self.schedule if isinstance(node, Fused) for slot in node.outputs}
        frees = [[] for _ in self.schedule]
        for slot, index in last.items():
            if slot in g.escaping:
                continue
            recycle = slot in pooled and root[slot] == slot and slot not in group_escapes
            frees[group_last[root[slot]] if recycle else index].append((slot, recycle))
        return frees

    # -- one closure per node ---------------------------------------------------------------------------------
    def _step(self, node):
        if isinstance(node, Load):
            return _load(node)
        if isinstance(node, Constant):
            value, out = node.value, node.out
            return lambda values, ctxs, args: values.__setitem__(out, value.copy())
        if isinstance(node, Forward):
            return _forward(node)
        if isinstance(node, Backward):
            return _backward(node)
        if isinstance(node, Accumulate):
            a, b, out = node.a, node.b, node.out
            return lambda values, ctxs, args: values.__setitem__(out, values[a] + values[b])
        if isinstance(node, Fused):
            return self._fused(node)
        if isinstance(node, WriteGrads):
            return _write_grads(node)
        if isinstance(node, Opaque):
            call = node.call
            return lambda values, ctxs, args: call()
        raise TypeError(f"no replay for {type(node).__name__}")

    def _fused(self, node):
        if node.reduction is not None:
            return self._fused_reduction(node)
        flat, nd = node.kernels
        shape, dtype, inputs, outputs, pool = node.shape, node.dtype, node.inputs, node.outputs, self.pool
        size = int(numpy.prod(shape))
        key = (shape, numpy.dtype(dtype))

        def run(values, ctxs, args):
            arrays = [values[s] for s in inputs]
            free = pool.get(key)
            outs = [free.pop() if free else numpy.empty(shape, dtype) for _ in outputs]
            if all(a.shape == shape and a.flags.c_contiguous for a in arrays):
                flat(*[a.reshape(size) for a in arrays], *[o.reshape(size) for o in outs])
            else:
                nd(*[numpy.broadcast_to(a, shape) for a in arrays], *outs)
            for slot, out in zip(outputs, outs):
                values[slot] = out

        return run

    def _fused_reduction(self, node):
        _, nd = node.kernels
        shape, dtype, inputs, pool = node.shape, node.dtype, node.inputs, self.pool
        members, (out_slot, written_shape, out_shape) = node.outputs[:-1], node.reduction
        key = (shape, numpy.dtype(dtype))

        def run(values, ctxs, args):
            free = pool.get(key)
            outs = [free.pop() if free else numpy.empty(shape, dtype) for _ in members]
            result = numpy.empty(out_shape, dtype)
            arrays = [numpy.broadcast_to(values[s], shape) for s in inputs]
            nd(*arrays, *outs, result.reshape(written_shape), *shape)
            for slot, out in zip(members, outs):
                values[slot] = out
            values[out_slot] = result

        return run

    # -- a call --------------------------------------------------------------------------------------------------
    def __call__(self, arg_tensors):
        trace = self.trace
        if trace.backward_start is not None:
            return self._call_in_graph(arg_tensors)
        values = [None] * trace.n_slots
        self.run_steps(0, len(self.steps), values, {}, arg_tensors)
        self._write_data(values, arg_tensors)
        return _rebuild(trace.output, values, {})

    def run_steps(self, start, stop, values, ctxs, arg_tensors) -> None:
        pool = self.pool
        for step, frees in zip(self.steps[start:stop], self.frees[start:stop]):
            step(values, ctxs, arg_tensors)
            for slot, recycle in frees:
                if recycle:
                    array = values[slot]
                    pool.setdefault((array.shape, array.dtype), []).append(array)
                values[slot] = None

    def _write_data(self, values, arg_tensors) -> None:
        for ref, slot in self.trace.data_writes:
            tensor = ref.resolve(arg_tensors)
            tensor._data = values[slot]
            tensor._version += 1

    @property
    def split(self) -> int:
        """Where the backward that runs outside the function begins, in the schedule."""
        first = (
            self.trace.nodes[self.trace.backward_start] if self.trace.backward_start < len(self.trace.nodes) else None
        )
        return next((i for i, node in enumerate(self.schedule) if node is first), len(self.schedule))

    def _call_in_graph(self, arg_tensors):
        """The forward part as one op of the eager graph, so that a later ``backward()`` runs the rest."""
        leaves = [ref.resolve(arg_tensors) for ref, _ in self.trace.leaf_grads]
        outputs = graph.apply(CompiledStep, *leaves, replay=self, arg_tensors=tuple(arg_tensors))
        returned = dict(zip((out for _, out in self.trace.seeds), outputs))
        return _rebuild(self.trace.output, self._forward_values, returned)


class CompiledStep(Op):
    """d(step)/d(leaves): the compiled backward. A compiled forward whose backward runs outside the function,
    as one node of the eager graph: forward runs the schedule up to the traced backward, backward the rest, with
    the returned tensors' gradients in the seed slots (zeros for a tensor that received none)."""

    @staticmethod
    def forward(ctx, *leaf_arrays, replay, arg_tensors):
        values, ctxs = [None] * replay.trace.n_slots, {}
        split = replay.split
        replay.run_steps(0, split, values, ctxs, arg_tensors)
        replay._write_data(values, arg_tensors)
        ctx.state = (replay, values, ctxs, arg_tensors, split)
        replay._forward_values = values
        return tuple(values[out] for _, out in replay.trace.seeds)

    @staticmethod
    def backward(ctx, *grad_outputs):
        replay, values, ctxs, arg_tensors, split = ctx.state
        for (seed, out), grad in zip(replay.trace.seeds, grad_outputs):
            values[seed] = grad if grad is not None else ctx.xp.zeros_like(values[out])
        replay.run_steps(split, len(replay.steps), values, ctxs, arg_tensors)
        grads = tuple(None if slot is None else values[slot] for _, slot in replay.trace.leaf_grads)
        ctx.state = None
        return grads


def writes(node) -> list:
    if isinstance(node, (Load, Constant, Accumulate)):
        return [node.out]
    if isinstance(node, Forward):
        return list(node.outs)
    if isinstance(node, Backward):
        return [o for o in node.outs if o is not None]
    if isinstance(node, Fused):
        return list(node.outputs)
    return []


def _load(node):
    ref, out = node.ref, node.out
    if node.field == "data":
        return lambda values, ctxs, args: values.__setitem__(out, ref.resolve(args)._data)
    return lambda values, ctxs, args: values.__setitem__(out, ref.resolve(args).grad._data)


def _live_params(node):
    """The op's keyword parameters; the default generator is looked up at each call (``manual_seed`` may have
    replaced it since the trace)."""
    params = dict(node.params)
    live = [
        k for k, v in params.items() if isinstance(v, random.Generator) and v is random.default_generator(node.device)
    ]
    return params, live


def _forward(node):
    runs, needs, dev = node.runs, node.needs_input_grad, node.device
    xp = backend.array_module(dev)
    spec = [(False, a.value) if isinstance(a, Const) else (True, a) for a in node.args]
    outs, keep_ctx, key = node.outs, node.has_backward, id(node)
    params, live = _live_params(node)
    single = len(outs) == 1

    def run(values, ctxs, args):
        ctx = runs()
        ctx.device, ctx.xp, ctx.needs_input_grad = dev, xp, needs
        for k in live:
            params[k] = random.default_generator(dev)
        result = runs.forward(ctx, *[values[v] if is_slot else v for is_slot, v in spec], **params)
        if single:
            values[outs[0]] = numpy.asarray(result) if isinstance(result, numpy.generic) else result
        else:
            for slot, out in zip(outs, result):
                values[slot] = numpy.asarray(out) if isinstance(out, numpy.generic) else out
        if keep_ctx:
            ctxs[key] = ctx

    return run


def _backward(node):
    forward = node.forward
    runs, key, grads, outs = forward.runs, id(forward), node.grads, node.outs
    needs, dev = forward.needs_input_grad, forward.device
    xp = backend.array_module(dev)
    attrs, saved = forward.ctx_attrs, forward.saved

    def run(values, ctxs, args):
        ctx = ctxs.pop(key, None)
        if ctx is None:  # the forward was fused away: rebuild what it stored for backward
            ctx = runs()
            ctx.__dict__.update(attrs)
            ctx.saved_tensors = tuple(values[v] if kind == "slot" else v for kind, v in saved)
            ctx.device, ctx.xp, ctx.needs_input_grad = dev, xp, needs
        result = runs.backward(ctx, *[None if g is None else values[g] for g in grads])
        result = result if isinstance(result, tuple) else (result,)
        for slot, grad in zip(outs, result):
            if slot is not None:
                values[slot] = grad

    return run


def _write_grads(node):
    grads = node.grads

    def run(values, ctxs, args):
        for ref, slot in grads:
            tensor = ref.resolve(args)
            if slot is None:
                tensor.grad = None
                continue
            written = ctxs.get(("grad", id(tensor)))
            if written is not None and written[0] == slot and tensor.grad is written[1]:
                continue  # stored by an earlier write of this call (before an optimizer step) and not replaced
            value = values[slot]
            if value.dtype != tensor._data.dtype:
                value = value.astype(tensor._data.dtype)
            tensor.grad = graph.new_tensor(tensor._xp.array(value, copy=True), tensor.device)
            ctxs[("grad", id(tensor))] = (slot, tensor.grad)

    return run


def _rebuild(structure, values, tensors):
    """The function's result: its structure, with a new Tensor for each slot (or the one in ``tensors``)."""
    kind = structure[0]
    if kind == "slot":
        tensor = tensors.get(structure[1])
        return tensor if tensor is not None else graph.new_tensor(values[structure[1]], structure[2])
    if kind in ("tuple", "list"):
        items = [_rebuild(s, values, tensors) for s in structure[1]]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {k: _rebuild(s, values, tensors) for k, s in structure[1].items()}
    return structure[1]
