"""Devices and their array modules: the only place that knows NumPy from CuPy.

Every op is written once against an "array module" ``xp`` (NumPy's API); this file hands out the right one for
a device: ``numpy`` for ``"cpu"``, ``cupy`` for ``"cuda"`` when CuPy and a GPU are present. It also has the
counter-based generator of the ``cuda`` device (the CPU's, and each device's default generator, are in ``random.py``).
"""

from __future__ import annotations

import functools
import importlib
import os

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
        if not spec:
            raise RuntimeError("Device string must not be empty: expected 'cpu', 'cuda' or 'cuda:N'")
        kind, colon, idx = spec.partition(":")
        if kind not in ("cpu", "cuda"):
            raise RuntimeError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N'")
        # as PyTorch's: the index is digits alone ("cuda:x", "cuda:", "cuda:-1" and "cuda: 0" are refused)
        if colon and not (idx.isascii() and idx.isdigit() and (idx == "0" or idx[0] != "0")):
            raise RuntimeError(f"Invalid device string: {spec!r} (expected 'cpu', 'cuda' or 'cuda:N')")
        if index is not None and (colon or index < 0):
            raise RuntimeError(f"device({spec!r}, {index}): give one non-negative index, in the string or as index=")
        self.type = kind
        self.index = int(idx) if colon else index
        if kind == "cpu" and self.index not in (None, 0):
            raise RuntimeError(f"device {spec!r}: the CPU has no index")

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type={self.type!r}" + ("" if self.index is None else f", index={self.index}") + ")"

    def __eq__(self, other) -> bool:
        if other is self:  # the usual case in an op's device check: one device object shared by its inputs
            return True
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


def simulated() -> bool:
    """True when ``TINYGRAD_EDU_CUDA=sim`` puts the strict stand-in (``simulated_cuda``) behind ``cuda``."""
    return os.environ.get("TINYGRAD_EDU_CUDA", "").lower() == "sim"


@functools.cache
def _cupy():
    """CuPy, or the stand-in (``TINYGRAD_EDU_CUDA=sim``), or None (no GPU, or ``TINYGRAD_EDU_CUDA=off``)."""
    choice = os.environ.get("TINYGRAD_EDU_CUDA", "").lower()
    if choice == "sim":
        return importlib.import_module("tinygrad_edu.simulated_cuda")
    if choice == "off":
        return None
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
        return to_host(array)
    return array_module(dev).asarray(array)


# ----------------------------------------------------------------------------------------------------------
# Reading device values on the host, and the checks that wait for it.
#
# A check of device values (is every index in range?) needs the values on the host, and moving them there
# makes the host wait for the GPU: a sync, which in a training step costs more than the check. So a check on a
# device array is kept pending, and rides along with the next transfer to the host, in the same copy; a failed
# check raises there, as PyTorch's CUDA asserts surface at the next sync. On the CPU checks raise at once.

_pending_checks: list = []  # (0-d bool device array: the check failed, () -> the exception to raise)
_MAX_PENDING = 16


def check(failed, error) -> None:
    """Raise ``error()`` if the 0-d bool array ``failed`` is true: now on the CPU, at the next host read on CUDA."""
    if isinstance(failed, (numpy.ndarray, numpy.generic, bool)):
        if failed:
            raise error()
        return
    _pending_checks.append((failed, error))
    if len(_pending_checks) > _MAX_PENDING:  # fold them into one, so that a loop that never reads stays bounded
        flags, errors = zip(*_pending_checks)
        xp = array_module(device("cuda"))
        combined = xp.stack(flags).any()
        _pending_checks[:] = [(combined, lambda: _first_error(flags, errors))]


def _first_error(flags, errors):
    for flag, error in zip(flags, errors):
        if flag.item():
            return error()
    return RuntimeError("a pending device check failed")  # unreachable: the combined flag said one did


def to_host(array) -> numpy.ndarray:
    """A NumPy array of ``array``'s values: the one place device values cross to the host (one copy, one sync,
    which also carries the pending checks' flags)."""
    if isinstance(array, (numpy.ndarray, numpy.generic)):
        return array
    if not _pending_checks:
        return array.get()
    flags, errors = zip(*_pending_checks)
    _pending_checks.clear()
    xp = array_module(device("cuda"))
    # one transfer: the array's bytes, then one byte per check
    payload = xp.ascontiguousarray(array).reshape(-1).view(xp.uint8)
    packed = xp.concatenate([payload, xp.stack(flags).astype(xp.uint8)]).get()
    failed = packed[payload.size :]
    for flag, error in zip(failed, errors):
        if flag:
            raise error()
    return packed[: payload.size].view(array.dtype).reshape(array.shape)


def pending_checks() -> int:
    """How many device checks wait for the next host read (for tests)."""
    return len(_pending_checks)


def special(dev: device):
    """The module with ``erf`` for a device: ``scipy.special`` on the CPU, ``cupyx.scipy.special`` on CUDA."""
    if dev.type == "cpu":
        return importlib.import_module("scipy.special")
    if simulated():
        return array_module(dev).special
    return importlib.import_module("cupyx.scipy.special")


# ----------------------------------------------------------------------------------------------------------
# The CUDA device's generator. The CPU's, PyTorch's Mersenne Twister, and the default generator of each device
# are in random.py.


class CountingGenerator:
    """A GPU generator whose whole state is two numbers, (seed, draws), so that a checkpoint can store it.

    CuPy's bit generators keep their state in device memory with no way to save or restore it. Here each draw
    (one call of ``random``, ``standard_normal``, ``integers`` or ``uniform``) comes from a fresh counter-based
    Philox stream keyed by (seed, number of draws so far), as PyTorch's CUDA generator keys Philox by
    (seed, offset): restoring the two numbers replays every later draw exactly. Its numbers are not PyTorch's.
    """

    DRAWS = ("random", "standard_normal", "integers", "uniform")

    def __init__(self, xp, seed=None):
        self._xp = xp
        self.device = device("cuda")
        self.seed_value = int(numpy.random.SeedSequence().entropy % 2**63) if seed is None else int(seed)
        self.draws = 0

    def manual_seed(self, seed: int):
        self.seed_value, self.draws = int(seed) % 2**64, 0
        return self

    def initial_seed(self) -> int:
        return self.seed_value

    def next_key(self) -> int:
        """The next draw's 63-bit key, on the host: SeedSequence mixes (seed, draw) into a well-spread number, so
        nearby pairs give unrelated streams."""
        key = int(numpy.random.SeedSequence([self.seed_value, self.draws]).generate_state(1, numpy.uint64)[0] >> 1)
        self.draws += 1
        return key

    def _stream(self):
        return self._xp.random.Generator(self._xp.random.Philox4x3210(self.next_key()))

    def __getattr__(self, name):
        if name not in CountingGenerator.DRAWS:
            raise AttributeError(f"the CUDA generator has no {name!r}: it draws {', '.join(self.DRAWS)}")
        return lambda *args, **kwargs: getattr(self._stream(), name)(*args, **kwargs)

    @property
    def state(self) -> dict:
        return {"seed": self.seed_value, "draws": self.draws}

    @state.setter
    def state(self, value: dict) -> None:
        self.seed_value, self.draws = int(value["seed"]), int(value["draws"])

    def get_state(self) -> dict:
        """``{"seed", "draws"}``: JSON data (PyTorch's CUDA state is a byte tensor of its Philox seed and offset)."""
        return self.state

    def set_state(self, value: dict):
        self.state = value
        return self
