"""The backward pass: walk the graph from the outputs to the leaves, applying each op's chain rule once.

1. Order the ops topologically with an explicit stack (no recursion, so a 100,000-op chain is fine).
2. Visit them from the outputs back; each op receives the sum of the gradients of its outputs, and hands one
   gradient per input either to the input's own op (to be summed with others) or, for a leaf, into ``.grad``.
3. Unless ``retain_graph``, free each op's saved arrays as soon as its backward has run.

Gradients are arrays, and ops' backward passes run on arrays: the fast path. With ``create_graph=True`` the
gradients are Tensors and every backward runs as recorded Tensor ops (``higher_order.py``), so the result of
the backward pass is itself a graph that can be differentiated again.

``grad`` (``torch.autograd.grad``) runs the same pass but returns the gradients of chosen tensors instead of
accumulating into leaves, and skips the ops that lead to none of them.
"""

from __future__ import annotations

import contextlib
import functools

from . import graph
from .grad_mode import enable_grad
from .higher_order import differentiable_backward


def seed_for(output, gradient, create_graph: bool, what: str):
    """The gradient that starts a backward pass from ``output``: ones for a one-element output, else
    ``gradient`` (checked). An array for the ordinary pass; a Tensor under ``create_graph``."""
    if gradient is None:
        if output._data.size != 1:
            raise RuntimeError(
                f"{what}: grad can be created implicitly only for scalar outputs, got an output of shape "
                f"{tuple(output.shape)}; pass the gradient with the output's shape"
            )
        seed = output._xp.ones(output._data.shape, dtype=output._data.dtype)
        return graph.new_tensor(seed, output.device) if create_graph else seed
    Tensor = graph.tensor_type()
    gradient = gradient if isinstance(gradient, Tensor) else Tensor(gradient, device=output.device)
    if gradient.shape != output.shape:
        raise RuntimeError(
            f"{what}: gradient has shape {tuple(gradient.shape)} but the output has shape {tuple(output.shape)}"
        )
    if gradient.device != output.device:
        raise RuntimeError(f"{what}: the gradient is on {gradient.device}, the output on {output.device}")
    if create_graph:
        return gradient if gradient._data.dtype == output._data.dtype else gradient.to(output.dtype)
    return gradient._data.astype(output._data.dtype, copy=False)


def topological_order(root_ops, stop_at=frozenset()) -> list:
    """Ops reachable from ``root_ops``, each after every op that produced one of its inputs.

    The walk does not go past tensors whose ``id`` is in ``stop_at``."""
    order, visited = [], set()
    stack = [(op, False) for op in root_ops]
    while stack:
        op, parents_done = stack.pop()
        if parents_done:
            order.append(op)
            continue
        if op in visited:
            continue
        visited.add(op)
        if op.released:
            raise RuntimeError(
                f"trying to run backward through the graph a second time (the graph of {op.name} was freed "
                "by the first backward). Call backward(retain_graph=True) the first time if you need to."
            )
        stack.append((op, True))
        for parent in op.inputs:
            parent_op = getattr(parent, "_ctx", None)
            if parent_op is not None and parent_op not in visited and id(parent) not in stop_at:
                stack.append((parent_op, False))
    return order


def backward(roots, seeds, retain_graph: bool = False, create_graph: bool = False, inputs=None) -> None:
    """Accumulate d(roots)/d(leaf), weighted by ``seeds``, into the ``.grad`` of every leaf (or of ``inputs``).

    ``seeds`` are arrays, or Tensors when ``create_graph``."""
    if inputs is None:
        _run(roots, seeds, retain_graph, create_graph)
        return
    grads = _run(roots, seeds, retain_graph, create_graph, targets=inputs)
    for tensor, grad in zip(inputs, grads):
        if tensor._ctx is not None:
            tensor._retains_grad = True  # as PyTorch: a non-leaf named in inputs= keeps its .grad from now on
        if grad is not None:
            _store_grad(tensor, grad, create_graph)


def grad(roots, seeds, targets, retain_graph: bool = False, create_graph: bool = False, stop_at_targets=False):
    """The gradients of ``roots`` (weighted by ``seeds``) with respect to ``targets``; None where unused.

    ``stop_at_targets``: don't follow the graph past the targets (their own inputs' paths are not wanted)."""
    return _run(roots, seeds, retain_graph, create_graph, targets=targets, stop_at_targets=stop_at_targets)


def _run(roots, seeds, retain_graph, create_graph, targets=None, stop_at_targets=False):
    """The backward pass. A gradient is complete for a non-leaf when its op's turn comes (every consumer ran
    before it), and for a leaf at the end: that is when hooks run, and when it is stored or captured."""
    target_ids = None if targets is None else {id(t): k for k, t in enumerate(targets)}
    stop = frozenset(target_ids) if stop_at_targets else frozenset()
    order = topological_order([r._ctx for r in roots if r._ctx is not None], stop)
    needed = None if target_ids is None else _ops_leading_to(order, target_ids, stop)
    receiving = needed
    if target_ids is not None:  # a target's own op collects its gradient, even where nothing needs its backward
        in_order = set(order)
        receiving = needed | {t._ctx for t in targets if t._ctx in in_order and id(t) not in stop}
    pending: dict = {}  # op -> one gradient slot per output, summed over the consumers seen so far
    leaves: dict = {}  # id -> [leaf or target outside the walk, its summed gradient]
    captured = None if targets is None else [None] * len(targets)

    def deliver(tensor, grad):
        if tensor._ctx is not None and id(tensor) not in stop and (receiving is None or tensor._ctx in receiving):
            slots = pending.setdefault(tensor._ctx, [None] * len(tensor._ctx.outputs))
            i = tensor._output_index
            slots[i] = grad if slots[i] is None else slots[i] + grad
        elif tensor._ctx is None or id(tensor) in target_ids:
            entry = leaves.setdefault(id(tensor), [tensor, None])
            entry[1] = grad if entry[1] is None else entry[1] + grad

    observed = bool(graph.backward_observers)  # a profiler or tracer (graph.observe_ops): checked once per pass
    with enable_grad() if create_graph else contextlib.nullcontext():
        for root, seed in zip(roots, seeds):
            deliver(root, seed)
        for op in reversed(order):
            grad_outputs = pending.pop(op, None)
            if grad_outputs is None:  # no gradient flows through this op (e.g. a branch that was detached)
                continue
            grad_outputs = _apply_output_hooks(op, grad_outputs, create_graph)
            if target_ids is not None:
                _capture_outputs(op, grad_outputs, target_ids, captured)
                if op not in needed:
                    continue
            graph.check_versions(op)
            if observed:
                run = functools.partial(_op_backward, op, grad_outputs, create_graph)
                grad_inputs = graph.observed_backward(op, grad_outputs, run)
            else:
                grad_inputs = _op_backward(op, grad_outputs, create_graph)
            if len(grad_inputs) != len(op.inputs):
                raise RuntimeError(
                    f"{op.name}.backward returned {len(grad_inputs)} gradients for {len(op.inputs)} inputs"
                )
            for parent, needs, parent_grad in zip(op.inputs, op.needs_input_grad, grad_inputs):
                if needs and parent_grad is not None:
                    _check_grad_shape(op, parent, parent_grad)
                    deliver(parent, parent_grad)
            if not retain_graph:
                graph.release(op)
        for tensor, total in leaves.values():
            if tensor._hooks:
                total = _run_hooks(tensor, total, create_graph)
            if target_ids is None:
                _store_grad(tensor, total, create_graph)
            elif id(tensor) in target_ids:
                captured[target_ids[id(tensor)]] = total
    return captured


def _capture_outputs(op, grad_outputs, target_ids, captured) -> None:
    for ref, grad in zip(op.outputs, grad_outputs):
        tensor = ref()
        if tensor is not None and grad is not None and id(tensor) in target_ids:
            captured[target_ids[id(tensor)]] = grad


def _op_backward(op, grad_outputs, create_graph):
    """One op's backward: on arrays (the fast path), or recorded on Tensors under ``create_graph``."""
    if create_graph:
        return differentiable_backward(op, grad_outputs, grad)
    if op.takes_tensors:  # a user Function
        return op.backward_on_arrays(grad_outputs)
    grads = op.backward(op, *grad_outputs)
    return grads if isinstance(grads, tuple) else (grads,)


def _ops_leading_to(order, target_ids, stop) -> set:
    """The ops of ``order`` (parents first) from which some target is reached by going back through inputs."""
    needed = set()
    for op in order:
        for parent in op.inputs:
            if id(parent) in target_ids or (getattr(parent, "_ctx", None) in needed and id(parent) not in stop):
                needed.add(op)
                break
    return needed


def _apply_output_hooks(op, grad_outputs, create_graph):
    """Run hooks and ``retain_grad`` of non-leaf outputs, now that their gradient is complete."""
    for i, ref in enumerate(op.outputs):
        tensor = ref()
        if tensor is None or grad_outputs[i] is None:
            continue
        if tensor._hooks:
            grad_outputs[i] = _run_hooks(tensor, grad_outputs[i], create_graph)
        if tensor._retains_grad:
            _store_grad(tensor, grad_outputs[i], create_graph)
    return grad_outputs


def _run_hooks(tensor, grad, create_graph):
    as_tensor = grad if create_graph else graph.new_tensor(grad, tensor.device)
    for hook in list(tensor._hooks.values()):
        result = hook(as_tensor)
        if result is not None:
            result = result if isinstance(result, graph.tensor_type()) else graph.new_tensor(result, tensor.device)
            _check_hook_result(hook, as_tensor, result)
            as_tensor = result
    return as_tensor if create_graph else as_tensor._data


def _check_hook_result(hook, grad, result) -> None:
    """A hook may replace a gradient, not change what it is a gradient of: same shape and dtype (as PyTorch)."""
    name = getattr(hook, "__name__", type(hook).__name__)
    if tuple(result.shape) != tuple(grad.shape):
        raise RuntimeError(
            f"hook {name!r} has changed the size of value (was {tuple(grad.shape)}, got {tuple(result.shape)})"
        )
    if result.dtype != grad.dtype:
        raise RuntimeError(f"hook {name!r} has changed the type of value (was {grad.dtype}, got {result.dtype})")


def _store_grad(tensor, grad, create_graph) -> None:
    """``tensor.grad += grad``. Without ``create_graph`` the stored gradient is always a fresh array, never a view
    of another; with it, ``.grad`` is the gradient Tensor itself, graph and all."""
    if create_graph:
        if grad.dtype != tensor.dtype:
            grad = grad.to(tensor.dtype)
        tensor.grad = grad if tensor.grad is None else tensor.grad + grad
        return
    if grad.dtype != tensor._data.dtype:
        grad = grad.astype(tensor._data.dtype)
    if tensor.grad is None:
        tensor.grad = graph.new_tensor(tensor._xp.array(grad, copy=True), tensor.device)
    else:
        tensor.grad._data = tensor.grad._data + grad


def _check_grad_shape(op, parent, grad) -> None:
    if tuple(grad.shape) != parent._data.shape:
        raise RuntimeError(
            f"{op.name}.backward returned a gradient of shape {tuple(grad.shape)} for an input of shape "
            f"{tuple(parent.shape)}"
        )
