"""tinygrad_edu: a small tensor autograd engine with PyTorch's API, written to be read.

import tinygrad_edu as torch
import tinygrad_edu.nn as nn
from tinygrad_edu.nn import functional as F
"""

from . import autograd, cuda, dtypes, nn, optim  # noqa: E402,I001 - nn and optim build on everything above
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from . import allocator, backend, promotion
from .backend import device, get_rng_state, set_rng_state
from .dtypes import (
    bool,
    double,
    float,
    float16,
    float32,
    float64,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    short,
    uint8,
)
from .factories import (
    arange,
    as_tensor,
    cat,
    concat,
    concatenate,
    empty,
    eye,
    from_numpy,
    full,
    full_like,
    is_tensor,
    linspace,
    manual_seed,
    multinomial,
    normal,
    numel,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    seed,
    stack,
    tensor,
    tril,
    triu,
    where,
    zeros,
    zeros_like,
)
from .tensor import Size, Tensor

__version__ = "0.1.0"

DType = dtypes.DType
dtype = dtypes.DType


def _unary(name):
    def fn(input, *args, **kwargs):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"``torch.{name}(t, ...)``: the same as ``t.{name}(...)``."
    return fn


# PyTorch offers most tensor methods as functions too: torch.exp(x), torch.sum(x, dim=1) ...
for _name in (
    "exp",
    "log",
    "sqrt",
    "rsqrt",
    "tanh",
    "sigmoid",
    "relu",
    "abs",
    "sign",
    "sin",
    "cos",
    "sum",
    "mean",
    "var",
    "std",
    "max",
    "min",
    "amax",
    "amin",
    "topk",
    "argmax",
    "argmin",
    "softmax",
    "log_softmax",
    "reshape",
    "permute",
    "transpose",
    "unsqueeze",
    "squeeze",
    "flatten",
    "matmul",
    "clamp",
    "clip",
    "split",
    "chunk",
    "maximum",
    "minimum",
    "square",
    "allclose",
    "masked_fill",
    "all",
    "any",
    "logical_not",
    "isfinite",
):
    globals()[_name] = _unary(_name)
del _name


def add(input, other):
    return input + other


def mul(input, other):
    return input * other


def sub(input, other):
    return input - other


def div(input, other):
    return input / other


def pow(input, exponent):  # noqa: A001
    return input**exponent


def mm(input, mat2):
    """The product of two matrices (``matmul`` also takes vectors and batches)."""
    promotion.check_matmul("mm", input, mat2)
    if input.dim() != 2 or mat2.dim() != 2:
        raise RuntimeError(
            f"mm: both arguments must be matrices, got shapes {tuple(input.shape)} and {tuple(mat2.shape)}"
        )
    return input @ mat2


def bmm(input, mat2):
    """The products of two batches of matrices, (b, n, m) @ (b, m, p): no broadcasting, as PyTorch's."""
    promotion.check_matmul("bmm", input, mat2)
    if input.dim() != 3 or mat2.dim() != 3 or input.shape[0] != mat2.shape[0]:
        raise RuntimeError(
            f"bmm: both arguments must be 3-D with the same batch size, got shapes {tuple(input.shape)} and "
            f"{tuple(mat2.shape)}"
        )
    return input @ mat2


def assert_async(condition: Tensor, error) -> None:
    """Raise ``error()`` unless the one-element bool tensor ``condition`` is true, without waiting for the GPU.

    On the CPU it raises at once. On CUDA the check stays on the device and raises at the next read of a device
    value by the host (``.item()``, ``.tolist()``, ``.cpu()``, printing), as PyTorch's ``torch._assert_async``
    raises at the next sync: a training loop can check every step and still sync only when it logs.
    ``error`` is an exception or a function that returns one (called only when the check fails)."""
    if condition.dtype != dtypes.bool or condition.numel() != 1:
        raise TypeError(
            f"assert_async: condition must be a bool tensor with one element, got {condition.dtype} "
            f"of shape {tuple(condition.shape)}"
        )
    backend.check(~condition._data.reshape(()), error if callable(error) else lambda: error)


allocator.keep_freed_memory()  # freed arrays stay for the next step: see tinygrad_edu/allocator.py
