"""Undoing broadcasting: the one place that turns a broadcast gradient back into its input's shape."""

from __future__ import annotations


def unbroadcast(grad, shape: tuple):
    """Sum ``grad`` over the axes that broadcasting added or stretched, so that it has ``shape``.

    Forward, an input of shape ``(3, 1)`` meeting one of ``(2, 3, 4)`` was read as if it were ``(2, 3, 4)``:
    each of its elements fed several outputs, so its gradient is the sum of theirs (the chain rule's sum over
    uses). Leading axes that broadcasting prepended are summed away; stretched size-1 axes are summed keeping
    the axis.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad
