"""Tracing: run the function once, eagerly, and write down every op it ran as a graph over array slots.

The engine already lets anyone watch ops run (``autograd.graph.observe_ops``): every op's forward goes through the
tracer's ``on_forward`` and every op's backward through ``on_backward``. The tracer gives each array it sees a
*slot* (a number), and records one node per op, reading slots and writing slots:

* ``Load``: an array from outside the function: an argument's, a parameter's (``param._data``), a gradient's.
* ``Forward``: one op's forward (the implementation that ran: the reference or its fast path), its ``ctx`` kept
  for the backward node that reads it.
* ``Backward``: one op's backward, from the gradient slots of its outputs to one slot per input.
* ``Accumulate``: two gradients of one tensor summed, as the engine sums them where paths meet.
* ``Opaque``: a call replayed as it is: an optimizer's ``step`` (its update is one compiled pass already).

The engine's backward pass sums gradients and stores ``.grad`` with plain array arithmetic, which no observer sees;
the tracer follows the same rules (``autograd/engine.py``'s ``_run``: deliver each input's gradient to the op
that made it, or to the leaf) and checks the result: every ``.grad`` it predicts must equal the one the engine
stored, or the trace is refused.

What a trace cannot follow ends it (``TraceFailed``, with the reason): a value read into Python (``.item()``,
``bool()``, ``.tolist()``, ``.numpy()``), an in-place write that no op made, a user ``Function``, hooks on
tensors. The caller then runs the function eagerly. A graph still alive when the function returns is not an end:
its backward is traced too (``Tracer._trace_backward_outside``).
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy

from .. import backend, kernels, random
from ..autograd import engine, graph
from ..optim import optimizer as optimizer_module


class TraceFailed(Exception):
    """The function did something a replay could not repeat; the message says what."""


@dataclasses.dataclass(frozen=True)
class TensorRef:
    """Where a tensor is found at replay time: the ``index``-th tensor argument, or a tensor object the function
    reaches by itself (a parameter, an optimizer's state, a constant made inside the function)."""

    arg_index: int | None = None
    tensor: object = None

    def resolve(self, arg_tensors):
        return arg_tensors[self.arg_index] if self.arg_index is not None else self.tensor

    def describe(self) -> str:
        if self.arg_index is not None:
            return f"arg{self.arg_index}"
        return f"tensor{tuple(self.tensor.shape)}"


@dataclasses.dataclass
class Load:
    out: int
    ref: TensorRef
    field: str  # "data" (the tensor's array) or "grad" (its .grad's array)


@dataclasses.dataclass
class Constant:
    out: int
    value: object  # an array copied afresh at every replay (the seed of a backward pass)


@dataclasses.dataclass
class Forward:
    """``runs.forward(ctx, *args, **params)``: ``args`` holds slots (ints) and ``Const`` values."""

    runs: type
    args: list
    params: dict
    needs_input_grad: tuple
    device: object
    outs: list  # one slot per output
    out_shapes: list
    out_dtypes: list
    has_backward: bool = False
    ctx_attrs: dict | None = None  # what forward stored on ctx besides arrays (None: something we can't rebuild)
    saved: list | None = None  # ctx.saved_tensors as ("slot", s) / ("const", v); None: not rebuildable
    saved_slots: tuple = ()  # slots whose memory ctx keeps for backward


@dataclasses.dataclass
class Backward:
    forward: Forward
    grads: list  # one slot (or None) per output of the forward
    outs: list  # one slot (or None) per input of the forward


@dataclasses.dataclass
class Accumulate:
    a: int
    b: int
    out: int


@dataclasses.dataclass
class Opaque:
    call: object  # a zero-argument callable, replayed as it is
    what: str


@dataclasses.dataclass
class WriteGrads:
    """Before an opaque call and at the end: the ``.grad`` each leaf has now (a slot, or None)."""

    grads: list  # (TensorRef, slot or None)


@dataclasses.dataclass(frozen=True)
class Const:
    value: object


HOST_READS = frozenset(("item()", "float()", "int()", "bool()", "__index__", "tolist()", "numpy()"))
ENGINE_FIELDS = frozenset(
    "device xp needs_input_grad inputs params outputs output_meta saved_versions released output_ids saved_tensors"
    " output_device".split()
)


class Graph:
    """The trace: nodes in the order they ran, over ``n_slots`` slots; what the function returns (``output``:
    its structure with Tensors replaced by ``("slot", s, device)``) and writes back (``data_writes``)."""

    def __init__(self):
        self.nodes: list = []
        self.n_slots = 0
        self.output = None
        self.data_writes: list = []  # (TensorRef, slot): tensors whose array the function replaced
        self.escaping: set = set()  # slots whose arrays leave the replay (returned or written back)
        self.aliases: dict = {}  # slot -> a slot whose memory it may share (views), an earlier one
        self.external_checks: list = []  # (TensorRef, shape, dtype, requires_grad) of every tensor loaded
        self.grad_checks: list = []  # (TensorRef, whether its .grad was None when the call began)
        # a forward whose backward runs outside the function (see Tracer._trace_backward_outside):
        self.backward_start: int | None = None  # the index of the first node of that backward
        self.seeds: list = []  # (seed slot, the slot of the returned tensor it is the gradient of)
        self.leaf_grads: list = []  # (TensorRef, gradient slot or None) for each leaf, the backward's results

    def describe(self) -> str:
        """The graph, one node a line (for ``debug``)."""
        lines = []
        for node in self.nodes:
            lines.append("  " + describe_node(node))
        return "\n".join(lines)


def describe_node(node) -> str:
    def arg(a):
        if isinstance(a, Const):
            v = a.value
            return (
                repr(v.item()) if isinstance(v, numpy.generic) else type(v).__name__ if hasattr(v, "shape") else repr(v)
            )
        return f"%{a}" if a is not None else "None"

    if isinstance(node, Load):
        return f"%{node.out} = load {node.ref.describe()}.{node.field}"
    if isinstance(node, Constant):
        return f"%{node.out} = constant {tuple(node.value.shape)}"
    if isinstance(node, Forward):
        outs = ", ".join(f"%{o}" for o in node.outs)
        params = "".join(f", {k}={v!r}" for k, v in node.params.items() if not isinstance(v, random.Generator))
        shape = tuple(node.out_shapes[0]) if node.out_shapes else ()
        return f"{outs} = {node.runs.__name__}({', '.join(arg(a) for a in node.args)}{params})  # {shape}"
    if isinstance(node, Backward):
        outs = ", ".join(arg(o) for o in node.outs)
        return f"{outs} = {node.forward.runs.__name__}.backward({', '.join(arg(g) for g in node.grads)})"
    if isinstance(node, Accumulate):
        return f"%{node.out} = %{node.a} + %{node.b}  # gradients summed"
    if isinstance(node, Opaque):
        return f"call {node.what}"
    if isinstance(node, WriteGrads):
        return "write .grad of " + ", ".join(f"{r.describe()}={arg(s)}" for r, s in node.grads)
    return getattr(node, "describe", lambda: type(node).__name__)()


def _flatten(value, out: list):
    """The Tensors of a nested structure (lists, tuples, dicts), in order."""
    Tensor = graph.tensor_type()
    if isinstance(value, Tensor):
        out.append(value)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _flatten(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _flatten(v, out)
    return out


class Tracer:
    """Watches one eager call of the function and builds its ``Graph``."""

    def __init__(self, arg_tensors):
        self.graph = Graph()
        self.arg_index = {id(t): i for i, t in enumerate(arg_tensors)}
        self.slot_of: dict = {}  # id(array) -> slot
        self.value_of: list = []  # slot -> the array seen while tracing (kept, so that ids stay unique)
        self.node_of_ctx: dict = {}  # id(ctx) -> its Forward node
        self.loaded: dict = {}  # id(tensor) -> (tensor, its Load's slot), since the last opaque call
        self.load_slots: set = set()
        self.in_opaque = 0
        self.failure: str | None = None
        self.pass_open = False
        self.pending: dict = {}  # (id(ctx), output index) -> gradient slot
        self.leaf_pending: dict = {}  # id(leaf) -> [leaf, gradient slot]
        self.grad_before: dict = {}  # id(leaf) -> the leaf's .grad array when the pass began (or None)
        self.grad_slot: dict = {}  # id(leaf) -> [leaf, slot of its .grad as the trace knows it]
        self.cleared: set = set()  # ids of tensors whose .grad the function set to None (zero_grad)
        self.cleared_refs: list = []  # ...kept alive, so that the ids stay theirs

    # -- slots -------------------------------------------------------------------------------------------------
    def new_slot(self, array) -> int:
        slot = self.graph.n_slots
        self.graph.n_slots += 1
        self.value_of.append(array)
        self.slot_of[id(array)] = slot
        return slot

    def ref_of(self, tensor) -> TensorRef:
        index = self.arg_index.get(id(tensor))
        return TensorRef(arg_index=index) if index is not None else TensorRef(tensor=tensor)

    def slot_for(self, tensor) -> int:
        """The slot of ``tensor``'s array: a traced op's output, or a new ``Load`` from outside."""
        slot = self.slot_of.get(id(tensor._data))
        if slot is not None:
            return slot
        ref = self.ref_of(tensor)
        slot = self.new_slot(tensor._data)
        self.graph.nodes.append(Load(slot, ref, "data"))
        self.loaded[id(tensor)] = (tensor, slot)
        self.load_slots.add(slot)
        check = (ref, tensor._data.shape, tensor._data.dtype, tensor.requires_grad)
        self.graph.external_checks.append(check)
        return slot

    def fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason

    # -- observers -------------------------------------------------------------------------------------------
    def on_forward(self, op_class, run):
        if self.in_opaque or self.failure:
            return run()
        self.close_backward_pass()
        args, params = run.op_args, run.op_params
        Tensor = graph.tensor_type()
        if getattr(op_class, "takes_tensors", False):
            self.fail(f"a user autograd.Function ({op_class.__name__}) runs Python a replay would skip")
            return run()
        slots = [self.slot_for(a) if isinstance(a, Tensor) else Const(a) for a in args]
        result = run()
        outputs = result if isinstance(result, tuple) else (result,)
        dev, _, raw = graph._unpack(op_class, args, Tensor)
        xp = backend.array_module(dev)
        runs = kernels.choose(op_class, xp, raw, params) if op_class in kernels.FAST_PATHS else op_class
        node = Forward(
            runs=runs,
            args=slots,
            params=dict(params),
            needs_input_grad=tuple(isinstance(a, Tensor) and a.requires_grad for a in args),
            device=dev,
            outs=[self.new_slot(t._data) for t in outputs],
            out_shapes=[t._data.shape for t in outputs],
            out_dtypes=[t._data.dtype for t in outputs],
        )
        for out_slot in node.outs:
            self._note_alias(out_slot, [s for s in slots if not isinstance(s, Const)])
        ctx = next((t._ctx for t in outputs if t._ctx is not None), None)
        if ctx is not None:
            self.node_of_ctx[id(ctx)] = node
            self._remember_ctx(node, ctx, slots)
        self.graph.nodes.append(node)
        return result

    def _remember_ctx(self, node, ctx, slots) -> None:
        """What the backward node will need to rebuild ``ctx`` if the forward is fused away, and which slots'
        memory ctx keeps alive until then."""
        attrs = {k: v for k, v in vars(ctx).items() if k not in ENGINE_FIELDS}
        node.ctx_attrs = (
            None if any(hasattr(v, "shape") and not isinstance(v, numpy.generic) for v in attrs.values()) else attrs
        )
        array_slots = [s for s in slots if not isinstance(s, Const)] + list(node.outs)
        saved, kept = [], set()
        for value in ctx.saved_tensors:
            if not hasattr(value, "shape") or isinstance(value, numpy.generic):  # None, Python and NumPy scalars
                saved = None if saved is None else saved + [("const", value)]
                continue
            slot = self.slot_of.get(id(value))
            saved = saved + [("slot", slot)] if saved is not None and slot in array_slots else None
            for s in array_slots:  # a saved array may be a view of an input: ctx keeps that memory alive
                if not isinstance(value, numpy.ndarray) or numpy.may_share_memory(value, self.value_of[s]):
                    kept.add(s)
        node.saved = saved
        node.saved_slots = tuple(sorted(kept))

    def _note_alias(self, out_slot, in_slots) -> None:
        out = self.value_of[out_slot]
        if not isinstance(out, numpy.ndarray):
            self.graph.aliases[out_slot] = None  # not a NumPy array (CuPy): no buffer reuse reasoning
            return
        for s in in_slots:
            value = self.value_of[s]
            if isinstance(value, numpy.ndarray) and numpy.may_share_memory(out, value):
                self.graph.aliases[out_slot] = s
                return

    def on_backward(self, op, grad_outputs, run):
        if self.in_opaque or self.failure:
            return run()
        node = self.node_of_ctx.get(id(op))
        if node is None:
            self.fail(f"backward through {op.name}, an op that ran before the compiled function was called")
            return run()
        if any(isinstance(g, graph.tensor_type()) for g in grad_outputs):
            self.fail("backward(create_graph=True) records a graph of its own")
            return run()
        if not self.pass_open:
            self.open_backward_pass(op)
        grads = []
        for index, g in enumerate(grad_outputs):
            slot = self.pending.pop((id(op), index), None)
            if slot is None and g is not None:  # the seed of the pass: ones, made by the engine
                slot = self.new_slot(g)
                self.graph.nodes.append(Constant(slot, g.copy()))
            grads.append(slot)
        for ref in op.outputs:
            t = ref()
            if t is not None and (t._hooks or t._retains_grad):
                self.fail("a hook or retain_grad() on a tensor inside the compiled function")
        inputs = op.inputs
        grad_inputs = run()
        outs = []
        for needs, g in zip(op.needs_input_grad, grad_inputs):
            slot = None
            if needs and g is not None:
                slot = self.slot_of.get(id(g))
                if slot is None or self.value_of[slot] is not g:
                    slot = self.new_slot(g)
                    self._note_alias(slot, [s for s in grads if s is not None] + list(node.saved_slots))
            outs.append(slot)
        node.has_backward = True
        self.graph.nodes.append(Backward(node, grads, outs))
        for parent, slot in zip(inputs, outs):
            if slot is not None:
                self.deliver(parent, slot)
        return grad_inputs

    def deliver(self, parent, slot) -> None:
        """The engine's ``deliver``: to the op that made ``parent``, or into a leaf's total."""
        if parent._ctx is not None:
            key = (id(parent._ctx), parent._output_index)
            self.pending[key] = self.accumulate(self.pending.get(key), slot)
        else:
            entry = self.leaf_pending.setdefault(id(parent), [parent, None])
            entry[1] = self.accumulate(entry[1], slot)

    def accumulate(self, total, slot):
        if total is None:
            return slot
        out = self.new_slot(self.value_of[total] + self.value_of[slot])
        self.graph.nodes.append(Accumulate(total, slot, out))
        return out

    def open_backward_pass(self, root_op) -> None:
        """Remember each leaf's ``.grad`` as the pass begins: the engine adds to it, or stores a new one."""
        self.pass_open = True
        self.grad_before = {}
        for op in engine.topological_order([root_op]):
            for t in op.inputs:
                if isinstance(t, graph.tensor_type()) and t._ctx is None and t.requires_grad:
                    if t._hooks:
                        self.fail("a hook on a leaf tensor of the compiled function")
                    self.grad_before[id(t)] = None if t.grad is None else t.grad._data
                    if id(t) not in self.cleared and id(t) not in self.grad_slot:  # .grad as the call found it
                        self.graph.grad_checks.append((self.ref_of(t), t.grad is None))

    def close_backward_pass(self) -> None:
        """The pass has ended: predict every leaf's ``.grad`` and check it against the engine's."""
        if not self.pass_open:
            return
        self.pass_open = False
        if self.pending:
            self.fail("a backward pass that did not reach every op it was handed (autograd.grad or inputs=)")
        for leaf, slot in self.leaf_pending.values():
            if id(leaf) not in self.grad_before:
                self.fail("a gradient for a tensor outside the graph the compiler saw")
                continue
            before = self.grad_before[id(leaf)]
            if before is not None:
                before_slot = self.slot_of.get(id(before))
                if before_slot is None:
                    before_slot = self.new_slot(before)
                    self.graph.nodes.append(Load(before_slot, self.ref_of(leaf), "grad"))
                slot = self.accumulate(before_slot, slot)
            stored = leaf.grad
            if stored is None or stored._data.dtype != self.value_of[slot].dtype:
                self.fail("a leaf's .grad that the engine's rules do not predict")
                continue
            if not _same_values(stored._data, self.value_of[slot]):
                self.fail(f".grad of a tensor of shape {tuple(leaf.shape)} differs from the traced gradient")
                continue
            self.slot_of[id(stored._data)] = slot
            self.grad_slot[id(leaf)] = [leaf, slot]
        self.leaf_pending = {}

    def grads_now(self) -> list:
        """(TensorRef, slot or None) for every leaf whose .grad the trace wrote: what to write back now."""
        writes = []
        for leaf, slot in self.grad_slot.values():
            if leaf.grad is None:
                writes.append((self.ref_of(leaf), None))
            elif self.slot_of.get(id(leaf.grad._data)) == slot:
                writes.append((self.ref_of(leaf), slot))
                self.graph.escaping.add(slot)
            else:
                self.fail("a .grad replaced by code the compiler did not see")
        return writes

    def on_effect(self, tensor, what: str) -> None:
        if self.in_opaque or self.failure:
            return
        if what == "grad = None":  # zero_grad(): what .grad held when the call began no longer matters
            self.cleared.add(id(tensor))
            self.cleared_refs.append(tensor)
            return
        if what in HOST_READS:
            self.fail(f"{what} reads a tensor's value into Python (data-dependent control flow)")
        elif tensor is None:  # torch.randn inside the function: a replay would repeat the trace's numbers
            self.fail(f"{what} draws random numbers outside an op (a replay cannot redraw them)")
        else:
            self.fail(f"{what} writes a tensor in place outside any op")

    def on_step_begin(self, optimizer, args, kwargs) -> None:
        if self.in_opaque or self.failure:
            self.in_opaque += 1
            return
        self.close_backward_pass()
        self.graph.nodes.append(WriteGrads(self.grads_now()))
        self.graph.nodes.append(Opaque(lambda: optimizer.step(*args, **kwargs), f"{type(optimizer).__name__}.step()"))
        self.in_opaque += 1

    def on_step_end(self, optimizer, args, kwargs) -> None:
        self.in_opaque -= 1
        if self.in_opaque:
            return
        # the step changed parameters and state in place (or gave them new arrays): read them afresh after it
        for tensor, slot in self.loaded.values():
            self.slot_of.pop(id(self.value_of[slot]), None)
            self.slot_of.pop(id(tensor._data), None)
        self.loaded = {}

    @contextlib.contextmanager
    def watching(self):
        graph.effect_observers.append(self.on_effect)
        pre = optimizer_module.register_optimizer_step_pre_hook(self.on_step_begin)
        post = optimizer_module.register_optimizer_step_post_hook(self.on_step_end)
        try:
            with graph.observe_ops(forward=self.on_forward, backward=self.on_backward):
                yield
        finally:
            graph.effect_observers.remove(self.on_effect)
            pre.remove()
            post.remove()

    # -- the end of the call -----------------------------------------------------------------------------------
    def finish(self, result):
        """Close the trace on the function's ``result``: its structure, and what to write back."""
        self.close_backward_pass()
        if self.failure:
            raise TraceFailed(self.failure)
        g = self.graph
        g.output = self._output_structure(result)
        writes = self.grads_now()
        for tensor, _ in self.loaded.values():  # a tensor whose array the function replaced (x[i] = v in the graph)
            slot = self.slot_of.get(id(tensor._data))
            if slot is not None and slot not in self.load_slots:
                g.data_writes.append((self.ref_of(tensor), slot))
                g.escaping.add(slot)
        if self.failure:
            raise TraceFailed(self.failure)
        g.nodes.append(WriteGrads(writes))
        live = [t for t in _flatten(result, []) if _in_live_graph(t)]
        if live:
            self._trace_backward_outside(live)
        if self.failure:
            raise TraceFailed(self.failure)
        self.value_of = []
        return g

    def _trace_backward_outside(self, live) -> None:
        """The function returns tensors still in the autograd graph (a compiled forward; ``backward()`` runs
        later, outside it). Trace that backward now, from placeholder seeds (one per returned tensor, filled at
        replay with the gradients the engine hands in) to every leaf: the replay becomes one node of the eager
        graph (``replay.CompiledStep``) whose forward is the schedule up to here and whose backward is the rest."""
        g = self.graph
        roots, seeds = [], []
        for t in live:
            key = (id(t._ctx), t._output_index)
            if key in self.pending:
                continue
            seed = self.new_slot(t._xp.ones(t._data.shape, dtype=t._data.dtype))
            self.pending[key] = seed  # the engine's first delivery: the seed, before any other path's gradient
            g.seeds.append((seed, self.slot_of[id(t._data)]))
            roots.append(t)
            seeds.append(self.value_of[seed])
        leaves, seen = [], set()
        for op in engine.topological_order([t._ctx for t in roots]):
            for t in op.inputs:
                if isinstance(t, graph.tensor_type()) and t._ctx is None and t.requires_grad and id(t) not in seen:
                    seen.add(id(t))
                    leaves.append(t)
        g.backward_start = len(g.nodes)
        self.pass_open = True  # not a pass that stores .grad: nothing to predict or check at its end
        with graph.observe_ops(backward=self.on_backward):
            engine.grad(roots, seeds, leaves, retain_graph=True)
        self.pass_open = False
        self.pending = {}  # gradients for ops that lead to no leaf: the engine drops them too
        for leaf in leaves:
            entry = self.leaf_pending.pop(id(leaf), None)
            slot = None if entry is None else entry[1]
            g.leaf_grads.append((self.ref_of(leaf), slot))
            if slot is not None:
                g.escaping.add(slot)

    def _output_structure(self, value):
        Tensor = graph.tensor_type()
        if isinstance(value, Tensor):
            slot = self.slot_for(value)
            self.graph.escaping.add(slot)
            return ("slot", slot, value.device)
        if isinstance(value, (list, tuple)):
            items = [self._output_structure(v) for v in value]
            return ("tuple" if isinstance(value, tuple) else "list", items)
        if isinstance(value, dict):
            return ("dict", {k: self._output_structure(v) for k, v in value.items()})
        return ("value", value)


def _in_live_graph(tensor) -> bool:
    return tensor.requires_grad and tensor._ctx is not None and not tensor._ctx.released


def _same_values(a, b) -> bool:
    if a.shape != b.shape:
        return False
    if isinstance(a, numpy.ndarray):
        return bool(numpy.array_equal(a, b, equal_nan=True))
    return bool((a == b).all() | ((a != a) & (b != b)).all())
