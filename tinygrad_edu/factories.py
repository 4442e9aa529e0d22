"""Functions that make tensors (``tensor``, ``zeros``, ``randn`` ...) or combine them (``cat``, ``stack``,
``where``), with PyTorch's signatures. Random ones draw from the device's seeded generator."""

from __future__ import annotations

import math
import numbers
import operator

import numpy

from . import backend, dtypes, random
from .autograd import graph
from .autograd.graph import apply
from .indexing import dim_index, size_arg
from .ops import movement
from .promotion import result_dtype, same_device
from .tensor import Tensor


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data``: Python floats become float32, ints int64, and a NumPy array
    keeps its dtype."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    return data.to(device=device, dtype=dtype) if isinstance(data, Tensor) else Tensor(data, dtype, device)


def from_numpy(array: numpy.ndarray) -> Tensor:
    """A tensor that shares memory with ``array`` (as ``torch.from_numpy`` does)."""
    if not isinstance(array, numpy.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    dtypes.from_numpy(array.dtype)
    return Tensor._wrap(array, backend.CPU)


def _make(what, fill, size, dtype, device, requires_grad, default=dtypes.float32):
    """A new tensor of ``size`` filled by ``fill(xp, shape, np_dtype, device)``; ``what`` names it in errors."""
    shape = size_arg(size, what)
    dev = backend.canonical(device)
    np_dtype = dtypes.to_numpy(dtype if dtype is not None else default)
    out = Tensor._wrap(fill(backend.array_module(dev), shape, np_dtype, dev), dev)
    return out.requires_grad_(True) if requires_grad else out


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _make("zeros()", lambda xp, s, d, _: xp.zeros(s, d), size, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _make("ones()", lambda xp, s, d, _: xp.ones(s, d), size, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _make("empty()", lambda xp, s, d, _: xp.empty(s, d), size, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if not isinstance(fill_value, (numbers.Number, numpy.generic)):  # NumPy would fill None as nan
        raise TypeError(f"full(): argument 'fill_value' must be a number, not {type(fill_value).__name__}")
    if dtype is None:
        dtype = (
            dtypes.bool
            if isinstance(fill_value, bool)
            else (dtypes.int64 if isinstance(fill_value, int) else dtypes.float32)
        )
    return _make("full()", lambda xp, s, d, _: xp.full(s, fill_value, d), (size,), dtype, device, requires_grad)


def _like(fn, t: Tensor, dtype=None, device=None, requires_grad=False):
    _check_tensor(f"{fn.__name__}_like()", t)
    return fn(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def _check_tensor(what: str, t) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{what}: argument 'input' must be Tensor, not {type(t).__name__}")


def zeros_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(zeros, t, dtype, device, requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(ones, t, dtype, device, requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``t``'s shape whose values are whatever the memory held: fill it before reading it."""
    return _like(empty, t, dtype, device, requires_grad)


def full_like(t, fill_value, dtype=None, device=None) -> Tensor:
    _check_tensor("full_like()", t)
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device)


def randn_like(t, dtype=None, device=None) -> Tensor:
    return _like(randn, t, dtype, device)


def rand_like(t, dtype=None, device=None) -> Tensor:
    return _like(rand, t, dtype, device)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``arange(end)`` or ``arange(start, end, step)``: int64 when all arguments are ints, else float32."""
    if end is None:
        start, end = 0, start
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    for name, v in (("start", start), ("end", end), ("step", step)):
        if not isinstance(v, numbers.Real) or isinstance(v, bool):
            raise TypeError(f"arange(): argument '{name}' must be a number, not {type(v).__name__}")
    if not all(math.isfinite(v) for v in (start, end)):
        raise RuntimeError(f"arange: unsupported range: {start} -> {end}")
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (step > 0 and end < start) or (step < 0 and end > start):  # NumPy would return an empty tensor
        raise RuntimeError(
            f"arange: upper bound and lower bound inconsistent with step sign (start={start}, end={end}, step={step})"
        )
    if dtype is None:
        dtype = dtypes.int64 if all(isinstance(v, int) for v in (start, end, step)) else dtypes.float32
    dev = backend.canonical(device)
    out = Tensor._wrap(backend.array_module(dev).arange(start, end, step, dtype=dtypes.to_numpy(dtype)), dev)
    return out.requires_grad_(True) if requires_grad else out


def linspace(start, end, steps, dtype=None, device=None) -> Tensor:
    steps = _count_arg("linspace", "steps", steps)
    dev = backend.canonical(device)
    np_dtype = dtypes.to_numpy(dtype or dtypes.float32)
    return Tensor._wrap(backend.array_module(dev).linspace(start, end, steps, dtype=np_dtype), dev)


def eye(n, m=None, dtype=None, device=None) -> Tensor:
    n, m = _count_arg("eye", "n", n), None if m is None else _count_arg("eye", "m", m)
    dev = backend.canonical(device)
    return Tensor._wrap(backend.array_module(dev).eye(n, m, dtype=dtypes.to_numpy(dtype or dtypes.float32)), dev)


def _count_arg(what: str, name: str, value) -> int:
    """An int argument that counts something (steps, rows, samples): not a float, not negative."""
    if not isinstance(value, (int, numpy.integer, Tensor)) or isinstance(value, bool):
        raise TypeError(f"{what}(): argument '{name}' must be int, not {type(value).__name__}")
    value = operator.index(value)
    if value < 0:
        raise RuntimeError(f"{what}: {name} must be non-negative, got {value}")
    return value


# -- random: PyTorch's CPU numbers (random.py), the counter-based generator on cuda -------------------------

manual_seed = random.manual_seed
seed = random.seed
random.Generator._as_tensor = staticmethod(lambda array: Tensor._wrap(array, backend.CPU))  # get_state's tensor


def _generator(what: str, generator, dev):
    """The generator a draw uses; a compiler's trace hears of the draw, since a replay could not redraw it."""
    if graph.effect_observers:
        graph.note_effect(None, what)
    return random.resolve(generator, dev)


def _draw(what, draw, size, dtype, device, requires_grad, generator, default=dtypes.float32):
    """A new tensor of ``size`` filled by ``draw(generator, shape, np_dtype)`` on ``device``."""
    dev = backend.canonical(device)
    gen = _generator(what, generator, dev)
    return _make(
        what, lambda xp, shape, np_dtype, _: draw(gen, shape, np_dtype), size, dtype, dev, requires_grad, default
    )


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Samples from N(0, 1): on the CPU, PyTorch's numbers for the same seed."""
    draw = lambda gen, shape, np_dtype: random.normal(gen, shape, np_dtype, what="randn")  # noqa: E731
    return _draw("randn()", draw, size, dtype, device, requires_grad, generator)


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Samples from U[0, 1): on the CPU, PyTorch's numbers for the same seed."""
    draw = lambda gen, shape, np_dtype: random.uniform(gen, shape, np_dtype, what="rand")  # noqa: E731
    return _draw("rand()", draw, size, dtype, device, requires_grad, generator)


def randint(*args, size=None, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``randint(high, size)`` or ``randint(low, high, size)``: integers in [low, high), int64 by default."""
    if size is None:
        if not args:
            raise TypeError("randint() missing the argument 'size'")
        *args, size = args
    if len(args) == 1:
        low, high = 0, args[0]
    elif len(args) == 2:
        low, high = args
    else:
        raise TypeError("randint expects (high, size) or (low, high, size)")
    for name, v in (("low", low), ("high", high)):
        if not isinstance(v, (int, numpy.integer, Tensor)) or isinstance(v, bool):
            raise TypeError(f"randint(): argument '{name}' must be int, not {type(v).__name__}")
    low, high = operator.index(low), operator.index(high)
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    size = (size,) if isinstance(size, int) else size
    return _draw(
        "randint()",
        lambda gen, shape, np_dtype: random.integers(gen, shape, np_dtype, low, high),
        (size,),
        dtype,
        device,
        requires_grad,
        generator,
        default=dtypes.int64,
    )


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A random permutation of 0 .. n-1: on the CPU, PyTorch's shuffle of the same seed."""
    n = _count_arg("randperm", "n", n)
    dev = backend.canonical(device)
    gen = _generator("randperm()", generator, dev)
    if dev.type == "cpu":
        perm = gen.permutation(n)
    else:  # CuPy's Generator has no permutation: the order that sorts n uniform draws is a uniform permutation
        perm = backend.array_module(dev).argsort(gen.random(n))
    out = Tensor._wrap(perm.astype(dtypes.to_numpy(dtype or dtypes.int64)), dev)
    return out.requires_grad_(True) if requires_grad else out


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``normal(mean, std, size)`` with float mean and std; or with a tensor mean and/or std (the result has their
    broadcast shape): N(0, 1) draws, times std, plus mean."""
    if not isinstance(mean, Tensor) and not isinstance(std, Tensor):
        if size is None:
            raise TypeError("normal(): with a float mean and std, give the size")
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        draw = lambda gen, shape, np_dtype: random.normal(gen, shape, np_dtype, mean, std, "normal")  # noqa: E731
        return _draw("normal()", draw, (size,), dtype, device, requires_grad, generator)
    like = mean if isinstance(mean, Tensor) else std
    if isinstance(std, Tensor) and std._data.size and (std._data < 0).any():
        raise RuntimeError("normal expects all elements of std >= 0.0")
    shape = numpy.broadcast_shapes(*(t.shape for t in (mean, std) if isinstance(t, Tensor)))
    noise = randn(shape, generator=generator, dtype=like.dtype, device=like.device)
    return noise * std + mean


def bernoulli(input: Tensor, p=None, *, generator=None) -> Tensor:
    """0/1 draws of input's shape and dtype: 1 with probability ``input`` (elementwise), or ``p`` when given."""
    _check_tensor("bernoulli()", input)
    gen = _generator("bernoulli()", generator, input.device)
    probs = input._data if p is None else p
    return Tensor._wrap(random.bernoulli(gen, probs, input._data.shape, input._data.dtype), input.device)


def multinomial(probs: Tensor, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    """Draw ``num_samples`` category indices per row of ``probs`` (non-negative weights, not necessarily
    normalised). Without replacement, each index appears at most once per row.

    On the CPU, as PyTorch's: with replacement (and more than one sample), a float64 uniform per sample is looked
    up in the row's normalised cumulative sums; otherwise each category gets an Exp(1) draw q and the samples are
    the categories of largest p/q (the Gumbel-max trick in another form)."""
    _check_tensor("multinomial()", probs)
    if probs.dim() not in (1, 2):
        raise RuntimeError(f"multinomial: probs must be 1-D or 2-D, got shape {tuple(probs.shape)}")
    if not probs.dtype.is_floating_point:
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got {probs.dtype}")
    num_samples = _count_arg("multinomial", "num_samples", num_samples)
    if num_samples == 0 or probs.shape[-1] == 0:
        raise RuntimeError(
            f"multinomial: cannot sample {num_samples} samples from {probs.shape[-1]} categories "
            "(both must be positive)"
        )
    xp, dev = probs._xp, probs.device
    weights = probs._data.reshape(-1, probs.shape[-1])
    categories = weights.shape[1]
    # checked on the device (raised at the next host read on CUDA), so sampling a token costs no sync
    backend.check(
        ~xp.isfinite(weights).all() | (weights < 0).any(),
        lambda: RuntimeError("multinomial: probabilities must be finite and non-negative"),
    )
    backend.check(
        (weights.sum(axis=1) <= 0).any(),
        lambda: RuntimeError("multinomial: every row of probabilities must have a positive sum"),
    )
    if not replacement and num_samples > categories:
        raise RuntimeError(
            f"multinomial: cannot draw {num_samples} samples without replacement from {categories} categories"
        )
    gen = _generator("multinomial()", generator, dev)
    if dev.type == "cpu":
        samples = _multinomial_cpu(gen, weights, num_samples, replacement)
    else:
        samples = _multinomial_counting(xp, gen, weights, num_samples, replacement)
    samples = samples.astype(numpy.int64)
    return Tensor._wrap(samples.reshape(num_samples) if probs.dim() == 1 else samples, dev)


def _multinomial_cpu(gen, weights, num_samples, replacement):
    if replacement and num_samples > 1:
        rows = []
        for row in weights:  # rows draw in turn from the one stream
            cdf = numpy.cumsum(row)  # in the row's dtype, summed left to right
            cdf /= cdf[-1]
            rows.append(random._search(cdf, gen.uniform(num_samples, numpy.dtype(numpy.float64))))
        return numpy.stack(rows)
    q = gen.exponential(weights.size, weights.dtype).reshape(weights.shape)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        keys = weights / q
    if num_samples == 1:
        return keys.argmax(axis=1)[:, None]
    return numpy.argsort(-keys, axis=1, kind="stable")[:, :num_samples]


def _multinomial_counting(xp, gen, weights, num_samples, replacement):
    weights = weights.astype(numpy.float64)
    totals = weights.sum(axis=1, keepdims=True)
    if replacement or num_samples == 1:
        # inverse-CDF sampling: the first category whose cumulative weight exceeds a uniform draw
        cdf = xp.cumsum(weights, axis=1)
        u = gen.random((weights.shape[0], num_samples)) * totals
        samples = (cdf[:, None, :] <= u[:, :, None]).sum(axis=2)
        return xp.minimum(samples, weights.shape[1] - 1)
    # Gumbel top-k: sorting log-weights plus Gumbel noise draws without replacement
    with numpy.errstate(divide="ignore"):
        keys = xp.log(weights) - xp.log(-xp.log(gen.random(weights.shape)))
    return xp.argsort(-keys, axis=1)[:, :num_samples]


# -- combining tensors -----------------------------------------------------------------------------------


def _common(tensors, what):
    if isinstance(tensors, Tensor):  # iterating it would join its rows
        raise TypeError(f"{what}(): argument 'tensors' must be a tuple or list of Tensors, not Tensor")
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError(f"{what}: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}: expected Tensor as element {i} of the list, but got {type(t).__name__}")
    for t in tensors[1:]:
        same_device(what, tensors[0], t)
    # PyTorch's promotion across kinds: the highest kind (bool < integer < float) decides, so int64 with
    # float32 gives float32 (NumPy's result_type would give float64)
    first = tensors[0]._data.dtype
    if all(t._data.dtype == first for t in tensors):
        return tensors
    rank = {"b": 0, "u": 1, "i": 1, "f": 2}
    top = max(rank[t._data.dtype.kind] for t in tensors)
    dtype = numpy.result_type(*(t._data.dtype for t in tensors if rank[t._data.dtype.kind] == top))
    return [t if t._data.dtype == dtype else t.to(dtypes.from_numpy(dtype)) for t in tensors]


def cat(tensors, dim: int = 0) -> Tensor:
    tensors = _common(tensors, "cat")
    first = tensors[0]._data.shape
    ndim = len(first)
    if ndim == 0:
        raise RuntimeError("cat: zero-dimensional tensors cannot be concatenated (stack them instead)")
    axis = dim_index(dim, ndim)
    for t in tensors:
        shape = t._data.shape
        if len(shape) != ndim or any(shape[i] != first[i] for i in range(ndim) if i != axis):
            raise RuntimeError(
                f"cat: sizes of tensors must match except in dimension {dim}: got {[tuple(x.shape) for x in tensors]}"
            )
    return apply(movement.Cat, *tensors, dim=axis)


concat = concatenate = cat


def stack(tensors, dim: int = 0) -> Tensor:
    tensors = _common(tensors, "stack")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise RuntimeError(f"stack expects each tensor to be equal size, got shapes {sorted(shapes)}")
    axis = dim_index(dim, tensors[0].dim() + 1)
    return apply(movement.Stack, *tensors, dim=axis)


def where(condition: Tensor, input, other) -> Tensor:
    """Elements of ``input`` where ``condition`` holds, else of ``other``."""
    if not isinstance(condition, Tensor) or condition._data.dtype != numpy.bool_:
        raise RuntimeError("where: condition must be a bool tensor")
    dtype = result_dtype(input, other, False)
    pieces = []
    for x in (input, other):
        if isinstance(x, Tensor):
            same_device("where", condition, x)
            pieces.append(x if x._data.dtype == dtype else x.to(dtypes.from_numpy(dtype)))
        else:
            pieces.append(dtype.type(x))
    return apply(movement.Where, condition, *pieces)


def tril(t: Tensor, diagonal: int = 0) -> Tensor:
    return t.tril(diagonal)


def triu(t: Tensor, diagonal: int = 0) -> Tensor:
    return t.triu(diagonal)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(t: Tensor) -> int:
    return t.numel()
