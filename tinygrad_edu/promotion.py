"""Type promotion: which dtype a binary op computes in, as PyTorch decides it, and the ops' shared argument checks.

A Python number or a 0-d tensor adopts the other side's dtype within its kind (bool < int < float), so
``float16_tensor * 2.5`` stays float16 and ``int_tensor / 2`` is float32.
"""

from __future__ import annotations

import builtins
import numbers

import numpy

from .autograd import graph
from .autograd.graph import apply
from .ops import elementwise


def result_dtype(a, b, true_division: bool):
    """PyTorch's promotion: a Python number or a 0-d tensor adopts the other side's dtype within its kind."""

    Tensor = graph.tensor_type()
    common = _common_case(a, b, true_division, Tensor)
    return common if common is not None else _by_kinds(a, b, true_division, Tensor)


def _by_kinds(a, b, true_division: bool, Tensor):
    """The rule in general: the higher kind (bool < int < float) wins; within it, tensors with dims decide."""

    def kind(x):
        if isinstance(x, Tensor):
            k = x._data.dtype.kind
            return "f" if k == "f" else ("b" if k == "b" else "i")
        if isinstance(x, builtins.bool):
            return "b"
        return "i" if isinstance(x, numbers.Integral) else "f"

    order = {"b": 0, "i": 1, "f": 2}
    ka, kb = kind(a), kind(b)
    tensors = [x for x in (a, b) if isinstance(x, Tensor)]
    dims = [x for x in tensors if x._data.ndim > 0]
    top = builtins.max(ka, kb, key=order.get)
    candidates = [x._data.dtype for x in (dims or tensors) if kind(x) == top]
    if not candidates:  # the highest kind comes from a Python number or a 0-d tensor of a higher kind
        zero_d = [x._data.dtype for x in tensors if kind(x) == top]
        dtype = zero_d[0] if zero_d else (numpy.dtype(numpy.float32) if top == "f" else numpy.dtype(numpy.int64))
    else:
        dtype = numpy.result_type(*candidates)
    if true_division and dtype.kind != "f":
        dtype = numpy.dtype(numpy.float32)
    return dtype


def _common_case(a, b, true_division: bool, Tensor):
    """The dtype of the two cases that most ops meet, found without the general rule (which costs more than a
    small op's arithmetic): two tensors of one dtype (a float one for a true division), or a float tensor and a
    Python int or float. None otherwise."""
    if type(a) is Tensor:
        dtype = a._data.dtype
        if type(b) is Tensor:
            return dtype if b._data.dtype == dtype and (dtype.kind == "f" or not true_division) else None
        other = b
    elif type(b) is Tensor:
        dtype, other = b._data.dtype, a
    else:
        return None
    return dtype if dtype.kind == "f" and type(other) in (int, float) else None


def binary(op, a, b, true_division: bool = False):
    """Apply a binary op after bringing both sides to one dtype; Python numbers stay scalars (cheap)."""
    Tensor = graph.tensor_type()
    dtype = result_dtype(a, b, true_division)

    def prepare(x):
        if isinstance(x, Tensor):
            return x if x._data.dtype == dtype else apply(elementwise.Cast, x, dtype=dtype)
        if isinstance(x, (numbers.Number, numpy.generic)):
            return dtype.type(x)
        raise TypeError(f"{op.__name__}: unsupported operand of type {type(x).__name__} (expected a Tensor or number)")

    a, b = prepare(a), prepare(b)
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        same_device(op.__name__, a, b)
    return apply(op, a, b)


def check_matmul(what: str, a, b) -> None:
    """Matrix products don't promote, as PyTorch's: two tensors of one dtype (a dtype check, nothing read)."""
    Tensor = graph.tensor_type()
    for x in (a, b):
        if not isinstance(x, Tensor):
            raise TypeError(f"{what}: expected Tensor operands, got {type(x).__name__}")
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(
            f"{what}: expected m1 and m2 to have the same dtype, but got: {a.dtype.name} != {b.dtype.name}"
        )


def as_float(t):
    """Integer inputs to float-only functions (exp, softmax ...) become float32, as in PyTorch."""
    return t if t._data.dtype.kind == "f" else t.float()


def same_device(what: str, a, b) -> None:
    if a.device != b.device:
        raise RuntimeError(f"{what}: expected all tensors on the same device, found {a.device} and {b.device}")


def array_of(value, like):
    """``value`` as something that combines with ``like``'s array: its array, or a scalar; a NumPy array is
    copied to ``like``'s device (CuPy refuses to mix host and device arrays)."""
    if isinstance(value, graph.tensor_type()):
        same_device("op", like, value)
        return value._data
    if isinstance(value, (numpy.ndarray, list, tuple)) and like.device.type != "cpu":
        return like._xp.asarray(value)
    return value
