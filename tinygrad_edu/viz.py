"""Seeing the autograd graph: drawings of the graph behind a tensor, and a trace of backward as it runs.

Three tools, none of which changes the engine (each one wraps an engine function for the length of a
``with`` block and puts the original back afterwards, even when the block raises):

* ``draw_graph(tensor)``: the graph that ``tensor.backward()`` would walk, as a graphviz drawing. One node per
  op (its name, output shape and dtype) and one per leaf tensor that needs a gradient (its name, shape, dtype
  and, once backward has run, a summary of its ``.grad``). Needs the ``graphviz`` Python package; rendering
  to SVG/PNG also needs graphviz's ``dot`` program.
* ``record_modules(model)``: while active, every op remembers which modules' ``forward`` created it, so
  ``draw_graph`` can box a GPT's ops by module ("blocks.0.attn") and fold deep modules into single nodes.
* ``trace_backward()``: records every backward step (op, gradient shapes and norms, time) and prints them as
  a table; step 0 is the last op of the forward pass, because the chain rule runs from the output back.

Example::

    from tinygrad_edu.viz import draw_graph, record_modules, trace_backward

    with record_modules(model):
        logits, loss = model(x, y)
    with trace_backward() as trace:
        loss.backward(retain_graph=True)  # keep the graph, so it can still be drawn afterwards
    print(trace.table())
    draw_graph(loss, params=model, max_depth=2, save="gpt.svg")
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .autograd import graph

INSTALL_HINT = (
    'draw_graph needs the graphviz Python package: pip install -e ".[viz]" (or pip install graphviz); '
    "rendering to SVG/PNG also needs the dot program: apt-get install graphviz (or brew install graphviz)"
)

# the attribute record_modules sets on each op: a tuple of (module path, module type) pairs, outermost first
MODULE_ATTR = "_viz_modules"


# -- record_modules: which module made which op ------------------------------------------------------------


@contextlib.contextmanager
def record_modules(model):
    """Tag every op created inside the ``with`` block with the stack of modules whose forward is running.

    Two kinds of hook do it, all removed on exit: a forward pre-hook and a forward hook on each sub-module push
    and pop its dotted name on a stack (``always_call``, so the stack stays right if a forward raises), and a
    forward op observer (``autograd.graph.observe_ops``: every op is made by ``apply``) copies the current stack
    onto each new op. The root module itself is not on the stack: its own ops are "top level".
    """
    stack: list[tuple[str, str]] = []

    def leave(module, args, output):
        stack.pop()  # and return None: the output stays as it is

    handles = []
    for name, module in model.named_modules():
        if name:
            entry = (name, type(module).__name__)
            handles.append(module.register_forward_pre_hook(lambda m, args, entry=entry: stack.append(entry)))
            handles.append(module.register_forward_hook(leave, always_call=True))

    def tag(op_class, run):
        out = run()
        if stack:
            for t in out if isinstance(out, tuple) else (out,):
                op = getattr(t, "_ctx", None)
                if op is not None and not hasattr(op, MODULE_ATTR):
                    setattr(op, MODULE_ATTR, tuple(stack))
        return out

    try:
        with graph.observe_ops(forward=tag):
            yield model
    finally:
        for handle in handles:
            handle.remove()


# -- trace_backward: the chain rule, step by step ----------------------------------------------------------


@dataclass
class BackwardStep:
    """One op's backward: what came in (the gradient of its outputs) and what went out (of its inputs)."""

    step: int
    op: str
    module: str  # the innermost module that created the op (from record_modules), or ""
    grad_output_shapes: list  # one shape per output; None where the output received no gradient
    grad_input_shapes: list  # one shape per input; None where the input needs no gradient
    grad_output_norm: float  # L2 norm over all incoming gradients
    grad_input_norms: list  # L2 norm of each outgoing gradient (None where there is none)
    time_us: float  # the op's backward only, not the bookkeeping around it
    op_id: int = field(default=0, repr=False)  # id() of the op, so draw_graph can label it with this step


class BackwardTrace:
    """What ``trace_backward`` recorded: ``rows`` (a list of ``BackwardStep``) and ``table()``."""

    def __init__(self):
        self.rows: list[BackwardStep] = []

    def __len__(self) -> int:
        return len(self.rows)

    def table(self, max_rows: int | None = None) -> str:
        """The steps as a plain-text table, in the order backward ran them."""
        header = ("step", "op", "module", "grad of outputs", "grads of inputs", "|grad out|", "|grad in|", "µs")
        rows = self.rows if max_rows is None else self.rows[:max_rows]
        body = [
            (
                str(r.step),
                r.op,
                r.module or "-",
                _shapes(r.grad_output_shapes),
                _shapes(r.grad_input_shapes),
                _num(r.grad_output_norm),
                ", ".join(_num(n) for n in r.grad_input_norms),
                f"{r.time_us:.1f}",
            )
            for r in rows
        ]
        widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(header)]
        right = {0, 5, 7}  # numbers read best right-aligned

        def line(cells):
            return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        lines = [line(header), "  ".join("-" * w for w in widths)] + [line(row) for row in body]
        if max_rows is not None and len(self.rows) > max_rows:
            lines.append(f"... {len(self.rows) - max_rows} more steps")
        total = sum(r.time_us for r in self.rows)
        lines.append(f"{len(self.rows)} backward steps, {total:.0f} µs in the ops' backward functions")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


@contextlib.contextmanager
def trace_backward():
    """Record every op's backward run inside the ``with`` block; yields a ``BackwardTrace``.

    The engine runs each op's backward once, through its backward observers (``autograd.graph.observe_ops``);
    ours times the run and records what went in and out. Norms are computed outside the timed region, so the
    times are the ops' own.
    """
    trace = BackwardTrace()

    def record(op, grad_outputs, run):
        start = time.perf_counter_ns()
        grads = run()
        elapsed = (time.perf_counter_ns() - start) / 1000
        modules = getattr(op, MODULE_ATTR, ())
        trace.rows.append(
            BackwardStep(
                step=len(trace.rows),
                op=op.name,
                module=modules[-1][0] if modules else "",
                grad_output_shapes=[None if g is None else tuple(g.shape) for g in grad_outputs],
                grad_input_shapes=[None if g is None else tuple(g.shape) for g in grads],
                grad_output_norm=math.sqrt(sum(_norm(g) ** 2 for g in grad_outputs if g is not None)),
                grad_input_norms=[None if g is None else _norm(g) for g in grads],
                time_us=elapsed,
                op_id=id(op),
            )
        )
        return grads

    with graph.observe_ops(backward=record):
        yield trace


def _norm(array) -> float:
    """The L2 norm of a NumPy or CuPy array, in float64 so that float16 gradients do not overflow."""
    if not hasattr(array, "shape"):  # a Python number
        return abs(float(array))
    if hasattr(array, "detach"):  # a Tensor: gradients are Tensors under create_graph
        array = array.detach().cpu().numpy()
    return float(((array.astype("float64")) ** 2).sum()) ** 0.5


def _shapes(shapes) -> str:
    return ", ".join("-" if s is None else str(tuple(s)) for s in shapes) or "-"


def _num(x) -> str:
    return "-" if x is None else f"{x:.3g}"


# -- draw_graph ---------------------------------------------------------------------------------------------


def _graphviz():
    try:
        import graphviz
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return graphviz


def draw_graph(
    tensor,
    *,
    group_modules: bool = True,
    max_depth: int | None = None,
    show_grad: bool = True,
    format: str = "svg",  # noqa: A002 - the graphviz name
    params=None,
    trace: BackwardTrace | None = None,
    save: str | os.PathLike | None = None,
):
    """The graph behind ``tensor`` as a ``graphviz.Digraph``; arrows follow the data, from leaves to ``tensor``.

    * ``params``: a Module (its ``named_parameters``) or a dict name -> tensor, to name the leaves.
    * ``group_modules``: box the ops of each module (needs the forward to have run under ``record_modules``).
    * ``max_depth``: fold every module nested deeper than this into one node (1: ``blocks.0`` is one node,
      2: ``blocks.0.attn`` and ``blocks.0.mlp`` are, ...), so a GPT's graph stays readable.
    * ``show_grad``: label leaves with a summary of their ``.grad`` (after backward), and ops with the norm of
      the gradient they received when a ``trace`` from ``trace_backward`` is given.
    * ``save``: also render to this path (the suffix, e.g. ``.svg`` or ``.png``, picks the format).

    Building the drawing needs only the graphviz Python package; rendering needs graphviz's ``dot``.
    Backward frees the graph unless ``retain_graph=True``: draw before backward, or retain it.
    """
    graphviz = _graphviz()
    if max_depth is not None and max_depth < 1:
        raise ValueError(f"max_depth must be None or >= 1, got {max_depth}")
    names = _leaf_names(params)
    op_grads = {}
    if trace is not None and show_grad:
        op_grads = {r.op_id: r for r in trace.rows}
    ops, leaves, edges = _walk(tensor)

    # where each node lives: its module stack, cut at max_depth. A cut op is folded into its module's node.
    def stack_of(op):
        stack = getattr(op, MODULE_ATTR, ()) if group_modules else ()
        return stack[:max_depth] if max_depth is not None else stack

    folded = {}  # id(op) -> the (path, type) node it was folded into
    for op in ops.values():
        full = getattr(op, MODULE_ATTR, ()) if group_modules else ()
        if max_depth is not None and len(full) >= max_depth:
            folded[id(op)] = full[max_depth - 1]

    def node_id(obj):
        key = id(obj)
        if key in folded:
            return "m_" + _safe(folded[key][0])
        return ("op_" if key in ops else "t_") + str(key)

    dot = graphviz.Digraph(
        "autograd",
        format=format,
        graph_attr={"rankdir": "TB", "fontname": "Helvetica", "fontsize": "11", "compound": "true"},
        node_attr={"fontname": "Helvetica", "fontsize": "10", "shape": "box", "style": "rounded,filled"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9"},
    )
    tree = _Cluster("", "")
    fold_counts: dict = {}
    for op in ops.values():
        if id(op) in folded:
            path_type = folded[id(op)]
            fold_counts[path_type] = fold_counts.get(path_type, 0) + 1
            continue
        label = _op_label(op, op_grads.get(id(op)))
        color = "#c8e6c9" if op is tensor._ctx else "#fff3c4"
        tree.at(stack_of(op)).nodes.append((node_id(op), label, {"fillcolor": color}))
    for path_type, count in fold_counts.items():
        label = f"{path_type[0]}\\n{path_type[1]}\\n({count} op{'s' if count != 1 else ''} folded)"
        parent = _parent_stack(ops, folded, path_type, stack_of)
        tree.at(parent).nodes.append(("m_" + _safe(path_type[0]), label, {"fillcolor": "#e1bee7", "shape": "box3d"}))

    # a leaf goes into the deepest module box that holds every op using it (a tied weight stays outside)
    consumers: dict = {}
    for src, dst in edges:
        if id(src) in leaves:
            consumers.setdefault(id(src), []).append(dst)
    for key, leaf in leaves.items():
        users = consumers.get(key, [])
        if users and all(id(u) in folded for u in users) and len({folded[id(u)] for u in users}) == 1:
            folded[key] = folded[id(users[0])]  # used only inside one folded module: part of that node
            continue
        stacks = [stack_of(u) for u in users]
        common = _common_prefix(stacks) if stacks else ()
        label = _leaf_label(leaf, names.get(key), show_grad)
        tree.at(common).nodes.append((node_id(leaf), label, {"fillcolor": "#bbdefb", "shape": "ellipse"}))

    tree.emit(dot)
    seen = set()
    for src, dst in edges:
        a, b = node_id(src), node_id(dst)
        if a == b or (a, b) in seen:
            continue
        seen.add((a, b))
        attrs = {}
        if a.startswith("m_"):  # what leaves a folded module: say its shape, as the module's op nodes would
            attrs["label"] = " ".join(_shape(shape) for shape, _ in getattr(src, "output_meta", ()))
        dot.edge(a, b, **attrs)
    if save is not None:
        render(dot, save)
    return dot


def render(dot, path: str | os.PathLike) -> Path:
    """Render a drawing to ``path``; the suffix (``.svg``, ``.png``, ``.pdf``) picks the format."""
    graphviz = _graphviz()
    path = Path(path)
    fmt = path.suffix.lstrip(".") or dot.format
    try:
        data = dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise RuntimeError(f"rendering needs graphviz's dot program, which was not found. {INSTALL_HINT}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def dot_available() -> bool:
    """True when graphviz's ``dot`` program can be run (what rendering needs)."""
    import shutil

    return shutil.which("dot") is not None


class _Cluster:
    """A module box of the drawing: its own nodes and the boxes of its sub-modules, in creation order."""

    def __init__(self, path: str, type_name: str):
        self.path, self.type_name = path, type_name
        self.nodes: list = []
        self.children: dict = {}

    def at(self, stack) -> _Cluster:
        cluster = self
        for path, type_name in stack:
            cluster = cluster.children.setdefault(path, _Cluster(path, type_name))
        return cluster

    def emit(self, graph) -> None:
        for name, label, attrs in self.nodes:
            graph.node(name, label, **attrs)
        for child in self.children.values():
            with graph.subgraph(name="cluster_" + _safe(child.path)) as sub:
                sub.attr(label=f"{child.path} ({child.type_name})", style="rounded,dashed", color="#888888")
                child.emit(sub)


def _walk(tensor):
    """Every op reachable from ``tensor`` (dict id -> op), every leaf that needs a gradient (id -> tensor), and
    the edges (producer, consumer): producer is an op or a leaf tensor, consumer an op. Iterative, like the
    engine's own walk, so long chains do not hit Python's recursion limit."""
    from .tensor import Tensor

    ops, leaves, edges = {}, {}, []
    root = tensor._ctx
    if root is None:
        if tensor.requires_grad:
            leaves[id(tensor)] = tensor
        return ops, leaves, edges
    stack = [root]
    ops[id(root)] = root
    while stack:
        op = stack.pop()
        if op.released:
            raise RuntimeError(
                f"the graph through {op.name} was freed by backward(); draw before calling backward, or call "
                "backward(retain_graph=True) to keep it"
            )
        for parent in op.inputs:
            if not isinstance(parent, Tensor):
                continue
            producer = parent._ctx
            if producer is not None:
                edges.append((producer, op))
                if id(producer) not in ops:
                    ops[id(producer)] = producer
                    stack.append(producer)
            elif parent.requires_grad:
                edges.append((parent, op))
                leaves[id(parent)] = parent
    return ops, leaves, edges


def _parent_stack(ops, folded, path_type, stack_of):
    """The (cut) stack of the module box that a folded module's node sits in: its own stack minus itself."""
    for op in ops.values():
        if folded.get(id(op)) == path_type:
            stack = stack_of(op)
            return stack[:-1]
    return ()


def _common_prefix(stacks):
    first = stacks[0]
    n = 0
    while n < len(first) and all(len(s) > n and s[n] == first[n] for s in stacks):
        n += 1
    return first[:n]


def _leaf_names(params) -> dict:
    if params is None:
        return {}
    items = params.named_parameters() if hasattr(params, "named_parameters") else params.items()
    return {id(t): name for name, t in items}


def _op_label(op, step: BackwardStep | None) -> str:
    import numpy as np

    metas = getattr(op, "output_meta", ())
    outs = [f"{_shape(shape)} {np.dtype(dtype).name}" for shape, dtype in metas]
    lines = [op.name, *outs]
    if step is not None:
        lines.append(f"backward step {step.step}: |grad| {step.grad_output_norm:.3g}")
    return "\\n".join(lines)


def _leaf_label(t, name: str | None, show_grad: bool) -> str:
    lines = [name or "leaf", f"{_shape(t.shape)} {t.dtype.name}"]
    if show_grad and t.grad is not None:
        g = t.grad._data
        norm = _norm(g)
        big = float(abs(g).max()) if g.size else 0.0
        lines.append(f"grad: |g| {norm:.3g}, max |g| {big:.3g}")
    return "\\n".join(lines)


def _shape(shape) -> str:
    return "(" + ", ".join(str(int(d)) for d in shape) + ")"


def _safe(path: str) -> str:
    return path.replace(".", "_") or "root"
