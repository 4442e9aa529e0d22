"""Block-wide sums and maxima in shared memory: the building block of the row kernels (one block per row)."""

from __future__ import annotations

from numba import cuda

from . import THREADS


@cuda.jit(device=True)
def block_sum(shared, value):
    """Σ of ``value`` over the block's threads (every thread gets the total); ``shared`` has THREADS slots."""
    t = cuda.threadIdx.x
    shared[t] = value
    cuda.syncthreads()
    step = THREADS // 2
    while step > 0:
        if t < step:
            shared[t] += shared[t + step]
        cuda.syncthreads()
        step //= 2
    total = shared[0]
    cuda.syncthreads()  # before the next reduction reuses ``shared``
    return total


@cuda.jit(device=True)
def block_max(shared, value):
    t = cuda.threadIdx.x
    shared[t] = value
    cuda.syncthreads()
    step = THREADS // 2
    while step > 0:
        if t < step:
            shared[t] = max(shared[t], shared[t + step])
        cuda.syncthreads()
        step //= 2
    top = shared[0]
    cuda.syncthreads()
    return top
