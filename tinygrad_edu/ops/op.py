"""``Op``: the base of the engine's built-in ops. An op is a class with ``forward`` and ``backward`` side by side.

Both are written on arrays against ``ctx.xp``, the array module of the inputs' device (NumPy or CuPy), which
keeps each op short and fast. ``ctx`` is the op object itself: forward stores on it what backward needs.

Backward is written once and runs in two ways (see ``tinygrad_edu/docs/higher_order.md``):

* the ordinary backward pass hands it arrays, with ``ctx.xp`` the array module;
* ``backward(create_graph=True)`` hands it Tensors, with ``ctx.xp`` a namespace of the same names whose
  functions are differentiable ops, so that the backward pass is itself recorded and can be differentiated.

``ctx.xp`` is the one switch between the two: nothing else about the op changes.

So backward code keeps to a shared vocabulary: arithmetic operators, ``.shape .ndim .reshape .sum .mean .T
.swapaxes``, indexing, comparisons, and ``ctx.xp.{where, broadcast_to, transpose, exp, log, sqrt, tanh, sin,
cos, sign, zeros, ones, tril, triu}``; anything else is reached through ``ctx.run(OtherOp, ...)``.

This layer knows nothing of Tensors or of the graph: ``tinygrad_edu.autograd.graph.apply`` runs an op and
records it.
"""

from __future__ import annotations


class Op:
    """Array-level ``forward(ctx, *inputs, **params)`` and ``backward(ctx, *grad_outputs)``, which returns one
    gradient (or None) per positional input.

    An op whose backward reads values computed in forward from its inputs (not the inputs or outputs
    themselves) also defines ``composite(*inputs, **params)``: the same function written with Tensor methods.
    Higher-order gradients differentiate the composite; the first derivative stays the fast hand-written one.
    """

    # set by autograd.graph.apply: which positional inputs need a gradient, the array module, the device
    needs_input_grad: tuple = ()
    xp: object = None
    device: object = None
    saved_tensors: tuple = ()
    takes_tensors = False  # True for a user Function (autograd/function.py), whose forward and backward see Tensors

    @staticmethod
    def forward(ctx, *args, **params):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    def save_for_backward(self, *values) -> None:
        """Keep what backward needs; the engine frees it after backward unless the graph is retained."""
        self.saved_tensors = values

    def run(self, op_class, *args, **params):
        """Another op, for use inside backward (e.g. indexing's backward is a scatter).

        On arrays, its forward; under ``create_graph``, where ``ctx.xp`` is autograd's differentiable namespace,
        ``ctx.xp.apply`` records it, so that the backward pass can be differentiated too."""
        if getattr(self.xp, "records_ops", False):
            return self.xp.apply(op_class, *args, **params)
        inner = op_class()
        inner.xp, inner.device = self.xp, self.device
        inner.needs_input_grad = (False,) * len(args)
        return op_class.forward(inner, *args, **params)

    @property
    def name(self) -> str:
        """The op's name in errors, drawings and profiles; an implementation of another op (a subclass that says
        so with ``reference``) is named as the op it implements."""
        return getattr(type(self), "reference", type(self)).__name__
