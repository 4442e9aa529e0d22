"""Fusion: runs of elementwise ops become one generated numba kernel.

An elementwise chain such as the tanh GELU, ``0.5 * x * (1 + tanh(c * (x + 0.044715 * x**3))))``, runs eagerly as
eight ops: eight passes over memory, eight temporary arrays, eight trips through Python. Fused, it is one loop
that reads ``x`` once and writes the result once; the values in between live in registers.

1. **Grouping.** Walk the traced nodes in order. A ``Forward`` node whose op has a template in ``TEMPLATES``
   (``Add``, ``Mul``, ``Tanh``, ...), on the CPU, with one floating output of the same shape and dtype as the group
   so far, joins the current group; inputs may broadcast. Anything else ends the group. ``Load`` nodes (reading
   parameters) move ahead of the group: they depend on nothing inside it.
2. **What the group writes.** An output of a member is written to memory only if something outside the group
   reads it: a later op, a backward node (through what the op saved for its backward), or the function's result.
   The rest stay local variables of the loop.
   A ``sum`` or ``mean`` over the trailing axes of a value the group computes ends the group (``ends_group``):
   the kernel keeps the other axes in outer loops and accumulates the reduced ones in inner loops.
3. **Code.** One line per member, from its template; the source is compiled with ``numba.njit`` once per
   source text (numba then compiles once per argument types). When every input already has the output's shape
   and is contiguous, the kernel runs as one flat loop; otherwise as nested loops over broadcast views.

A member's backward still runs as the op's own backward: it gets a ``ctx`` rebuilt from what the op's forward
stored (the saved inputs and outputs are slots the kernel wrote). The kernel computes each member as NumPy does,
in the group's dtype, with constants of that dtype; ``x**2`` and ``x**3`` are written ``x*x`` and ``x*x*x`` (as
PyTorch computes them), which is the one change of rounding: a fused value may differ from eager's by an ulp or
two per such power.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers

import numpy

from ..ops import elementwise, reduce
from .trace import Accumulate, Backward, Const, Constant, Forward, Load, WriteGrads


def _power(a, b, b_const):
    if b_const is not None and b_const == 2:
        return f"({a} * {a})"
    if b_const is not None and b_const == 3:
        return f"({a} * {a} * {a})"
    return f"({a} ** {b})"


# op -> the expression of its output from its operands' expressions
TEMPLATES = {
    elementwise.Add: lambda a, b: f"({a} + {b})",
    elementwise.Sub: lambda a, b: f"({a} - {b})",
    elementwise.Mul: lambda a, b: f"({a} * {b})",
    elementwise.Div: lambda a, b: f"({a} / {b})",
    elementwise.Neg: lambda a: f"(-{a})",
    elementwise.Exp: lambda a: f"np.exp({a})",
    elementwise.Log: lambda a: f"np.log({a})",
    elementwise.Sqrt: lambda a: f"np.sqrt({a})",
    elementwise.Tanh: lambda a: f"np.tanh({a})",
    elementwise.Sin: lambda a: f"np.sin({a})",
    elementwise.Cos: lambda a: f"np.cos({a})",
    elementwise.Abs: lambda a: f"np.abs({a})",
    elementwise.Pow: None,  # _power: the exponent's value matters
}


@dataclasses.dataclass
class Fused:
    """One generated kernel: reads ``inputs`` (slots, broadcast to ``shape``), writes ``outputs`` (slots)."""

    name: str
    members: list
    inputs: list
    outputs: list
    shape: tuple
    dtype: object
    flat_source: str
    nd_source: str
    constants: dict
    reduction: tuple | None = None  # (its slot, the shape the kernel writes it in, its own shape)

    def describe(self) -> str:
        ops = " → ".join(getattr(m.runs, "reference", m.runs).__name__ for m in self.members)
        outs = ", ".join(f"%{o}" for o in self.outputs)
        ins = ", ".join(f"%{i}" for i in self.inputs)
        return f"{outs} = {self.name}({ins})  # fused: {ops}, shape {self.shape}"

    @functools.cached_property
    def kernels(self):
        return _compile(self.flat_source, self.name, self.constants), _compile(
            self.nd_source, self.name, self.constants
        )


def reference_of(runs):
    return getattr(runs, "reference", runs)


def fusable(node) -> bool:
    if not isinstance(node, Forward) or reference_of(node.runs) not in TEMPLATES:
        return False
    if getattr(node.device, "type", "cpu") != "cpu" or len(node.outs) != 1:
        return False
    dtype = node.out_dtypes[0]
    if dtype not in (numpy.float32, numpy.float64) or not node.out_shapes[0] or 0 in node.out_shapes[0]:
        return False
    for a in node.args:
        if isinstance(a, Const) and not isinstance(a.value, (numbers.Real, numpy.floating)):
            return False
    if node.has_backward and (node.ctx_attrs is None or node.saved is None):
        return False
    return True


def slot_users(nodes) -> dict:
    """slot -> the indices of the nodes that read it."""
    users: dict = {}

    def use(slot, index):
        if slot is not None and not isinstance(slot, Const):
            users.setdefault(slot, set()).add(index)

    for index, node in enumerate(nodes):
        for slot in reads(node):
            use(slot, index)
    return users


def reads(node) -> list:
    if isinstance(node, Forward):
        return [a for a in node.args if not isinstance(a, Const)]
    if isinstance(node, Backward):
        saved = [s for kind, s in node.forward.saved or () if kind == "slot"]
        return [g for g in node.grads if g is not None] + saved + list(node.forward.saved_slots)
    if isinstance(node, Accumulate):
        return [node.a, node.b]
    if isinstance(node, WriteGrads):
        return [s for _, s in node.grads if s is not None]
    if isinstance(node, Fused):
        return list(node.inputs)
    return []


def fuse(graph, enabled: bool = True) -> list:
    """The schedule: ``graph.nodes`` with each run of two or more fusable ops replaced by one ``Fused`` node."""
    nodes = graph.nodes
    if not enabled:
        return list(nodes)
    users = slot_users(nodes)
    by_index = {id(n): i for i, n in enumerate(nodes)}
    schedule, group, hoisted = [], [], []
    counter = [0]

    def flush():
        if len(group) >= 2:
            schedule.extend(hoisted)
            inside = {by_index[id(m)] for m in group}
            schedule.append(_make_group(group, inside, users, graph.escaping | set(graph.aliases.values()), counter))
        else:
            schedule.extend(hoisted)
            schedule.extend(group)
        group.clear()
        hoisted.clear()

    for node in nodes:
        if group and ends_group(node, group):  # a sum or mean over the last axes closes the loop it ends
            group.append(node)
            flush()
            continue
        if fusable(node) and (
            not group or (node.out_shapes[0] == group[0].out_shapes[0] and node.out_dtypes[0] == group[0].out_dtypes[0])
        ):
            group.append(node)
        elif group and isinstance(node, (Load, Constant)):
            hoisted.append(node)
        else:
            flush()
            if fusable(node):
                group.append(node)
            else:
                schedule.append(node)
    flush()
    return schedule


def ends_group(node, group) -> bool:
    """``node`` is a sum or mean over the trailing axes of a value the group computes: it can end the loop."""
    if not isinstance(node, Forward) or reference_of(node.runs) not in (reduce.Sum, reduce.Mean):
        return False
    (arg,) = [a for a in node.args if not isinstance(a, Const)] or [None]
    if arg not in {m.outs[0] for m in group} or node.out_dtypes[0] != group[0].out_dtypes[0]:
        return False
    ndim = len(group[0].out_shapes[0])
    axes = tuple(sorted(a % ndim for a in node.params.get("axes", ())))
    trailing = axes == tuple(range(ndim - len(axes), ndim)) and len(axes) > 0
    return trailing and not (node.has_backward and (node.ctx_attrs is None or node.saved is None))


def _make_group(members, inside, users, escaping, counter) -> Fused:
    """The kernel of ``members`` (their indices in the trace: ``inside``); ``escaping``: slots that must be
    written to memory whoever reads them (the result, write-backs, the bases of views)."""
    dtype = members[0].out_dtypes[0]
    shape = tuple(members[0].out_shapes[0])
    inputs, names, constants, lines = [], {}, {}, []

    def operand(arg):
        if isinstance(arg, Const):
            name = f"c{len(constants)}"
            constants[name] = numpy.dtype(dtype).type(arg.value)
            return name, float(arg.value)
        if arg not in names:  # an input from outside the group
            names[arg] = f"x{arg}"
            inputs.append(arg)
        return names[arg], None

    reduction = members[-1] if reference_of(members[-1].runs) in (reduce.Sum, reduce.Mean) else None
    if reduction is not None:
        members = members[:-1]
    for m in members:
        ops = [operand(a) for a in m.args]
        template = TEMPLATES[reference_of(m.runs)]
        if template is None:
            expression = _power(ops[0][0], ops[1][0], ops[1][1])
        else:
            expression = template(*(o[0] for o in ops))
        names[m.outs[0]] = f"t{m.outs[0]}"
        lines.append(f"t{m.outs[0]} = {expression}  # {reference_of(m.runs).__name__}")
    outputs = []
    for m in members:
        slot = m.outs[0]
        if users.get(slot, set()) - inside or slot in escaping:
            outputs.append(slot)
    if not outputs and reduction is None:  # nothing reads the result: still compute it once, as eager did
        outputs.append(members[-1].outs[0])
    name = f"fused_{counter[0]}"
    counter[0] += 1
    if reduction is not None:
        return _reduction_group(name, members, reduction, inputs, outputs, names, lines, shape, dtype, constants)
    loads = [f"x{s} = in_{s}[{{index}}]" for s in inputs]
    stores = [f"out_{s}[{{index}}] = t{s}" for s in outputs]
    signature = ", ".join([f"in_{s}" for s in inputs] + [f"out_{s}" for s in outputs])
    body = loads + lines + stores

    flat = [f"def {name}({signature}):", f"    for i in range(out_{outputs[0]}.size):"]
    flat += ["        " + line.format(index="i") for line in body]
    ndim = len(shape)
    index = ", ".join(f"i{d}" for d in range(ndim))
    nd = [f"def {name}({signature}):"]
    for d in range(ndim):
        nd.append("    " * (d + 1) + f"for i{d} in range(out_{outputs[0]}.shape[{d}]):")
    nd += ["    " * (ndim + 1) + line.format(index=index) for line in body]
    return Fused(
        name, list(members), inputs, outputs, shape, dtype, "\n".join(flat) + "\n", "\n".join(nd) + "\n", constants
    )


def _reduction_group(name, members, reduction, inputs, outputs, names, lines, shape, dtype, constants) -> Fused:
    """The loop nest of a group that a sum or mean over its last ``r`` axes ends: the kept axes outside, the
    reduced ones inside, accumulating in float64 (a sequential float32 sum would lose digits NumPy's pairwise
    sum keeps); the result is rounded to the group's dtype once."""
    ndim = len(shape)
    reduced = len(reduction.params["axes"])
    kept = ndim - reduced
    count = math.prod(shape[kept:])
    (arg,) = [a for a in reduction.args if not isinstance(a, Const)]
    out = reduction.outs[0]
    signature = ", ".join(
        [f"in_{s}" for s in inputs] + [f"out_{s}" for s in outputs] + [f"out_{out}"] + [f"dim{d}" for d in range(ndim)]
    )
    index = ", ".join(f"i{d}" for d in range(ndim))
    kept_index = ", ".join(f"i{d}" for d in range(kept)) if kept else "0"
    source = [f"def {name}({signature}):"]
    for d in range(kept):
        source.append("    " * (d + 1) + f"for i{d} in range(dim{d}):")
    source.append("    " * (kept + 1) + "total = 0.0")
    for d in range(kept, ndim):
        source.append("    " * (d + 1) + f"for i{d} in range(dim{d}):")
    body = [f"x{s} = in_{s}[{index}]" for s in inputs] + lines + [f"out_{s}[{index}] = t{s}" for s in outputs]
    body.append(f"total += {names[arg]}  # {reference_of(reduction.runs).__name__}")
    source += ["    " * (ndim + 1) + line for line in body]
    result = "total" if reference_of(reduction.runs) is reduce.Sum else f"total / {count}"
    source.append("    " * (kept + 1) + f"out_{out}[{kept_index}] = {result}")
    text = "\n".join(source) + "\n"
    group = Fused(name, [*members, reduction], inputs, outputs + [out], shape, dtype, text, text, constants)
    group.reduction = (out, tuple(shape[:kept]) or (1,), reduction.out_shapes[0])
    return group


@functools.cache
def _numba():
    from .. import kernels

    if not kernels.numba_available():
        return None
    import numba

    return numba


_compiled: dict = {}


def _compile(source: str, name: str, constants: dict):
    """``source`` compiled with numba (once per source text and constants)."""
    key = (source, tuple(sorted((k, float(v), v.dtype.name) for k, v in constants.items())))
    kernel = _compiled.get(key)
    if kernel is None:
        namespace = {"np": numpy, **constants}
        exec(compile(source, f"<tinygrad_edu.compiler {name}>", "exec"), namespace)  # noqa: S102 - our own source
        kernel = _compiled[key] = _numba().njit(error_model="numpy")(namespace[name])
    return kernel


def available() -> bool:
    return _numba() is not None
