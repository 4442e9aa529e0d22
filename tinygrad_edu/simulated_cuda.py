"""A strict stand-in for CuPy, so that CI without a GPU catches the host/device mistakes a GPU would.

Set ``TINYGRAD_EDU_CUDA=sim`` and the ``cuda`` device runs on this module instead of CuPy: the engine takes
its CUDA branches (the same ``xp`` calls, generators and device checks), while the numbers are computed by
NumPy on the CPU. Its arrays behave the way CuPy's do where NumPy is more forgiving:

* they refuse to mix with host (NumPy) arrays, in functions, operators and ``ndarray`` methods alike;
* they refuse implicit conversion to the host: ``numpy.asarray(a)``, ``float(a)``, ``int(a)``, ``a.__index__``
  all raise, while the explicit ``a.get()``, ``a.item()``, ``a.tolist()`` and ``asnumpy(a)`` work;
* reductions return 0-d device arrays, never host scalars (so ``float(x.sum())`` fails here as it syncs there);
* only functions checked to exist in CuPy 13 (the ``cuda`` extra's oldest version) are there: a name outside
  the list raises ``AttributeError`` as CuPy would, instead of silently running NumPy's.

Every device-to-host transfer (the explicit ones, and ``bool(a)``, which CuPy allows) counts as a *sync*: the
GPU has to finish its queued work before the host can read a value. ``count_syncs()`` measures them, so a test
can hold the training step to one sync (the logged loss).

It simulates the API, not the hardware: no memory limits, no asynchrony, no float rounding of CUDA's own.
"""

from __future__ import annotations

import builtins
import contextlib
import sys
import types

import numpy

__version__ = "13.0.0+simulated"

_IMPLICIT = (
    "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy array "
    "explicitly. (simulated CuPy: TINYGRAD_EDU_CUDA=sim)"
)

# ----------------------------------------------------------------------------------------------------------
# Syncs: every read of device values by the host.

_syncs = [0]


def _sync() -> None:
    _syncs[0] += 1


def sync_count() -> int:
    """Syncs since the process started."""
    return _syncs[0]


class SyncCounter:
    """The number of syncs since the ``count_syncs()`` block began (``.count``, live inside the block too)."""

    def __init__(self):
        self._start = _syncs[0]

    @property
    def count(self) -> int:
        return _syncs[0] - self._start


@contextlib.contextmanager
def count_syncs():
    """``with count_syncs() as syncs: ...; syncs.count``: device-to-host reads inside the block."""
    yield SyncCounter()


# ----------------------------------------------------------------------------------------------------------
# Moving values across the simulated PCIe bus: host arrays in are refused, device arrays out are wrapped.


def _to_numpy(value, where: str):
    """The NumPy value behind a call's argument, refusing host arrays as CuPy does."""
    if type(value) is ndarray:
        return value._a
    if isinstance(value, numpy.ndarray):
        raise TypeError(
            f"{where}: Unsupported type {type(value)}: a host (NumPy) array was mixed with device arrays; "
            "copy it to the device first (cupy.asarray / tensor.to(device)) (simulated CuPy)"
        )
    if isinstance(value, (list, tuple)):
        return type(value)(_to_numpy(v, where) for v in value)
    if isinstance(value, dict):
        return {k: _to_numpy(v, where) for k, v in value.items()}
    return value


def _index(index):
    """An index: device arrays, and host ones too (CuPy copies a NumPy index array to the device)."""
    if type(index) is ndarray:
        return index._a
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    return index


def _wrapped_positions(index, shape):
    """CuPy's integer-array indexing wraps out-of-range positions around (NumPy raises): so does the stand-in,
    so that code relying on NumPy's IndexError is caught. Positions are known up to an Ellipsis, None or mask."""
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for axis, part in enumerate(parts):
        if part is None or part is Ellipsis or (isinstance(part, numpy.ndarray) and part.dtype.kind == "b"):
            return index
        if isinstance(part, numpy.ndarray) and part.dtype.kind in "iu" and axis < len(shape) and shape[axis]:
            part = numpy.mod(part, shape[axis])
        out.append(part)
    return tuple(out) if isinstance(index, tuple) else out[0]


def _operand(value, where: str):
    """A ufunc operand: CuPy's ufuncs take device arrays and scalars only (no lists, no host arrays)."""
    if isinstance(value, (list, tuple)):
        raise TypeError(
            f"{where}: Unsupported type {type(value)}: ufuncs take device arrays or scalars (simulated CuPy)"
        )
    return _to_numpy(value, where)


def _wrap(result, inputs: tuple = ()):
    """Device arrays for NumPy results (0-d arrays for scalars), keeping an input's wrapper when NumPy returned
    the input itself (``asarray(a) is a``, as in CuPy)."""
    if isinstance(result, numpy.ndarray):
        for original in inputs:
            if type(original) is ndarray and original._a is result:
                return original
        return ndarray(result)
    if isinstance(result, numpy.generic):
        return ndarray(numpy.asarray(result))
    if isinstance(result, tuple):
        return tuple(_wrap(r, inputs) for r in result)
    if isinstance(result, list):
        return [_wrap(r, inputs) for r in result]
    return result


def _call(function, name: str, args, kwargs, inputs=None):
    where = f"cupy.{name}"
    result = function(*_to_numpy(args, where), **_to_numpy(kwargs, where))
    return _wrap(result, args if inputs is None else inputs)


class ndarray:  # noqa: N801 - CuPy's name
    """A device array: a NumPy array behind a wall that only explicit transfers cross."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100

    def __init__(self, array):
        if not isinstance(array, numpy.ndarray):
            raise TypeError(f"simulated cupy.ndarray wraps a numpy.ndarray, got {type(array).__name__}")
        self._a = array

    # -- attributes that stay on the device, or are metadata the host already knows ------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))

    @property
    def base(self):
        return ndarray(self._a.base) if isinstance(self._a.base, numpy.ndarray) else None

    @property
    def __cuda_array_interface__(self):
        raise AttributeError("the simulated device has no CUDA memory to hand out (TINYGRAD_EDU_CUDA=sim)")

    def __getattr__(self, name):
        if name not in _NDARRAY_METHODS:
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r} (simulated CuPy 13)")
        method = getattr(self._a, name)
        return lambda *args, **kwargs: _call(method, f"ndarray.{name}", args, kwargs, (self, *args))

    # -- explicit transfers to the host: allowed, and each is a sync ----------------------------------------
    def get(self, stream=None, order="C", out=None):
        _sync()
        copy = numpy.array(self._a, order=order)
        if out is not None:
            out[...] = copy
            return out
        return copy

    def item(self):
        _sync()
        return self._a.item()

    def tolist(self):
        _sync()
        return self._a.tolist()

    def __bool__(self):
        _sync()  # CuPy allows it, but the host waits for the GPU: counted, so tests can see it
        return bool(self._a)

    # -- implicit transfers: refused ------------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError(_IMPLICIT)

    def _implicit(self, what):
        raise TypeError(
            f"{what} of a device array is an implicit device-to-host copy (a GPU sync): call .item() "
            "explicitly (simulated CuPy: TINYGRAD_EDU_CUDA=sim)"
        )

    def __float__(self):
        self._implicit("float()")

    def __int__(self):
        self._implicit("int()")

    def __complex__(self):
        self._implicit("complex()")

    def __index__(self):
        self._implicit("using it as an index (__index__)")

    def __repr__(self):
        _sync()
        return "array(" + numpy.array2string(self._a, separator=", ", prefix="array(") + ")"

    __str__ = __repr__

    def __format__(self, spec):
        if spec:
            self._implicit(f"format(a, {spec!r})")
        return repr(self)

    # -- NumPy protocols: NumPy functions on device arrays run here, as with CuPy ------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        wrapped = _ufuncs.get(ufunc.__name__)
        if wrapped is None:
            return NotImplemented
        return getattr(wrapped, method)(*inputs, **kwargs) if method != "__call__" else wrapped(*inputs, **kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        name = func.__name__
        if name not in _FUNCTIONS:
            return NotImplemented
        return globals()[name](*args, **kwargs)

    # -- Python protocol --------------------------------------------------------------------------------------
    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (ndarray(self._a[i : i + 1].reshape(self._a.shape[1:])) for i in range(len(self._a)))

    def __getitem__(self, index):
        return _wrap(self._a[_wrapped_positions(_index(index), self._a.shape)])

    def __setitem__(self, index, value):
        where = "cupy.ndarray.__setitem__"
        index = _index(index)
        if isinstance(value, numpy.ndarray):
            # CuPy copies a host value only through an advanced (array) index; a basic one goes through fill()
            advanced = builtins.any(
                isinstance(i, (numpy.ndarray, list)) for i in (index if isinstance(index, tuple) else (index,))
            )
            if not advanced and value.ndim:
                raise ValueError(f"{where}: non-scalar numpy.ndarray cannot be used for fill (simulated CuPy)")
            self._a[index] = value
            return
        self._a[index] = _to_numpy(value, where)

    def fill(self, value):
        if isinstance(value, numpy.ndarray) and value.ndim:
            raise ValueError("cupy.ndarray.fill: non-scalar numpy.ndarray cannot be used for fill (simulated CuPy)")
        self._a.fill(value._a if type(value) is ndarray else value)

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        if casting is not None or subok is not None:
            raise TypeError("cupy.ndarray.astype: casting and subok are not supported yet (CuPy 13)")
        return _wrap(self._a.astype(dtype, order=order, copy=copy), (self,))

    def sort(self, axis=-1, kind=None):
        _check_kind(kind, "sort")
        self._a.sort(axis=axis, kind="stable" if kind else None)

    def argsort(self, axis=-1, kind=None):
        _check_kind(kind, "argsort")
        return ndarray(self._a.argsort(axis=axis, kind="stable" if kind else None))

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    def __reduce__(self):
        raise TypeError("the simulated device's arrays are not pickled: copy them to the host with .get()")


def _operator(ufunc_name, reflected=False):
    def op(self, other):
        ufunc = _ufuncs[ufunc_name]
        return ufunc(other, self) if reflected else ufunc(self, other)

    return op


def _inplace(ufunc_name):
    def op(self, other):
        _ufuncs[ufunc_name](self, other, out=self)
        return self

    return op


_BINARY = {
    "add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide", "floordiv": "floor_divide",
    "mod": "remainder", "pow": "power", "matmul": "matmul", "and": "bitwise_and", "or": "bitwise_or",
    "xor": "bitwise_xor", "lshift": "left_shift", "rshift": "right_shift",
}  # fmt: skip
for _dunder, _name in _BINARY.items():
    setattr(ndarray, f"__{_dunder}__", _operator(_name))
    setattr(ndarray, f"__r{_dunder}__", _operator(_name, reflected=True))
    setattr(ndarray, f"__i{_dunder}__", _inplace(_name))
for _dunder, _name in {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal", "gt": "greater",
                       "ge": "greater_equal"}.items():  # fmt: skip
    setattr(ndarray, f"__{_dunder}__", _operator(_name))
ndarray.__hash__ = None
ndarray.__neg__ = lambda self: _ufuncs["negative"](self)
ndarray.__pos__ = lambda self: _ufuncs["positive"](self)
ndarray.__abs__ = lambda self: _ufuncs["absolute"](self)
ndarray.__invert__ = lambda self: _ufuncs["invert"](self)

_NDARRAY_METHODS = frozenset(
    "all any argmax argmin clip copy cumsum dot flatten max mean min nonzero prod ravel "
    "repeat reshape round squeeze std sum swapaxes take trace transpose var view conj".split()
)


# ----------------------------------------------------------------------------------------------------------
# Ufuncs, with the methods CuPy 13 gives them.


class ufunc:  # noqa: N801 - CuPy's name
    def __init__(self, name):
        self._u = getattr(numpy, name)
        self.__name__ = name
        self.nin, self.nout = self._u.nin, self._u.nout

    def __call__(self, *args, **kwargs):
        where = f"cupy.{self.__name__}"
        unsupported = set(kwargs) - {"out", "dtype", "casting"}
        if unsupported:
            raise TypeError(
                f"{where}: Wrong arguments {sorted(unsupported)} (CuPy's ufuncs have no where=, order=, subok=)"
            )
        operands = [_operand(a, where) for a in args]
        return _wrap(self._u(*operands, **_to_numpy(kwargs, where)), args)

    def reduce(self, *args, **kwargs):
        return _call(self._u.reduce, f"{self.__name__}.reduce", args, kwargs)

    def accumulate(self, *args, **kwargs):
        return _call(self._u.accumulate, f"{self.__name__}.accumulate", args, kwargs)

    def outer(self, *args, **kwargs):
        return _call(self._u.outer, f"{self.__name__}.outer", args, kwargs)

    def at(self, *args, **kwargs):
        if self.__name__ not in ("add", "maximum", "minimum", "bitwise_and", "bitwise_or", "bitwise_xor"):
            raise NotImplementedError(f"`{self.__name__}.at` is not supported yet (CuPy 13)")
        return _call(self._u.at, f"{self.__name__}.at", args, kwargs)

    def reduceat(self, *args, **kwargs):
        if self.__name__ != "add":
            raise NotImplementedError(f"`{self.__name__}.reduceat` is not supported yet (CuPy 13)")
        return _call(self._u.reduceat, f"{self.__name__}.reduceat", args, kwargs)

    def __repr__(self):
        return f"<ufunc '{self.__name__}' (simulated CuPy)>"


_UFUNCS = (
    "add subtract multiply divide true_divide floor_divide remainder fmod power negative positive absolute abs "
    "sign exp exp2 expm1 log log2 log10 log1p sqrt square reciprocal sin cos tan arcsin arccos arctan arctan2 "
    "sinh cosh tanh arcsinh arccosh arctanh floor ceil trunc rint maximum minimum fmax fmin equal not_equal "
    "less less_equal greater greater_equal logical_and logical_or logical_not logical_xor bitwise_and "
    "bitwise_or bitwise_xor invert left_shift right_shift isfinite isinf isnan signbit copysign logaddexp "
    "matmul"
).split()
_ufuncs = {name: ufunc(name) for name in _UFUNCS}
globals().update(_ufuncs)
abs = _ufuncs["abs"]  # noqa: A001 - CuPy's name


# ----------------------------------------------------------------------------------------------------------
# Functions: the NumPy functions this project uses, each checked to exist in CuPy 13.


def _function(name):
    numpy_function = getattr(numpy, name)

    def function(*args, **kwargs):
        return _call(numpy_function, name, args, kwargs)

    function.__name__ = function.__qualname__ = name
    return function


_FUNCTIONS = frozenset(
    "all allclose amax amin any arange argmax argmin argsort array array_equal array_split asarray bincount histogram "
    "roll "
    "ascontiguousarray atleast_1d atleast_2d broadcast_arrays broadcast_to clip concatenate copyto count_nonzero "
    "cumprod cumsum diag diagonal diff dot einsum empty empty_like expand_dims eye flatnonzero flip full "
    "full_like identity isclose ix_ linspace max mean meshgrid min moveaxis nan_to_num nonzero ones ones_like "
    "outer pad prod ravel repeat reshape round searchsorted sort split squeeze stack std sum swapaxes take "
    "take_along_axis tensordot tile transpose tril triu unique var where zeros zeros_like".split()
)
for _name in _FUNCTIONS:
    globals()[_name] = _function(_name)


def _check_kind(kind, where):
    if kind not in (None, "stable"):
        raise ValueError(f"cupy.{where}: kind can only be None or 'stable' (CuPy 13)")


def _only_device_arrays(where):
    def check(arrays, *args, **kwargs):
        if not isinstance(arrays, (list, tuple)) or not builtins.all(type(a) is ndarray for a in arrays):
            raise TypeError(f"cupy.{where}: Only cupy arrays can be concatenated (simulated CuPy)")
        return _call(getattr(numpy, where), where, (arrays, *args), kwargs)

    return check


concatenate, stack = _only_device_arrays("concatenate"), _only_device_arrays("stack")


def sort(a, axis=-1, kind=None):
    _check_kind(kind, "sort")
    return _call(numpy.sort, "sort", (a,), {"axis": axis, "kind": "stable" if kind else None})


def argsort(a, axis=-1, kind=None):
    _check_kind(kind, "argsort")
    return _call(numpy.argsort, "argsort", (a,), {"axis": axis, "kind": "stable" if kind else None})


def take_along_axis(a, indices, axis):
    if axis is None:
        raise ValueError("cupy.take_along_axis: axis=None is not supported (CuPy 13)")
    return _call(numpy.take_along_axis, "take_along_axis", (a, indices), {"axis": axis})


def take(a, indices, axis=None, out=None):
    return _call(numpy.take, "take", (a, indices), {"axis": axis, "out": out})


def _from_host(name):
    numpy_function = getattr(numpy, name)

    def function(a, dtype=None, *args, **kwargs):
        """Host values (lists, NumPy arrays) are copied to the device: an explicit transfer, as in CuPy."""
        source = a._a if type(a) is ndarray else _to_numpy(a, f"cupy.{name}") if isinstance(a, (list, tuple)) else a
        return _wrap(numpy_function(source, dtype, *args, **kwargs), (a,))

    function.__name__ = function.__qualname__ = name
    return function


asarray, array = _from_host("asarray"), _from_host("array")


def asnumpy(a, stream=None, order="C", out=None):
    """The explicit device-to-host copy (a sync); host values pass through."""
    if type(a) is ndarray:
        return a.get(order=order, out=out)
    return numpy.asarray(a, order=order)


def may_share_memory(a, b, max_work=None):
    return numpy.may_share_memory(_to_numpy(a, "cupy.may_share_memory"), _to_numpy(b, "cupy.may_share_memory"))


def shares_memory(a, b, max_work=None):
    return numpy.shares_memory(_to_numpy(a, "cupy.shares_memory"), _to_numpy(b, "cupy.shares_memory"))


# Metadata that never touches array values, shared with NumPy as CuPy shares it.
dtype, result_type, can_cast, promote_types, iinfo, finfo = (
    numpy.dtype, numpy.result_type, numpy.can_cast, numpy.promote_types, numpy.iinfo, numpy.finfo
)  # fmt: skip
ndim, shape, isscalar = numpy.ndim, numpy.shape, numpy.isscalar
for _name in ("bool_ int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64 complex64 "
              "complex128 integer floating number generic inf nan pi e newaxis").split():  # fmt: skip
    globals()[_name] = getattr(numpy, _name)


# ----------------------------------------------------------------------------------------------------------
# Random numbers: CuPy's Generator API (no permutation or shuffle, which CuPy's Generator lacks).


class _BitGenerator:
    def __init__(self, seed=None, size=-1):
        self._numpy = self._make(seed)

    @staticmethod
    def _make(seed):
        return numpy.random.PCG64(seed)


class XORWOW(_BitGenerator):
    pass


class MRG32k3a(_BitGenerator):
    pass


class Philox4x3210(_BitGenerator):
    @staticmethod
    def _make(seed):
        return numpy.random.Philox(seed)


class Generator:
    """CuPy's ``cupy.random.Generator``: the draws CuPy 13 offers, returned as device arrays."""

    _DRAWS = ("random", "standard_normal", "uniform", "integers", "standard_exponential", "standard_gamma", "beta",
              "binomial", "poisson")  # fmt: skip

    def __init__(self, bit_generator):
        if not isinstance(bit_generator, _BitGenerator):
            raise TypeError("cupy.random.Generator needs a CuPy bit generator (XORWOW, MRG32k3a, Philox4x3210)")
        self.bit_generator = bit_generator
        self._numpy = numpy.random.Generator(bit_generator._numpy)

    def __getattr__(self, name):
        if name not in self._DRAWS:
            raise AttributeError(f"'cupy.random.Generator' object has no attribute {name!r} (simulated CuPy 13)")
        draw = getattr(self._numpy, name)
        return lambda *args, **kwargs: _call(draw, f"random.Generator.{name}", args, kwargs)


random = types.SimpleNamespace(
    Generator=Generator, XORWOW=XORWOW, MRG32k3a=MRG32k3a, Philox4x3210=Philox4x3210,
    default_rng=lambda seed=None: Generator(XORWOW(seed)),
)  # fmt: skip


def _as_strided(x, shape=None, strides=None):
    """cupy.lib.stride_tricks.as_strided: a view of ``x``'s memory with other strides (the memory is shared)."""
    if type(x) is not ndarray:
        raise TypeError("as_strided: expected a device array (simulated CuPy)")
    return ndarray(numpy.lib.stride_tricks.as_strided(x._a, shape, strides))


lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(as_strided=_as_strided))


# ----------------------------------------------------------------------------------------------------------
# cupyx.scipy.special, cupy.cuda and the memory pool: enough for the engine and the benchmarks to run.


def _special():
    import scipy.special

    names = ("erf", "erfc", "erfinv", "gammaln", "log_softmax", "logsumexp", "softmax", "expit", "logit")
    return types.SimpleNamespace(**{n: _function_from(scipy.special, n) for n in names})


def _function_from(module, name):
    f = getattr(module, name)
    return lambda *args, **kwargs: _call(f, f"cupyx.scipy.special.{name}", args, kwargs)


class _Device:
    def __init__(self, index=0):
        self.id = index

    def synchronize(self):
        _sync()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Runtime:
    @staticmethod
    def getDeviceCount():  # noqa: N802 - CUDA's name
        return 1

    @staticmethod
    def memGetInfo():  # noqa: N802 - CUDA's name
        return (8 << 30, 8 << 30)

    @staticmethod
    def getDeviceProperties(index):  # noqa: N802 - CUDA's name
        return {"name": b"simulated CUDA device (TINYGRAD_EDU_CUDA=sim)", "totalGlobalMem": 8 << 30}

    @staticmethod
    def runtimeGetVersion():  # noqa: N802 - CUDA's name
        return 0

    @staticmethod
    def driverGetVersion():  # noqa: N802 - CUDA's name
        return 0


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_pool = _MemoryPool()
cuda = types.SimpleNamespace(Device=_Device, runtime=_Runtime(), Stream=None)


def get_default_memory_pool():
    return _pool


def get_array_module(*args):
    return sys.modules[__name__] if builtins.any(type(a) is ndarray for a in args) else numpy


def __getattr__(name):
    if name == "special":
        return _special()
    raise AttributeError(
        f"module 'cupy' has no attribute {name!r} (simulated CuPy 13: only names checked to exist in CuPy 13 "
        "are here; add it to tinygrad_edu/simulated_cuda.py after checking CuPy's documentation)"
    )
