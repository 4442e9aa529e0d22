"""tinygrad_edu: a small tensor autograd engine with PyTorch's API, written to be read.

import tinygrad_edu as torch
import tinygrad_edu.nn as nn
from tinygrad_edu.nn import functional as F
"""

from . import autograd, cuda, dtypes, nn, optim  # noqa: E402,I001 - nn and optim build on everything above
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from . import allocator, backend, promotion
from .backend import device
from . import random  # torch.random: PyTorch's CPU generator (fork_rng, get_rng_state ...)
from .random import Generator, get_rng_state, initial_seed, set_rng_state
from . import backends  # torch.backends.cuda.matmul.allow_tf32 and the like
from . import distributed  # torch.distributed: not provided, each name says what to use instead
from . import utils  # torch.utils.data: datasets, samplers and the DataLoader
from .backends import get_float32_matmul_precision, set_float32_matmul_precision
from .compiler import compile  # noqa: A004 - torch.compile's name
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
    bernoulli,
    cat,
    concat,
    concatenate,
    empty,
    empty_like,
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
from . import amp  # noqa: E402 - autocast and GradScaler build on Tensor
from .amp import autocast, bfloat16, is_autocast_enabled

cpu = __import__("types").SimpleNamespace(amp=amp.cpu_amp)  # torch.cpu.amp.autocast
cuda.amp = amp.cuda_amp  # torch.cuda.amp.autocast and GradScaler
from . import testing  # noqa: E402 - torch.testing: assert_close, make_tensor; check_op loads hypothesis lazily
from .serialization import load, save  # noqa: E402 - torch.save / torch.load, in PyTorch's file format

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
    "equal",
    "masked_fill",
    "all",
    "any",
    "logical_not",
    "isfinite",
    "flip",
    "fliplr",
    "flipud",
    "roll",
    "gather",
    "scatter",
    "scatter_add",
    "index_select",
    "take_along_dim",
    "sort",
    "argsort",
    "cumsum",
    "cumprod",
    "logsumexp",
    "log2",
    "log10",
    "bincount",
    "histc",
    "histogram",
):
    globals()[_name] = _unary(_name)
del _name


def einsum(equation: str, *operands):
    """``torch.einsum("ij,jk->ik", a, b)``: a sum of products named by letters, ``...`` for broadcast dims."""
    from .autograd.graph import apply
    from .ops.einsum import Einsum, parse_equation

    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):  # einsum(eq, [a, b]) as PyTorch allows
        operands = tuple(operands[0])
    if [o for o in operands if not isinstance(o, Tensor)]:  # (all() here is torch.all)
        raise TypeError("einsum(): operands must be Tensors")
    if len({o.dtype for o in operands}) > 1:
        raise RuntimeError(f"einsum(): expected operands of one dtype, got {[str(o.dtype) for o in operands]}")
    subscripts, output = parse_equation(equation, [o.dim() for o in operands])
    return apply(Einsum, *operands, inputs=subscripts, output=output)


def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    """``torch.norm``: ``input.norm(p, dim, keepdim, dtype)``."""
    if out is not None:
        raise NotImplementedError("norm(out=...): tensors here are not written into by functions; assign the result")
    return input.norm(p, dim, keepdim, dtype)


def unbind(input, dim=0):
    """``torch.unbind``: the slices of ``input`` along ``dim``, each without that dim."""
    return input.unbind(dim)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """``t.repeat_interleave(repeats, dim)``; with only a tensor of counts, each index i repeated counts[i] times."""
    if repeats is None:  # torch.repeat_interleave(counts)
        counts = input
        return arange(counts.numel(), device=counts.device).repeat_interleave(counts, output_size=output_size)
    return input.repeat_interleave(repeats, dim, output_size=output_size)


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
