"""Fast implementations of some ops, registered beside the reference ops in one table, and chosen at dispatch.

Every op in ``tinygrad_edu/ops`` is written once in NumPy's vocabulary, and that stays the reference: the math a
reader follows, and the oracle the fast paths are tested against. ``ops/`` knows nothing of what is here.

A fast path is an ``Op`` subclass of the reference op, with its own forward and backward, living beside the
kernel it calls (``LayerNormKernel`` at the bottom of ``kernels/layer_norm.py``). ``FAST_PATHS`` below lists them
with the conditions under which each applies: the device, the dtypes of the floating inputs, and whatever else
the kernel needs (an axis, a layout, a parameter). ``autograd/graph.py``'s ``apply`` asks ``choose`` once per op
call; the first fast path whose conditions hold runs, and otherwise the reference does. That is the only place
where the choice is made. ``python -m tinygrad_edu.kernels`` prints the table.

Why the kernels: a few ops are memory-bound chains of small passes (GELU's erf, layer norm's mean and variance,
softmax's max, exp and sum); a kernel does the same arithmetic in one pass per row with numba, compiled once per
machine (``cache=True``). On ``cuda``, each kernel module hands CuPy arrays to its twin in ``kernels/cuda``.

The switch: ``TINYGRAD_EDU_KERNELS=0`` in the environment, or ``with kernels.reference():`` in code, runs the
reference ops only; ``kernels.enabled()`` says which is on. A missing numba costs speed, never correctness.
Under ``create_graph=True`` a fast path's backward is not used: the reference's (or its ``composite``) is, on
Tensors (``autograd/higher_order.py``), so a fast path saves what the reference saves or the reference has a
``composite``. The tests check that each entry of the table is one of the two.

Threads: the kernels run on one thread (vectorized by LLVM), and BLAS keeps every core: numba's thread pool
working between matmuls slows OpenBLAS's threads down, and entering the pool costs more than a small row's
work. So the kernels are compiled serially (no ``parallel=True``); their loops are still written with
``numba.prange`` (a plain ``range`` when compiled this way) so the ``blas-threads`` benchmark can compile the same
source across numba's threads to measure the competition (figures: ``benchmarks/NOTES.md``).
``error_model="numpy"`` lets a division by zero give inf or nan, as NumPy does, instead of a Python exception
check that keeps LLVM from vectorizing the loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import math
import numbers
import os
from collections.abc import Callable

import numpy as np

from ..ops import attention, elementwise, movement, nn_ops

_forced_reference = [0]


def switched_on() -> bool:
    """``TINYGRAD_EDU_KERNELS`` is not 0 and no ``reference()`` block is active."""
    return not _forced_reference[0] and os.environ.get("TINYGRAD_EDU_KERNELS", "1") not in ("0", "off", "false")


def enabled() -> bool:
    """True when the compiled kernels may run: switched on, and numba importable."""
    return switched_on() and numba_available()


@functools.cache
def numba_available() -> bool:
    try:
        numba = importlib.import_module("numba")
    except ImportError:
        return False
    # numba's OpenMP layer resets the process's OpenMP thread count when its pool starts, which silently gives
    # PyTorch (or any OpenMP library in the process) all the cores again after torch.set_num_threads(1); the
    # kernels run on one thread anyway, so the workqueue layer, which touches no one else's settings, is enough.
    # It must be chosen before the pool starts, and set_num_threads starts it.
    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER = "workqueue"
    numba.set_num_threads(1)  # leave the cores to BLAS: see above (set for the thread that runs the kernels)
    from .compiled_cache import drop_stale_kernels

    drop_stale_kernels()  # numba's cache knows a kernel's own file, not the helpers it inlines: compiled_cache.py
    return True


@contextlib.contextmanager
def reference():
    """Run the plain NumPy reference ops inside the block (for comparisons, and for readers)."""
    _forced_reference[0] += 1
    try:
        yield
    finally:
        _forced_reference[0] -= 1


def device_ready(device: str, xp) -> bool:
    """Whether arrays of module ``xp`` can run a kernel made for ``device``: "cpu" (NumPy arrays, numba
    importable), "numpy" (NumPy arrays, no compiler needed) or "cuda" (CuPy arrays, numba-cuda and a GPU). The
    CUDA stand-in's arrays take none."""
    if xp.__name__ == "numpy":
        return device == "numpy" or (device == "cpu" and numba_available())
    if xp.__name__ != "cupy" or device != "cuda":
        return False
    from . import cuda

    return cuda.cuda() is not None


def applies(xp, *arrays, devices=("cpu", "cuda"), dtypes=("float32", "float64")) -> bool:
    """Whether a kernel may take these arrays: kernels switched on, the arrays' device ready (``device_ready``),
    and all of one dtype among ``dtypes``. Used by the table below and by the optimizers' fused steps."""
    if not switched_on():
        return False
    dtype = arrays[0].dtype
    if dtype.name not in dtypes or any(a.dtype != dtype for a in arrays):
        return False
    return any(device_ready(device, xp) for device in devices)


@dataclasses.dataclass
class FastPath:
    """One row of the table: ``implementation`` ("module.Class" in this folder, imported when first chosen)
    stands in for ``reference`` when the inputs are on one of ``devices``, the floating inputs share one dtype
    among ``dtypes``, and ``when(inputs, params)`` holds (inputs are arrays or Python values, params the op's
    keywords)."""

    reference: type
    implementation: str
    devices: tuple
    when: Callable | None = None
    dtypes: tuple = ("float32", "float64")
    loaded: type | None = None

    def applies(self, xp, inputs, params) -> bool:
        floats = [a for a in inputs if hasattr(a, "ndim") and hasattr(a, "dtype") and a.dtype.kind == "f"]
        if not floats or not applies(xp, *floats, devices=self.devices, dtypes=self.dtypes):
            return False
        return self.when is None or self.when(inputs, params)

    def load(self) -> type:
        if self.loaded is None:
            module, name = self.implementation.rsplit(".", 1)
            self.loaded = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        return self.loaded


# The conditions beyond device and dtype, each named by what it checks (``describe`` prints their docstrings).


def exact_form(inputs, params) -> bool:
    """approximate='none'"""
    return params["approximate"] == "none"


def not_empty(inputs, params) -> bool:
    """a non-empty input"""
    return inputs[0].size > 0


def last_axis(inputs, params) -> bool:
    """over the last axis of a non-empty input"""
    x = inputs[0]
    return x.ndim > 0 and x.size > 0 and params["dim"] == x.ndim - 1


def with_bias_and_blas(inputs, params) -> bool:
    """a bias, non-empty operands, NumPy's own OpenBLAS found"""
    rows, weight, bias = inputs
    if bias is None or rows.size == 0 or weight.size == 0:
        return False
    from . import addmm  # ctypes only: no numba

    return addmm.available(rows.dtype)


def mask_repeats_over_rows(inputs, params) -> bool:
    """a non-empty input; the mask covers its trailing axes and repeats over the leading ones (attention's)"""
    a, mask = inputs
    core = mask.shape[next((i for i, n in enumerate(mask.shape) if n != 1), mask.ndim) :]  # leading 1s dropped
    fits = mask.ndim <= a.ndim and 0 < len(core) and a.shape[a.ndim - len(core) :] == core
    return a.size > 0 and mask.dtype.kind == "b" and fits


def some_rows(inputs, params) -> bool:
    """a non-empty index array"""
    return inputs[0].size > 0


def whole_exponent(inputs, params) -> bool:
    """an array to the power of a number (not a tensor) that is whole, between -16 and 16"""
    base, exponent = inputs
    if getattr(base, "ndim", 0) == 0 or not isinstance(exponent, (numbers.Real, np.generic)):
        return False
    value = float(exponent)
    return value.is_integer() and abs(value) <= 16


def half_exponent(inputs, params) -> bool:
    """an array to the power of the number ½ or -½ (not a tensor)"""
    base, exponent = inputs
    if getattr(base, "ndim", 0) == 0 or not isinstance(exponent, (numbers.Real, np.generic)):
        return False
    return float(exponent) in (0.5, -0.5)


def rows_added_up(inputs, params) -> bool:
    """accumulate=True into rows picked by one non-empty integer array (embedding's backward)"""
    index = params["index"]
    return params["accumulate"] and hasattr(index, "ndim") and index.size > 0


def along_one_axis(inputs, params) -> bool:
    """picks along one axis: one non-empty integer array, after whole slices only"""
    index = params["index"]
    if not isinstance(index, tuple):
        index = (index,)
    if not index:
        return False
    *whole, picked = index
    return (
        all(isinstance(s, slice) and s == slice(None) for s in whole)
        and getattr(picked, "ndim", 0) > 0
        and picked.dtype.kind in "iu"
        and picked.size > 0
    )


# On the CPU the blocked kernel takes more time than the naive op (benchmarks/results/attention.md): it is chosen
# where the naive op's (…, T, S) probabilities, kept for backward, would take this many bytes or more, which is
# where memory, not time, runs out (tests lower it to 0 to run the kernel at small sizes)
FLASH_ATTENTION_FROM_BYTES = 32 * 2**20


def large_attention(inputs, params) -> bool:
    """P of 32 MiB or more on cpu, heads of at most 64 on cuda; no empty axis; a bool or q-dtype additive mask"""
    q, k, v, mask = inputs
    if any(a.ndim < 2 or a.size == 0 for a in (q, k, v)):
        return False
    if isinstance(q, np.ndarray):
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        if math.prod(batch) * q.shape[-2] * k.shape[-2] * q.itemsize < FLASH_ATTENTION_FROM_BYTES:
            return False
    if not isinstance(q, np.ndarray) and max(q.shape[-1], v.shape[-1]) > 64:  # cuda/flash_attention.py's HEAD_MAX
        return False
    if mask is None:
        return True
    if not hasattr(mask, "dtype") or not (mask.dtype.kind == "b" or mask.dtype == q.dtype):
        return False
    try:
        scores = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2]) + (q.shape[-2], k.shape[-2])
        return np.broadcast_shapes(scores, mask.shape) == scores
    except ValueError:  # the reference names the mismatch
        return False


CPU_AND_CUDA = ("cpu", "cuda")
ANY_FLOAT = ("float16", "float32", "float64")

# The table, one row per fast path; an op's rows are tried in this order. ``fmt: skip`` keeps a row on one line.
TABLE = (
    FastPath(elementwise.Gelu, "gelu.GeluKernel", CPU_AND_CUDA, exact_form),
    FastPath(elementwise.Pow, "power.WholePower", ("numpy",), whole_exponent, ANY_FLOAT),
    FastPath(elementwise.Pow, "power.HalfPower", ("numpy",), half_exponent, ANY_FLOAT),
    FastPath(elementwise.Sigmoid, "sigmoid.SigmoidKernel", ("cpu",), not_empty),
    FastPath(elementwise.Erf, "erf.ErfKernel", ("cpu",), not_empty, ("float32",)),
    FastPath(nn_ops.LayerNorm, "layer_norm.LayerNormKernel", CPU_AND_CUDA, not_empty),
    FastPath(nn_ops.Softmax, "softmax.SoftmaxKernel", CPU_AND_CUDA, last_axis),
    FastPath(nn_ops.CrossEntropy, "cross_entropy.CrossEntropyKernel", CPU_AND_CUDA, not_empty),
    FastPath(nn_ops.Dropout, "dropout.DropoutKernel", CPU_AND_CUDA),
    FastPath(nn_ops.Linear, "addmm.LinearAddmm", ("numpy",), with_bias_and_blas),
    FastPath(movement.MaskedFill, "masked_fill.MaskedFillKernel", ("cpu",), mask_repeats_over_rows),
    FastPath(nn_ops.Embedding, "scatter_add.EmbeddingKernel", CPU_AND_CUDA, some_rows),
    FastPath(nn_ops.Embedding, "scatter_add_sorted.EmbeddingSorted", ("numpy",), some_rows, ANY_FLOAT),
    FastPath(movement.ScatterAdd, "scatter_add.ScatterAddKernel", CPU_AND_CUDA, rows_added_up),
    FastPath(movement.ScatterAdd, "scatter_add_sorted.ScatterAddSorted", ("numpy",), rows_added_up, ANY_FLOAT),
    FastPath(movement.Index, "scatter_add.IndexAlongAxisKernel", ("cpu",), along_one_axis),
    FastPath(movement.Index, "scatter_add_sorted.IndexAlongAxis", ("numpy",), along_one_axis, ANY_FLOAT),
    FastPath(attention.ScaledDotProductAttention, "flash_attention.FlashAttention", CPU_AND_CUDA, large_attention),
)  # fmt: skip
FAST_PATHS: dict[type, tuple[FastPath, ...]] = {}  # reference op -> its rows, for graph.apply
for _row in TABLE:
    FAST_PATHS[_row.reference] = (*FAST_PATHS.get(_row.reference, ()), _row)


def choose(op_class, xp, inputs, params) -> type:
    """The class that runs ``op_class`` on these inputs: its first fast path that applies, else itself."""
    for path in FAST_PATHS[op_class]:
        if path.applies(xp, inputs, params):
            return path.load()
    return op_class


def describe() -> str:
    """The table in words, one line per fast path (``python -m tinygrad_edu.kernels``)."""
    lines = []
    for path in TABLE:
        condition = f"; {path.when.__doc__}" if path.when is not None else ""
        lines.append(
            f"{path.reference.__name__:<13} -> kernels/{path.implementation.replace('.', '.py: ')}"
            f"  [{', '.join(path.devices)}; {', '.join(path.dtypes)}{condition}]"
        )
    return "\n".join(lines)


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel for float32 and float64, so no step pays for it."""
    if not numba_available():
        return
    import numpy as np

    from . import adam, cross_entropy, flash_attention, gelu, layer_norm, masked_fill, scatter_add, softmax

    for dtype in (np.float32, np.float64):
        flash_attention.warm_up(dtype)
        x = np.linspace(-1, 1, 6, dtype=dtype).reshape(2, 3)
        out, cdf = gelu.gelu(x)
        gelu.gelu_backward(out, x, cdf)
        y, mean, rstd = layer_norm.layer_norm(x, np.ones(3, dtype), np.zeros(3, dtype), 1e-5, 1)
        layer_norm.layer_norm_backward(y, x, np.ones(3, dtype), mean, rstd, 1)
        softmax.softmax_last_backward(x, softmax.softmax_last(x))
        softmax.softmax_last(x, causal=True)
        losses, probs = cross_entropy.cross_entropy(x, np.array([0, 2]), -100)
        cross_entropy.cross_entropy_backward(probs, np.array([0, 2]), -100, np.ones(2, dtype))
        scatter_add.scatter_add_rows(np.zeros((2, 3), dtype), np.array([1, 1]), x)
        masked_fill.masked_fill_backward(masked_fill.masked_fill(x, x > 0, -np.inf), x > 0)
        p, g, m, v = (np.ones(3, dtype) for _ in range(4))
        adam.adam_step(p, g, m, v, lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.0, decoupled=True, t=1)
