"""y = x·Wᵀ + b in one BLAS call, as PyTorch's ``addmm``: the output starts as b in every row, and GEMM adds the
product to it (C = A·Bᵀ + β·C with β = 1) as it writes each block, where ``x @ W.T`` then ``+= b`` passes over
the output a second time (figures: ``benchmarks/NOTES.md`` §12).

NumPy has no GEMM with β, so this calls the GEMM of the OpenBLAS that NumPy itself loaded, through ctypes: the
library NumPy's wheels bundle (scipy-openblas, whose C interface is ``scipy_cblas_sgemm64_`` with 64-bit
integers). Not SciPy's BLAS: that is a second OpenBLAS with its own thread pool, and the two pools take the
cores from each other (``benchmarks/NOTES.md`` §9). Where that library is not found (NumPy built on another
BLAS, or a system without ``/proc/self/maps``), ``available()`` is False and linear keeps ``x @ W.T`` then
``+= b``: the same values, rounded the same way (one addition of b to each product).
"""

from __future__ import annotations

import ctypes
import functools

import numpy as np

from ..ops.nn_ops import Linear, check_features

ROW_MAJOR, NO_TRANSPOSE, TRANSPOSE = 101, 111, 112  # CBLAS's enums
_INT = ctypes.c_int64
_PTR = ctypes.c_void_p


@functools.cache
def _gemms():
    """{dtype: the C function} for float32 and float64, or {} when NumPy's OpenBLAS is not found."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "scipy_openblas64" in line and line.rstrip().endswith(".so")}
    except OSError:
        return {}
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
            functions = {
                np.dtype(np.float32): library.scipy_cblas_sgemm64_,
                np.dtype(np.float64): library.scipy_cblas_dgemm64_,
            }
        except (OSError, AttributeError):
            continue
        for dtype, function in functions.items():
            scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
            # order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc
            function.argtypes = [ctypes.c_int] * 3 + [_INT] * 3 + [scalar, _PTR, _INT, _PTR, _INT, scalar, _PTR, _INT]
            function.restype = None
        return functions
    return {}


def available(dtype) -> bool:
    """Whether ``linear`` may take NumPy arrays of this dtype: float32 or float64, and NumPy's OpenBLAS found."""
    return dtype in _gemms()


def linear(rows, weight, bias):
    """rows·weightᵀ + bias for (m, k) rows, an (n, k) weight and an (n,) bias, all of one float dtype, m·n·k > 0."""
    rows, weight = np.ascontiguousarray(rows), np.ascontiguousarray(weight)
    (m, k), n = rows.shape, weight.shape[0]
    out = np.empty((m, n), rows.dtype)
    out[...] = bias
    _gemms()[rows.dtype](
        ROW_MAJOR,
        NO_TRANSPOSE,
        TRANSPOSE,
        m,
        n,
        k,
        1.0,
        rows.ctypes.data,
        k,
        weight.ctypes.data,
        k,
        1.0,
        out.ctypes.data,
        n,
    )
    return out


class LinearAddmm(Linear):
    """Linear with the bias added by the GEMM itself; backward and saved arrays are the reference's."""

    reference = Linear

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        check_features(x, weight)
        out = linear(x.reshape(-1, x.shape[-1]), weight, bias)
        need_x, need_w, _ = ctx.needs_input_grad
        ctx.save_for_backward(x if need_w else None, weight if need_x else None)
        return out.reshape(*x.shape[:-1], weight.shape[0])
