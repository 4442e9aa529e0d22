"""``tinygrad_edu.cuda``: whether the CuPy backend can be used on this machine."""

from __future__ import annotations

from . import backend


def is_available() -> bool:
    """True when CuPy imports and sees at least one NVIDIA GPU."""
    return backend.cuda_available()


def device_count() -> int:
    return 1 if is_available() else 0


def manual_seed(seed: int) -> None:
    backend.manual_seed(seed)


def synchronize() -> None:
    """Wait for queued GPU work (timings need it); nothing to do without a GPU."""
    if is_available():
        backend.array_module(backend.device("cuda")).cuda.Device().synchronize()
