"""Elementwise ops. Each forward sits on top of its backward; the docstring's first line is the derivative.

Inputs are arrays of one device (``ctx.xp`` is their module) or Python scalars; binary ops broadcast like
NumPy, and their backward sums the gradient back to each input's shape with ``unbroadcast``.

The ops look alike on purpose: each is one class with its forward over its backward, written out rather than
generated from a table, so that a learner reads one op, and its derivative, at a time.
"""

from __future__ import annotations

import math

from .. import backend
from .broadcasting import unbroadcast
from .op import Op


def _shape(x) -> tuple:
    return getattr(x, "shape", ())


# -- binary arithmetic -----------------------------------------------------------------------------------


class Add(Op):
    """d(a+b)/da = 1, d(a+b)/db = 1"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        return a + b

    @staticmethod
    def backward(ctx, grad):
        need_a, need_b = ctx.needs_input_grad
        return (
            unbroadcast(grad, ctx.shapes[0]) if need_a else None,
            unbroadcast(grad, ctx.shapes[1]) if need_b else None,
        )


class Sub(Op):
    """d(a-b)/da = 1, d(a-b)/db = -1"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        return a - b

    @staticmethod
    def backward(ctx, grad):
        need_a, need_b = ctx.needs_input_grad
        return (
            unbroadcast(grad, ctx.shapes[0]) if need_a else None,
            unbroadcast(-grad, ctx.shapes[1]) if need_b else None,
        )


class Mul(Op):
    """d(a·b)/da = b, d(a·b)/db = a"""

    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        # keep only what backward reads: for `scores * scale` that spares a copy of the whole score tensor
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        ctx.shapes = (_shape(a), _shape(b))
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (
            unbroadcast(grad * b, ctx.shapes[0]) if need_a else None,
            unbroadcast(grad * a, ctx.shapes[1]) if need_b else None,
        )


class Div(Op):
    """d(a/b)/da = 1/b, d(a/b)/db = -a/b²"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        ctx.shapes = (_shape(a), _shape(b))
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_over_b = grad / b
        return (
            unbroadcast(grad_over_b, ctx.shapes[0]) if need_a else None,
            unbroadcast(-grad_over_b * a / b, ctx.shapes[1]) if need_b else None,
        )


class Pow(Op):
    """d(aᵇ)/da = b·aᵇ⁻¹ (0 at 0⁰), d(aᵇ)/db = aᵇ·ln(a) (0 where a = 0 and b ≥ 0), as PyTorch

    At the special points PyTorch's values: at 0⁰ the slope in a is 0 (not 0·0⁻¹ = nan); where a = 0 and b ≥ 0
    the slope in b is the limit 0 (not 0·ln 0 = nan); a negative base has no real logarithm, so its slope in b
    is nan. The masks cover the special points only, so the second derivative stays right next to them."""

    @staticmethod
    def forward(ctx, a, b):
        out = a**b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        xp = ctx.xp
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_b = None
        if need_a:
            grad_a = unbroadcast(xp.where((a == 0) & (b == 0), 0.0, grad * b * a ** (b - 1)), _shape(a))
        if need_b:
            slope = xp.where((a == 0) & (b >= 0), 0.0, out * xp.log(a))
            grad_b = unbroadcast(grad * slope, _shape(b))
        return grad_a, grad_b


class Maximum(Op):
    """d max(a,b)/da = 1 where a > b, 0 where a < b, ½ where they tie (as PyTorch)"""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return ctx.xp.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        where = ctx.xp.where
        half = grad * 0.5
        need_a, need_b = ctx.needs_input_grad
        return (
            unbroadcast(where(a > b, grad, where(a == b, half, 0)), _shape(a)) if need_a else None,
            unbroadcast(where(a < b, grad, where(a == b, half, 0)), _shape(b)) if need_b else None,
        )


# -- unary math ------------------------------------------------------------------------------------------


class Neg(Op):
    """d(-a)/da = -1"""

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Op):
    """d eᵃ/da = eᵃ (the output, so that is what we keep)"""

    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Log(Op):
    """d ln(a)/da = 1/a"""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / a


class Sqrt(Op):
    """d √a/da = 1/(2√a)"""

    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (2 * out)


class Tanh(Op):
    """d tanh(a)/da = 1 - tanh²(a)"""

    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


class Sigmoid(Op):
    """d σ(a)/da = σ(a)(1 - σ(a))"""

    @staticmethod
    def forward(ctx, a):
        xp = ctx.xp
        # two branches so that exp never overflows: σ(a) = 1/(1+e⁻ᵃ) = eᵃ/(1+eᵃ)
        e = xp.exp(-xp.abs(a))
        out = xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)


class Relu(Op):
    """d relu(a)/da = 1 where a > 0, else 0"""

    @staticmethod
    def forward(ctx, a):
        out = ctx.xp.maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out > 0)


class Abs(Op):
    """d |a|/da = sign(a) (0 at 0, as PyTorch)"""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.abs(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * ctx.xp.sign(a)


class Sign(Op):
    """d sign(a)/da = 0 (a step: flat on each side, and PyTorch takes 0 at the jump too)"""

    @staticmethod
    def forward(ctx, a):
        return ctx.xp.sign(a)

    @staticmethod
    def backward(ctx, grad):
        return grad * 0


class Sin(Op):
    """d sin(a)/da = cos(a)"""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.sin(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * ctx.xp.cos(a)


class Cos(Op):
    """d cos(a)/da = -sin(a)"""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return ctx.xp.cos(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return -grad * ctx.xp.sin(a)


class Clamp(Op):
    """d clamp(a, lo, hi)/da = 1 where lo <= a <= hi, else 0"""

    @staticmethod
    def forward(ctx, a, *, min=None, max=None):  # noqa: A002 - PyTorch's keyword names
        ctx.save_for_backward(a)
        ctx.bounds = (min, max)
        return ctx.xp.clip(a, min, max).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        if lo is not None:
            grad = ctx.xp.where(a >= lo, grad, 0)
        if hi is not None:
            grad = ctx.xp.where(a <= hi, grad, 0)
        return grad


class Gelu(Op):
    """d gelu(a)/da = Φ(a) + a·φ(a), with Φ, φ the standard normal CDF and density (exact form)

    The tanh form: gelu(a) ≈ ½a(1 + tanh(u)), u = √(2/π)(a + 0.044715a³), whose derivative is
    ½(1 + tanh u) + ½a(1 - tanh² u)·√(2/π)(1 + 3·0.044715a²).
    """

    @staticmethod
    def forward(ctx, a, *, approximate="none"):
        xp = ctx.xp
        ctx.approximate = approximate
        if approximate == "tanh":
            # a·a·a, not a**3: NumPy's float power calls the C library's pow per element, which takes a slow path
            # for negative bases (hundreds of times slower than two multiplications)
            t = xp.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * (a * a * a)))
            ctx.save_for_backward(a, t)
            return 0.5 * a * (1 + t)
        cdf = 0.5 * (1 + erf(ctx, a * a.dtype.type(1 / math.sqrt(2))))
        ctx.save_for_backward(a, cdf)
        return a * cdf

    @staticmethod
    def backward(ctx, grad):
        xp = ctx.xp
        a, saved = ctx.saved_tensors
        if ctx.approximate == "tanh":
            t = saved
            du = math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * a * a)
            return grad * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * du)
        cdf = saved
        pdf = xp.exp(-0.5 * a * a) * (1 / math.sqrt(2 * math.pi))
        return grad * (cdf + a * pdf)

    @staticmethod
    def composite(a, *, approximate="none"):
        """The same function from primitive Tensor ops (backward reads Φ(a), computed in forward)."""
        if approximate == "tanh":
            return 0.5 * a * (1 + (math.sqrt(2 / math.pi) * (a + 0.044715 * a**3)).tanh())
        return a * (0.5 * (1 + (a * (1 / math.sqrt(2))).erf()))


def erf(ctx, a):
    """erf from SciPy (CuPy's on CUDA), in a's dtype (SciPy computes float16 in float64)."""
    return backend.special(ctx.device).erf(a).astype(a.dtype, copy=False)


class Erf(Op):
    """d erf(a)/da = 2/√π · exp(-a²)"""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return erf(ctx, a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * (2 / math.sqrt(math.pi)) * ctx.xp.exp(-(a * a))


# -- conversions -----------------------------------------------------------------------------------------


class Cast(Op):
    """d cast(a)/da = 1 (the gradient is cast back to a's dtype)"""

    @staticmethod
    def forward(ctx, a, *, dtype):
        ctx.in_dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return ctx.run(Cast, grad, dtype=ctx.in_dtype)


class ToDevice(Op):
    """d to(a, device)/da = 1 (the gradient goes back to a's device)"""

    @staticmethod
    def forward(ctx, a, *, device):
        ctx.source = backend.device_of(a)
        ctx.output_device = device
        return backend.to_device(a, device)

    @staticmethod
    def backward(ctx, grad):
        return ctx.run(ToDevice, grad, device=ctx.source)
