"""Devices and their array modules: the only place that knows NumPy from CuPy.

Every op is written once against an "array module" ``xp`` (NumPy's API); this file hands out the right one for
a device: ``numpy`` for ``"cpu"``, ``cupy`` for ``"cuda"`` when CuPy and a GPU are present. It also keeps one
seeded random generator per device, so that ``manual_seed`` makes dropout, ``randn`` and sampling reproducible.
"""

from __future__ import annotations

import functools
import importlib

import numpy


class device:  # noqa: N801 - PyTorch spells it in lower case
    """A device name as PyTorch writes it: ``device("cpu")``, ``device("cuda")``, ``device("cuda:0")``."""

    __slots__ = ("type", "index")

    def __init__(self, spec: str | device, index: int | None = None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {type(spec).__name__}")
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N'")
        self.type = kind
        self.index = int(idx) if idx else index
        if kind == "cpu" and self.index not in (None, 0):
            raise ValueError(f"device {spec!r}: the CPU has no index")

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type={self.type!r}" + ("" if self.index is None else f", index={self.index}") + ")"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, device):
            return NotImplemented
        # "cuda" and "cuda:0" name the same GPU: the engine uses one GPU at a time
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self) -> int:
        return hash((self.type, self.index or 0))


CPU = device("cpu")


def canonical(dev) -> device:
    """Turn ``None``, a string or a ``device`` into a device, checking that it can be used here."""
    if dev is None:
        return CPU
    dev = dev if isinstance(dev, device) else device(dev)
    if dev.type == "cuda" and not cuda_available():
        raise RuntimeError(
            f"device {str(dev)!r} was requested but CUDA is not available: "
            + (_cupy_import_error() or "no GPU was found")
            + ". Use device='cpu', or install the 'cuda' extra on a machine with an NVIDIA GPU."
        )
    return dev


@functools.cache
def _cupy():
    try:
        cupy = importlib.import_module("cupy")
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        return cupy
    except Exception:  # ImportError, or CUDA libraries that fail to load: either way, no GPU backend
        return None


def _cupy_import_error() -> str | None:
    try:
        importlib.import_module("cupy")
    except Exception as exc:
        return f"CuPy could not be imported ({exc.__class__.__name__}: {exc})"
    return None


def cuda_available() -> bool:
    return _cupy() is not None


def array_module(dev: device):
    """The array module (``numpy`` or ``cupy``) that holds arrays of this device."""
    if dev.type == "cpu":
        return numpy
    cupy = _cupy()
    if cupy is None:
        canonical(dev)  # raises the explanatory error
    return cupy


def device_of(array) -> device:
    """The device an array lives on."""
    return CPU if isinstance(array, (numpy.ndarray, numpy.generic)) else device("cuda")


def to_device(array, dev: device):
    """Copy an array to a device (a no-op when it is already there)."""
    if dev.type == "cpu":
        return array.get() if not isinstance(array, (numpy.ndarray, numpy.generic)) else array
    return array_module(dev).asarray(array)


def special(dev: device):
    """The module with ``erf`` for a device: ``scipy.special`` on the CPU, ``cupyx.scipy.special`` on CUDA."""
    if dev.type == "cpu":
        return importlib.import_module("scipy.special")
    return importlib.import_module("cupyx.scipy.special")


# ----------------------------------------------------------------------------------------------------------
# Random generators: one per device, reseeded together by manual_seed.

_generators: dict[device, object] = {}
_seed = [None]


def generator(dev: device):
    """The seeded generator of a device (NumPy's ``Generator`` API on both backends)."""
    gen = _generators.get(dev)
    if gen is None:
        gen = _new_generator(dev, _seed[0])
        _generators[dev] = gen
    return gen


def _new_generator(dev: device, seed):
    if dev.type == "cpu":
        return numpy.random.Generator(numpy.random.PCG64(seed))
    cupy = array_module(dev)
    return cupy.random.Generator(cupy.random.XORWOW(seed))


def manual_seed(seed: int) -> None:
    """Seed every device's generator, as ``torch.manual_seed`` does."""
    _seed[0] = int(seed)
    for dev in list(_generators) or [CPU]:
        _generators[dev] = _new_generator(dev, _seed[0])


def get_rng_state() -> dict:
    """The CPU generator's state as plain JSON-serialisable data (for checkpoints)."""
    return generator(CPU).bit_generator.state


def set_rng_state(state: dict) -> None:
    generator(CPU).bit_generator.state = state
