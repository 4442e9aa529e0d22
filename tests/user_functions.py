"""Small user-defined ``Function``s that several tests use: a right one, and negative controls that are wrong."""

from __future__ import annotations

from tinygrad_edu.autograd import Function


class Square(Function):
    """x² with the right backward: 2x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class WrongSquare(Square):
    """x² with a deliberately wrong backward: x instead of 2x."""

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x


class WrongSecondInput(Function):
    """a·b whose gradient for b (input 1) is wrong: a + 1 instead of a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad * b, grad * (a + 1)


class SquareDetachedGrad(Square):
    """x², whose backward is right but not differentiable in the incoming gradient (it is detached)."""

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.detach() * 2 * x


class SquareDetachedX(Square):
    """x², whose backward is right but not differentiable in x (x is detached)."""

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2 * x.detach()
