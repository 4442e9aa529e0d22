"""``torch.autograd.functional``: vjp, jvp, jacobian, hessian, vhp and hvp of a Python function of Tensors.

All are built from reverse mode (``grad``), the forward-mode products with the "double-vjp" trick: for
g(u) = uᵀJ (linear in u), Jv = ∂(g(u)·v)/∂u, which needs the backward pass to be differentiable
(``create_graph``). ``inputs`` is a Tensor or a tuple of Tensors, and results follow the same shape: a Tensor
for a Tensor, tuples for tuples.
"""

from __future__ import annotations

from . import engine, graph
from .grad_mode import enable_grad


def _as_tuple(x, arg_name: str, fn_name: str):
    Tensor = graph.tensor_type()
    if isinstance(x, Tensor):
        return False, (x,)
    if not isinstance(x, (tuple, list)):
        raise TypeError(f"{fn_name}: {arg_name} must be a Tensor or a tuple of Tensors, got {type(x).__name__}")
    for i, t in enumerate(x):
        if not isinstance(t, Tensor):
            raise TypeError(f"{fn_name}: {arg_name}[{i}] must be a Tensor, got {type(t).__name__}")
    return True, tuple(x)


def _grad_preprocess(inputs, create_graph: bool):
    """Fresh leaves that require grad: the original tensors' values, with their graph kept only if asked."""
    if create_graph:  # keep the link to the caller's graph (an identity node per input) for higher orders
        return tuple(x.view_as(x) if x.requires_grad else x.detach().requires_grad_(True) for x in inputs)
    return tuple(x.detach().requires_grad_(True) for x in inputs)


def _grad_postprocess(values, create_graph: bool):
    return tuple(None if v is None else (v if create_graph else v.detach()) for v in values)


def _grad(outputs, inputs, grad_outputs, create_graph: bool):
    """Gradients of ``outputs`` wrt ``inputs`` (None where unused), always recorded (they may be differentiated)."""
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if not pairs:
        return (None,) * len(inputs)
    seeds = [engine.seed_for(o, g, True, "autograd.functional") for o, g in pairs]
    return tuple(engine.grad([o for o, _ in pairs], seeds, list(inputs), retain_graph=True, create_graph=True))


def _fill_unused(grads, like, strict: bool, what: str, fn_name: str):
    result = []
    for i, (g, x) in enumerate(zip(grads, like)):
        if g is None:
            if strict:
                raise RuntimeError(
                    f"{fn_name}: the output is independent of input {i} ({what}); strict=True forbids it"
                )
            g = x.new_zeros(x.shape)
        result.append(g)
    return tuple(result)


def _check_v(v, like, arg_name: str, fn_name: str):
    is_tuple, v = _as_tuple(v, arg_name, fn_name)
    if len(v) != len(like):
        raise RuntimeError(f"{fn_name}: {arg_name} has {len(v)} entries, expected {len(like)}")
    for i, (a, b) in enumerate(zip(v, like)):
        if tuple(a.shape) != tuple(b.shape):
            raise RuntimeError(
                f"{fn_name}: entry {i} of {arg_name} has shape {tuple(a.shape)}, expected {tuple(b.shape)}"
            )
    return v


def _outputs(func, inputs, fn_name: str):
    with enable_grad():
        out = func(*inputs)
    is_tuple, out = _as_tuple(out, "the output of func", fn_name)
    return is_tuple, out


def _scalar_default(v, outputs, fn_name: str, arg_name: str = "v"):
    if v is not None:
        return _check_v(v, outputs, arg_name, fn_name)
    if len(outputs) != 1 or outputs[0].numel() != 1:
        raise RuntimeError(
            f"{fn_name}: {arg_name} can be omitted only when func returns a single one-element Tensor, got "
            f"{len(outputs)} output(s) of shape(s) {[tuple(o.shape) for o in outputs]}"
        )
    return (outputs[0].new_ones(outputs[0].shape),)


def _unpack(is_tuple, values):
    return values if is_tuple else values[0]


def vjp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), vᵀJ)``: the vector-Jacobian product at ``inputs``."""
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
    inputs = _grad_preprocess(inputs, create_graph)
    outputs_tuple, outputs = _outputs(func, inputs, "vjp")
    v = _scalar_default(v, outputs, "vjp")
    grads = _fill_unused(_grad(outputs, inputs, v, create_graph), inputs, strict, "vjp", "vjp")
    return _unpack(outputs_tuple, _grad_postprocess(outputs, create_graph)), _unpack(
        inputs_tuple, _grad_postprocess(grads, create_graph)
    )


def jvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), J v)``: the Jacobian-vector product, by differentiating uᵀJ with respect to u."""
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
    inputs = _grad_preprocess(inputs, create_graph)
    if v is None:
        if len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError("jvp: v can be omitted only when the input is a single one-element Tensor")
        v = (inputs[0].new_ones(inputs[0].shape),)
    else:
        v = _check_v(v, inputs, "v", "jvp")
    outputs_tuple, outputs = _outputs(func, inputs, "jvp")
    with enable_grad():
        dummies = tuple(o.new_zeros(o.shape).requires_grad_(True) for o in outputs)
        grads_u = _grad(outputs, inputs, dummies, True)  # uᵀJ, a linear function of the dummies u
        used = [(g, vi) for g, vi in zip(grads_u, v) if g is not None and g.requires_grad]
        if strict and len(used) != len(inputs):
            raise RuntimeError("jvp: the output is independent of some input; strict=True forbids it")
        if used:
            seeds = [engine.seed_for(g, vi, True, "jvp") for g, vi in used]
            jv = engine.grad([g for g, _ in used], seeds, list(dummies), retain_graph=True, create_graph=True)
        else:
            jv = (None,) * len(outputs)
    jv = _fill_unused(jv, outputs, strict, "jvp", "jvp")
    return _unpack(outputs_tuple, _grad_postprocess(outputs, create_graph)), _unpack(
        outputs_tuple, _grad_postprocess(jv, create_graph)
    )


def jacobian(
    func,
    inputs,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
):
    """The Jacobian of ``func`` at ``inputs``: entry [i][j] has shape output_i.shape + input_j.shape.

    A Tensor for one input and one output; a tuple over inputs for one output; a tuple over outputs (of tuples
    over inputs, if inputs is a tuple) otherwise, as PyTorch. One reverse pass per output element."""
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', got {strategy!r}")
    del vectorize  # accepted for compatibility: rows are always computed one at a time here
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
    inputs = _grad_preprocess(inputs, create_graph)
    outputs_tuple, outputs = _outputs(func, inputs, "jacobian")
    Tensor = graph.tensor_type()
    blocks = []
    for i, out in enumerate(outputs):
        rows = [[] for _ in inputs]
        flat = out.reshape(-1)
        for k in range(flat.numel()):
            seed = out.new_zeros(out.shape)
            seed._data.reshape(-1)[k] = 1
            grads = _grad([out], inputs, [seed], create_graph) if out.requires_grad else (None,) * len(inputs)
            for j, (g, x) in enumerate(zip(grads, inputs)):
                if g is None:
                    if strict:
                        raise RuntimeError(f"jacobian: output {i} is independent of input {j}; strict=True forbids it")
                    g = x.new_zeros(x.shape)
                rows[j].append(g if create_graph else g.detach())
        block = []
        for j, x in enumerate(inputs):
            if rows[j]:
                stacked = _stack(rows[j], Tensor).reshape(*out.shape, *x.shape)
            else:
                stacked = x.new_zeros((*out.shape, *x.shape))
            block.append(stacked)
        blocks.append(tuple(block))
    if not outputs_tuple:
        return blocks[0] if inputs_tuple else blocks[0][0]
    return tuple(b if inputs_tuple else b[0] for b in blocks)


def _stack(tensors, Tensor):
    from ..ops.movement import Stack

    return graph.apply(Stack, *tensors, dim=0)


def hessian(
    func,
    inputs,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
):
    """The Hessian of a scalar ``func`` at ``inputs``: the Jacobian of its gradient. Entry [i][j] has shape
    input_i.shape + input_j.shape (a Tensor for a Tensor input)."""
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")

    def gradient(*xs):
        out = func(*xs)
        is_tuple, outs = _as_tuple(out, "the output of func", "hessian")
        if is_tuple or outs[0].numel() != 1:
            raise RuntimeError("hessian: func must return a single Tensor with one element")
        grads = _grad(outs, xs, [None], True)
        return tuple(x.new_zeros(x.shape) if g is None else g for g, x in zip(grads, xs))

    result = jacobian(
        gradient,
        inputs,
        create_graph=create_graph,
        strict=strict,
        vectorize=vectorize,
        strategy=outer_jacobian_strategy,
    )
    if not inputs_tuple:
        return result[0]
    return result


def vhp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), vᵀH)``: the vector-Hessian product of a scalar function."""
    return _hessian_product("vhp", func, inputs, v, create_graph, strict)


def hvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """``(func(inputs), H v)``. H is symmetric for a twice continuously differentiable function, so this
    equals vhp; it is computed the same way (one backward of the backward)."""
    return _hessian_product("hvp", func, inputs, v, create_graph, strict)


def _hessian_product(fn_name, func, inputs, v, create_graph, strict):
    inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    inputs = _grad_preprocess(inputs, create_graph)
    if v is None:
        if len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError(f"{fn_name}: v can be omitted only when the input is a single one-element Tensor")
        v = (inputs[0].new_ones(inputs[0].shape),)
    else:
        v = _check_v(v, inputs, "v", fn_name)
    outputs_tuple, outputs = _outputs(func, inputs, fn_name)
    if outputs_tuple or outputs[0].numel() != 1:
        raise RuntimeError(f"{fn_name}: func must return a single Tensor with one element")
    grads = _grad(outputs, inputs, [None], True)
    if strict and any(g is None for g in grads):
        raise RuntimeError(f"{fn_name}: the output is independent of some input; strict=True forbids it")
    used = [(g, vi) for g, vi in zip(grads, v) if g is not None and g.requires_grad]
    if used:
        seeds = [engine.seed_for(g, vi, True, fn_name) for g, vi in used]
        products = engine.grad([g for g, _ in used], seeds, list(inputs), retain_graph=True, create_graph=True)
    else:
        products = (None,) * len(inputs)
    products = _fill_unused(products, inputs, strict, "second derivative", fn_name)
    return _grad_postprocess(outputs, create_graph)[0], _unpack(inputs_tuple, _grad_postprocess(products, create_graph))
