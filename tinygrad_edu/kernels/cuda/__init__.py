"""The kernels for the ``cuda`` device, written with numba-cuda and launched on CuPy's arrays without copies.

numba's CUDA kernels take any array that exposes ``__cuda_array_interface__``, which CuPy's do, so a kernel
reads and writes CuPy's memory directly; each launch goes on CuPy's current stream, so it is ordered with the
CuPy work around it. Each family's functions take ``xp`` (the array module that allocates the outputs), so
that the same code runs on a GPU with CuPy and, in CI, in numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``)
on NumPy arrays: ``tests/test_cuda_kernels.py`` runs every kernel there against the reference op.

Why numba-cuda rather than CuPy's ``RawKernel``: the kernels stay Python, read like the CPU kernels beside them,
and can be tested without a GPU; CuPy's kernels are CUDA C strings that only a GPU can run.

Nothing here has run on a real GPU yet (see docs/devices.md).
"""

from __future__ import annotations

import functools
import importlib
import os


def simulated() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


# threads per block: a multiple of the warp size that keeps enough blocks per SM busy; the simulator runs each
# thread as an OS thread, so there a block is one warp (the reductions are written for any power of two)
THREADS = 32 if simulated() else 256


@functools.cache
def cuda():
    """numba's CUDA module, or None when numba-cuda is missing or sees no GPU (nor the simulator)."""
    try:
        module = importlib.import_module("numba.cuda")
        return module if module.is_available() else None
    except Exception:  # numba-cuda missing, or CUDA libraries that fail to load
        return None


def stream(xp):
    """The stream to launch on: CuPy's current stream (0, the simulator's default, for NumPy)."""
    if xp.__name__ == "numpy":
        return 0
    return cuda().external_stream(xp.cuda.get_current_stream().ptr)


def blocks_for(n: int) -> int:
    return max(1, min((n + THREADS - 1) // THREADS, 65_535))


def dense(xp, array, shape):
    """``array`` broadcast to ``shape`` as a contiguous array of its own (a broadcast view is read-only, and the
    simulator copies every argument back after a launch)."""
    if tuple(array.shape) != tuple(shape):
        return xp.ascontiguousarray(xp.broadcast_to(array, shape)).copy()
    return xp.ascontiguousarray(array)
