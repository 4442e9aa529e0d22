"""A float's bits as an integer and back, inside compiled kernels: reinterpretations, not conversions.

numba has no scalar bit cast, so these are LLVM's ``bitcast`` instruction, written as numba intrinsics; LLVM
vectorizes them like any other instruction. The kernels use them twice: ``exp.py`` builds 2^n from its exponent
bits, and ``ordered_key`` turns a row maximum into an integer maximum, which LLVM vectorizes (it leaves a float
maximum scalar unless told that no NaN occurs, which the kernels cannot promise).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic, overload

_WIDTHS = {types.float32: (ir.FloatType(), 32), types.float64: (ir.DoubleType(), 64)}


@intrinsic
def bits_of(typingctx, x):
    """The bit pattern of a float32 (float64) as an int32 (int64)."""
    if x not in _WIDTHS:
        return None
    width = _WIDTHS[x][1]

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(width))

    return getattr(types, f"int{width}")(x), codegen


@intrinsic
def float_from_bits(typingctx, bits, like):
    """The float of ``like``'s type whose bit pattern is the low bits of the integer ``bits``."""
    if like not in _WIDTHS or not isinstance(bits, types.Integer):
        return None
    llvm_type, width = _WIDTHS[like]

    def codegen(context, builder, signature, args):
        value = args[0]
        if bits.bitwidth > width:
            value = builder.trunc(value, ir.IntType(width))
        elif bits.bitwidth < width:
            value = builder.sext(value, ir.IntType(width))
        return builder.bitcast(value, llvm_type)

    return like(bits, like), codegen


def ordered_key(x):
    """An integer that orders floats as their values do (-inf < … < -0.0 < 0.0 < … < inf < NaN).

    A float's bits read as a signed integer already order the non-negative floats; a negative float's integer is
    negative too but grows with the magnitude, so its magnitude bits (all but the sign) are flipped. -0.0 sorts
    just below 0.0, and a NaN with its sign bit set below -inf (a kernel taking a maximum sees such a NaN anyway,
    in its next pass). ``from_ordered_key`` undoes it. This Python version is what the compiled one computes."""
    bits = np.asarray(x).view(np.int32 if np.asarray(x).dtype == np.float32 else np.int64)
    return bits ^ ((bits >> (bits.dtype.itemsize * 8 - 1)) & np.iinfo(bits.dtype).max)


def from_ordered_key(key, like):
    """The float (of ``like``'s dtype) whose ``ordered_key`` is ``key``."""
    key = np.asarray(key)
    return (key ^ ((key >> (key.dtype.itemsize * 8 - 1)) & np.iinfo(key.dtype).max)).view(np.asarray(like).dtype)


def _magnitude_mask(x):
    return (0x7FFFFFFF, 31) if x == types.float32 else (0x7FFFFFFFFFFFFFFF, 63)


@overload(ordered_key, inline="always")
def _ordered_key_compiled(x):
    if x in _WIDTHS:
        mask, sign = _magnitude_mask(x)
        return lambda x: bits_of(x) ^ ((bits_of(x) >> sign) & mask)


@overload(from_ordered_key, inline="always")
def _from_ordered_key_compiled(key, like):
    if like in _WIDTHS:
        mask, sign = _magnitude_mask(like)
        return lambda key, like: float_from_bits(key ^ ((key >> sign) & mask), like)
