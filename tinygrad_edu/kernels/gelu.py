"""GELU, exact: gelu(a) = a·Φ(a), and d gelu/da = Φ(a) + a·φ(a).

Φ(a) = ½(1 + erf(a/√2)) is the standard normal CDF, φ(a) = exp(-a²/2)/√(2π) its density. For float32, erf is
a rational function, erf(x) ≈ x·P(x²)/Q(x²) on |x| ≤ 3.9 (and ±1 beyond, where float32 erf rounds to ±1),
with P of degree 4 and Q of degree 6 in x², fitted for relative error by ``erf_fit.py`` in this folder: 2.7e-8
in float64 arithmetic, 4.2e-7 evaluated in float32 (``tests/test_kernels.py`` checks ≤ 1e-6 against float64's
erf). No exp and no branch, so numba vectorizes the loop (figures: ``benchmarks/NOTES.md`` §13).
float64 inputs use the C library's erfc, correct to about an ulp. Φ is written out for backward only when a
gradient will be taken (evaluation and generation skip that stream of writes).

As in PyTorch's float32 GELU and in the reference (``ops/elementwise.py``'s ``Gelu``, with SciPy's erf), Φ's
far left tail is ½(1 + erf) and keeps absolute, not relative, accuracy.
Backward is one pass too: φ's exp is ``exp.py``'s, which vectorizes.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..ops.elementwise import Gelu
from .devices import cupy, on_gpu
from .exp import exp
from .fastmath import FUSED_MULTIPLY_ADD

ERF_P = (1.1283791392852347, 0.18852302859590991, 0.05134816639025729, 0.0035334777927446812, 0.00022972183103767837)
ERF_Q = (1.0, 0.5004067074516317, 0.11231269237234717, 0.01432884019655837, 0.0010433226732261898,
         2.3222192967583795e-05, -1.1341333388490406e-07)  # fmt: skip
ERF_CLAMP = 3.9

_p0, _p1, _p2, _p3, _p4 = (np.float32(c) for c in ERF_P)
_q0, _q1, _q2, _q3, _q4, _q5, _q6 = (np.float32(c) for c in ERF_Q)
_CLAMP = np.float32(ERF_CLAMP)
_HALF = np.float32(0.5)
_INV_SQRT2_32 = np.float32(1 / math.sqrt(2))
_INV_SQRT2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


@numba.njit(cache=True, inline="always")
def erf_float32(x):
    """erf(x) ≈ x·P(x²)/Q(x²), x clamped to ±3.9, in float32 (Horner's rule)."""
    x = min(max(x, -_CLAMP), _CLAMP)
    u = x * x
    p = (((_p4 * u + _p3) * u + _p2) * u + _p1) * u + _p0
    q = (((((_q6 * u + _q5) * u + _q4) * u + _q3) * u + _q2) * u + _q1) * u + _q0
    return x * p / q


@numba.njit(cache=True, error_model="numpy")
def forward_float32(a, out, cdf, keep_cdf):
    """out = a·Φ(a), and cdf = Φ(a) if ``keep_cdf``, for flat float32 arrays."""
    for i in numba.prange(a.size):
        x = a[i]
        phi = _HALF + _HALF * erf_float32(x * _INV_SQRT2_32)
        if keep_cdf:  # the same for every i: LLVM compiles the loop twice, with and without the store
            cdf[i] = phi
        out[i] = x * phi


@numba.njit(cache=True, error_model="numpy")
def forward_float64(a, out, cdf, keep_cdf):
    """out = a·Φ(a), and cdf = Φ(a) = ½·erfc(-a/√2) if ``keep_cdf``, for flat float64 arrays."""
    for i in numba.prange(a.size):
        x = a[i]
        phi = 0.5 * math.erfc(-x * _INV_SQRT2)
        if keep_cdf:
            cdf[i] = phi
        out[i] = x * phi


@numba.njit(cache=True, error_model="numpy", fastmath=FUSED_MULTIPLY_ADD)
def backward(grad, a, cdf, out):
    """out = grad·(Φ + a·exp(-a²/2)/√(2π))."""
    half, inv_sqrt_2pi = a.dtype.type(0.5), a.dtype.type(_INV_SQRT_2PI)  # constants in the input's precision
    for i in numba.prange(a.size):
        x = a[i]
        out[i] = grad[i] * (cdf[i] + x * exp(-half * x * x) * inv_sqrt_2pi)


def gelu(a, keep_cdf=True):
    """(a·Φ(a), Φ(a)) for a float32 or float64 array (a CuPy one runs ``kernels/cuda/gelu.py``); without
    ``keep_cdf``, (a·Φ(a), None)."""
    if on_gpu(a):
        from .cuda import gelu as twin

        return twin.gelu(cupy(), a)
    flat = np.ascontiguousarray(a).reshape(-1)
    out = np.empty_like(flat)
    cdf = np.empty_like(flat) if keep_cdf else out  # not written to without keep_cdf
    (forward_float32 if flat.dtype == np.float32 else forward_float64)(flat, out, cdf, keep_cdf)
    return out.reshape(a.shape), cdf.reshape(a.shape) if keep_cdf else None


def gelu_backward(grad, a, cdf):
    """grad·(Φ(a) + a·φ(a)), the same shape as ``a``."""
    if on_gpu(a):
        from .cuda import gelu as twin

        return twin.gelu_backward(cupy(), grad, a, cdf)
    flat = np.ascontiguousarray(a).reshape(-1)
    grad = np.ascontiguousarray(np.broadcast_to(grad, a.shape)).reshape(-1)
    out = np.empty_like(flat)
    backward(grad, flat, np.ascontiguousarray(cdf).reshape(-1), out)
    return out.reshape(a.shape)


class GeluKernel(Gelu):
    """Gelu (exact form) with Φ computed and used in one pass each way; saves what the reference saves."""

    reference = Gelu

    @staticmethod
    def forward(ctx, a, *, approximate="none"):
        ctx.approximate = approximate
        out, cdf = gelu(a, keep_cdf=ctx.needs_input_grad[0])
        ctx.save_for_backward(a, cdf)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, cdf = ctx.saved_tensors
        return gelu_backward(grad.astype(a.dtype, copy=False), a, cdf)
