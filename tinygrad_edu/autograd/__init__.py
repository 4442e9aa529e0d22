"""Automatic differentiation: recording the graph, the backward pass, grad mode, and gradient checking.

``grad`` and ``backward`` have ``torch.autograd``'s signatures; ``functional`` has ``torch.autograd.functional``'s
``vjp jvp jacobian hessian hvp vhp``.
"""

from . import engine, functional
from .function import Function, once_differentiable
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .graph import tensor_type

__all__ = [
    "Function",
    "GradcheckError",
    "backward",
    "enable_grad",
    "functional",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "inference_mode",
    "is_grad_enabled",
    "no_grad",
    "once_differentiable",
    "set_grad_enabled",
]


def _as_list(x, what: str) -> list:
    Tensor = tensor_type()
    if isinstance(x, Tensor):
        return [x]
    items = list(x)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}[{i}] must be a Tensor, got {type(t).__name__}")
    return items


def _seeds(outputs, grad_outputs, create_graph: bool, what: str) -> list:
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, tensor_type()):
        grad_outputs = [grad_outputs]
    else:
        grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"{what}: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(f"{what}: element {i} of the outputs does not require grad and does not have a grad_fn")
    return [engine.seed_for(o, g, create_graph, what) for o, g in zip(outputs, grad_outputs)]


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph=None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
):
    """The gradients of ``outputs`` (weighted by ``grad_outputs``) with respect to ``inputs``, returned instead of
    accumulated into ``.grad``: a tuple with one entry per input.

    With ``create_graph=True`` they are recorded, so they can be differentiated again (a gradient penalty, a
    Hessian-vector product); the graph is then kept unless ``retain_graph=False``. An input that the outputs
    don't depend on is an error, unless ``allow_unused`` (None is returned for it) or ``materialize_grads``
    (zeros are)."""
    outputs, inputs = _as_list(outputs, "outputs"), _as_list(inputs, "inputs")
    if materialize_grads and allow_unused is False:
        raise ValueError("grad: materialize_grads=True needs allow_unused to be True or None")
    allow_unused = bool(allow_unused) or materialize_grads
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} (shape {tuple(t.shape)}) does not require grad")
    seeds = _seeds(outputs, grad_outputs, create_graph, "grad")
    retain = create_graph if retain_graph is None else bool(retain_graph)
    found = engine.grad(outputs, seeds, inputs, retain_graph=retain, create_graph=create_graph)
    Tensor = tensor_type()
    result = []
    for i, (t, g) in enumerate(zip(inputs, found)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"grad: input {i} (shape {tuple(t.shape)}) was not used to compute the outputs; "
                    "pass allow_unused=True if this is expected"
                )
            result.append(t.new_zeros(t.shape) if materialize_grads else None)
        elif isinstance(g, Tensor):
            result.append(g if g.dtype == t.dtype else g.to(t.dtype))
        else:  # the ordinary pass works on arrays
            result.append(Tensor._wrap(g.astype(t._data.dtype, copy=False), t.device))
    return tuple(result)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph: bool = False, inputs=None) -> None:
    """``torch.autograd.backward``: ``sum(t.backward(g) for t, g in ...)`` as one pass through the graph."""
    tensors = _as_list(tensors, "tensors")
    seeds = _seeds(tensors, grad_tensors, create_graph, "backward")
    retain = create_graph if retain_graph is None else bool(retain_graph)
    inputs = None if inputs is None else _as_list(inputs, "inputs")
    engine.backward(tensors, seeds, retain_graph=retain, create_graph=create_graph, inputs=inputs)
