"""How an op's backward runs under ``create_graph=True``, so that the backward pass is itself a graph.

Three cases, one per kind of op:

* a built-in op: its one backward, run with Tensors for arrays and ``differentiable`` for ``ctx.xp``;
* a fused op whose backward reads values computed in forward (layer_norm's x̂ and 1/σ, gelu's Φ(x),
  cross_entropy's softmax): those are not in the graph, so its ``composite`` (the same function from
  primitive ops) is recomputed and differentiated instead;
* a user ``Function``: its backward already works on Tensors; it runs with recording on.
"""

from __future__ import annotations

from ..ops.movement import Alias
from . import differentiable, graph
from .grad_mode import enable_grad


def differentiable_backward(op, grad_outputs, gradients_of) -> tuple:
    """One gradient (a Tensor, or None) per input of ``op``, as recorded ops of ``grad_outputs`` and the inputs.

    ``gradients_of`` is the engine's ``grad`` (passed in, since the engine is the one calling us)."""
    if hasattr(op, "backward_on_tensors"):  # a user Function
        return op.backward_on_tensors(grad_outputs, create_graph=True)
    if getattr(type(op), "composite", None) is not None:
        return _composite_backward(op, grad_outputs, gradients_of)
    return _recorded_backward(op, grad_outputs)


def _recorded_backward(op, grad_outputs):
    """The reference op's backward, run on Tensors: ``ctx.xp`` is the differentiable namespace for the call, and
    the saved arrays are the Tensors they belong to. (A fast implementation saves what its reference saves.)"""
    reference = getattr(type(op), "reference", type(op))
    arrays_module, saved_arrays = op.xp, op.saved_tensors
    op.xp, op.saved_tensors = differentiable, graph.saved_as_tensors(op)
    try:
        with enable_grad():
            grads = reference.backward(op, *grad_outputs)
    finally:
        op.xp, op.saved_tensors = arrays_module, saved_arrays
    grads = grads if isinstance(grads, tuple) else (grads,)
    Tensor = graph.tensor_type()
    for g in grads:
        if g is not None and not isinstance(g, Tensor):
            raise RuntimeError(
                f"{op.name}.backward returned a {type(g).__name__} under create_graph: it used something outside "
                "the shared vocabulary of arrays and Tensors (see tinygrad_edu/ops/op.py)"
            )
    return grads


def _composite_backward(op, grad_outputs, gradients_of):
    """Differentiate ``composite`` at the op's inputs, through a fresh identity node per input, so that the
    gradients are partial derivatives of this op alone and stay connected to the graph before it."""
    Tensor = graph.tensor_type()
    slots = [
        graph.apply(Alias, x) if isinstance(x, Tensor) and needs else x
        for x, needs in zip(op.inputs, op.needs_input_grad)
    ]
    with enable_grad():
        outputs = type(op).composite(*slots, **op.params)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if g is not None and o.requires_grad]
    targets = [s for s, needs in zip(slots, op.needs_input_grad) if needs]
    grads = iter(gradients_of([o for o, _ in pairs], [g for _, g in pairs], targets, True, True, stop_at_targets=True))
    return tuple(next(grads) if needs else None for needs in op.needs_input_grad)
