"""Which kernel a family's entry point runs: NumPy arrays take the CPU kernel beside it, CuPy arrays its twin in
``kernels/cuda``."""

from __future__ import annotations

import importlib

import numpy


def on_gpu(array) -> bool:
    """True for a CuPy array."""
    return not isinstance(array, numpy.ndarray)


def cupy():
    return importlib.import_module("cupy")
