"""Compiled kernels for the hot ops, beside the readable reference ops they speed up.

Every op in ``tinygrad_edu/ops`` is written once in NumPy's vocabulary, and that stays the reference: the
oracle the kernels are tested against, and what a reader follows. A few ops are memory-bound chains of small
passes (GELU's erf, layer norm's mean and variance, softmax's max, exp and sum); for those, a kernel here does
the same arithmetic in one pass per row with numba, compiled once per machine (``cache=True``).

The switch: ``TINYGRAD_EDU_KERNELS=0`` in the environment, or ``with kernels.reference():`` in code, runs the
plain NumPy path; ``kernels.enabled()`` says which is on. Kernels run only where they apply (the CPU, float32
or float64, numba importable); everywhere else the op's reference path runs, so a missing numba costs speed,
never correctness. Under ``create_graph=True`` the ops take their differentiable paths, as before.

Threads: the kernels run on one thread (vectorized by LLVM), and BLAS keeps every core. Measured on the
project's 2-core machine (``python -m benchmarks blas-threads``): with numba's thread pool working between
matmuls, OpenBLAS's two threads fall to 22 GFLOP/s on the baby model's 768×128×512 product (92 on one thread);
with the kernels on one thread, two BLAS threads reach 176 at that size and 186 at the lecture's 16384×384×1536,
about 2x one thread at every size. So no per-size thread switching is needed: the pools just must not compete.

So the kernels are compiled serially (no ``parallel=True``). Their loops are still written with ``numba.prange``,
a plain ``range`` when compiled this way, so that the same source can be compiled across numba's threads (the
blas-threads benchmark does, to measure the competition). Serial compilation matters for small tensors: entering
numba's thread pool costs about 76 µs a call even with one thread, against 0.5 µs for a serial call, and a
token's layer norm in generation is a 1×128 row. ``error_model="numpy"`` lets a division by zero give inf or nan,
as NumPy does, instead of a Python exception check that keeps LLVM from vectorizing the loop (GELU's forward ran
10x slower serially without it; with it, every kernel is as fast serially as it was on the pool at the lecture's
sizes: ``benchmarks/NOTES.md``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os

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


def applies(xp, *arrays) -> bool:
    """Whether a kernel may take these arrays: kernels switched on; float32 or float64 alike; NumPy arrays with
    numba, or CuPy arrays with numba-cuda and a GPU (``kernels/cuda``). The stand-in device takes none."""
    if not switched_on() or xp.__name__ not in ("numpy", "cupy"):  # not the recorded (create_graph) backward
        return False
    dtype = arrays[0].dtype
    if dtype.kind != "f" or dtype.itemsize not in (4, 8) or any(a.dtype != dtype for a in arrays):
        return False
    if xp.__name__ == "numpy":
        return numba_available()
    from . import cuda

    return cuda.cuda() is not None


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel for float32 and float64, so no step pays for it."""
    if not numba_available():
        return
    import numpy as np

    from . import adam, cross_entropy, gelu, layer_norm, masked_fill, scatter_add, softmax

    for dtype in (np.float32, np.float64):
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
