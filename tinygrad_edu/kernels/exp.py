"""exp for the kernels: a polynomial that LLVM vectorizes, in float32 and float64.

numba's ``math.exp`` is a call into the C library for each number, which keeps a loop from being vectorized, and
the llvmlite wheel has no SVML (Intel's vector math library) to replace it. So the kernels that need exp used
NumPy's vectorized exp as a separate pass over memory between two compiled passes. ``exp(x)`` here, inside a
kernel, is plain arithmetic instead, and the pass disappears:

    e^x = 2^n · e^r,  n = round(x / ln 2),  r = x - n·ln 2  (|r| ≤ ln 2 / 2)
    e^r = Σ_{k ≤ d} r^k / k!   (the Taylor series: d = 7 for float32, 13 for float64; the first term left out
                               is below 5e-9 and 5e-18 relative, under half an ulp of either)

n·ln 2 is subtracted in two parts (Cody and Waite): the high part is ln 2 rounded to so few bits that n times it
is exact, the low part is the rest of ln 2. 2^n is built from its bits (the exponent field holds n + bias), as
two factors 2^(n//2) and 2^(n - n//2), so that results below the smallest normal number round to the subnormal
ones and results above the largest become inf, as NumPy's do. x is first clamped to where e^x is neither 0 nor
inf (a little beyond), which keeps n in the exponent field's range. Against exp in a higher precision, over the
whole range, subnormals included: within 1 ulp in both dtypes (0.91 and 0.87 measured; ``tests/test_kernels.py``),
where NumPy's float32 exp is within 2.4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import numba
import numpy as np
from numba.core import types
from numba.extending import overload

from .bits import float_from_bits

# ln 2 to 40 digits: the low part of the split is ln 2 minus the high part, and float64's ln 2 alone is off by
# 2e-17, which n ≈ 1000 would turn into 100 ulp of e^x
LN2 = Decimal("0.6931471805599453094172321214581765680755")


@dataclass(frozen=True)
class ExpConstants:
    dtype: type
    significand_bits: int  # stored bits of the significand
    bias: int  # exponent bias: 2^n has exponent field n + bias
    degree: int  # of the Taylor polynomial
    ln2_high_bits: int  # ln 2 rounded to this many fractional bits is the exact high part
    lowest: float  # e^x rounds to 0 below this
    highest: float  # and to inf above this

    def numbers(self):
        t = self.dtype
        high = Decimal(round(LN2 * 2**self.ln2_high_bits)) / 2**self.ln2_high_bits  # exact: a short binary fraction
        taylor = tuple(t(1 / math.factorial(k)) for k in range(self.degree, -1, -1))  # highest power first
        return t(1 / math.log(2)), t(high), t(LN2 - high), t(self.lowest), t(self.highest), taylor


FLOAT32 = ExpConstants(np.float32, 23, 127, 7, 11, -110.0, 89.0)
FLOAT64 = ExpConstants(np.float64, 52, 1023, 13, 32, -750.0, 710.0)


def _compiled_exp(constants: ExpConstants):
    log2_e, ln2_high, ln2_low, lowest, highest, taylor = constants.numbers()
    half, shift, bias = constants.dtype(0.5), constants.significand_bits, constants.bias
    integer = np.int32 if constants.dtype == np.float32 else np.int64

    @numba.njit(inline="always")
    def power_of_two(n, like):
        return float_from_bits((n + bias) << shift, like)  # the exponent field holds n + bias

    @numba.njit(inline="always")
    def exp_of(x):
        clamped = min(max(x, lowest), highest)
        n = np.floor(clamped * log2_e + half)
        r = (clamped - n * ln2_high) - n * ln2_low
        e_r = taylor[0]
        for c in taylor[1:]:  # Horner's rule; the loop over a constant tuple is unrolled
            e_r = e_r * r + c
        k = integer(n)
        k_half = k >> 1
        y = e_r * power_of_two(k_half, x) * power_of_two(k - k_half, x)
        return y if x == x else x  # NaN in, NaN out (the clamp would have turned it into a number)

    return exp_of


exp_float32 = _compiled_exp(FLOAT32)
exp_float64 = _compiled_exp(FLOAT64)


def exp(x):
    """e^x of a float scalar; inside a compiled kernel, ``exp_float32`` or ``exp_float64`` by the argument's type."""
    return math.exp(x)


@overload(exp, inline="always")
def _exp_for_dtype(x):
    if x == types.float32:
        return lambda x: exp_float32(x)
    if x == types.float64:
        return lambda x: exp_float64(x)
