"""Keep freed array memory in the process for the next step, instead of handing it back to the OS at once.

glibc's malloc gives every large block (above 128 KB, a threshold it raises up to 32 MB as blocks are freed)
its own fresh mapping, and unmaps it on free; each new array then pays a page fault per 4 KB page on first
touch. A training step allocates and frees the same few dozen arrays every time, so it pays those faults every
step (``python -m benchmarks kernels`` measures both ways; figures in ``benchmarks/NOTES.md`` §13). ``mallopt``
asks malloc to serve blocks up to 1 GiB from its heap and to keep up to 1 GiB of freed memory there for reuse:
the memory a step frees is the memory the next step allocates, as PyTorch's CUDA caching allocator does on the
GPU. The peak a process reaches is unchanged; what changes is that freed memory stays resident until the
process exits or needs it again.

Applied once, at ``import tinygrad_edu``, on Linux with glibc; ``TINYGRAD_EDU_KEEP_FREED_MEMORY=0`` leaves
malloc as it was.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
LIMIT = 1 << 30

_applied = [False]


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as described above; True when it was applied (now or before)."""
    if _applied[0]:
        return True
    if os.environ.get("TINYGRAD_EDU_KEEP_FREED_MEMORY", "1") in ("0", "off", "false") or not sys.platform.startswith(
        "linux"
    ):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl, or no libc to load: nothing to tune
        return False
    _applied[0] = bool(mallopt(M_MMAP_THRESHOLD, LIMIT)) and bool(mallopt(M_TRIM_THRESHOLD, LIMIT))
    return _applied[0]


def applied() -> bool:
    return _applied[0]
