"""``tinygrad_edu.cuda``: whether the CuPy backend can be used on this machine."""

from __future__ import annotations

from . import backend, random


def is_available() -> bool:
    """True when CuPy imports and sees at least one NVIDIA GPU (or the stand-in is on: ``is_simulated()``)."""
    return backend.cuda_available()


def is_simulated() -> bool:
    """True when ``cuda`` runs on the strict CPU stand-in (``TINYGRAD_EDU_CUDA=sim``), not on a GPU."""
    return backend.simulated()


def sync_count() -> int:
    """Device-to-host reads so far on the stand-in device (each one a GPU sync on real hardware)."""
    if not backend.simulated():
        raise RuntimeError("sync_count() counts on the stand-in device only: set TINYGRAD_EDU_CUDA=sim")
    return backend.array_module(backend.device("cuda")).sync_count()


def device_count() -> int:
    return 1 if is_available() else 0


def set_device(device) -> None:
    """Choose the GPU of this process. One GPU per process here (under ``mpiexec`` each rank has its own), so
    only device 0 is accepted."""
    index = getattr(device, "index", device)
    if isinstance(index, str):
        index = int(index.split(":")[1]) if ":" in index else 0
    if not is_available():
        raise RuntimeError("set_device: no CUDA device here (tinygrad_edu.cuda.is_available() is False)")
    if index not in (None, 0):
        raise ValueError(f"set_device({device!r}): one GPU per process here, cuda:0; run one process per GPU")


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """False: there are no bfloat16 tensors here (autocast rounds products to bfloat16 and keeps float32)."""
    return False


def manual_seed(seed: int) -> None:
    """Seed the CUDA generator (the counter-based one of ``backend.CountingGenerator``); without a GPU, nothing."""
    if is_available():
        random.cuda_generator().manual_seed(random.check_seed(seed))


manual_seed_all = manual_seed  # one GPU at a time: all of them is this one


def get_rng_state() -> dict:
    """The CUDA generator's state, ``{"seed", "draws"}`` (JSON data, unlike PyTorch's byte tensor)."""
    return random.cuda_generator().get_state()


def set_rng_state(state: dict) -> None:
    random.cuda_generator().set_state(state)


def synchronize() -> None:
    """Wait for queued GPU work (timings need it); nothing to do without a GPU."""
    if is_available():
        backend.array_module(backend.device("cuda")).cuda.Device().synchronize()
