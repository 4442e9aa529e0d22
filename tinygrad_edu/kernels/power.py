"""x ** n for a whole number n by multiplications, as PyTorch computes x**2 and x**3.

NumPy's float power calls the C library's ``pow`` for every element, and that takes a slow path for a negative
base: ``x ** 3.0`` on the (32, 64, 192) float32 activations of a GELU written out by hand (``0.5 * x * (1 +
tanh(c * (x + 0.044715 * torch.pow(x, 3.0))))``, as public GPTs write it) is hundreds of times slower than
``x * x * x`` (figures: ``benchmarks/NOTES.md`` §15). So a whole-number exponent between -16 and 16 is
computed here by repeated squaring: x³ = x·x·x, x⁴ = (x²)², x⁻² = 1/(x·x). The product rounds once per
multiplication where ``pow`` rounds once in all, so the last bit may differ from NumPy's (PyTorch's CPU ``pow``
multiplies the same way for 2 and 3).

The reference is ``ops/elementwise.py``'s ``Pow``: this saves what it saves, and its backward is the
reference's slope in a, n·aⁿ⁻¹, with the same multiplications (the exponent is a number, never a tensor, so it
has no gradient of its own).
"""

from __future__ import annotations

import numpy as np

from ..ops.elementwise import Pow

LARGEST = 16


def whole_power(x, n: int):
    """x ** n for an int n, |n| ≤ 16, by repeated squaring (a negative n: the reciprocal of x ** -n)."""
    if n < 0:
        return 1 / whole_power(x, -n)
    if n == 0:
        return np.ones_like(x)  # x ** 0 is 1 everywhere, nan and inf included, as NumPy's and PyTorch's
    result, square = None, x
    while True:
        if n & 1:
            result = square if result is None else result * square
        n >>= 1
        if not n:
            return result if result is not x else x.copy()
        square = square * square


class WholePower(Pow):
    """Pow with a whole-number exponent between -16 and 16, by multiplications."""

    reference = Pow

    @staticmethod
    def forward(ctx, a, b):
        out = whole_power(a, int(b))
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, _ = ctx.saved_tensors
        if b == 0:  # x⁰ is constant: slope 0, also at 0 (where 0·0⁻¹ would be nan), as the reference
            return np.zeros_like(grad), None
        return grad * (b * whole_power(a, int(b) - 1)), None


class HalfPower(Pow):
    """Pow with the exponent ½ or -½ by a square root, as PyTorch computes them: NumPy's float power calls the
    C library's ``pow`` for every element unless the exponent is a Python float it recognizes, and the engine
    hands it a NumPy scalar. x^½ = √x, x^-½ = 1/√x; backward b·x^(b-1) from the same root: ½/√x, and -½·x^-½/x
    (at 0 both give the reference's ±inf, at inf its 0, on negative bases its nan)."""

    reference = Pow

    @staticmethod
    def forward(ctx, a, b):
        root = np.sqrt(a)
        out = root if b > 0 else 1 / root
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        slope = 0.5 / out if b > 0 else -0.5 * out / a
        return grad * slope.astype(out.dtype, copy=False), None
