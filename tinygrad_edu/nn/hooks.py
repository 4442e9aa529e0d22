"""Module hooks, with PyTorch's semantics: forward pre-hooks, forward hooks, and full backward (pre-)hooks.

Forward hooks are plain calls around ``forward``. A full backward hook needs the gradients with respect to the
module's inputs and outputs, which exist only during the backward pass, so (as PyTorch does) the module's
tensor inputs and outputs are passed through identity nodes of the graph. When backward reaches the node
after the outputs it has ``grad_output``; when it reaches the node before the inputs it has ``grad_input``, and
calls ``hook(module, grad_input, grad_output)``.
"""

from __future__ import annotations

from ..autograd.grad_mode import is_grad_enabled
from ..autograd.graph import apply
from ..ops.op import Op
from ..tensor import Tensor


def call_with_hooks(module, args: tuple, kwargs: dict):
    """``module(*args, **kwargs)`` with its hooks, in PyTorch's order."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if key in module._forward_pre_hooks_with_kwargs:
            result = hook(module, args, kwargs)
            if result is not None:
                if not (isinstance(result, tuple) and len(result) == 2):
                    raise RuntimeError(
                        f"forward pre-hook {hook!r} registered with_kwargs=True must return None or (args, kwargs)"
                    )
                args, kwargs = result
        else:
            result = hook(module, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    backward = None
    if (module._backward_hooks or module._backward_pre_hooks) and is_grad_enabled():
        backward = _BackwardHookState(module, args)
        args = backward.wrap_inputs(args)
    try:
        output = module.forward(*args, **kwargs)
    except Exception:
        for key, hook in list(module._forward_hooks.items()):
            if key in module._forward_hooks_always_called:
                _call_forward_hook(module, key, hook, args, kwargs, None)
        raise
    for key, hook in list(module._forward_hooks.items()):
        result = _call_forward_hook(module, key, hook, args, kwargs, output)
        if result is not None:
            output = result
    if backward is not None:
        output = backward.wrap_outputs(output)
    return output


def _call_forward_hook(module, key, hook, args, kwargs, output):
    if key in module._forward_hooks_with_kwargs:
        return hook(module, args, kwargs, output)
    return hook(module, args, output)


class _BackwardHookState:
    """What one call of a module with backward hooks shares between its two identity nodes."""

    def __init__(self, module, args):
        self.module = module
        self.input_count = len(args)
        self.input_slots: list[int] = []  # which positional args went through the input node
        self.grad_outputs = None
        self.fired = False

    def wrap_inputs(self, args: tuple) -> tuple:
        self.input_slots = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        if not self.input_slots:
            return args
        wrapped = apply(_HookedInputs, *(args[i] for i in self.input_slots), state=self)
        args = list(args)
        for slot, tensor in zip(self.input_slots, wrapped):
            args[slot] = tensor
        return tuple(args)

    def wrap_outputs(self, output):
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        slots = [i for i, o in enumerate(outputs) if isinstance(o, Tensor) and o.requires_grad]
        if not slots:
            return output
        self.output_count = len(outputs)
        self.output_slots = slots
        wrapped = apply(_HookedOutputs, *(outputs[i] for i in slots), state=self)
        outputs = list(outputs)
        for slot, tensor in zip(slots, wrapped):
            outputs[slot] = tensor
        if isinstance(output, (tuple, list)):
            return type(output)(outputs)
        return outputs[0]

    def run_hooks(self, grad_input: tuple) -> tuple:
        """Call the full backward hooks once, each able to replace ``grad_input``."""
        self.fired = True
        for hook in list(self.module._backward_hooks.values()):
            result = hook(self.module, grad_input, self.grad_outputs)
            if result is not None:
                result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
                if len(result) != len(grad_input):
                    raise RuntimeError(
                        f"backward hook {hook!r} returned {len(result)} gradients, expected {len(grad_input)}"
                    )
                grad_input = result
        return grad_input


class _HookedOutputs(Op):
    """d identity/dx = 1; on the way back, hands grad_output to the module's backward (pre-)hooks."""

    @staticmethod
    def forward(ctx, *outputs, state):
        ctx.state = state
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grads):
        state = ctx.state
        grad_outputs = _spread(grads, state.output_slots, state.output_count, ctx.device)
        for hook in list(state.module._backward_pre_hooks.values()):
            result = hook(state.module, grad_outputs)
            if result is not None:
                grad_outputs = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        state.grad_outputs = grad_outputs
        if not state.input_slots:  # no input needs a gradient: the hooks see grad_input of Nones, now
            state.run_hooks((None,) * state.input_count)
        return _gather(grad_outputs, state.output_slots, like=grads)


class _HookedInputs(Op):
    """d identity/dx = 1; on the way back, calls the full backward hooks with grad_input and grad_output."""

    @staticmethod
    def forward(ctx, *inputs, state):
        ctx.state = state
        return tuple(inputs)

    @staticmethod
    def backward(ctx, *grads):
        state = ctx.state
        if state.grad_outputs is None:  # the outputs got no gradient through a hooked path: nothing to report
            return grads
        grad_input = state.run_hooks(_spread(grads, state.input_slots, state.input_count, ctx.device))
        return _gather(grad_input, state.input_slots, like=grads)


def _spread(grads, slots, count, device) -> tuple:
    """The node's gradients as Tensors, placed at the module's argument (or output) positions; None elsewhere."""
    placed = [None] * count
    for slot, grad in zip(slots, grads):
        placed[slot] = _as_tensor(grad, device)
    return tuple(placed)


def _gather(values, slots, like) -> tuple:
    """The gradients at ``slots``, back in the form the engine handed over (arrays, or Tensors under create_graph)."""
    as_arrays = not any(isinstance(g, Tensor) for g in like)
    return tuple(_as_array(values[slot]) if as_arrays else values[slot] for slot in slots)


def _as_tensor(grad, device):
    if grad is None or isinstance(grad, Tensor):
        return grad
    return Tensor._wrap(grad, device)


def _as_array(grad):
    return grad._data if isinstance(grad, Tensor) else grad
