"""erf for float32 in one pass: the rational function GELU's kernel uses (``gelu.py``), erf(x) ≈ x·P(x²)/Q(x²).

The reference (``ops/elementwise.py``'s ``Erf``) calls SciPy's erf, which computes a float32 input in float64, one
element at a time; here the fit that ``erf_fit.py`` made for float32 (within 1e-6 relative of float64's erf,
checked in ``tests/test_kernels.py``) runs in a loop LLVM vectorizes, its result kept within [-1, 1]. float64
stays with SciPy. NaN stays NaN (the fit's clamp would otherwise turn it into ±1). Backward is the reference's:
2/√π·exp(-a²) from the saved input.
"""

from __future__ import annotations

import numba
import numpy as np

from ..ops.elementwise import Erf
from .gelu import erf_float32


@numba.njit(cache=True, error_model="numpy")
def erf_flat_float32(a, out):
    """out = erf(a) for flat float32 arrays."""
    one = np.float32(1)
    for i in numba.prange(a.size):
        x = a[i]
        # the fit overshoots ±1 by an ulp near its clamp at ±3.9: erf never leaves [-1, 1]
        out[i] = x if x != x else min(max(erf_float32(x), -one), one)


class ErfKernel(Erf):
    """Erf of a float32 input by the fitted rational function; saves what the reference saves (the input)."""

    reference = Erf

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        flat = np.ascontiguousarray(a).reshape(-1)
        out = np.empty_like(flat)
        erf_flat_float32(flat, out)
        return out.reshape(a.shape)
