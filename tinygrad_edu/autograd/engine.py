"""The backward pass: walk the graph from the output to the leaves, applying each op's chain rule once.

1. Order the ops topologically with an explicit stack (no recursion, so a 100,000-op chain is fine).
2. Visit them from the output back; each op receives the sum of the gradients of its outputs, and hands one
   gradient per input either to the input's own op (to be summed with others) or, for a leaf, into ``.grad``.
3. Unless ``retain_graph``, free each op's saved arrays as soon as its backward has run.
"""

from __future__ import annotations

from .function import check_versions


def topological_order(root_op) -> list:
    """Ops reachable from ``root_op``, each after every op that produced one of its inputs."""
    order, visited = [], set()
    stack = [(root_op, False)]
    while stack:
        op, children_done = stack.pop()
        if children_done:
            order.append(op)
            continue
        if op in visited:
            continue
        visited.add(op)
        if op._released:
            raise RuntimeError(
                f"trying to run backward through the graph a second time (the graph of {op.name} was freed "
                "by the first backward). Call backward(retain_graph=True) the first time if you need to."
            )
        stack.append((op, True))
        for parent in op.inputs:
            parent_op = getattr(parent, "_ctx", None)
            if parent_op is not None and parent_op not in visited:
                stack.append((parent_op, False))
    return order


def run_backward(root, grad_array, retain_graph: bool = False) -> None:
    """Backpropagate ``grad_array`` (the gradient of some scalar with respect to ``root``) to the leaves."""
    if root._ctx is None:  # backward on a leaf: its gradient is the seed itself
        _accumulate_leaf(root, grad_array)
        return
    pending: dict = {root._ctx: [None] * len(root._ctx.outputs)}
    pending[root._ctx][root._output_index] = grad_array

    for op in reversed(topological_order(root._ctx)):
        grad_outputs = pending.pop(op, None)
        if grad_outputs is None:  # no gradient flows through this op (e.g. a branch that was detached)
            continue
        grad_outputs = _apply_output_hooks(op, grad_outputs)
        check_versions(op)
        grad_inputs = op._run_backward(grad_outputs)
        if len(grad_inputs) != len(op.inputs):
            raise RuntimeError(f"{op.name}.backward returned {len(grad_inputs)} gradients for {len(op.inputs)} inputs")
        for parent, needs, grad in zip(op.inputs, op.needs_input_grad, grad_inputs):
            if not needs or grad is None:
                continue
            _check_grad_shape(op, parent, grad)
            if parent._ctx is None:
                _accumulate_leaf(parent, grad)
            else:
                slots = pending.setdefault(parent._ctx, [None] * len(parent._ctx.outputs))
                i = parent._output_index
                slots[i] = grad if slots[i] is None else slots[i] + grad
        if not retain_graph:
            op.release()


def _apply_output_hooks(op, grad_outputs):
    """Run hooks and ``retain_grad`` of non-leaf outputs, now that their gradient is complete."""
    for i, ref in enumerate(op.outputs):
        tensor = ref()
        if tensor is None or grad_outputs[i] is None:
            continue
        if tensor._hooks:
            grad_outputs[i] = _run_hooks(tensor, grad_outputs[i])
        if tensor._retains_grad:
            _accumulate_leaf(tensor, grad_outputs[i])
    return grad_outputs


def _run_hooks(tensor, grad):
    from ..tensor import Tensor

    for hook in list(tensor._hooks.values()):
        result = hook(Tensor._wrap(grad, tensor.device))
        if result is not None:
            grad = result._data if isinstance(result, Tensor) else result
    return grad


def _accumulate_leaf(tensor, grad) -> None:
    """``tensor.grad += grad``; the stored gradient is always a fresh array, never a view of another."""
    from ..tensor import Tensor

    if tensor._hooks and tensor._ctx is None:
        grad = _run_hooks(tensor, grad)
    if grad.dtype != tensor._data.dtype:
        grad = grad.astype(tensor._data.dtype)
    if tensor.grad is None:
        tensor.grad = Tensor._wrap(tensor._xp.array(grad, copy=True), tensor.device)
    else:
        tensor.grad._data = tensor.grad._data + grad


def _check_grad_shape(op, parent, grad) -> None:
    if grad.shape != parent._data.shape:
        raise RuntimeError(
            f"{op.name}.backward returned a gradient of shape {tuple(grad.shape)} for an input of shape "
            f"{tuple(parent.shape)}"
        )
