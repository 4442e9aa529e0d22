"""``torch.autograd.functional``: vjp, jvp, jacobian, hessian, vhp and hvp of a Python function of Tensors.

Everything is built from reverse mode (``autograd.grad``). The two products that need forward mode (jvp, hvp)
use the "double-vjp" trick: g(u) = uᵀJ is linear in u, so ∂(g(u)·v)/∂u = Jv, whatever u is (zeros here). That
needs the first backward pass to be differentiable (``create_graph=True``).

Conventions, as PyTorch's:

* ``inputs`` is a Tensor or a tuple of Tensors, and every result follows the same nesting (a Tensor for a
  Tensor, a tuple for a tuple); the same for ``func``'s outputs.
* ``func`` runs on fresh copies of the inputs, so the result does not leak into the caller's graph; with
  ``create_graph=True`` the copies stay connected to the inputs, and the results can be differentiated again.
  Without it, the results are detached.
* An input that the outputs do not depend on gets zeros (the right value), or an error with ``strict=True``.
* They record the graph they differentiate even when called under ``no_grad`` (each runs in ``enable_grad``).
"""

from __future__ import annotations

from ..ops.movement import Stack
from . import engine, graph
from .grad_mode import enable_grad


# -- shared steps -----------------------------------------------------------------------------------------
def _as_tuple(x, arg_name: str, fn_name: str):
    """(was it a tuple, the Tensors as a tuple)."""
    Tensor = graph.tensor_type()
    if isinstance(x, Tensor):
        return False, (x,)
    if not isinstance(x, (tuple, list)):
        raise TypeError(f"{fn_name}: {arg_name} must be a Tensor or a tuple of Tensors, got {type(x).__name__}")
    for i, t in enumerate(x):
        if not isinstance(t, Tensor):
            raise TypeError(f"{fn_name}: {arg_name}[{i}] must be a Tensor, got {type(t).__name__}")
    return True, tuple(x)


def _unpack(was_tuple: bool, values):
    return values if was_tuple else values[0]


def _fresh_inputs(inputs, create_graph: bool):
    """New tensors with the inputs' values that require grad, so that ``func``'s graph starts at them.

    With ``create_graph`` an input that requires grad goes through an identity op (``view_as``) instead of
    being detached: the results then stay differentiable with respect to the caller's tensors."""
    return tuple(x.view_as(x) if create_graph and x.requires_grad else x.detach().requires_grad_(True) for x in inputs)


def _constant_unless_graph(vectors, create_graph: bool):
    """The vectors v of the products: constants, unless the caller wants to differentiate through them."""
    return tuple(v.view_as(v) if create_graph and v.requires_grad else v.detach() for v in vectors)


def _detach_unless(values, create_graph: bool):
    return tuple(v if create_graph else v.detach() for v in values)


def _call(func, inputs, fn_name: str):
    return _as_tuple(func(*inputs), "the output of func", fn_name)


def _check_outputs_require_grad(outputs, strict: bool, fn_name: str) -> None:
    if not strict:
        return
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(
                f"{fn_name}: output {i} of func does not require grad: with strict=True every output must be "
                "computed from the inputs by differentiable ops"
            )


def _check_v(v, like, was_tuple: bool, create_graph: bool, fn_name: str):
    """``v`` as a tuple with one entry per tensor of ``like`` (the outputs for vjp, else the inputs), same shapes."""
    _, v = _as_tuple(v, "v", fn_name)
    if len(v) != len(like):
        expected = f"a tuple of {len(like)} Tensors" if was_tuple else "a single Tensor"
        raise RuntimeError(f"{fn_name}: v should be {expected}, got {len(v)}")
    for i, (entry, ref) in enumerate(zip(v, like)):
        if entry.shape != ref.shape:
            raise RuntimeError(f"{fn_name}: v[{i}] has shape {tuple(entry.shape)}, but it should be {tuple(ref.shape)}")
    return _constant_unless_graph(v, create_graph)


def _one_for_a_single_element(v, like, what: str, fn_name: str):
    """v=None means 1, which is only unambiguous when there is a single one-element Tensor."""
    if v is not None:
        return v
    if len(like) != 1 or like[0].numel() != 1:
        raise RuntimeError(
            f"{fn_name}: v can be None only when {what} is a single Tensor with one element, got shape(s) "
            f"{[tuple(t.shape) for t in like]}"
        )
    return like[0].new_ones(like[0].shape)


def _grad(outputs, inputs, grad_outputs, create_graph: bool, fn_name: str):
    """``autograd.grad(outputs, inputs, grad_outputs, allow_unused=True)``, keeping the graph (the functions below
    run several passes through it) and skipping outputs that don't require grad: None for an unused input.

    It calls the engine directly, as ``autograd.grad`` does (this module is part of that package)."""
    grad_outputs = (None,) * len(outputs) if grad_outputs is None else grad_outputs
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    seeds = [engine.seed_for(o, g, create_graph, fn_name) for o, g in pairs]
    found = engine.grad([o for o, _ in pairs], seeds, list(inputs), retain_graph=True, create_graph=create_graph)
    # the ordinary pass (without create_graph) works on arrays: wrap them, in the input's dtype
    return tuple(
        g if g is None or create_graph else graph.new_tensor(g.astype(x._data.dtype, copy=False), x.device)
        for g, x in zip(found, inputs)
    )


def _zeros_for_unused(grads, like, strict: bool, create_graph: bool, fn_name: str, wrt: str):
    """Zeros where a gradient is None (its input was not used); with ``strict`` that, and a constant result under
    ``create_graph`` (its derivative would silently be zero), are errors."""
    result = []
    for i, (g, ref) in enumerate(zip(grads, like)):
        if g is None:
            if strict:
                raise RuntimeError(f"{fn_name}: the result is independent of {wrt} {i}; strict=True forbids it")
            g = ref.new_zeros(ref.shape)
        elif strict and create_graph and not g.requires_grad:
            raise RuntimeError(
                f"{fn_name}: the result does not depend on the inputs through {wrt} {i} (it is a constant), so it "
                "can't be differentiated; strict=True with create_graph=True forbids it"
            )
        result.append(g)
    return tuple(result)


def _check_differentiable(grads, strict: bool, fn_name: str, what: str) -> None:
    """With ``strict``, an intermediate gradient that a second pass will differentiate must not be a constant:
    its derivative would then be zeros for a reason the caller probably did not intend."""
    if not strict:
        return
    for i, g in enumerate(grads):
        if g is None:
            raise RuntimeError(f"{fn_name}: the output of func is independent of input {i}; strict=True forbids it")
        if not g.requires_grad:
            raise RuntimeError(
                f"{fn_name}: the gradient with respect to input {i} is a constant (independent of {what}); "
                "strict=True forbids it"
            )


def _single_element_output(outputs, was_tuple: bool, fn_name: str):
    if was_tuple or outputs[0].numel() != 1:
        raise RuntimeError(f"{fn_name}: func must return a single Tensor with one element")
    return outputs[0]


# -- the functions ------------------------------------------------------------------------------------------
@enable_grad()
def vjp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), vᵀJ)``: the vector-Jacobian product at ``inputs``, one entry per input.

    ``v`` has the outputs' shapes; it may be None (meaning 1) when func returns a single one-element Tensor."""
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
    inputs = _fresh_inputs(inputs, create_graph)
    outputs_tuple, outputs = _call(func, inputs, "vjp")
    _check_outputs_require_grad(outputs, strict, "vjp")
    v = _one_for_a_single_element(v, outputs, "func's output", "vjp")
    v = _check_v(v, outputs, outputs_tuple, create_graph, "vjp")

    grads = _grad(outputs, inputs, v, create_graph, "vjp")
    grads = _zeros_for_unused(grads, inputs, strict, create_graph, "vjp", "input")
    return (
        _unpack(outputs_tuple, _detach_unless(outputs, create_graph)),
        _unpack(inputs_tuple, _detach_unless(grads, create_graph)),
    )


@enable_grad()
def jvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), J v)``: the Jacobian-vector product, one entry per output.

    ``v`` has the inputs' shapes; it may be None (meaning 1) when the input is a single one-element Tensor.
    Computed by differentiating uᵀJ with respect to u (see the module's docstring)."""
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
    inputs = _fresh_inputs(inputs, create_graph)
    v = _one_for_a_single_element(v, inputs, "the input", "jvp")
    v = _check_v(v, inputs, inputs_tuple, create_graph, "jvp")
    outputs_tuple, outputs = _call(func, inputs, "jvp")
    _check_outputs_require_grad(outputs, strict, "jvp")

    # u is a stand-in for the upstream gradient; its value does not matter, since uᵀJ is linear in it
    u = tuple(o.new_zeros(o.shape).requires_grad_(True) for o in outputs)
    u_times_jacobian = _grad(outputs, inputs, u, True, "jvp")
    _check_differentiable(u_times_jacobian, strict, "jvp", "the upstream gradient")
    jacobian_times_v = _grad(u_times_jacobian, u, v, create_graph, "jvp")
    jacobian_times_v = _zeros_for_unused(jacobian_times_v, outputs, strict, create_graph, "jvp", "output")
    return (
        _unpack(outputs_tuple, _detach_unless(outputs, create_graph)),
        _unpack(outputs_tuple, _detach_unless(jacobian_times_v, create_graph)),
    )


@enable_grad()
def jacobian(
    func,
    inputs,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
):
    """The Jacobian of ``func`` at ``inputs``: block [i][j] has shape output_i.shape + input_j.shape.

    A Tensor for one input and one output; a tuple when one of them is a tuple; a tuple over outputs of tuples
    over inputs when both are, as PyTorch. One reverse pass per output element (a row of the Jacobian).
    ``vectorize`` and ``strategy`` are accepted for compatibility; the rows are always computed one by one."""
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', got {strategy!r}")
    del vectorize
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    inputs = _fresh_inputs(inputs, create_graph)
    outputs_tuple, outputs = _call(func, inputs, "jacobian")
    _check_outputs_require_grad(outputs, strict, "jacobian")

    blocks = []
    for i, out in enumerate(outputs):
        rows = [[] for _ in inputs]  # rows[j][k]: d out.flat[k] / d inputs[j]
        flat = out.reshape(-1)
        for k in range(flat.numel()):
            grads = _grad((flat[k],), inputs, None, create_graph, "jacobian")
            for j, g in enumerate(grads):
                if g is None and strict:
                    raise RuntimeError(f"jacobian: output {i} is independent of input {j}; strict=True forbids it")
                if g is not None and strict and create_graph and not g.requires_grad:
                    raise RuntimeError(
                        f"jacobian: the Jacobian of output {i} does not depend on input {j} (it is a constant); "
                        "strict=True with create_graph=True forbids it"
                    )
                rows[j].append(inputs[j].new_zeros(inputs[j].shape) if g is None else g)
        blocks.append(
            tuple(
                graph.apply(Stack, *rows[j], dim=0).reshape(*out.shape, *x.shape)
                if rows[j]
                else x.new_zeros((*out.shape, *x.shape))  # an output with no elements
                for j, x in enumerate(inputs)
            )
        )
    blocks = tuple(_detach_unless(block, create_graph) for block in blocks)
    return _unpack(outputs_tuple, tuple(_unpack(inputs_tuple, block) for block in blocks))


@enable_grad()
def hessian(
    func,
    inputs,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
):
    """The Hessian of a scalar ``func`` at ``inputs``: the Jacobian of its gradient.

    A Tensor of shape input.shape + input.shape for a Tensor input; for a tuple, a tuple of tuples whose
    block [i][j] (d²f / d inputs[i] d inputs[j]) has shape input_i.shape + input_j.shape."""
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")

    def scalar_func(*xs):
        outputs_tuple, outputs = _call(func, xs, "hessian")
        _check_outputs_require_grad(outputs, strict, "hessian")
        return _single_element_output(outputs, outputs_tuple, "hessian").squeeze()

    def gradient(*xs):  # recorded, so that the outer jacobian can differentiate it
        grads = jacobian(scalar_func, xs, create_graph=True)
        _check_differentiable(grads, strict, "hessian", "the inputs: func is linear in it")
        return grads

    result = jacobian(
        gradient,
        inputs,
        create_graph=create_graph,
        strict=strict,
        vectorize=vectorize,
        strategy=outer_jacobian_strategy,
    )
    return _unpack(inputs_tuple, tuple(_unpack(inputs_tuple, row) for row in result))


def vhp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), vᵀH)``: the vector-Hessian product of a scalar function, one entry per input.

    The gradient is computed once with its graph, then differentiated once, weighted by v."""
    return _hessian_product("vhp", func, inputs, v, create_graph, strict)


def hvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), H v)``. The Hessian of a twice continuously differentiable function is symmetric, so
    Hv = (vᵀH)ᵀ and this is computed as vhp is (PyTorch's hvp takes the slower double-vjp route to the same
    numbers)."""
    return _hessian_product("hvp", func, inputs, v, create_graph, strict)


@enable_grad()
def _hessian_product(fn_name, func, inputs, v, create_graph, strict):
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    inputs = _fresh_inputs(inputs, create_graph)
    v = _one_for_a_single_element(v, inputs, "the input", fn_name)
    v = _check_v(v, inputs, inputs_tuple, create_graph, fn_name)
    outputs_tuple, outputs = _call(func, inputs, fn_name)
    _check_outputs_require_grad(outputs, strict, fn_name)
    output = _single_element_output(outputs, outputs_tuple, fn_name)

    gradient = _grad((output,), inputs, None, True, fn_name)
    _check_differentiable(gradient, strict, fn_name, "the inputs: func is linear in it")
    products = _grad(gradient, inputs, v, create_graph, fn_name)
    products = _zeros_for_unused(products, inputs, strict, create_graph, fn_name, "input")
    return (
        _detach_unless((output,), create_graph)[0],
        _unpack(inputs_tuple, _detach_unless(products, create_graph)),
    )
