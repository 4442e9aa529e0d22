"""``torch.backends`` and the float32 matmul precision: the switches real training scripts set.

``torch.set_float32_matmul_precision("high")`` and ``torch.backends.cuda.matmul.allow_tf32 = True`` (nanoGPT sets
both TF32 flags) let a GPU compute float32 products on TensorFloat-32 tensor cores: inputs rounded to 10 bits of
mantissa, float32 accumulation. On the CPU they change nothing, in PyTorch as here. On ``cuda`` with CuPy the
choice is handed to CuPy's GEMM through ``cupy._core.set_compute_type(float32, COMPUTE_TYPE_TF32)`` (``"high"``)
or ``COMPUTE_TYPE_BF16`` (``"medium"``, PyTorch's bfloat16 internal precision): that function and its constants
live in CuPy's private ``_core`` (the only public switch is the ``CUPY_TF32=1`` variable, read once when CuPy is
imported), so where a CuPy lacks them, and on the stand-in (``simulated_cuda``), the choice is only recorded.
``torch.backends.cudnn.allow_tf32`` is kept for scripts to read and write; there are no cuDNN convolutions here.
"""

from __future__ import annotations

import warnings

from . import backend

PRECISIONS = ("highest", "high", "medium")
_CUPY_COMPUTE_TYPE = {"highest": "COMPUTE_TYPE_DEFAULT", "high": "COMPUTE_TYPE_TF32", "medium": "COMPUTE_TYPE_BF16"}
_precision = ["highest"]


def set_float32_matmul_precision(precision: str) -> None:
    """``"highest"`` (float32 products in float32), ``"high"`` (TF32 allowed on CUDA) or ``"medium"`` (bfloat16
    allowed on CUDA). Another string warns and changes nothing, as PyTorch's does."""
    if not isinstance(precision, str):
        raise RuntimeError(f"set_float32_matmul_precision expects a str, but got {type(precision).__name__}")
    if precision not in PRECISIONS:
        warnings.warn(
            f"{precision} is not one of 'highest', 'high', or 'medium'; the current set_float32_matmul_precision "
            "call has no effect.",
            stacklevel=2,
        )
        return
    _precision[0] = precision
    apply_to_cupy()


def get_float32_matmul_precision() -> str:
    return _precision[0]


def apply_to_cupy() -> bool:
    """Hand the precision to CuPy's float32 GEMM; False where there is no CuPy with ``_core.set_compute_type``
    (no GPU, the stand-in, or a CuPy that moved it): then the choice is only recorded."""
    if backend.simulated() or not backend.cuda_available():
        return False
    core = getattr(backend.array_module(backend.device("cuda")), "_core", None)
    linalg = getattr(core, "_routines_linalg", None)
    compute_type = getattr(linalg, _CUPY_COMPUTE_TYPE[_precision[0]], None)
    if compute_type is None or not hasattr(core, "set_compute_type"):
        return False
    import numpy

    core.set_compute_type(numpy.float32, compute_type)
    return True


class _Flags:
    """A namespace of named switches: an unknown name is an AttributeError, as PyTorch's (a typo is not a
    silently ignored new setting)."""

    _names: tuple = ()

    def __setattr__(self, name, value):
        if name not in self._names and not isinstance(getattr(type(self), name, None), property):
            raise AttributeError(f"Unknown attribute {name}")
        object.__setattr__(self, name, value)


class _CuBLAS(_Flags):
    """``torch.backends.cuda.matmul``: ``allow_tf32`` is another view of the float32 matmul precision."""

    _names = ("allow_fp16_reduced_precision_reduction", "allow_bf16_reduced_precision_reduction")

    def __init__(self):
        # reduced-precision reductions in float16/bfloat16 GEMMs: CuPy chooses its own, recorded only
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True

    @property
    def allow_tf32(self) -> bool:
        return _precision[0] != "highest"

    @allow_tf32.setter
    def allow_tf32(self, value: bool) -> None:
        set_float32_matmul_precision("high" if value else "highest")


class _CudaBackend:
    """``torch.backends.cuda``."""

    def __init__(self):
        self.matmul = _CuBLAS()

    @staticmethod
    def is_built() -> bool:
        """Whether this install can run on CUDA: CuPy (or the stand-in) and a GPU were found."""
        return backend.cuda_available()


class _CuDNN(_Flags):
    """``torch.backends.cudnn``: kept for scripts that set it; no convolution here runs on cuDNN."""

    _names = ("enabled", "benchmark", "deterministic", "allow_tf32")

    def __init__(self):
        self.enabled, self.benchmark, self.deterministic, self.allow_tf32 = True, False, False, True

    @staticmethod
    def is_available() -> bool:
        return False


class _MPS:
    """``torch.backends.mps``: Apple's GPUs, which this engine does not drive."""

    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def is_built() -> bool:
        return False


cuda = _CudaBackend()
cudnn = _CuDNN()
mps = _MPS()
