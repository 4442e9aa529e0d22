"""``Function``: your own differentiable op, in ``torch.autograd.Function``'s shape.

Built-in ops (``tinygrad_edu.ops``) work on arrays; a ``Function`` works on Tensors, so a learner writes a new
op with the tensor API they know. Its backward is differentiable again when written with differentiable Tensor
ops (``backward(create_graph=True)`` records it), unless it is marked ``@once_differentiable``.
"""

from __future__ import annotations

import functools

from ..ops.op import Op
from . import graph
from .grad_mode import enable_grad, is_grad_enabled, no_grad


class Function(Op):
    """A user-defined differentiable op, as in ``torch.autograd.Function``::

        class Square(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, grad):          # d(x²)/dx = 2x
                (x,) = ctx.saved_tensors
                return 2 * x * grad

        y = Square.apply(x)

    ``forward`` runs without recording a graph. ``backward`` does too, except under ``create_graph=True``,
    where it is recorded, so that it can be differentiated again: save inputs or outputs (not values computed
    from them inside forward) for the second derivative to reach them, as in PyTorch.
    """

    takes_tensors = True

    @classmethod
    def apply(cls, *args, **params):
        return graph.apply(cls, *args, **params)

    def run_forward_on_tensors(self, args, params):
        """Called by ``graph.apply`` with the inputs as given; returns arrays, as a built-in op's forward does."""
        Tensor = graph.tensor_type()
        with no_grad():
            detached = [a.detach() if isinstance(a, Tensor) else a for a in args]
            out = self.forward(self, *detached, **params)
        outs = out if isinstance(out, tuple) else (out,)
        for o in outs:
            if not isinstance(o, Tensor):
                raise TypeError(f"{type(self).__name__}.forward must return Tensors, got {type(o).__name__}")
        # store arrays, so that the saved-tensor bookkeeping is the same as for built-in ops
        self.saved_tensors = tuple(t._data if isinstance(t, Tensor) else t for t in self.saved_tensors)
        return tuple(o._data for o in outs) if isinstance(out, tuple) else out._data

    def backward_on_arrays(self, grad_outputs):
        """Called by the engine with arrays (None for outputs that received no gradient); returns arrays."""
        grads_in = [None if g is None else graph.new_tensor(g, self.device) for g in grad_outputs]
        grads = self.backward_on_tensors(grads_in, create_graph=False)
        return tuple(g._data if isinstance(g, graph.tensor_type()) else g for g in grads)

    def backward_on_tensors(self, grad_outputs, create_graph: bool) -> tuple:
        """Run the user's backward on Tensors; recorded when ``create_graph``, so it can be differentiated."""
        grad_outputs = [
            graph.new_tensor(self.xp.zeros(shape, dtype), self.device) if g is None else g  # as PyTorch materialises
            for g, (shape, dtype) in zip(grad_outputs, self.output_meta)
        ]
        saved_arrays = self.saved_tensors
        self.saved_tensors = (
            graph.saved_as_tensors(self)
            if create_graph
            else tuple(s if s is None else graph.new_tensor(s, self.device) for s in saved_arrays)
        )
        try:
            with enable_grad() if create_graph else no_grad():
                grads = self.backward(self, *grad_outputs)
        finally:
            self.saved_tensors = saved_arrays
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) != len(self.inputs):
            raise RuntimeError(
                f"{type(self).__name__}.backward returned {len(grads)} gradients, expected {len(self.inputs)} "
                "(one per input of forward, None for inputs that need none)"
            )
        return grads


def once_differentiable(backward):
    """Mark a ``Function.backward`` as differentiable only once (it may use arrays, or anything untracked).

    Under ``create_graph=True`` it runs without recording; differentiating its result again is a clear error
    instead of a silently wrong (zero) second derivative, as in PyTorch."""

    @functools.wraps(backward)
    def wrapper(ctx, *grad_outputs):
        if not is_grad_enabled():  # the ordinary backward pass
            return backward(ctx, *grad_outputs)
        Tensor = graph.tensor_type()
        with no_grad():
            grads = backward(ctx, *[g.detach() if isinstance(g, Tensor) else g for g in grad_outputs])
        upstream = [t for t in (*grad_outputs, *ctx.saved_tensors) if isinstance(t, Tensor) and t.requires_grad]
        if not upstream:
            return grads
        single = not isinstance(grads, tuple)
        marked = tuple(
            graph.apply(_OnceDifferentiableResult, g, *upstream, name=type(ctx).__name__)
            if isinstance(g, Tensor) and g.dtype.is_floating_point
            else g
            for g in ((grads,) if single else grads)
        )
        return marked[0] if single else marked

    return wrapper


class _OnceDifferentiableResult(Op):
    """The result of a ``@once_differentiable`` backward: its value, and an error if differentiated."""

    @staticmethod
    def forward(ctx, value, *upstream, name):
        ctx.function_name = name
        return value

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(
            f"trying to differentiate twice a function that was marked with @once_differentiable "
            f"({ctx.function_name}.backward): its backward is not recorded, so it has no derivative"
        )
