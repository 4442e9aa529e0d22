"""``Op``: the base of the engine's built-in ops. An op is a class with ``forward`` and ``backward`` side by side.

Both are written on arrays against ``ctx.xp``, the array module of the inputs' device (NumPy or CuPy), which
keeps each op short and fast. ``ctx`` is the op object itself: forward stores on it what backward needs.

Backward is written once and runs in two ways (see ``tinygrad_edu/docs/higher_order.md``):

* the ordinary backward pass hands it arrays, with ``ctx.xp`` the array module;
* ``backward(create_graph=True)`` hands it Tensors, with ``ctx.xp`` a namespace of the same names whose
  functions are differentiable ops, so that the backward pass is itself recorded and can be differentiated.

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

    @staticmethod
    def forward(ctx, *args, **params):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    def _run_forward(self, raw, args, params):
        """Called by ``apply`` with the inputs' arrays (``args`` are the inputs themselves)."""
        return self.forward(self, *raw, **params)

    def _run_backward(self, grad_outputs):
        """Called by the engine with arrays (None for outputs that received no gradient)."""
        grads = self.backward(self, *grad_outputs)
        return grads if isinstance(grads, tuple) else (grads,)

    def save_for_backward(self, *values) -> None:
        """Keep what backward needs; the engine frees it after backward unless the graph is retained."""
        self.saved_tensors = values

    def run(self, op_class, *args, **params):
        """Another op's forward, for use inside backward (e.g. indexing's backward is a scatter).

        On arrays this calls the forward directly; under ``create_graph`` the engine replaces ``run`` with one
        that records the op, so that the backward pass can be differentiated too."""
        inner = op_class()
        inner.xp, inner.device = self.xp, self.device
        inner.needs_input_grad = (False,) * len(args)
        return op_class.forward(inner, *args, **params)

    @property
    def name(self) -> str:
        return type(self).__name__
