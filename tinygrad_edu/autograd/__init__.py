"""Automatic differentiation: graph nodes, the backward pass, grad mode, and gradient checking."""

from .function import Function, Op
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck

__all__ = [
    "Function",
    "GradcheckError",
    "Op",
    "enable_grad",
    "gradcheck",
    "grad",
    "inference_mode",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, allow_unused=False):
    """The gradients of ``outputs`` with respect to ``inputs``, returned instead of accumulated into ``.grad``."""
    from ..tensor import Tensor

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    grad_outputs = (
        [None] * len(outputs)
        if grad_outputs is None
        else ([grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs))
    )
    saved = [(t.grad, t._retains_grad) for t in inputs]
    for t in inputs:
        t.grad = None
        if t._ctx is not None:
            t._retains_grad = True
    try:
        for k, (out, g) in enumerate(zip(outputs, grad_outputs)):
            out.backward(g, retain_graph=bool(retain_graph) or k < len(outputs) - 1)
        result = []
        for i, t in enumerate(inputs):
            if t.grad is None and not allow_unused:
                raise RuntimeError(f"input {i} was not used to compute the outputs (pass allow_unused=True)")
            result.append(t.grad)
    finally:
        for t, (g, keep) in zip(inputs, saved):
            t.grad, t._retains_grad = g, keep
    return tuple(result)
