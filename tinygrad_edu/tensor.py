"""``Tensor``: an array (NumPy or CuPy) plus what autograd needs — ``requires_grad``, ``grad`` and ``_ctx``,
the op that produced it.

Methods follow PyTorch's names and semantics. Differentiable methods are one line each, handing the arrays to
an op in ``tinygrad_edu.ops``; that is where forward and backward live.
"""

from __future__ import annotations

import builtins
import math
import numbers
import operator
import weakref

import numpy

from . import backend, dtypes, random
from .as_array import to_array
from .autograd import engine, graph
from .autograd.grad_mode import is_grad_enabled
from .autograd.graph import apply
from .handles import add_hook
from .indexing import (
    convert_index,
    dim_index,
    dim_indices,
    index_steps,
    new_shape,
    numpy_aliases,
    shape_arg,
    size_arg,
)
from .ops import elementwise, movement, nn_ops, reduce, scan
from .printing import host, tensor_repr
from .promotion import array_of, as_float, binary, check_matmul, same_device


class Size(tuple):
    """A tensor's shape: a tuple, as ``torch.Size`` is."""

    def numel(self) -> int:
        return math.prod(self)

    def __repr__(self) -> str:
        return f"tinygrad_edu.Size({list(self)})"


class MaxResult(tuple):
    """``(values, indices)`` with names, as ``x.max(dim=...)`` returns in PyTorch."""

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])


class Tensor:
    __slots__ = (
        "_data",
        "device",
        "requires_grad",
        "_grad",
        "_ctx",
        "_output_index",
        "_version",
        "_hooks",
        "_retains_grad",
        "_readers",
        "__weakref__",
    )

    # -- construction -------------------------------------------------------------------------------------
    def __init__(self, data, dtype=None, device=None, requires_grad: bool = False):
        """Prefer ``tinygrad_edu.tensor(...)``; this constructor takes the same arguments."""
        dev = backend.canonical(device) if device is not None else None
        array = to_array(data, dtype, dev)
        self._init_fields(array, dev if dev is not None else backend.device_of(array))
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array, device) -> Tensor:
        """Wrap an array that already has the right dtype and device, without copying or checking."""
        t = cls.__new__(cls)
        t._init_fields(array, device)
        return t

    def _init_fields(self, array, device) -> None:
        self._data, self.device = array, device
        self.requires_grad, self._grad, self._ctx, self._output_index = False, None, None, 0
        self._version, self._hooks, self._retains_grad, self._readers = 0, None, False, None

    @property
    def _xp(self):
        return backend.array_module(self.device)

    # -- what a tensor is ---------------------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self._data.shape[dim]

    def dim(self) -> int:
        return self._data.ndim

    ndim = property(dim)

    def numel(self) -> int:
        return int(self._data.size)

    @property
    def dtype(self) -> dtypes.DType:
        return dtypes.from_numpy(self._data.dtype)

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    @property
    def data(self) -> Tensor:
        """The same storage without the graph (PyTorch's ``.data``); prefer ``detach()``."""
        return Tensor._wrap(self._data, self.device)

    @data.setter
    def data(self, value) -> None:
        value = value if isinstance(value, Tensor) else Tensor(value)
        self._data, self.device = value._data, value.device

    def __repr__(self) -> str:
        return tensor_repr(self)

    # -- Python protocol: 0-d tensors behave like numbers ------------------------------------------------
    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        if not (self.requires_grad and is_grad_enabled()):
            return (Tensor._wrap(row, self.device) for row in self._data)
        return (self[i] for i in range(len(self)))

    def _scalar(self, what: str):
        if self._data.size != 1:
            raise RuntimeError(f"{what} needs a tensor with one element, got shape {tuple(self.shape)}")
        if graph.effect_observers:  # a compiler's trace ends at a value read into Python
            graph.note_effect(self, what)
        return backend.to_host(self._data.reshape(())).item()

    def item(self):
        return self._scalar("item()")

    def __float__(self) -> float:
        return float(self._scalar("float()"))

    def __int__(self) -> int:
        return int(self._scalar("int()"))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self._data.size} elements is ambiguous")
        return bool(self._scalar("bool()"))

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError(
                f"only integer tensors of a single element can be used as an index, got dtype {self.dtype} "
                f"and shape {tuple(self.shape)}"
            )
        return int(self._scalar("__index__"))

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return format(self.item(), spec)
        if spec:
            raise TypeError(f"unsupported format string {spec!r} for a tensor of shape {tuple(self.shape)}")
        return repr(self)

    __hash__ = object.__hash__  # identity: == is elementwise, as in PyTorch

    def tolist(self):
        if graph.effect_observers:
            graph.note_effect(self, "tolist()")
        return host(self._data).tolist()

    __array_priority__ = 1000  # numpy_scalar * tensor calls Tensor.__rmul__ rather than making an array of it

    def __array__(self, dtype=None, copy=None):
        """``numpy.asarray(t)`` (and so ``plt.imshow(t)``, SciPy): ``t.numpy()``, which refuses a tensor that
        requires grad, as PyTorch's ``__array__`` does."""
        array = self.numpy()
        array = array if dtype is None else array.astype(dtype, copy=False)
        return array.copy() if copy else array

    def numpy(self) -> numpy.ndarray:
        if self.requires_grad:
            raise RuntimeError("can't call numpy() on a tensor that requires grad: use tensor.detach().numpy()")
        if graph.effect_observers:
            graph.note_effect(self, "numpy()")
        if self.device.type != "cpu":
            raise TypeError(f"can't convert a {self.device} tensor to NumPy: copy it with .cpu() first")
        return self._data

    # -- autograd -------------------------------------------------------------------------------------------
    @property
    def grad(self):
        """The gradient that backward accumulated here (None before): a Tensor of this one's shape, dtype, device."""
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            check_assigned_grad(self, value)
        elif graph.effect_observers:  # zero_grad(): a compiler's trace must know the next backward stores afresh
            graph.note_effect(self, "grad = None")
        self._grad = value

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if not isinstance(requires_grad, bool):  # "no" would switch it on
            raise TypeError(
                f"requires_grad_(): argument 'requires_grad' must be bool, not {type(requires_grad).__name__}"
            )
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError(
                f"only floating point tensors can require gradients, got dtype {self.dtype} "
                "(convert with .float() first)"
            )
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad can only be switched off on a leaf tensor: use .detach()")
        self.requires_grad = requires_grad
        return self

    def detach(self) -> Tensor:
        """The same data, cut from the graph: no gradient flows through the result."""
        return Tensor._wrap(self._data, self.device)

    def detach_(self) -> Tensor:
        self._ctx, self.requires_grad = None, False
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` on a non-leaf tensor too (leaves always keep theirs)."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on a tensor that does not require grad")
        if self._ctx is not None:
            self._retains_grad = True

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self.requires_grad:
            raise RuntimeError("can't register a hook on a tensor that does not require grad")
        if not callable(hook):  # else it would fail only in the middle of a backward pass
            raise TypeError(f"register_hook expects a function of the gradient, got {type(hook).__name__}")
        if self._hooks is None:
            self._hooks = {}
        return add_hook(self._hooks, hook)

    def backward(self, gradient=None, retain_graph: bool | None = None, create_graph: bool = False, inputs=None):
        """Accumulate d(self)/d(leaf), weighted by ``gradient``, into every leaf's ``.grad`` (or only into those of
        ``inputs``). With ``create_graph=True`` the backward pass is recorded too, so that the gradients can be
        differentiated again (the graph is then kept, as if ``retain_graph=True``)."""
        if not self.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn: nothing to backpropagate"
            )
        seed = engine.seed_for(self, gradient, create_graph, "backward")
        if inputs is not None:
            inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
            if not inputs:
                raise RuntimeError("backward: inputs= was given but is empty")
        retain = create_graph if retain_graph is None else bool(retain_graph)
        engine.backward([self], [seed], retain_graph=retain, create_graph=create_graph, inputs=inputs)

    # -- in-place writes (only where the graph does not need the old values) ----------------------------
    def _check_inplace(self, what: str) -> None:
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError(
                f"{what}: in-place write to a tensor that requires grad (shape {tuple(self.shape)}); "
                "do it inside `with no_grad():`, or build a new tensor (where, masked_fill, cat)"
            )
        if graph.effect_observers:  # a compiler's trace cannot replay a write that no op made
            graph.note_effect(self, what)
        self._version += 1

    def __setitem__(self, index, value) -> None:
        wants_grad = self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)
        if wants_grad and is_grad_enabled() and not (self.requires_grad and self._ctx is None):
            return self._recorded_setitem(convert_index(index), value)
        self._check_inplace("__setitem__")
        self._data[convert_index(index)] = array_of(value, self)

    def _recorded_setitem(self, index, value) -> None:
        """``x[index] = value`` on a tensor in the graph (not a leaf), as PyTorch records it: ``x`` becomes the
        output of an ``IndexPut`` node whose input is x as it was, and its version goes up, so that a backward
        that saved x's old values raises as PyTorch's does. x takes the new array rather than being written in
        place: arrays that backward saved (views of x among them) keep the values they were computed from, and
        a view of x taken before the write does not see it (PyTorch's would)."""
        if isinstance(value, Tensor) and value._data.dtype != self._data.dtype:
            value = value.to(self.dtype)
        before = Tensor._wrap(self._data, self.device)
        before.requires_grad, before._ctx, before._output_index = self.requires_grad, self._ctx, self._output_index
        for reader in self._readers or ():  # ops that read x so far read it as it was (x[i] -= 1 reads x[i])
            op = reader()
            if op is not None:
                op.inputs = tuple(before if x is self else x for x in op.inputs)
        self._readers = None
        after = apply(scan.IndexPut, before, value, index=index)
        self._data = after._data
        self._version += 1
        self.requires_grad, self._ctx, self._output_index = True, after._ctx, 0
        self._ctx.outputs = (weakref.ref(self),)

    def copy_(self, source) -> Tensor:
        self._check_inplace("copy_")
        source = source if isinstance(source, Tensor) else Tensor(source)
        same_device("copy_", self, source)
        try:
            values = self._xp.broadcast_to(source._data, self._data.shape)
        except ValueError:
            raise RuntimeError(
                f"copy_: the source's shape {tuple(source.shape)} does not broadcast to this tensor's "
                f"{tuple(self.shape)}"
            ) from None
        self._xp.copyto(self._data, values, casting="unsafe")
        return self

    def fill_(self, value) -> Tensor:
        if not isinstance(value, (numbers.Number, numpy.generic, Tensor)):  # NumPy would try float(value)
            raise TypeError(f"fill_(): argument 'value' must be a number, not {type(value).__name__}")
        self._check_inplace("fill_")
        self._data.fill(value)
        return self

    def zero_(self) -> Tensor:
        return self.fill_(0)

    # random fillings: on the CPU, PyTorch's numbers for the same seed (tinygrad_edu/random.py)

    def _fill_random(self, what: str, draw, generator) -> Tensor:
        gen = random.resolve(generator, self.device)
        values = draw(gen, self._data.shape, self._data.dtype)  # drawn before the check-free write
        self._check_inplace(what)
        self._data[...] = values
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
        return self._fill_random("normal_", lambda g, s, d: random.normal(g, s, d, mean, std), generator)

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator=None) -> Tensor:
        return self._fill_random("uniform_", lambda g, s, d: random.uniform(g, s, d, a, b), generator)

    def random_(self, from_=0, to=None, *, generator=None) -> Tensor:
        """``random_(to)`` or ``random_(from, to)``: integers in [from, to); ``random_()``: in [0, 2^mantissa]
        for a float dtype, [0, max] for an integer one."""
        if to is None and from_ == 0:
            return self._fill_random("random_", random.random_bits, generator)
        if to is None:
            from_, to = 0, from_
        return self._fill_random("random_", lambda g, s, d: random.integers(g, s, d, from_, to), generator)

    def bernoulli_(self, p=0.5, *, generator=None) -> Tensor:
        """Each element 1 with probability p (a float, or a tensor broadcast to this one's shape), else 0."""
        probs = p._data if isinstance(p, Tensor) else p
        return self._fill_random("bernoulli_", lambda g, s, d: random.bernoulli(g, probs, s, d), generator)

    def bernoulli(self, p=None, *, generator=None) -> Tensor:
        """0/1 draws of this tensor's shape: 1 with probability self (elementwise), or p when given."""
        probs = self._data if p is None else p
        if graph.effect_observers:  # a compiler's trace cannot redraw numbers drawn outside an op
            graph.note_effect(None, "bernoulli()")
        gen = random.resolve(generator, self.device)
        return Tensor._wrap(random.bernoulli(gen, probs, self._data.shape, self._data.dtype), self.device)

    def _inplace_arith(self, other, fn, what):
        self._check_inplace(what)
        fn(self._data, array_of(other, self), out=self._data, casting="unsafe")
        return self

    def add_(self, other, alpha: float = 1):
        return self._inplace_arith(other if alpha == 1 else other * alpha, self._xp.add, "add_")

    def sub_(self, other, alpha: float = 1):
        return self._inplace_arith(other if alpha == 1 else other * alpha, self._xp.subtract, "sub_")

    def lerp_(self, end, weight):
        """self += weight · (end - self): a step towards ``end`` (Adam's moving averages)."""
        self._check_inplace("lerp_")
        self._data += (array_of(end, self) - self._data) * weight
        return self

    def addcmul_(self, tensor1, tensor2, value: float = 1):
        """self += value · tensor1 · tensor2"""
        self._check_inplace("addcmul_")
        self._data += value * array_of(tensor1, self) * array_of(tensor2, self)
        return self

    def addcdiv_(self, tensor1, tensor2, value: float = 1):
        """self += value · tensor1 / tensor2"""
        self._check_inplace("addcdiv_")
        self._data += value * array_of(tensor1, self) / array_of(tensor2, self)
        return self

    def mul_(self, other):
        return self._inplace_arith(other, self._xp.multiply, "mul_")

    def div_(self, other):
        return self._inplace_arith(other, self._xp.divide, "div_")

    def clamp_(self, min=None, max=None):  # noqa: A002
        self._check_inplace("clamp_")
        self._xp.clip(self._data, min, max, out=self._data)
        return self

    def masked_fill_(self, mask, value):
        self._check_inplace("masked_fill_")
        self._xp.copyto(self._data, self._data.dtype.type(value), where=array_of(mask, self))
        return self

    # -- arithmetic: one method per Python operator (and its reflected form), as the data model asks ----------
    def __add__(self, other):
        return binary(elementwise.Add, self, other)

    def __radd__(self, other):
        return binary(elementwise.Add, other, self)

    def __sub__(self, other):
        return binary(elementwise.Sub, self, other)

    def __rsub__(self, other):
        return binary(elementwise.Sub, other, self)

    def __mul__(self, other):
        return binary(elementwise.Mul, self, other)

    def __rmul__(self, other):
        return binary(elementwise.Mul, other, self)

    def __truediv__(self, other):
        return binary(elementwise.Div, self, other, true_division=True)

    def __rtruediv__(self, other):
        return binary(elementwise.Div, other, self, true_division=True)

    def __pow__(self, other):
        return binary(elementwise.Pow, self, other)

    def __rpow__(self, other):
        return binary(elementwise.Pow, other, self)

    def __matmul__(self, other):
        check_matmul("matmul", self, other)
        return binary(reduce.MatMul, self, other)

    def __rmatmul__(self, other):
        check_matmul("matmul", other, self)
        return binary(reduce.MatMul, other, self)

    def __neg__(self):
        return apply(elementwise.Neg, self)

    def __pos__(self):
        return self

    def __iadd__(self, other):
        if self.requires_grad and is_grad_enabled():
            return self + other  # out of place, as PyTorch would record it, but never corrupting the graph
        return self._inplace_arith(other, self._xp.add, "+=")

    def __isub__(self, other):
        if self.requires_grad and is_grad_enabled():
            return self - other
        return self._inplace_arith(other, self._xp.subtract, "-=")

    def __imul__(self, other):
        if self.requires_grad and is_grad_enabled():
            return self * other
        return self._inplace_arith(other, self._xp.multiply, "*=")

    def __itruediv__(self, other):
        if self.requires_grad and is_grad_enabled():
            return self / other
        return self._inplace_arith(other, self._xp.divide, "/=")

    def add(self, other, *, alpha: float = 1):
        """self + alpha · other"""
        return self + (other if alpha == 1 else other * alpha)

    def sub(self, other, *, alpha: float = 1):
        """self - alpha · other"""
        return self - (other if alpha == 1 else other * alpha)

    def lerp(self, end, weight):
        """self + weight · (end - self)"""
        return self + (end - self) * weight

    def addcmul(self, tensor1, tensor2, *, value: float = 1):
        return self + value * tensor1 * tensor2

    def addcdiv(self, tensor1, tensor2, *, value: float = 1):
        return self + value * tensor1 / tensor2

    mul = __mul__
    div = __truediv__
    pow = __pow__
    matmul = __matmul__

    # -- comparisons: bool tensors, outside the graph ------------------------------------------------------
    def _compare(self, other, fn):
        other_array = array_of(other, self)
        return Tensor._wrap(self._xp.asarray(fn(self._data, other_array)), self.device)

    def __eq__(self, other):  # noqa: D105
        return self._compare(other, lambda a, b: a == b)

    def __ne__(self, other):
        return self._compare(other, lambda a, b: a != b)

    def __lt__(self, other):
        return self._compare(other, lambda a, b: a < b)

    def __le__(self, other):
        return self._compare(other, lambda a, b: a <= b)

    def __gt__(self, other):
        return self._compare(other, lambda a, b: a > b)

    def __ge__(self, other):
        return self._compare(other, lambda a, b: a >= b)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def __invert__(self):
        if self._data.dtype != numpy.bool_:
            raise TypeError(f"~ is defined here for bool tensors only, got {self.dtype}")
        return Tensor._wrap(~self._data, self.device)

    def __and__(self, other):
        return self._compare(other, lambda a, b: a & b)

    def __or__(self, other):
        return self._compare(other, lambda a, b: a | b)

    def __xor__(self, other):
        return self._compare(other, lambda a, b: a ^ b)

    def logical_not(self):
        return Tensor._wrap(self._xp.logical_not(self._data), self.device)

    def isfinite(self):
        """True where the value is neither inf nor nan (a bool tensor, outside the graph)."""
        return Tensor._wrap(self._xp.isfinite(self._data), self.device)

    def all(self):
        return Tensor._wrap(self._xp.asarray(self._data.all()), self.device)

    def any(self):
        return Tensor._wrap(self._xp.asarray(self._data.any()), self.device)

    def argmax(self, dim=None, keepdim=False):
        return self._arg_extreme("argmax", dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return self._arg_extreme("argmin", dim, keepdim)

    def _arg_extreme(self, name: str, dim, keepdim: bool):
        if dim is None:
            if self._data.size == 0:
                raise IndexError(f"{name}(): the tensor has no elements (shape {tuple(self.shape)}); give a dim")
            out = getattr(self._data, name)()
        else:
            out = getattr(self._data, name)(axis=dim_index(dim, self._data.ndim), keepdims=keepdim)
        return Tensor._wrap(self._xp.asarray(out), self.device)

    def allclose(self, other, rtol=1e-5, atol=1e-8) -> bool:
        return bool(self._xp.allclose(self._data, array_of(other, self), rtol=rtol, atol=atol))

    def equal(self, other) -> bool:
        """True when ``other`` has this tensor's shape and the same values (NaN is never equal)."""
        if not isinstance(other, Tensor):
            raise TypeError(f"equal(): argument 'other' must be Tensor, not {type(other).__name__}")
        same_device("equal", self, other)
        return self.shape == other.shape and bool(self._xp.array_equal(self._data, other._data))

    # -- unary math -----------------------------------------------------------------------------------------
    def exp(self):
        return apply(elementwise.Exp, as_float(self))

    def log(self):
        return apply(elementwise.Log, as_float(self))

    def sqrt(self):
        return apply(elementwise.Sqrt, as_float(self))

    def rsqrt(self):
        return 1 / self.sqrt()

    def tanh(self):
        return apply(elementwise.Tanh, as_float(self))

    def sigmoid(self):
        return apply(elementwise.Sigmoid, as_float(self))

    def relu(self):
        return apply(elementwise.Relu, self)

    def abs(self):
        return apply(elementwise.Abs, self)

    def sign(self):
        """-1, 0 or 1 by the sign of each element (its gradient is 0 everywhere, as PyTorch's)."""
        return apply(elementwise.Sign, self)

    def erf(self):
        return apply(elementwise.Erf, as_float(self))

    def sin(self):
        return apply(elementwise.Sin, as_float(self))

    def cos(self):
        return apply(elementwise.Cos, as_float(self))

    def square(self):
        return self * self

    def clamp(self, min=None, max=None):  # noqa: A002
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        for bound in (min, max):
            if bound is not None and not isinstance(bound, numbers.Real):
                raise TypeError(f"clamp(): min and max must be numbers, got {type(bound).__name__}")
        source = self
        if not self.dtype.is_floating_point and any(isinstance(b, builtins.float) for b in (min, max)):
            source = self.float()  # a float bound makes the result float, as in PyTorch
        return apply(elementwise.Clamp, source, min=min, max=max)

    clip = clamp

    def maximum(self, other):
        return binary(elementwise.Maximum, self, other)

    def minimum(self, other):
        return -binary(elementwise.Maximum, -self, -other if isinstance(other, Tensor) else -array_of(other, self))

    # -- reductions -----------------------------------------------------------------------------------------
    def sum(self, dim=None, keepdim: bool = False, dtype=None, *, axis=None, keepdims=None):
        """Also takes NumPy's spellings ``axis`` and ``keepdims``, as PyTorch does."""
        dim, keepdim = numpy_aliases(dim, keepdim, axis, keepdims)
        source = self.to(dtype=dtype) if dtype is not None else self
        if source._data.dtype == numpy.bool_:
            source = source.long()
        return apply(reduce.Sum, source, axes=dim_indices(dim, self._data.ndim), keepdim=keepdim)

    def mean(self, dim=None, keepdim: bool = False, dtype=None, *, axis=None, keepdims=None):
        dim, keepdim = numpy_aliases(dim, keepdim, axis, keepdims)
        source = self.to(dtype=dtype) if dtype is not None else self
        if not source.dtype.is_floating_point:
            raise RuntimeError(f"mean(): input dtype must be floating point, got {source.dtype} (use .float() first)")
        return apply(reduce.Mean, source, axes=dim_indices(dim, self._data.ndim), keepdim=keepdim)

    def var(self, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None):
        """Variance with Bessel's correction by default (``correction=1``), as in PyTorch."""
        if not self.dtype.is_floating_point:
            raise RuntimeError(f"std and var only support floating point dtypes, got {self.dtype} (use .float() first)")
        wide = self._wide_var(dim, unbiased, keepdim, correction)
        return wide if wide.dtype == self.dtype else wide.to(self.dtype)

    def std(self, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None):
        if not self.dtype.is_floating_point:
            raise RuntimeError(f"std and var only support floating point dtypes, got {self.dtype} (use .float() first)")
        wide = self._wide_var(dim, unbiased, keepdim, correction).sqrt()
        return wide if wide.dtype == self.dtype else wide.to(self.dtype)

    def _wide_var(self, dim, unbiased, keepdim, correction):
        """The variance in float64, rounded to the tensor's dtype only by the caller: PyTorch's CPU kernel
        accumulates in float64 too, so the float a lecture prints (``w.std()`` of a 1000x1000 draw) is PyTorch's,
        not one a float32 rounding away."""
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        axes = dim_indices(dim, self._data.ndim)
        count = math.prod(self._data.shape[a] for a in axes)
        wide = self.double()
        centered = wide - wide.mean(dim=axes, keepdim=True)
        return (centered * centered).sum(dim=axes, keepdim=keepdim) / builtins.max(count - correction, 0)

    def max(self, dim=None, keepdim: bool = False):
        """``max()`` is the largest element; ``max(dim)`` gives ``(values, indices)``; ``max(tensor)`` is maximum."""
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        return self._extreme(dim, keepdim, largest=True)

    def min(self, dim=None, keepdim: bool = False):
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        return self._extreme(dim, keepdim, largest=False)

    def _extreme(self, dim, keepdim, largest):
        name = "max" if largest else "min"
        if dim is None:
            if self._data.size == 0:
                raise RuntimeError(f"{name}(): the tensor has no elements")
            return apply(reduce.MaxAll, self, largest=largest)
        axis = dim_index(dim, self._data.ndim)
        if self._data.ndim and self._data.shape[axis] == 0:  # other empty dims are fine: an empty result
            raise IndexError(f"{name}(): cannot reduce dim {axis}, it has size 0 (shape {tuple(self.shape)})")
        if self._data.ndim == 0:  # dim 0 or -1 of a 0-d tensor (as PyTorch): reduce it as a 1-element vector
            values, indices = apply(reduce.MaxAlong, self.reshape(1), axis=0, keepdim=False, largest=largest)
            return MaxResult((values, indices))
        values, indices = apply(reduce.MaxAlong, self, axis=axis, keepdim=keepdim, largest=largest)
        return MaxResult((values, indices))

    def norm(self, p="fro", dim=None, keepdim: bool = False, dtype=None):
        """The p-norm over ``dim`` (None: all elements), as ``torch.norm``: ``(Σ|x|^p)^(1/p)``, 'fro' and 2 the
        Euclidean one, inf/-inf the largest/smallest |x|, 0 the count of non-zeros (no gradient). Composed of
        the ops it reads as, so its gradient is theirs."""
        x = self.to(dtype) if dtype is not None else self
        if not x.dtype.is_floating_point:
            raise RuntimeError(f"norm(): input dtype should be floating point, but got {x.dtype.name}")
        if p == "fro" or p == 2:
            if p == "fro" and isinstance(dim, (tuple, list)) and len(dim) > 2:
                raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, dim))}")
            squares = (x * x).sum(dim=dim, keepdim=keepdim)
            nonzero = squares > 0  # at 0, PyTorch's gradient is 0 (sqrt's own would be 0·inf)
            safe = apply(movement.Where, nonzero, squares, squares._data.dtype.type(1))
            return safe.sqrt() * nonzero
        if p == "nuc" or isinstance(p, str):
            raise RuntimeError(f"norm(): p={p!r} is not supported here: use p='fro', a number, inf or -inf")
        if p == math.inf:
            return x.abs().amax(dim=dim, keepdim=keepdim)
        if p == -math.inf:
            return x.abs().amin(dim=dim, keepdim=keepdim)
        if p == 0:
            return (x != 0).to(x.dtype).sum(dim=dim, keepdim=keepdim)
        if p == 1:
            return x.abs().sum(dim=dim, keepdim=keepdim)
        return (x.abs() ** p).sum(dim=dim, keepdim=keepdim) ** (1.0 / p)

    def amax(self, dim=None, keepdim: bool = False):
        """The largest values over ``dim`` (an int, a tuple, or None for all); ties share the gradient evenly."""
        return self._amax(dim, keepdim, largest=True)

    def amin(self, dim=None, keepdim: bool = False):
        """The smallest values over ``dim`` (an int, a tuple, or None for all); ties share the gradient evenly."""
        return self._amax(dim, keepdim, largest=False)

    def _amax(self, dim, keepdim, largest):
        every_dim = dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0)  # PyTorch: () means all
        if self._data.ndim == 0:
            if not every_dim:
                dim_indices(dim, 1)  # a 0-d tensor accepts dim 0 or -1, as PyTorch; anything else raises
            axes = ()
        else:
            axes = tuple(range(self._data.ndim)) if every_dim else dim_indices(dim, self._data.ndim)
        if any(self._data.shape[a] == 0 for a in axes):
            raise RuntimeError(f"{'amax' if largest else 'amin'}(): cannot reduce over a dimension of size 0")
        return apply(reduce.AmaxAlong, self, axes=axes, keepdim=keepdim, largest=largest)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
        """The ``k`` largest (or smallest) entries along ``dim`` as ``(values, indices)``, best first.

        ``values`` is an index into ``self``, so gradients flow back to the selected entries."""
        if not isinstance(k, (int, numpy.integer)):
            raise TypeError(f"topk(): argument 'k' must be int, not {type(k).__name__}")
        axis = dim_index(dim, self._data.ndim)
        if self._data.ndim == 0:  # as PyTorch: k of 0 or 1 gives the element itself and index 0
            if k not in (0, 1):
                raise RuntimeError(f"topk: k={k} is out of range for a 0-d tensor (selected index k out of range)")
            return MaxResult((apply(movement.Alias, self), Tensor._wrap(self._xp.zeros((), numpy.int64), self.device)))
        size = self._data.shape[axis]
        if not 0 <= k <= size:
            raise RuntimeError(f"topk: k={k} is out of range for dimension {dim} of size {size}")
        xp = self._xp
        order = xp.argsort(self._data, axis=axis, kind="stable")  # NaN sorts last, so it counts as the largest
        order = xp.flip(order, axis=axis) if largest else order
        indices = xp.take(order, xp.arange(k), axis=axis).astype(numpy.int64)
        grid = list(xp.ix_(*(xp.arange(n) for n in indices.shape)))
        grid[axis] = indices
        return MaxResult((self[tuple(grid)], Tensor._wrap(indices, self.device)))

    def softmax(self, dim: int):
        return apply(nn_ops.Softmax, as_float(self), dim=dim_index(dim, self._data.ndim))

    def log_softmax(self, dim: int):
        return apply(nn_ops.LogSoftmax, as_float(self), dim=dim_index(dim, self._data.ndim))

    # -- shapes -----------------------------------------------------------------------------------------------
    def reshape(self, *shape):
        shape = new_shape(shape_arg(shape, "reshape(): argument 'shape'"), self._data.size, "reshape")
        return apply(movement.Reshape, self, shape=shape)

    def view(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], dtypes.DType):
            raise NotImplementedError("view(dtype) reinterprets bytes; use .to(dtype) to convert values")
        shape = new_shape(shape_arg(shape, "view(): argument 'size'"), self._data.size, "view")
        return apply(movement.Reshape, self, shape=shape, require_view=True)

    def view_as(self, other):
        return self.view(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        if self._data.ndim == 0:
            return self.reshape(1)
        start, end = dim_index(start_dim, self._data.ndim), dim_index(end_dim, self._data.ndim)
        if start > end:
            raise RuntimeError(
                f"flatten() has invalid args: start_dim ({start_dim}) cannot come after end_dim ({end_dim})"
            )
        shape = self._data.shape
        return self.reshape(*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])

    def permute(self, *dims):
        dims = tuple(dim_index(d, self._data.ndim) for d in shape_arg(dims, "permute(): argument 'dims'"))
        if sorted(dims) != list(range(self._data.ndim)):
            raise RuntimeError(f"permute: {dims} is not a permutation of the {self._data.ndim} dims of {self.shape}")
        return apply(movement.Permute, self, dims=dims)

    def transpose(self, dim0: int, dim1: int):
        dims = list(range(self._data.ndim))
        a, b = dim_index(dim0, self._data.ndim), dim_index(dim1, self._data.ndim)
        if dims:  # a 0-d tensor has one dim to name (0 or -1), and swapping it with itself changes nothing
            dims[a], dims[b] = dims[b], dims[a]
        return apply(movement.Permute, self, dims=tuple(dims))

    def swapaxes(self, axis0: int, axis1: int):
        return self.transpose(axis0, axis1)

    swapdims = swapaxes

    def t(self):
        if self._data.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dims, got {self._data.ndim}")
        return self.transpose(0, 1) if self._data.ndim == 2 else self

    @property
    def T(self):  # noqa: N802 - PyTorch's name
        return apply(movement.Permute, self, dims=tuple(reversed(range(self._data.ndim))))

    @property
    def mT(self):  # noqa: N802
        return self.transpose(-2, -1)

    def unsqueeze(self, dim: int):
        axis = dim_index(dim, self._data.ndim + 1)
        shape = self._data.shape
        return self.reshape(*shape[:axis], 1, *shape[axis:])

    def squeeze(self, dim=None):
        shape = self._data.shape
        if dim is None:
            return self.reshape(*(n for n in shape if n != 1))
        axes = dim_indices(dim, self._data.ndim)
        return self.reshape(*(n for i, n in enumerate(shape) if not (i in axes and n == 1)))

    def expand(self, *sizes):
        sizes = shape_arg(sizes, "expand(): argument 'size'")
        extra = len(sizes) - self._data.ndim
        if extra < 0:
            raise RuntimeError(
                f"expand: the number of sizes ({len(sizes)}) is less than the tensor's dims {self.shape}"
            )
        if -1 in sizes[:extra]:  # shape[i - extra] would wrap around to an existing dim's size
            raise RuntimeError(f"expand: -1 is not allowed in a new leading dimension, got sizes {sizes}")
        target = tuple(self._data.shape[i - extra] if n == -1 else n for i, n in enumerate(sizes))
        try:
            numpy.broadcast_shapes(self._data.shape, target)
        except ValueError:
            raise RuntimeError(f"expand: cannot expand shape {tuple(self.shape)} to {target}") from None
        return apply(movement.Expand, self, shape=target)

    def expand_as(self, other):
        return self.expand(other.shape)

    def contiguous(self):
        return self if self.is_contiguous() else apply(movement.Contiguous, self)

    def clone(self):
        return (
            apply(elementwise.Mul, self, self._data.dtype.type(1))
            if self.requires_grad
            else Tensor._wrap(self._data.copy(), self.device)
        )

    def split(self, split_size, dim: int = 0):
        axis = dim_index(dim, self._data.ndim)
        length = self._data.shape[axis]
        if not isinstance(split_size, (int, list, tuple)):
            raise TypeError(f"split(): split_size must be an int or a list of ints, not {type(split_size).__name__}")
        if isinstance(split_size, int) and split_size <= 0:
            raise RuntimeError(f"split: split_size must be a positive int, got {split_size}")
        sizes = (
            [split_size] * (length // split_size) + ([length % split_size] if length % split_size else [])
            if isinstance(split_size, int)
            else list(split_size)
        )
        if sum(sizes) != length or builtins.min(sizes, default=0) < 0:  # slicing would quietly give other sizes
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {length} (input tensor's size at dimension "
                f"{dim}), but got split_sizes={sizes}"
            )
        if self.requires_grad and is_grad_enabled():  # one op, whose backward concatenates the pieces' gradients
            return apply(movement.Split, self, sizes=tuple(sizes), axis=axis)
        pieces, start = [], 0
        for size in sizes:
            index = [slice(None)] * self._data.ndim
            index[axis] = slice(start, start + size)
            pieces.append(self[tuple(index)])
            start += size
        return tuple(pieces)

    def unbind(self, dim: int = 0):
        """The slices along ``dim``, each without that dim: ``split(1, dim)``, squeezed."""
        if self._data.ndim == 0:
            raise IndexError("Dimension specified as 0 but tensor has no dimensions")
        axis = dim_index(dim, self._data.ndim)
        return tuple(piece.squeeze(axis) for piece in self.split(1, axis))

    def pin_memory(self, device=None):
        """A copy in page-locked host memory, which a GPU copies from faster: it needs CuPy and a GPU (as
        PyTorch's needs an accelerator)."""
        from . import cuda

        if self.device.type != "cpu":
            raise RuntimeError(f"cannot pin '{self.device}' memory: only CPU memory can be pinned")
        if not cuda.is_available() or cuda.is_simulated():
            raise RuntimeError("Cannot access accelerator device when none is available.")
        import cupyx  # noqa: PLC0415 - only where a GPU is

        pinned = cupyx.empty_pinned(self._data.shape, self._data.dtype)
        pinned[...] = self._data
        return Tensor._wrap(pinned, self.device)

    def chunk(self, chunks: int, dim: int = 0):
        if not isinstance(chunks, (int, numpy.integer)) or chunks <= 0:
            raise RuntimeError(f"chunk expects chunks to be an int greater than 0, got: {chunks!r}")
        axis = dim_index(dim, self._data.ndim)
        length = self._data.shape[axis]
        if length == 0:  # as PyTorch: ``chunks`` empty pieces
            return tuple(self[(slice(None),) * axis + (slice(0, 0),)] for _ in range(chunks))
        return self.split(-(-length // chunks), dim)

    def __getitem__(self, index):
        steps = index_steps(convert_index(index))
        if len(steps) == 2:  # integers mixed with arrays: integers first, as PyTorch does
            return self[steps[0]][steps[1]]
        index = steps[0]
        if not (self.requires_grad and is_grad_enabled()):
            try:
                picked = self._data[movement.index_on_device(self._xp, self.shape, index)]
                if isinstance(picked, numpy.generic):  # x[0, 1]: NumPy gives a scalar; PyTorch a 0-d view
                    picked = self._data[(*(index if isinstance(index, tuple) else (index,)), Ellipsis)]
                return Tensor._wrap(picked, self.device)
            except IndexError as exc:
                raise movement.index_error(self.shape, exc) from None
        return apply(movement.Index, self, index=index)

    def masked_fill(self, mask, value):
        mask = mask if isinstance(mask, Tensor) else Tensor(mask, device=self.device)
        same_device("masked_fill", self, mask)
        if mask._data.dtype != numpy.bool_:
            raise RuntimeError(f"masked_fill: the mask must be a bool tensor, got {mask.dtype}")
        if isinstance(value, Tensor) and value.dim() != 0:
            raise RuntimeError(
                f"masked_fill only supports a 0-dimensional value tensor, but got one of shape {tuple(value.shape)}"
            )
        return apply(movement.MaskedFill, self, mask, value=float(value))

    def tril(self, diagonal: int = 0):
        self._check_matrix("tril")
        return apply(movement.Triangle, self, upper=False, diagonal=diagonal)

    def triu(self, diagonal: int = 0):
        self._check_matrix("triu")
        return apply(movement.Triangle, self, upper=True, diagonal=diagonal)

    def _check_matrix(self, what: str) -> None:
        if self._data.ndim < 2:  # NumPy would broadcast a vector to a matrix
            raise RuntimeError(f"{what}: input tensor must have at least 2 dimensions, got shape {tuple(self.shape)}")

    # -- reordering, scans and gathers (issue 35: the series' code) -----------------------------------------
    nelement = numel

    def flip(self, *dims):
        axes = tuple(dim_index(d, self._data.ndim) for d in shape_arg(dims, "flip(): argument 'dims'"))
        if len(set(axes)) != len(axes):
            raise RuntimeError(f"flip: dim {builtins.max(axes, key=axes.count)} appears multiple times in {dims}")
        return apply(scan.Flip, self, dims=axes if self._data.ndim else ())

    def fliplr(self):
        if self._data.ndim < 2:
            raise RuntimeError(f"fliplr: input must be >= 2-d, got shape {tuple(self.shape)}")
        return self.flip(1)

    def flipud(self):
        if self._data.ndim < 1:
            raise RuntimeError("flipud: input must be >= 1-d, got a 0-d tensor")
        return self.flip(0)

    def roll(self, shifts, dims=None):
        """Shift the elements along ``dims`` by ``shifts``, wrapping around (over the flattened tensor if no dims)."""
        shifts = shape_arg(shifts if isinstance(shifts, (tuple, list)) else (shifts,), "roll(): argument 'shifts'")
        if dims is None:
            if len(shifts) != 1:
                raise RuntimeError(f"roll: shifts {shifts} need dims of the same length, got dims=None")
            return self.flatten().roll(shifts, 0).reshape(self.shape)
        dims = dims if isinstance(dims, (tuple, list)) else (dims,)
        if len(shifts) != len(dims):
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}")
        if self._data.ndim == 0:
            raise IndexError(f"Dimension specified as {dims[0]} but tensor has no dimensions")
        axes = tuple(dim_index(d, self._data.ndim) for d in dims)
        return apply(scan.Roll, self, shifts=shifts, axes=axes)

    def repeat(self, *sizes):
        """Tile the tensor ``sizes[i]`` times along dim i (leading sizes add new dims), as ``numpy.tile``."""
        sizes = shape_arg(sizes, "repeat(): argument 'repeats'")
        if len(sizes) < self._data.ndim:
            raise RuntimeError(
                "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor "
                f"(repeats {sizes}, shape {tuple(self.shape)})"
            )
        if builtins.min(sizes, default=0) < 0:
            raise RuntimeError(f"repeat: repeats can not be negative, got {sizes}")
        shape = (1,) * (len(sizes) - self._data.ndim) + tuple(self._data.shape)
        # each dim n becomes (1, n), expanded to (r, n): the copies lie one after another, then merged
        spread = self.reshape(*(k for n in shape for k in (1, n)))
        tiled = spread.expand(*(k for r, n in zip(sizes, shape) for k in (r, n)))
        return tiled.reshape(*(r * n for r, n in zip(sizes, shape)))

    def repeat_interleave(self, repeats, dim=None, *, output_size=None):
        """Each element ``repeats`` times in a row along ``dim`` (over the flattened tensor if dim is None)."""
        x, axis = (self.flatten(), 0) if dim is None else (self, dim_index(dim, self._data.ndim))
        if x._data.ndim == 0:
            x = x.reshape(1)
        n = x._data.shape[axis]
        if isinstance(repeats, Tensor):  # the output's size depends on the counts: read them on the host
            counts = repeat_counts(repeats, n)
        else:
            counts = operator_index(repeats, "repeat_interleave(): argument 'repeats'")
            if counts < 0:
                raise RuntimeError(f"repeat_interleave: repeats can not be negative, got {repeats}")
        positions = numpy.repeat(numpy.arange(n, dtype=numpy.int64), counts)
        if output_size is not None and output_size != len(positions):
            raise RuntimeError(f"repeat_interleave: output_size={output_size} but the repeats give {len(positions)}")
        return x.index_select(axis, Tensor(positions, device=self.device))

    def _index_arg(self, what: str, index) -> Tensor:
        if not isinstance(index, Tensor):
            raise TypeError(f"{what}(): argument 'index' must be Tensor, not {type(index).__name__}")
        same_device(what, self, index)
        if index._data.dtype != numpy.int64:
            raise RuntimeError(f"{what}(): Expected dtype int64 for index, got {index.dtype}")
        return index

    def _along(self, what: str, dim, index: Tensor) -> tuple:
        """The advanced index that picks ``self[..., index[i], ...]`` at every position i of ``index`` along dim
        (its other coordinates are i's own), after PyTorch's checks on ``index``'s rank, sizes and values."""
        ndim = builtins.max(self._data.ndim, 1)
        axis = dim_index(dim, self._data.ndim)
        if builtins.max(index._data.ndim, 1) != ndim:
            raise RuntimeError(f"{what}(): Index tensor must have the same number of dimensions as input tensor")
        shape = tuple(self._data.shape) or (1,)
        index_shape = tuple(index._data.shape) or (1,)
        for d, (n, limit) in enumerate(zip(index_shape, shape)):
            if d != axis and n > limit:
                raise RuntimeError(
                    f"{what}(): Size does not match at dimension {d} expected index {list(index.shape)} to be "
                    f"smaller than self {list(self.shape)} apart from dimension {axis}"
                )
        size = shape[axis]
        outside = (index._data < 0) | (index._data >= size)  # PyTorch's gather raises a RuntimeError here
        backend.check(outside.any(), lambda: RuntimeError(
            f"{what}(): index {index._data[outside].ravel()[0].item()} is out of bounds for dimension {axis} with "
            f"size {size}"
        ))  # fmt: skip
        xp = self._xp
        grid = list(xp.ix_(*(xp.arange(n) for n in index_shape)))
        grid[axis] = index._data.reshape(index_shape)
        return tuple(grid)

    def gather(self, dim, index, *, sparse_grad: bool = False):
        """``out[i][j] = self[index[i][j]][j]`` for dim 0 (likewise for any dim): values picked along ``dim``."""
        grid = self._along("gather", dim, self._index_arg("gather", index))
        x = self.reshape(1) if self._data.ndim == 0 else self
        return x[grid].reshape(index.shape)

    def take_along_dim(self, indices, dim=None):
        """``gather`` with ``indices`` broadcast against ``self`` outside ``dim`` (over the flattened tensor if dim
        is None)."""
        indices = self._index_arg("take_along_dim", indices)
        if dim is None:
            return self.flatten().gather(0, indices.flatten())
        if indices._data.ndim != self._data.ndim:
            raise RuntimeError("torch.take_along_dim(): input and indices should have the same number of dimensions")
        if self._data.ndim == 0:
            raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
        axis = dim_index(dim, self._data.ndim)
        outer = numpy.broadcast_shapes(*(tuple(1 if d == axis else n for d, n in enumerate(s))
                                         for s in (self._data.shape, indices._data.shape)))  # fmt: skip
        own = [outer[:axis] + (n,) + outer[axis + 1 :] for n in (self._data.shape[axis], indices._data.shape[axis])]
        wide = Tensor._wrap(self._xp.broadcast_to(indices._data, own[1]), self.device)
        return self.expand(own[0]).gather(axis, wide)

    def index_select(self, dim, index):
        """The slices ``index[0], index[1], ...`` of ``dim``, in that order (repeats allowed)."""
        if not isinstance(index, Tensor):
            raise TypeError(f"index_select(): argument 'index' must be Tensor, not {type(index).__name__}")
        if index._data.dtype.kind not in "iu" or index._data.ndim > 1:
            raise IndexError(
                f"index_select(): Index is supposed to be a vector of integers, got {index.dtype} of shape "
                f"{tuple(index.shape)}"
            )
        axis = dim_index(dim, self._data.ndim)
        if self._data.ndim == 0 and index._data.size != 1:
            raise RuntimeError(f"index_select(): Index to scalar can have only 1 value, got {index._data.size}")
        x = self.reshape(1) if self._data.ndim == 0 else self
        size = x._data.shape[axis]
        movement.check_range(self._xp, index._data, -size, size, lambda bad: (
            f"index_select(): index {bad} is out of bounds for dimension {axis} with size {size}"
        ))  # fmt: skip
        picked = x[(slice(None),) * axis + (index._data.reshape(-1),)]
        return picked.reshape(()) if self._data.ndim == 0 else picked

    def scatter_add(self, dim, index, src):
        """A copy of ``self`` with ``src[i][j]`` added at ``[index[i][j]][j]`` for dim 0 (repeated positions add
        up): the adjoint of ``gather``."""
        index = self._index_arg("scatter_add", index)
        grid = self._along("scatter_add", dim, index)
        return self + self._scattered("scatter_add", grid, index, src, accumulate=True)

    def scatter(self, dim, index, src=None, value=None, *, reduce=None):
        """A copy of ``self`` with ``src[i][j]`` (or the number ``value``) written at ``[index[i][j]][j]`` for dim 0.
        ``reduce="add"`` adds instead of writing (``scatter_add``), ``reduce="multiply"`` multiplies."""
        if src is not None and not isinstance(src, Tensor):
            src, value = None, src  # scatter(dim, index, 2.5): the value passed in src's place
        if (src is None) == (value is None):
            raise TypeError("scatter(): give exactly one of src (a tensor) and value (a number)")
        index = self._index_arg("scatter", index)
        if reduce is not None and reduce not in ("add", "multiply"):
            raise RuntimeError("scatter(): reduce argument must be either add or multiply.")
        if src is None:
            src = Tensor._wrap(self._xp.full(index._data.shape, value, dtype=self._data.dtype), self.device)
        if reduce == "add":
            return self.scatter_add(dim, index, src)
        if reduce == "multiply":
            return self._scatter_multiplied(dim, index, src)
        grid = self._along("scatter", dim, index)
        written = self._scattered("scatter", grid, index, src, accumulate=False)
        mask = self._xp.zeros(self._data.shape or (1,), dtype=bool)
        mask[grid] = True
        return apply(movement.Where, mask.reshape(self._data.shape), written, self)

    def _scatter_multiplied(self, dim, index: Tensor, src) -> Tensor:
        """``scatter(reduce="multiply")``: self with each position multiplied by every src value sent to it.
        It has no gradient (PyTorch's backward raises), so it is refused while a graph is being recorded."""
        if is_grad_enabled() and (self.requires_grad or (isinstance(src, Tensor) and src.requires_grad)):
            raise RuntimeError(
                "scatter(): reduce='multiply' has no gradient (PyTorch's backward refuses it too); call it under "
                "torch.no_grad() or on detached tensors"
            )
        grid = self._along("scatter", dim, index)
        block = self._scatter_block("scatter", index, src)
        # the factors are gathered on the host: CuPy has no multiply.at, and this op is rare and off the hot path
        factors = numpy.ones(self._data.shape or (1,), dtype=self._data.dtype)
        host_grid = tuple(backend.to_host(part) if not isinstance(part, slice) else part for part in grid)
        numpy.multiply.at(factors, host_grid, backend.to_host(block._data))  # a position sent several values
        factors = backend.to_device(factors.reshape(self._data.shape), self.device)  # takes each of them
        return Tensor._wrap(self._data * factors, self.device)

    def _scattered(self, what: str, grid, index: Tensor, src, accumulate: bool) -> Tensor:
        """zeros of self's shape with src's leading block (index's shape) put at ``grid``."""
        block = self._scatter_block(what, index, src)
        out = apply(movement.ScatterAdd, block, shape=self._data.shape or (1,), index=grid, accumulate=accumulate)
        return out.reshape(self.shape)

    def _scatter_block(self, what: str, index: Tensor, src) -> Tensor:
        """src's leading block of index's shape, after PyTorch's checks of its type, dtype and sizes."""
        if not isinstance(src, Tensor):
            raise TypeError(f"{what}(): argument 'src' must be Tensor, not {type(src).__name__}")
        if src._data.dtype != self._data.dtype:
            raise RuntimeError(f"{what}(): Expected self.dtype to be equal to src.dtype ({self.dtype} and {src.dtype})")
        if builtins.max(src._data.ndim, 1) != builtins.max(self._data.ndim, 1) or any(
            n > m for n, m in zip(index._data.shape, src._data.shape)
        ):
            raise RuntimeError(
                f"{what}(): Expected index {list(index.shape)} to be smaller than src {list(src.shape)} in every "
                "dimension, with as many dimensions"
            )
        block = src.reshape(1) if src._data.ndim == 0 else src
        return block[tuple(slice(0, n) for n in (index._data.shape or (1,)))]

    def _sort_order(self, axis: int, descending: bool):
        """Indices that sort along ``axis``, stable (equal values keep their order), NaN as the largest value."""
        xp = self._xp
        if not descending:
            return xp.argsort(self._data, axis=axis, kind="stable").astype(numpy.int64)
        # descending and still stable: sort the reversed array ascending, reverse the result, map positions back
        n = self._data.shape[axis]
        backwards = xp.argsort(xp.flip(self._data, axis=axis), axis=axis, kind="stable")
        return (n - 1 - xp.flip(backwards, axis=axis)).astype(numpy.int64)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        """``(values, indices)`` sorted along ``dim``; always stable here (``stable=`` is accepted for PyTorch)."""
        axis = dim_index(dim, self._data.ndim)
        if self._data.ndim == 0:
            return MaxResult((apply(movement.Alias, self), Tensor._wrap(self._xp.zeros((), numpy.int64), self.device)))
        indices = Tensor._wrap(self._sort_order(axis, descending), self.device)
        return MaxResult((self.gather(axis, indices), indices))

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        axis = dim_index(dim, self._data.ndim)
        if self._data.ndim == 0:
            return Tensor._wrap(self._xp.zeros((), numpy.int64), self.device)
        return Tensor._wrap(self._sort_order(axis, descending), self.device)

    def _scan(self, op, dim, dtype):
        axis = dim_index(dim, self._data.ndim)
        if dtype is None and self._data.dtype.kind in "biu":  # PyTorch sums and multiplies integers in int64
            dtype = dtypes.int64
        x = self if dtype is None else self.to(dtype)
        if x._data.ndim == 0:
            return apply(op, x.reshape(1), axis=0).reshape(())
        return apply(op, x, axis=axis)

    def cumsum(self, dim, *, dtype=None):
        return self._scan(scan.Cumsum, dim, dtype)

    def cumprod(self, dim, *, dtype=None):
        return self._scan(scan.Cumprod, dim, dtype)

    def logsumexp(self, dim, keepdim: bool = False):
        """log Σ exp(x) over ``dim``, computed as m + log Σ exp(x - m) with m the maximum, so nothing overflows."""
        x = as_float(self)
        if x._data.ndim == 0:
            return x.clone()
        if x._data.size == 0:  # log of an empty sum: -inf (as PyTorch), still in the graph for x's (empty) gradient
            return x.sum(dim, keepdim=keepdim) * 0 + float("-inf")
        high = x.amax(dim, keepdim=True).detach()
        high = high.masked_fill(~high.isfinite(), 0.0)  # all -inf (or an inf): shift by 0 instead of by inf
        out = (x - high).exp().sum(dim, keepdim=True).log() + high
        return out if keepdim else out.squeeze(dim)

    def log2(self):
        return self.log() * (1 / math.log(2))  # log₂ x = ln x / ln 2

    def log10(self):
        return self.log() * (1 / math.log(10))  # log₁₀ x = ln x / ln 10

    def bincount(self, weights=None, minlength: int = 0):
        """How often each value 0, 1, ... occurs in this 1-d non-negative integer tensor (summing ``weights``)."""
        if self._data.ndim != 1 or self._data.dtype.kind not in "iu":
            raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs, got {self.dtype} "
                               f"of shape {tuple(self.shape)}")  # fmt: skip
        if self._data.size and self._data.min().item() < 0:
            raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
        if minlength < 0:
            raise RuntimeError(f"minlength should be >= 0, got {minlength}")
        if weights is None or self._data.size == 0:  # as PyTorch: no values, no weights read, int64 zeros
            return Tensor._wrap(self._xp.bincount(self._data, minlength=minlength).astype(numpy.int64), self.device)
        counts = self._xp.bincount(self._data, weights._data, minlength)  # summed in float64
        dtype = weights._data.dtype if weights._data.dtype.kind == "f" else numpy.float64
        return Tensor._wrap(counts.astype(dtype), self.device)

    def histc(self, bins: int = 100, min: float = 0, max: float = 0):  # noqa: A002
        """Counts in ``bins`` equal bins over [min, max] (the data's own range when both are 0); values outside
        are ignored. Not differentiable, as PyTorch's."""
        if self._data.dtype.kind != "f":
            raise RuntimeError(f"histc: expected a floating point tensor, got {self.dtype}")
        if bins <= 0:
            raise RuntimeError(f"torch.histc(): bins must be > 0, but got {bins}")
        low, high = float(min), float(max)
        if low == high and self._data.size:
            low, high = self._data.min().item(), self._data.max().item()
        if low == high:  # as PyTorch: a range of width 0 becomes [low - 1, high + 1]
            low, high = low - 1, high + 1
        if low > high:
            raise RuntimeError(f"torch.histc(): max must be larger than min, got min={min}, max={max}")
        counts, _ = self._xp.histogram(self._data, bins=bins, range=(low, high))
        return Tensor._wrap(counts.astype(self._data.dtype), self.device)

    def histogram(self, bins=100, *, range=None, weight=None, density: bool = False):  # noqa: A002
        """``(hist, bin_edges)``: ``bins`` equal bins (100 unless given, as PyTorch's) or the given edges (a 1-d
        tensor) over ``range``."""
        if self._data.dtype.kind != "f":
            raise RuntimeError(f"torch.histogram: input tensor and bins tensors should have the same dtype, "
                               f"got {self.dtype}")  # fmt: skip
        edges = bins._data if isinstance(bins, Tensor) else int(bins)
        w = None if weight is None else weight._data
        hist, edges = self._xp.histogram(self._data, bins=edges, range=range, weights=w, density=density)
        dtype = self._data.dtype
        return HistogramResult((Tensor._wrap(hist.astype(dtype), self.device),
                                Tensor._wrap(edges.astype(dtype), self.device)))  # fmt: skip

    # -- dtype and device ----------------------------------------------------------------------------------
    def to(self, *args, **kwargs):
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other_tensor)``."""
        dev, dtype = parse_to_args(args, kwargs)
        out = self
        if dtype is not None and out._data.dtype != dtypes.to_numpy(dtype):
            out = apply(elementwise.Cast, out, dtype=dtypes.to_numpy(dtype))
        if dev is not None:
            dev = backend.canonical(dev)
            if dev != out.device:
                out = apply(elementwise.ToDevice, out, device=dev)
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}")

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def bool(self):
        return self.to(dtypes.bool)

    def type_as(self, other):
        return self.to(other.dtype)

    def new_zeros(self, *size):
        return Tensor._wrap(self._xp.zeros(size_arg(size, "new_zeros()"), dtype=self._data.dtype), self.device)

    def new_ones(self, *size):
        return Tensor._wrap(self._xp.ones(size_arg(size, "new_ones()"), dtype=self._data.dtype), self.device)

    def new_tensor(self, data):
        return Tensor(data, dtype=self.dtype, device=self.device)

    def zero_grad_(self):
        self.grad = None


def check_assigned_grad(t: Tensor, grad) -> None:
    """As PyTorch, ``t.grad = grad`` refuses a gradient that could not be ``t``'s (cheap: no values are read)."""
    if not isinstance(grad, Tensor):
        raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type {type(grad).__name__}")
    if grad._data.dtype != t._data.dtype:
        raise RuntimeError(
            f"assigned grad has data of a different type: attempting to assign a gradient with dtype {grad.dtype} "
            f"to a tensor with dtype {t.dtype}"
        )
    if grad._data.shape != t._data.shape:
        raise RuntimeError(
            f"assigned grad has data of a different size: attempting to assign a gradient of size "
            f"{list(grad.shape)} to a tensor of size {list(t.shape)}"
        )
    if grad.device != t.device:
        raise RuntimeError(
            f"assigned grad has data on a different device: attempting to assign a gradient on {grad.device} "
            f"to a tensor on {t.device}"
        )


def parse_to_args(args, kwargs):
    """The (device, dtype) named by ``to(...)``'s arguments; either may be None."""
    kwargs = dict(kwargs)
    dev, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"to() got unexpected arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dev, dtype = a.device, a.dtype
        elif isinstance(a, (dtypes.DType, numpy.dtype, type)):
            dtype = a
        else:
            dev = a
    return dev, dtype


class HistogramResult(tuple):
    """``(hist, bin_edges)`` with names, as ``torch.histogram`` returns."""

    hist = property(lambda self: self[0])
    bin_edges = property(lambda self: self[1])


def operator_index(value, what: str) -> int:
    """``value`` as an int (a 0-d integer tensor too); a float or a string is a TypeError naming ``what``."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be int or Tensor, not {type(value).__name__}") from None


def repeat_counts(repeats: Tensor, n: int) -> numpy.ndarray:
    """repeat_interleave's tensor of counts as one count per element: a single count is used for all ``n``."""
    if repeats._data.dtype.kind not in "iu" or repeats._data.ndim > 1:
        raise RuntimeError(f"repeat_interleave: repeats must be a 0-d or 1-d integer tensor, got {repeats.dtype} of "
                           f"shape {tuple(repeats.shape)}")  # fmt: skip
    counts = host(repeats._data).reshape(-1)
    if counts.size == 1:
        counts = numpy.full(n, counts[0], dtype=numpy.int64)
    if counts.size != n:
        raise RuntimeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = "
                           f"{counts.size} and input.size(0) = {n}")  # fmt: skip
    if counts.size and counts.min() < 0:
        raise RuntimeError("repeat_interleave: repeats can not be negative")
    return counts


graph.use_tensor_type(Tensor)  # the graph layer makes ops' results as Tensors
