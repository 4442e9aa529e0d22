"""``check_op``: one call that tests a differentiable op the way the engine's own suite tests its ops.

It draws inputs with hypothesis (shapes with 0-d and size-1 dims, every memory layout, values from the op's
domain) and checks, for each drawn example: the values against a reference (NumPy or PyTorch); the
gradients against finite differences (``gradcheck``) and the second derivatives (``gradgradcheck``); and the
invariants every op keeps (each gradient has its input's shape, dtype and device, no input is changed, no
gradient shares memory with an input). 0-d inputs and empty inputs (a size-0 dim) are checked on their own.
A failure is reported on the smallest failing example hypothesis found, with the element named.
"""

from __future__ import annotations

import inspect

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .. import autograd, backend
from ..autograd import GradcheckError, gradcheck, gradgradcheck
from ..dtypes import DType, float32, float64
from ..tensor import Tensor
from . import strategies
from .comparison import assert_close, default_tolerances


class CheckOpError(AssertionError):
    """Raised by ``check_op``: what failed, on which inputs (the smallest failing example hypothesis found)."""


class _Failure(AssertionError):
    """One failed check on one drawn example; hypothesis shrinks the example while this is raised."""


def check_op(
    fn,
    *,
    reference=None,
    domain=None,
    grad: bool = True,
    gradgrad: bool = True,
    dtypes=(float64, float32),
    devices=("cpu",),
    num_inputs: int | None = None,
    shape=None,
    broadcast: bool = False,
    layouts=strategies.LAYOUTS,
    rtol: float | None = None,
    atol: float | None = None,
    max_examples: int | None = None,
) -> None:
    """Test ``fn`` (a function of Tensors: ``MyFunction.apply``, or any function built from Tensor ops) on
    drawn inputs; raise ``CheckOpError`` on the smallest failing example, or return None.

    - ``reference``: the same function on float64 NumPy arrays (or on PyTorch tensors: tried when it refuses
      arrays), whose results ``fn``'s must match (``assert_close``, the dtype's default tolerances unless
      ``rtol``/``atol`` are given);
    - ``domain``: where input values are drawn: a hypothesis strategy of floats (``strategies.away_from([0])``
      keeps off a kink), a ``(low, high)`` pair, or None for [-2, 2];
    - ``grad``/``gradgrad``: run ``gradcheck``/``gradgradcheck`` (in float64);
    - ``dtypes``, ``devices``: each example is run in every one of them (``"cuda"`` where there is one);
    - ``num_inputs``: how many tensors ``fn`` takes (read from its signature, or from ``forward``'s for a
      ``Function``); ``shape``: a strategy of the shape all inputs share (``strategies.shapes()`` by default),
      or ``broadcast=True`` for shapes that broadcast together; ``layouts``: the memory layouts to draw;
    - ``max_examples``: examples per phase (the active hypothesis profile's by default).
    """
    n = _count_inputs(fn) if num_inputs is None else num_inputs
    elements = _elements(domain)
    owner = getattr(fn, "__self__", None)
    name = f"{owner.__name__}.{fn.__name__}" if inspect.isclass(owner) else getattr(fn, "__qualname__", repr(fn))
    for each in dtypes:
        if not isinstance(each, DType) or not each.is_floating_point:
            raise TypeError(f"check_op: dtypes must be floating tinygrad_edu dtypes, got {each!r}")
    for device in devices:
        backend.canonical(device)  # a device that does not exist is named here, before any drawing
    options = dict(reference=reference, dtypes=dtypes, devices=devices, rtol=rtol, atol=atol)
    if broadcast:
        shapes_of = strategies.broadcastable_shapes(num_shapes=n).map(lambda b: b.input_shapes)
    else:
        one = strategies.shapes() if shape is None else shape
        shapes_of = one.map(lambda s: (s,) * n)
    phases = [
        ("drawn inputs", shapes_of, True),
        ("0-d inputs", st.just(((),) * n), True),
        # empty tensors have no elements to perturb: values, gradient shapes and invariants only
        ("empty inputs", strategies.shapes(min_dims=1, max_dims=3).map(_emptied).map(lambda s: (s,) * n), False),
    ]
    for phase, shapes_strategy, differentiate in phases:
        run = _property(
            fn,
            _cases(shapes_strategy, elements, tuple(layouts)),
            max_examples,
            grad and differentiate,
            gradgrad and differentiate,
            options,
        )
        try:
            run()
        except _Failure as failure:
            raise CheckOpError(
                f"check_op({name}) failed on {phase}; the smallest failing example hypothesis found:\n{failure}"
            ) from None


def _property(fn, cases, max_examples, do_grad, do_gradgrad, options):
    """The hypothesis test of one phase: every check on each drawn example."""

    @_settings(max_examples)
    @given(example=cases)
    def run(example):
        _check_example(fn, example, do_grad, do_gradgrad, **options)

    return run


def _settings(max_examples):
    base = settings.default
    return settings(
        base,
        max_examples=max_examples if max_examples is not None else base.max_examples,
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )


def _emptied(shape):
    return (*shape[:-1], 0)


def _elements(domain):
    if domain is None:
        return strategies.floats()
    if isinstance(domain, st.SearchStrategy):
        return domain
    if isinstance(domain, tuple) and len(domain) == 2:
        return strategies.floats(*domain)
    raise TypeError(f"check_op: domain must be a hypothesis strategy or a (low, high) pair, got {domain!r}")


def _count_inputs(fn) -> int:
    """How many Tensors ``fn`` takes: its positional parameters without defaults (``forward``'s after ``ctx``,
    for a ``Function``'s ``apply``)."""
    owner = getattr(fn, "__self__", None)
    target, skip = (owner.forward, 1) if inspect.isclass(owner) and hasattr(owner, "forward") else (fn, 0)
    try:
        parameters = list(inspect.signature(target).parameters.values())[skip:]
    except (TypeError, ValueError):
        parameters = None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if parameters is None or any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        raise TypeError(f"check_op: cannot tell how many tensors {fn!r} takes: pass num_inputs=")
    return sum(1 for p in parameters if p.kind in kinds and p.default is inspect.Parameter.empty)


@st.composite
def _cases(draw, shapes_of, elements, layouts):
    """(float64 values, layout) per input."""
    result = []
    for shape in draw(shapes_of):
        layout = draw(st.sampled_from(layouts))
        values = draw(strategies.arrays(shape, elements))
        result.append((strategies.broadcast_values(values) if layout == "broadcast" else values, layout))
    return tuple(result)


def _describe(example, dtype, device) -> str:
    lines = [f"  dtype {dtype.name}, device {device}"]
    for i, (values, layout) in enumerate(example):
        shown = np.array2string(values.astype(dtype.np), precision=17, separator=", ", threshold=60)
        lines.append(f"  input {i}: shape {values.shape}, layout {layout}, values {shown}")
    return "\n".join(lines)


def _as_list(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _host(value) -> np.ndarray:
    if isinstance(value, Tensor):
        return backend.to_host(value._data)
    if hasattr(value, "detach"):  # a PyTorch tensor from the reference
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _call_reference(reference, arrays):
    """``reference`` on float64 NumPy arrays, or, when it refuses them, on PyTorch tensors."""
    try:
        return reference(*arrays)
    except (TypeError, AttributeError) as numpy_error:
        try:
            import torch
        except ImportError:
            raise numpy_error from None
        return reference(*(torch.from_numpy(np.array(a)) for a in arrays))


def _check_example(fn, example, do_grad, do_gradgrad, *, reference, dtypes, devices, rtol, atol):
    for dtype in dtypes:
        for device in devices:
            where = _describe(example, dtype, device)
            try:
                _check_one(fn, example, dtype, device, reference, rtol, atol)
            except _Failure as failure:
                raise _Failure(f"{where}\n{failure}") from None
    if not (do_grad or do_gradgrad):
        return
    where = _describe(example, float64, devices[0])
    inputs = [strategies.leaf(v, devices[0], layout) for v, layout in example]
    for label, check, wanted in (("gradcheck", gradcheck, do_grad), ("gradgradcheck", gradgradcheck, do_gradgrad)):
        if not wanted:
            continue
        try:
            check(fn, tuple(inputs))
        except GradcheckError as error:
            raise _Failure(f"{where}\n{label}: {error}") from None
        except Exception as error:  # noqa: BLE001 - the op crashing under the check is a finding too
            raise _Failure(f"{where}\n{label}: the op raised {type(error).__name__}: {error}") from None


def _check_one(fn, example, dtype, device, reference, rtol, atol):
    inputs = [strategies.leaf(v.astype(dtype.np), device, layout) for v, layout in example]
    before = [_host(x).copy() for x in inputs]
    try:
        outputs = _as_list(fn(*inputs))
    except Exception as error:  # noqa: BLE001 - any crash of the op is the finding, reported on its inputs
        raise _Failure(f"the op raised {type(error).__name__}: {error}") from None
    for k, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise _Failure(f"output {k} is a {type(out).__name__}, not a Tensor")
        if out.dtype.is_floating_point and out.dtype is not dtype:
            raise _Failure(f"output {k} has dtype {out.dtype.name}, its inputs {dtype.name}")
    if reference is not None:
        # the reference sees the values the op saw (rounded to the dtype), in float64
        try:
            expected = _as_list(_call_reference(reference, [_host(x).astype(np.float64) for x in inputs]))
        except Exception as error:  # noqa: BLE001 - named as the reference's, not the op's
            raise _Failure(f"the reference raised {type(error).__name__}: {error}") from None
        if len(expected) != len(outputs):
            raise _Failure(f"the op gave {len(outputs)} outputs, the reference {len(expected)}")
        tolerance = default_tolerances(dtype) if rtol is None else (rtol, atol)
        for k, (out, want) in enumerate(zip(outputs, expected)):
            try:
                assert_close(
                    _host(out).astype(np.float64),
                    np.asarray(_host(want), dtype=np.float64),
                    rtol=tolerance[0],
                    atol=tolerance[1],
                    equal_nan=True,
                )
            except AssertionError as error:
                raise _Failure(f"output {k} differs from the reference: {error}") from None
    differentiable = [o for o in outputs if o.requires_grad]
    if differentiable:
        seeds = [o.new_ones(o.shape) for o in differentiable]
        try:
            grads = autograd.grad(differentiable, inputs, grad_outputs=seeds, allow_unused=True)
        except Exception as error:  # noqa: BLE001 - as above: a backward that crashes is the finding
            raise _Failure(f"the backward raised {type(error).__name__}: {error}") from None
        for i, (x, g) in enumerate(zip(inputs, grads)):
            if g is None:
                continue
            for attribute in ("shape", "dtype", "device"):
                if getattr(g, attribute) != getattr(x, attribute):
                    raise _Failure(
                        f"the gradient of input {i} has {attribute} {getattr(g, attribute)}, "
                        f"its input {getattr(x, attribute)}"
                    )
            for j, y in enumerate(inputs):
                if np.shares_memory(_host(g), _host(y)) if device == "cpu" else g._data is y._data:
                    raise _Failure(f"the gradient of input {i} shares memory with input {j}")
    for i, (x, old) in enumerate(zip(inputs, before)):
        if not np.array_equal(_host(x), old, equal_nan=True):
            changed = tuple(int(k) for k in np.argwhere(~((_host(x) == old) | (np.isnan(old))))[0])
            raise _Failure(f"the op changed input {i} (first at element {changed})")
