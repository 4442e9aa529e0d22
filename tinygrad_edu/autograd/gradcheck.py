"""Checking analytic gradients against finite differences, as ``torch.autograd.gradcheck`` does.

For a function f and a random upstream gradient v (never just ``.sum()``, which hides errors that cancel),
the backward pass gives vᵀJ, one number per input element. Central differences give the same numbers
independently: (vᵀf(x + εeⱼ) - vᵀf(x - εeⱼ)) / 2ε. Both run in float64 on copies of the inputs. Fast mode
compares vᵀJu along one random direction u per input instead of every element.
"""

from __future__ import annotations

import numpy

from .. import backend
from . import engine, graph
from .grad_mode import enable_grad, no_grad


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when an analytic gradient disagrees with finite differences."""


def gradcheck(
    func,
    inputs,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    fast_mode: bool = False,
    seed: int = 0,
) -> bool:
    """True if ``func``'s backward agrees with central differences at ``inputs`` (a Tensor or a tuple).

    Only inputs with ``requires_grad`` are checked; float inputs are copied to float64 first. On failure,
    raises ``GradcheckError`` naming the input, the worst element, and the numerical and analytical values
    (or returns False when ``raise_exception=False``).
    """
    Tensor = graph.tensor_type()
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    inputs = tuple(_float64_copy(x) for x in inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    rng = numpy.random.default_rng(seed)

    def evaluate(args):
        with no_grad():
            outs = func(*args)
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        # compared on the host: the upstream vectors and the finite differences are NumPy arrays
        return [_host(o._data).astype(numpy.float64, copy=False) for o in outs if _is_float(o)]

    outputs = evaluate(inputs)
    upstream = [rng.standard_normal(o.shape) for o in outputs]

    def projected(args) -> float:
        return sum(float((v * o).sum()) for v, o in zip(upstream, evaluate(args)))

    analytic = _analytic_vjp(func, inputs, checked, upstream)
    for i in checked:
        x = inputs[i]
        if analytic[i] is None:
            analytic[i] = numpy.zeros(x.shape)
        elif analytic[i].shape != tuple(x.shape):
            return _fail(raise_exception, f"input {i}: gradient has shape {analytic[i].shape}, input {tuple(x.shape)}")

    if fast_mode:
        return _check_fast(inputs, checked, analytic, projected, rng, eps, atol, rtol, raise_exception)
    for i in checked:
        numeric = _numeric_gradient(inputs, i, projected, eps)
        error = numpy.abs(numeric - analytic[i]) - (atol + rtol * numpy.abs(numeric))
        if error.size and error.max() > 0:
            worst = numpy.unravel_index(int(error.argmax()), error.shape)
            return _fail(
                raise_exception,
                f"gradcheck failed for input {i} (shape {tuple(inputs[i].shape)}) at element {tuple(map(int, worst))}: "
                f"numerical {numeric[worst]:.10g}, analytical {analytic[i][worst]:.10g} "
                f"(atol={atol}, rtol={rtol}, eps={eps}); {int((error > 0).sum())} of {error.size} elements differ",
            )
    return True


def _float64_copy(x):
    Tensor = graph.tensor_type()
    if not isinstance(x, Tensor):
        return x
    copy = Tensor._wrap(_same_layout(x._data, numpy.float64) if _is_float(x) else x._data.copy(), x.device)
    return copy.requires_grad_(True) if x.requires_grad else copy


def _same_layout(array, dtype):
    """A copy of ``array`` as ``dtype`` with the same strides (in elements), so that a transposed or strided input
    is checked as it was given: the ops see its layout, not a contiguous copy of it. An input whose elements
    share memory (a stride 0 from broadcasting) is copied contiguous: finite differences must move one element
    at a time (PyTorch's gradcheck refuses such inputs)."""
    dtype = numpy.dtype(dtype)
    xp = backend.array_module(backend.device_of(array))
    as_strided = getattr(getattr(getattr(xp, "lib", None), "stride_tricks", None), "as_strided", None)
    itemsize, shape = array.itemsize, array.shape
    simple = all(s > 0 and s % itemsize == 0 for s, n in zip(array.strides, shape) if n > 1)
    if as_strided is None or array.size == 0 or not simple:
        return array.astype(dtype)
    steps = [s // itemsize if n > 1 else 1 for s, n in zip(array.strides, shape)]  # a size-1 dim's stride is free
    buffer = xp.zeros(1 + sum((n - 1) * s for n, s in zip(shape, steps)), dtype=dtype)
    copy = as_strided(buffer, shape, tuple(s * dtype.itemsize for s in steps))
    copy[...] = array
    return copy


def _is_float(t) -> bool:
    return hasattr(t, "_data") and t._data.dtype.kind == "f"


def _analytic_vjp(func, inputs, checked, upstream):
    Tensor = graph.tensor_type()
    with enable_grad():
        outs = func(*inputs)
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    outs = [o for o in outs if _is_float(o)]
    for x in inputs:
        if isinstance(x, Tensor):
            x.grad = None
    connected = [(o, v) for o, v in zip(outs, upstream) if o.requires_grad]
    for k, (o, v) in enumerate(connected):
        o.backward(Tensor._wrap(o._xp.asarray(v.astype(o._data.dtype)), o.device), retain_graph=k < len(connected) - 1)
    return {
        i: (None if inputs[i].grad is None else numpy.array(_host(inputs[i].grad._data), dtype=numpy.float64))
        for i in checked
    }


def _host(array):
    return backend.to_host(array)


def _numeric_gradient(inputs, i, projected, eps):
    """(vᵀf(x + εeⱼ) - vᵀf(x - εeⱼ)) / 2ε for every element j of input i."""
    x = inputs[i]
    original = x._data.copy()
    numeric = numpy.zeros(original.shape)
    try:
        # write through multi-indices, not through reshape(-1): for a non-contiguous input (e.g. transposed)
        # that is a copy, and the perturbation would never reach the input
        for j in numpy.ndindex(original.shape):
            x._data[j] = original[j] + eps
            plus = projected(inputs)
            x._data[j] = original[j] - eps
            minus = projected(inputs)
            x._data[j] = original[j]
            numeric[j] = (plus - minus) / (2 * eps)
    finally:
        x._data[...] = original
    return numeric


def _check_fast(inputs, checked, analytic, projected, rng, eps, atol, rtol, raise_exception):
    """Compare vᵀJu for one random direction u over all checked inputs at once."""
    directions = {i: rng.standard_normal(inputs[i].shape) for i in checked}
    originals = {i: inputs[i]._data.copy() for i in checked}
    try:
        for sign in (1, -1):
            for i in checked:
                step = inputs[i]._xp.asarray(sign * eps * directions[i])  # to the input's device
                inputs[i]._data[...] = originals[i] + step
            if sign == 1:
                plus = projected(inputs)
            else:
                minus = projected(inputs)
    finally:
        for i in checked:
            inputs[i]._data[...] = originals[i]
    numeric = (plus - minus) / (2 * eps)
    exact = sum(float((analytic[i] * directions[i]).sum()) for i in checked)
    if abs(numeric - exact) > atol + rtol * abs(numeric):
        return _fail(
            raise_exception,
            f"gradcheck (fast mode) failed: numerical vᵀJu {numeric:.10g}, "
            f"analytical {exact:.10g} (atol={atol}, rtol={rtol}, eps={eps})",
        )
    return True


def gradgradcheck(
    func,
    inputs,
    grad_outputs=None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
    seed: int = 0,
) -> bool:
    """True if the second derivatives of ``func`` agree with finite differences of its first derivatives.

    As ``torch.autograd.gradgradcheck``: the function checked is (inputs, v) ↦ vᵀ∂func/∂inputs, computed by
    ``grad(..., create_graph=True)``, and ``gradcheck`` compares *its* backward (the backward of the backward)
    with central differences, with respect to the inputs and to v. ``grad_outputs`` (v) are random unless given.
    On failure the message names the ops of ``func``'s graph, the input (v's are numbered after the inputs)
    and the element. Forward-mode checks (``check_fwd_over_rev``) and batched checks are not implemented.
    """
    if check_fwd_over_rev or check_batched_grad or masked:
        raise NotImplementedError("gradgradcheck: forward-mode, batched and masked checks are not implemented")
    del gen_non_contig_grad_outputs, nondet_tol, check_undefined_grad, check_grad_dtypes  # accepted, as torch's
    if not check_rev_over_rev:
        return True
    Tensor = graph.tensor_type()
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    inputs = tuple(_float64_copy(x) for x in inputs)
    with enable_grad():
        outputs = func(*inputs)
    outputs = [o for o in (outputs if isinstance(outputs, (tuple, list)) else (outputs,)) if _is_float(o)]
    rng = numpy.random.default_rng(seed + 1)
    if grad_outputs is None:
        grad_outputs = tuple(
            Tensor._wrap(o._xp.asarray(rng.standard_normal(o.shape)), o.device).requires_grad_(True) for o in outputs
        )
    else:
        grad_outputs = (grad_outputs,) if isinstance(grad_outputs, Tensor) else tuple(grad_outputs)
        grad_outputs = tuple(_float64_copy(g).requires_grad_(True) for g in grad_outputs)
    ops = _op_names(outputs)
    count = len(inputs)

    def first_derivative(*args):
        xs, vs = args[:count], args[count:]
        with enable_grad():  # gradcheck evaluates under no_grad, but a first derivative needs the graph
            return _first_derivative(xs, vs)

    def _first_derivative(xs, vs):
        outs = func(*xs)
        outs = [o for o in (outs if isinstance(outs, (tuple, list)) else (outs,)) if _is_float(o)]
        pairs = [(o, v) for o, v in zip(outs, vs) if o.requires_grad]
        wrt = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
        if not pairs:
            return tuple(x.new_zeros(x.shape) for x in wrt)
        seeds = [engine.seed_for(o, v, True, "gradgradcheck") for o, v in pairs]
        grads = engine.grad([o for o, _ in pairs], seeds, wrt, retain_graph=True, create_graph=True)
        return tuple(x.new_zeros(x.shape) if g is None else g for x, g in zip(wrt, grads))

    try:
        return gradcheck(
            first_derivative,
            inputs + grad_outputs,
            eps=eps,
            atol=atol,
            rtol=rtol,
            raise_exception=True,
            fast_mode=fast_mode,
            seed=seed,
        )
    except GradcheckError as exc:
        name = getattr(func, "__name__", type(func).__name__)
        return _fail(
            raise_exception,
            f"gradgradcheck: the second derivative of {name} (ops: {', '.join(ops) or 'none'}) is wrong. "
            f"Inputs 0..{count - 1} are the function's, {count}.. the grad_outputs. {exc}",
        )


def _op_names(outputs) -> list:
    """The names of the ops in the graph of ``outputs``, each once, nearest the outputs first."""
    names, seen = [], set()
    stack = [o._ctx for o in outputs if o._ctx is not None]
    while stack:
        op = stack.pop()
        if id(op) in seen:
            continue
        seen.add(id(op))
        if op.name not in names:
            names.append(op.name)
        stack.extend(p._ctx for p in op.inputs if getattr(p, "_ctx", None) is not None)
    return names


def _fail(raise_exception: bool, message: str) -> bool:
    if raise_exception:
        raise GradcheckError(message)
    return False
