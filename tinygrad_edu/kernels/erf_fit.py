"""How ``gelu.py``'s float32 erf was fitted: ``python -m tinygrad_edu.kernels.erf_fit`` prints the coefficients
and the maximum relative error in float64 and float32 arithmetic.

erf(x) ≈ x·P(x²)/Q(x²), Q(0) = 1, on (0, 3.9]: the rational form keeps erf odd and needs no exp. Loeb's
iteration: solve the linear least-squares problem x·P(x²) - erf(x)·Q(x²) ≈ 0, each point weighted by
1/(|erf(x)|·Q(x²)) with the previous iteration's Q, which converges towards minimal relative error.
"""

from __future__ import annotations

import numpy as np


def fit(clamp: float = 3.9, p_terms: int = 5, q_terms: int = 7, iterations: int = 30):
    from scipy import special

    x = np.cos(np.linspace(0, np.pi / 2, 20001))[::-1] * clamp  # denser near the ends, as Chebyshev nodes
    x = x[x > 1e-6]
    y, u = special.erf(x), x * x
    q_values = np.ones_like(x)
    for _ in range(iterations):
        weight = 1 / (np.abs(y) * q_values)
        columns = [x * u**k for k in range(p_terms)] + [-y * u**k for k in range(1, q_terms)]
        coef, *_ = np.linalg.lstsq(np.stack(columns, 1) * weight[:, None], y * weight, rcond=None)
        p, q = coef[:p_terms], np.concatenate([[1.0], coef[p_terms:]])
        q_values = np.polyval(q[::-1], u)
    return p, q


def max_relative_error(p, q, dtype, clamp: float = 3.9) -> float:
    from scipy import special

    t = np.linspace(-6, 6, 2_000_001)
    z = np.clip(t.astype(dtype), dtype(-clamp), dtype(clamp))
    zz = z * z
    num, den = np.zeros_like(z), np.zeros_like(z)
    for c in p[::-1]:
        num = num * zz + dtype(c)
    for c in q[::-1]:
        den = den * zz + dtype(c)
    exact = special.erf(t)
    nonzero = exact != 0
    return float(np.max(np.abs((z * num / den).astype(np.float64)[nonzero] - exact[nonzero]) / np.abs(exact[nonzero])))


if __name__ == "__main__":
    p, q = fit()
    print("ERF_P =", tuple(p.tolist()))
    print("ERF_Q =", tuple(q.tolist()))
    for dtype in (np.float64, np.float32):
        print(f"max relative error, {dtype.__name__} arithmetic: {max_relative_error(p, q, dtype):.3g}")
