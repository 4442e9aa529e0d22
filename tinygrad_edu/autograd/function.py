"""Graph nodes. An op is a class with ``forward(ctx, ...)`` and ``backward(ctx, grad)`` side by side.

Two flavours share one mechanism:

* ``Op``: the engine's built-in ops. ``forward`` and ``backward`` receive and return *arrays* (NumPy or CuPy,
  whichever the device uses; ``ctx.xp`` is that module), which keeps each op short and fast.
* ``Function``: the user-facing class in ``torch.autograd.Function``'s shape. ``forward`` and ``backward``
  receive and return *Tensors*, so a learner writes a new differentiable op with the tensor API they know.

``apply`` runs ``forward``, and, when any input requires grad and grad mode is on, makes the op the ``_ctx``
of its outputs: the op object itself is the context and the graph node (``ctx.inputs`` are its parents).
"""

from __future__ import annotations

import weakref

from .. import backend
from .grad_mode import is_grad_enabled, no_grad


class Op:
    """Base class of built-in ops: array-level ``forward(ctx, *inputs, **params)`` and
    ``backward(ctx, *grad_outputs) -> one gradient (or None) per positional input``."""

    # set by apply: parents, which of them need a gradient, the array module, the outputs (weakly)
    inputs: tuple
    needs_input_grad: tuple
    xp: object
    saved_tensors: tuple = ()
    _released = False

    @staticmethod
    def forward(ctx, *args, **params):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError

    def save_for_backward(self, *arrays) -> None:
        """Keep what backward needs; the engine frees it after backward unless the graph is retained."""
        self.saved_tensors = arrays

    @property
    def name(self) -> str:
        return type(self).__name__

    # -- graph construction --------------------------------------------------------------------------------
    @classmethod
    def apply(cls, *args, **params):
        from ..tensor import Tensor

        ctx = cls()
        dev = _common_device(cls, args, Tensor)
        ctx.device = dev
        ctx.xp = backend.array_module(dev)
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        record = is_grad_enabled() and any(ctx.needs_input_grad)
        raw = [a._data if isinstance(a, Tensor) else a for a in args]
        try:
            result = ctx._run_forward(raw, args, params)
        except ValueError as exc:  # NumPy's shape errors don't say which op, nor what the inputs were
            raise RuntimeError(f"{cls.__name__}: {exc} (inputs: {_describe(args, Tensor)})") from None

        outputs = result if isinstance(result, tuple) else (result,)
        out_dev = getattr(ctx, "output_device", dev)  # only ToDevice moves data between devices
        wrapped = []
        for index, out in enumerate(outputs):
            t = Tensor._wrap(out, out_dev)
            if record and t.dtype.is_floating_point:
                t.requires_grad = True
                t._ctx = ctx
                t._output_index = index
            wrapped.append(t)
        if record:
            ctx.inputs = args
            ctx.outputs = tuple(weakref.ref(t) for t in wrapped)
            ctx.output_meta = tuple((t.shape, t._data.dtype) for t in wrapped)
            ctx._saved_versions = _versions_of_saved(ctx, args, wrapped, Tensor)
        return tuple(wrapped) if isinstance(result, tuple) else wrapped[0]

    def _run_forward(self, raw, args, params):
        return self.forward(self, *raw, **params)

    def _run_backward(self, grad_outputs):
        """Called by the engine with arrays (None for outputs that received no gradient)."""
        grads = self.backward(self, *grad_outputs)
        return grads if isinstance(grads, tuple) else (grads,)

    def release(self) -> None:
        """Free what backward needed; a second backward through this node becomes a clear error."""
        self.saved_tensors = ()
        self.inputs = tuple(None for _ in self.inputs)
        self._released = True


def _common_device(op, args, Tensor):
    dev = None
    for a in args:
        if isinstance(a, Tensor):
            if dev is None:
                dev = a.device
            elif a.device != dev:
                raise RuntimeError(
                    f"{op.__name__}: expected all tensors on the same device, found {dev} and {a.device}"
                )
    return dev if dev is not None else backend.CPU


def _describe(args, Tensor) -> str:
    return ", ".join(
        f"{a.dtype.name} tensor of shape {tuple(a.shape)}" if isinstance(a, Tensor) else repr(a) for a in args
    )


def _versions_of_saved(ctx, args, outputs, Tensor):
    """Remember the version of every tensor whose array backward will read, to catch later in-place writes."""
    saved = ctx.saved_tensors
    if not saved:
        return ()
    ids = {id(s) for s in saved}
    watched = [(a, a._version) for a in args if isinstance(a, Tensor) and id(a._data) in ids]
    watched += [(weakref.ref(t), 0) for t in outputs if id(t._data) in ids]
    return tuple(watched)


def check_versions(op) -> None:
    for tensor, version in op._saved_versions:
        if isinstance(tensor, weakref.ref):
            tensor = tensor()
            if tensor is None:
                continue
        if tensor._version != version:
            raise RuntimeError(
                f"one of the tensors needed by {op.name}'s backward (shape {tuple(tensor.shape)}) was modified "
                f"in place after it was used (version {version} then, {tensor._version} now). Clone it before "
                "modifying it, or modify it before using it in the graph."
            )


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

    ``forward`` and ``backward`` see Tensors and run without recording a graph.
    """

    def _run_forward(self, raw, args, params):
        from ..tensor import Tensor

        with no_grad():
            detached = [a.detach() if isinstance(a, Tensor) else a for a in args]
            out = self.forward(self, *detached, **params)
        outs = out if isinstance(out, tuple) else (out,)
        for o in outs:
            if not isinstance(o, Tensor):
                raise TypeError(f"{type(self).__name__}.forward must return Tensors, got {type(o).__name__}")
        # store arrays, so that the saved-tensor bookkeeping is the same as for built-in ops
        self.saved_tensors = tuple(t._data if isinstance(t, Tensor) else t for t in self.saved_tensors)
        self._user_saved = True
        return tuple(o._data for o in outs) if isinstance(out, tuple) else out._data

    def _run_backward(self, grad_outputs):
        from ..tensor import Tensor

        grads_in = []
        for g, (shape, dtype) in zip(grad_outputs, self.output_meta):
            g = self.xp.zeros(shape, dtype) if g is None else g  # PyTorch materialises missing gradients
            grads_in.append(Tensor._wrap(g, self.device))
        with no_grad():
            saved_arrays = self.saved_tensors
            self.saved_tensors = tuple(Tensor._wrap(s, self.device) for s in saved_arrays)
            try:
                grads = self.backward(self, *grads_in)
            finally:
                self.saved_tensors = saved_arrays
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) != len(self.inputs):
            raise RuntimeError(
                f"{type(self).__name__}.backward returned {len(grads)} gradients, expected {len(self.inputs)} "
                "(one per input of forward, None for inputs that need none)"
            )
        return tuple(g._data if isinstance(g, Tensor) else g for g in grads)
