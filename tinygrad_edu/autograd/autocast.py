"""What ``torch.autocast`` changes at dispatch: a table of op classes and the precision each runs in, consulted by
``graph.apply`` while an autocast region is active (the public context manager is ``tinygrad_edu/amp.py``).

As PyTorch's op lists: products (matmul, linear, convolution) run in the low precision, and the ops whose
results lose too much there run in float32: cross_entropy on the CPU; softmax, log_softmax, layer_norm,
cross_entropy and sum on CUDA.
Only float32 and low-precision inputs are recast; float64 and integer tensors are left as they are, as PyTorch's
autocast leaves them.

The low precision is bfloat16 by default on the CPU and float16 on ``cuda``. float16 is a NumPy dtype, so a float16
product really is one. NumPy has no bfloat16 (nor does this engine store it: ``ml_dtypes`` would be needed), so
a bfloat16 product is done as PyTorch's CPU bfloat16 GEMM computes it numerically: the operands rounded to bfloat16
(to nearest, ties to even), the products accumulated in float32, the result rounded to bfloat16; the values are
bfloat16's, kept in a float32 array. Gradients flowing back into those tensors are rounded the same way, as a
bfloat16 gradient would be.
"""

from __future__ import annotations

import numpy

from ..ops import elementwise, nn_ops, reduce
from ..ops.op import Op

LOW_PRECISION = "low"
FLOAT32 = "float32"

# PyTorch's lists differ by device: on the CPU only the losses run in float32 (softmax, layer_norm and sums
# keep their input's precision there), on CUDA the reductions and normalisations do too
_LOW = [reduce.MatMul, nn_ops.Linear]
try:  # the convolution op, where this tree has one
    from ..ops.conv import Convolution

    _LOW.append(Convolution)
except ImportError:
    pass
TABLES = {
    "cpu": {**dict.fromkeys(_LOW, LOW_PRECISION), nn_ops.CrossEntropy: FLOAT32},
    "cuda": {
        **dict.fromkeys(_LOW, LOW_PRECISION),
        **dict.fromkeys([nn_ops.Softmax, nn_ops.LogSoftmax, nn_ops.LayerNorm, nn_ops.CrossEntropy], FLOAT32),
        reduce.Sum: FLOAT32,
    },
}
TABLE = TABLES["cpu"].keys() | TABLES["cuda"].keys()  # every op autocast may touch: apply's quick check

# device type ("cpu", "cuda") -> the low-precision dtype name ("bfloat16" or "float16") of the innermost enabled
# region; a device type absent (or mapped to None by an enabled=False region) is not autocast
active: dict = {}


def wants(op_class, device_type: str) -> str | None:
    """The precision ``op_class`` runs in on this device now, or None where autocast leaves it alone."""
    if active.get(device_type) is None:
        return None
    return TABLES.get(device_type, {}).get(op_class)


def round_to_bfloat16(xp, a):
    """float32 ``a`` rounded to the nearest bfloat16 (ties to even), as a float32 array: keep the top 16 bits."""
    a = xp.ascontiguousarray(a, dtype=numpy.float32)
    bits = a.view(numpy.uint32)
    halfway = numpy.uint32(0x7FFF) + ((bits >> numpy.uint32(16)) & numpy.uint32(1))
    rounded = ((bits + halfway) & numpy.uint32(0xFFFF0000)).view(numpy.float32)
    return xp.where(xp.isnan(a), a, rounded)  # a NaN's payload could carry into the exponent: keep it as it is


class RoundToBFloat16(Op):
    """d round_bf16(a)/da = 1, the gradient rounded to bfloat16 as well (it flows into a bfloat16 tensor)."""

    @staticmethod
    def forward(ctx, a):
        return round_to_bfloat16(ctx.xp, a)

    @staticmethod
    def backward(ctx, grad):
        return ctx.run(RoundToBFloat16, grad)


def cast_inputs(args, precision: str, low_dtype: str, apply, Tensor):
    """``args`` with each float32 or low-precision Tensor brought to the precision the op runs in."""
    cast = []
    for a in args:
        if isinstance(a, Tensor) and a._data.dtype.kind == "f" and a._data.dtype != numpy.float64:
            if precision == FLOAT32 and a._data.dtype != numpy.float32:
                a = apply(elementwise.Cast, a, dtype=numpy.dtype(numpy.float32))
            elif precision == LOW_PRECISION and low_dtype == "float16" and a._data.dtype != numpy.float16:
                a = apply(elementwise.Cast, a, dtype=numpy.dtype(numpy.float16))
            elif precision == LOW_PRECISION and low_dtype == "bfloat16":
                a = apply(RoundToBFloat16, a if a._data.dtype == numpy.float32 else apply(elementwise.Cast, a,
                          dtype=numpy.dtype(numpy.float32)))  # fmt: skip
        cast.append(a)
    return cast
