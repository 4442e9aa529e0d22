"""``save`` and ``load`` in PyTorch's own file format, so that a ``state_dict`` moves between the two libraries.

A file written by ``torch.save`` (PyTorch 1.6 and later) is a zip archive, every entry stored uncompressed:

    archive/data.pkl             a pickle (protocol 2) of the object; each tensor in it is written as the call
                                 ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
                                 backward_hooks)``, and each storage as a *persistent id*, the tuple
                                 ``("storage", torch.FloatStorage, key, location, numel)``
    archive/data/<key>           the raw little-endian bytes of storage ``key``
    archive/byteorder            "little"
    archive/version              "3"
    archive/.format_version      "1"
    archive/.storage_alignment   "64": every entry's bytes start at a multiple of 64 in the file
    archive/.data/serialization_id  an identifier of the file

Tensors are views: ``offset`` (in elements) and ``stride`` (in elements) place a tensor in its storage, and two
tensors that share a storage name the same ``key``, so tied weights stay tied through a save and a load.

Loading never runs code from the file. A pickle is a little program that may call any function it names;
``load`` gives it only the names in ``_ALLOWED`` below (tensors, dtypes, sizes, devices and the containers),
refuses any other with an error that names it, as PyTorch's ``weights_only=True`` does, and lets the ``BUILD``
instruction (setting attributes) touch only an ``OrderedDict``, where PyTorch keeps a state_dict's
``_metadata``. PyTorch itself is never imported.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import hashlib
import io
import os
import pickle
import struct
import zipfile

import numpy

from . import backend, dtypes
from .nn.module import Parameter
from .tensor import Size, Tensor

ALIGNMENT = 64  # bytes; PyTorch aligns each entry so that a loader can map the file into memory

# PyTorch's storage class for each dtype, by name, as written in the persistent ids
STORAGE_CLASSES = {
    "float32": "FloatStorage",
    "float64": "DoubleStorage",
    "float16": "HalfStorage",
    "uint8": "ByteStorage",
    "int8": "CharStorage",
    "int16": "ShortStorage",
    "int32": "IntStorage",
    "int64": "LongStorage",
    "bool": "BoolStorage",
}
_DTYPE_OF_STORAGE = {storage: dtypes._BY_NAME[name] for name, storage in STORAGE_CLASSES.items()}
# PyTorch's dtypes that have no counterpart here, by the names a file may use for them
_UNSUPPORTED = {
    "BFloat16Storage": "bfloat16",
    "ComplexHalfStorage": "complex32",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
    "QUInt8Storage": "quint8",
    "QInt8Storage": "qint8",
    "QInt32Storage": "qint32",
    "QUInt4x2Storage": "quint4x2",
    "QUInt2x4Storage": "quint2x4",
    **{name: name for name in ("bfloat16", "complex32", "complex64", "complex128", "cfloat", "cdouble", "chalf")},
    **{f"uint{bits}": f"uint{bits}" for bits in (16, 32, 64)},
    **{name: name for name in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz")},
}
_DTYPE_ALIASES = {
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "short": "int16",
    "int": "int32",
    "long": "int64",
}


class _Global:
    """A name in PyTorch's namespace, written into the pickle as it is (``GLOBAL torch._utils ...``): saving
    never imports PyTorch to look it up."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle asks that a reduce function be callable; this one is only written
        raise TypeError(f"{self.module}.{self.name} is PyTorch's: here it is only a name written into a file")


_REBUILD_TENSOR = _Global("torch._utils", "_rebuild_tensor_v2")
_REBUILD_PARAMETER = _Global("torch._utils", "_rebuild_parameter")


class _Storage:
    """A storage while saving or loading: a 1-D host array of the tensor's dtype, and the device it belongs on.

    ``map_location`` callables receive one (``lambda storage, location: storage`` keeps it on the CPU), with
    PyTorch's ``cpu()``, ``cuda()`` and ``to()``."""

    __slots__ = ("array", "device")

    def __init__(self, array: numpy.ndarray, device):
        self.array, self.device = array, backend.device(device)

    dtype = property(lambda self: dtypes.from_numpy(self.array.dtype))

    def size(self) -> int:
        return int(self.array.size)

    def nbytes(self) -> int:
        return int(self.array.nbytes)

    def to(self, device) -> _Storage:
        return _Storage(self.array, backend.canonical(device))

    def cpu(self) -> _Storage:
        return self.to("cpu")

    def cuda(self, device=None) -> _Storage:
        return self.to("cuda" if device is None else f"cuda:{int(device)}")

    def __repr__(self) -> str:
        return f"<storage of {self.size()} {self.dtype.name} on {self.device}>"


# ----------------------------------------------------------------------------------------------------------
# save


def save(obj, f) -> None:
    """Write ``obj`` to ``f`` (a path or a binary file object) as ``torch.save`` does, readable by PyTorch's
    ``torch.load(f, weights_only=True)``.

    ``obj`` may hold tensors, Parameters, dicts, OrderedDicts, lists, tuples, sets, numbers, strings, bytes,
    None, sizes, devices and dtypes: what PyTorch's ``weights_only`` loader accepts. Anything else is refused
    here, rather than written into a file nobody could load safely."""
    storages: dict[int, tuple[str, _Storage]] = {}  # id of the array that owns the memory -> (key, storage)
    pickled = io.BytesIO()
    _Pickler(pickled, storages).dump(obj)
    records = [
        ("data.pkl", pickled.getvalue()),
        (".format_version", b"1"),
        (".storage_alignment", str(ALIGNMENT).encode()),
        ("byteorder", b"little"),
    ]
    for key, storage in storages.values():
        records.append((f"data/{key}", _little_endian_bytes(storage.array)))
    records.append(("version", b"3\n"))
    # PyTorch writes an identifier of the file; a digest of its contents is one that a second save repeats
    digest = hashlib.sha256(b"".join(data for _, data in records)).digest()
    records.append((".data/serialization_id", str(int.from_bytes(digest[:16], "little")).rjust(40, "0").encode()))
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as file:
            _write_archive(file, records)
    else:
        buffer = io.BytesIO()  # alignment counts from the archive's first byte, wherever f stands now
        _write_archive(buffer, records)
        f.write(buffer.getvalue())


def _write_archive(file, records) -> None:
    with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
        for name, data in records:
            info = zipfile.ZipInfo(f"archive/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            # a zip entry is a 30-byte header, the name, an "extra" field, then the bytes: PyTorch pads the extra
            # field (its tag is "FB") so that the bytes start at a multiple of ALIGNMENT
            header_end = file.tell() + 30 + len(info.filename.encode()) + 4
            padding = -header_end % ALIGNMENT
            info.extra = b"FB" + struct.pack("<H", padding) + b"\0" * padding
            archive.writestr(info, data)


def _little_endian_bytes(array: numpy.ndarray) -> bytes:
    return numpy.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


_SAVABLE_TYPES = (dict, collections.OrderedDict, list, tuple, set, int, float, complex, bool, str, bytes)
_SAVABLE_TYPES += (bytearray, type(None))
# what pickle itself writes as a global for the types above (protocol 2 writes bytes as _codecs.encode(...))
_SAVABLE_GLOBALS = (collections.OrderedDict, set, bytearray, complex, codecs.encode)


class _Pickler(pickle._Pickler):
    """Python's own pickler (protocol 2, as PyTorch's default) taught to write tensors as PyTorch does."""

    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, storages: dict):
        super().__init__(file, protocol=2)
        self.storages = storages
        self.keys: dict[int, str] = {}  # id of a storage -> its key

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):  # written once, by key, into archive/data/<key>
            key = self.keys[id(obj)]
            location = "cpu" if obj.device.type == "cpu" else f"cuda:{obj.device.index or 0}"
            storage_class = _Global("torch", STORAGE_CLASSES[obj.dtype.name])
            return ("storage", storage_class, key, location, obj.size())
        return None

    def reducer_override(self, obj):
        if isinstance(obj, Parameter):  # as torch.nn.Parameter pickles itself
            return (_REBUILD_PARAMETER, (obj.detach(), obj.requires_grad, collections.OrderedDict()))
        if isinstance(obj, Tensor):
            storage, offset, stride = self._place(obj)
            args = (storage, offset, tuple(obj.shape), stride, obj.requires_grad, collections.OrderedDict())
            return (_REBUILD_TENSOR, args)
        if isinstance(obj, Size):
            return (_Global("torch", "Size"), (tuple(obj),))
        if isinstance(obj, backend.device):
            return (_Global("torch", "device"), (str(obj),))
        if (
            type(obj) in _SAVABLE_TYPES
            or type(obj) in (_Global, dtypes.DType)
            or any(obj is g for g in _SAVABLE_GLOBALS)
        ):
            return NotImplemented  # pickle's own way (or the dispatch entries below)
        raise TypeError(
            f"save: cannot save an object of type {type(obj).__module__}.{type(obj).__qualname__}: a file holds "
            "tensors, containers (dict, OrderedDict, list, tuple, set), numbers, strings, bytes and None, which "
            "PyTorch's torch.load(weights_only=True) and tinygrad_edu.load can read without running code"
        )

    def save_torch_global(self, obj: _Global) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    def save_dtype(self, obj: dtypes.DType) -> None:
        self.save_torch_global(_Global("torch", obj.name))

    dispatch[_Global] = save_torch_global
    dispatch[dtypes.DType] = save_dtype

    def _place(self, tensor: Tensor) -> tuple[_Storage, int, tuple]:
        """(storage, offset, stride) of a tensor: the memory its array views, shared with the other tensors that
        view the same memory, or else a contiguous copy of its own."""
        array = tensor._data
        if isinstance(array, numpy.ndarray):
            owner = array
            while isinstance(owner.base, numpy.ndarray):
                owner = owner.base
            placed = _offset_and_stride(array, owner)
            if placed is not None:
                return (self._storage(owner, tensor.device), *placed)
        else:  # a device array: one copy to the host, its own storage (shared when the same array object)
            owner = array
        host = numpy.array(backend.to_host(array), order="C")  # a copy, C-ordered; a 0-d array stays 0-d
        storage = self._storage(owner, tensor.device, host.reshape(-1))
        return storage, 0, tuple(s // host.itemsize for s in host.strides)

    def _storage(self, owner, device, flat=None) -> _Storage:
        if id(owner) not in self.storages:
            if flat is None:  # the owner's memory, in memory order
                flat = (owner if owner.flags.c_contiguous else owner.T).reshape(-1)
            key, storage = str(len(self.storages)), _Storage(flat, device)
            self.storages[id(owner)] = (key, storage)
            self.keys[id(storage)] = key
        return self.storages[id(owner)][1]


def _offset_and_stride(array: numpy.ndarray, owner: numpy.ndarray):
    """Where ``array`` lies in ``owner``'s memory, in elements: (offset, strides), or None when it cannot be
    said so (another dtype, a negative stride, an owner that is not one contiguous block)."""
    itemsize = array.itemsize
    if array.size == 0:  # nothing to place: an empty storage of its own says it most simply
        return None
    if owner.dtype != array.dtype or not (owner.flags.c_contiguous or owner.flags.f_contiguous):
        return None
    start = array.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
    if start % itemsize or any(s < 0 or s % itemsize for s in array.strides):
        return None
    offset, stride = start // itemsize, tuple(s // itemsize for s in array.strides)
    last = offset + sum((n - 1) * s for n, s in zip(array.shape, stride))
    if not (0 <= offset and last < owner.size):
        return None
    return offset, stride


# ----------------------------------------------------------------------------------------------------------
# load


def load(f, map_location=None, *, weights_only: bool = True):
    """Read an object written by ``torch.save`` (or by ``save`` above) from ``f``, a path or a binary file.

    ``map_location``: where tensors go. None: where they were saved (a CUDA tensor needs CUDA here); a device
    or its name: all there; a dict: saved location -> new location (``{"cuda:1": "cuda:0"}``); a callable
    ``(storage, location) -> storage or None`` (None: the default place).

    Only tensors, containers, numbers, strings, bytes, None, sizes, devices and dtypes are built; any other
    name the pickle asks for is refused with ``pickle.UnpicklingError``. ``weights_only=False`` is accepted for
    code written for PyTorch, but changes nothing: this loader never runs code from a file."""
    if not isinstance(weights_only, bool):
        raise TypeError(f"load(): weights_only must be a bool, got {type(weights_only).__name__}")
    name = os.fspath(f) if isinstance(f, (str, os.PathLike)) else getattr(f, "name", "the file")
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as file:
            return _load(file, map_location, name)
    return _load(f, map_location, name)


def _load(file, map_location, name):
    if not (hasattr(file, "seekable") and file.seekable()):  # zipfile needs to seek: read a stream whole
        file = io.BytesIO(file.read())
    start = file.read(4)
    file.seek(-len(start), io.SEEK_CUR)
    if start != b"PK\x03\x04":
        if start[:1] == b"\x80":  # a pickle's first byte: the format before the zip archive
            raise RuntimeError(
                f"{name} is in PyTorch's legacy format (torch.save with _use_new_zipfile_serialization=False, or "
                "PyTorch before 1.6), which tinygrad_edu does not read: load it in PyTorch and save it again"
            )
        raise RuntimeError(f"{name} is not a file written by torch.save: it does not begin as a zip archive does")
    try:
        archive = zipfile.ZipFile(file)
    except _ZIP_ERRORS as exc:
        raise RuntimeError(f"{name} is truncated or corrupt: its zip directory cannot be read ({exc})") from None
    with archive:
        reader = _ArchiveReader(archive, name)
        unpickler = _RestrictedUnpickler(io.BytesIO(reader.read("data.pkl")), reader, map_location)
        try:
            return unpickler.load()
        except (pickle.UnpicklingError, MapLocationError):
            raise
        except _PICKLE_ERRORS as exc:  # a damaged pickle fails in any of these ways inside pickle's own code
            raise pickle.UnpicklingError(f"{name} is corrupt: its data.pkl cannot be read ({exc!r})") from None


# how a damaged zip archive or pickle fails inside zipfile's and pickle's own code
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, struct.error)
_PICKLE_ERRORS = (EOFError, ValueError, IndexError, KeyError, TypeError, AttributeError, struct.error)
_PICKLE_ERRORS += (RecursionError, MemoryError)


class MapLocationError(TypeError):
    """A ``map_location`` that is not a device, a name, a dict or a callable returning a storage or None."""


def load_plain_pickle(data: bytes, name: str = "the pickle"):
    """The object in a pickle of plain data (containers, numbers, strings: nanoGPT's meta.pkl, say), read with
    ``load``'s restrictions: no tensors, and no code run."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data), None, None).load()
    except pickle.UnpicklingError as exc:
        raise pickle.UnpicklingError(f"{name}: {exc}") from None
    except _PICKLE_ERRORS as exc:
        raise pickle.UnpicklingError(f"{name} is corrupt: it cannot be read as a pickle ({exc!r})") from None


class _ArchiveReader:
    """The entries of a torch.save archive, read with their checks: a ``<folder>/data.pkl``, stored entries only
    (so nothing is inflated past the file's own size), each entry's CRC-32 (zipfile checks it as it reads)."""

    def __init__(self, archive: zipfile.ZipFile, name: str):
        self.archive, self.name = archive, name
        names = archive.namelist()
        self.prefix = names[0].partition("/")[0] if names else ""
        if not names or f"{self.prefix}/data.pkl" not in names:
            raise RuntimeError(f"{name} is a zip archive but not a torch.save file: it has no <folder>/data.pkl")
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise RuntimeError(f"{name}: entry {info.filename!r} is compressed; torch.save never compresses")
        order = self._optional("byteorder")
        if order not in (None, b"little", b"big"):
            raise RuntimeError(f"{name}: unknown byte order {order!r} (expected 'little' or 'big')")
        self.byteorder = "big" if order == b"big" else "little"

    def _optional(self, entry: str):
        try:
            return self.read(entry)
        except KeyError:
            return None

    def read(self, entry: str) -> bytes:
        try:
            return self.archive.read(f"{self.prefix}/{entry}")
        except KeyError:
            raise
        except _ZIP_ERRORS as exc:
            raise RuntimeError(f"{self.name} is truncated or corrupt: entry {entry!r} cannot be read ({exc})") from None

    def storage(self, key: str, dtype: dtypes.DType, numel: int) -> numpy.ndarray:
        try:
            data = self.read(f"data/{key}")
        except KeyError:
            raise RuntimeError(f"{self.name} is corrupt: storage {key!r} has no entry data/{key}") from None
        if len(data) != numel * dtype.itemsize:
            raise RuntimeError(
                f"{self.name} is corrupt: storage {key!r} holds {len(data)} bytes where {numel} {dtype.name} "
                f"elements need {numel * dtype.itemsize}"
            )
        order = "<" if self.byteorder == "little" else ">"
        array = numpy.frombuffer(bytearray(data), dtype=dtype.np.newbyteorder(order))
        return array.astype(dtype.np, copy=False)  # native byte order, writable


class _StorageClass:
    """What a storage class name (``torch.FloatStorage``) unpickles to: it only says the dtype."""

    __slots__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = dtype


class _TorchClass:
    """``torch.Tensor`` or ``torch.nn.Parameter`` named as the type of a tensor (``_rebuild_from_type_v2``)."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


def _unsupported_dtype(name: str):
    def refuse(*args, **kwargs):
        raise _unsupported_error(name)

    return refuse


def _unsupported_error(dtype_name: str) -> pickle.UnpicklingError:
    supported = ", ".join(d.name for d in dtypes.ALL)
    return pickle.UnpicklingError(
        f"the file holds {dtype_name} tensors, and tinygrad_edu has no {dtype_name} dtype (it has {supported}): "
        f"convert them in PyTorch first, e.g. {{k: v.float() for k, v in state_dict.items()}}"
    )


def _encode(text, encoding="utf-8"):
    """``_codecs.encode``, which protocol 2 uses to write ``bytes``: text to bytes, nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise pickle.UnpicklingError("_codecs.encode is allowed only to turn text into bytes")
    return text.encode(encoding)


def _device(spec, index=None):
    return backend.device(spec, index) if index is not None else backend.device(spec)


def _size(values=()):
    return Size(tuple(values))


def _empty_hooks(hooks, what: str) -> None:
    if hooks:
        raise pickle.UnpicklingError(f"{what}: the file asks for backward hooks, which a file cannot carry here")


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    """A tensor viewing ``storage`` from ``storage_offset`` with ``size`` and ``stride`` (in elements)."""
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("_rebuild_tensor_v2: its first argument is not a storage of the file")
    integers = (storage_offset, *size, *stride)
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)):
        raise pickle.UnpicklingError(f"_rebuild_tensor_v2: size {size!r} and stride {stride!r} do not match")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in integers):
        raise pickle.UnpicklingError(f"_rebuild_tensor_v2: offset, size and stride must be integers >= 0: {integers}")
    if not isinstance(requires_grad, bool):
        raise pickle.UnpicklingError(f"_rebuild_tensor_v2: requires_grad is {requires_grad!r}, not a bool")
    _empty_hooks(backward_hooks, "_rebuild_tensor_v2")
    flat = storage.array
    numel = 1
    for n in size:
        numel *= n
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
    if numel and last >= flat.size:
        raise pickle.UnpicklingError(
            f"the file is corrupt: a tensor of size {size}, stride {stride} and offset {storage_offset} does not fit "
            f"in its storage of {flat.size} elements"
        )
    view = numpy.lib.stride_tricks.as_strided(
        flat[storage_offset:] if numel else flat[:0],
        shape=size,
        strides=tuple(s * flat.itemsize for s in stride),
    )
    if storage.device.type == "cpu":
        tensor = Tensor._wrap(view, backend.CPU)  # shares the storage with the file's other views of it
    else:
        tensor = Tensor._wrap(backend.to_device(numpy.array(view, order="C"), storage.device), storage.device)
    if requires_grad:
        tensor.requires_grad_(True)
    return tensor


def _rebuild_parameter(data, requires_grad, backward_hooks):
    if not isinstance(data, Tensor) or not isinstance(requires_grad, bool):
        raise pickle.UnpicklingError("_rebuild_parameter: expected a tensor and a bool")
    _empty_hooks(backward_hooks, "_rebuild_parameter")
    return Parameter(data, requires_grad)


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    if state:
        raise pickle.UnpicklingError("_rebuild_parameter_with_state: a Parameter with attributes is not supported")
    return _rebuild_parameter(data, requires_grad, backward_hooks)


def _rebuild_from_type_v2(func, new_type, args, state):
    """How PyTorch writes a tensor of a subclass, or with attributes: only plain tensors and Parameters here."""
    if func not in (_rebuild_tensor_v2, _rebuild_parameter) or not isinstance(new_type, _TorchClass) or state:
        raise pickle.UnpicklingError("_rebuild_from_type_v2: only plain tensors and Parameters can be loaded")
    tensor = func(*args)
    return Parameter(tensor, tensor.requires_grad) if new_type.name == "Parameter" else tensor


# Every global a file may name, and what it becomes here. Nothing else is ever looked up.
_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "Counter"): collections.Counter,
    ("builtins", "set"): set,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("_codecs", "encode"): _encode,
    ("torch", "Size"): _size,
    ("torch", "device"): _device,
    ("torch", "Tensor"): _TorchClass("Tensor"),
    ("torch.nn.parameter", "Parameter"): _TorchClass("Parameter"),
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    **{("torch", storage): _StorageClass(dtype) for storage, dtype in _DTYPE_OF_STORAGE.items()},
    **{("torch", d.name): d for d in dtypes.ALL},
    **{("torch", alias): dtypes._BY_NAME[name] for alias, name in _DTYPE_ALIASES.items()},
}


class _RestrictedUnpickler(pickle._Unpickler):
    """Python's own unpickler, with the names it may look up limited to ``_ALLOWED``, storages read from the
    archive, and ``BUILD`` (setting attributes) allowed on an OrderedDict only."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, reader: _ArchiveReader, map_location):
        super().__init__(file)
        self.reader, self.map_location = reader, map_location
        self.loaded: dict[str, _Storage] = {}  # key -> storage: views of one storage share it

    def find_class(self, module: str, name: str):
        if self.proto < 3 and (module, name) in _compat_pickle.NAME_MAPPING:  # Python 2's names, as pickle does
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module) if self.proto < 3 else module
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _UNSUPPORTED:
            return _StorageClass(_UNSUPPORTED[name]) if name.endswith("Storage") else _unsupported_dtype(name)
        raise pickle.UnpicklingError(
            f"Weights only load failed: the file asks for the global {module}.{name}, which is not allowed. "
            "tinygrad_edu.load builds only tensors, containers (dict, OrderedDict, list, tuple, set), numbers, "
            "strings, bytes and None, and never runs code from a file"
        )

    def persistent_load(self, pid):
        if self.reader is None:
            raise pickle.UnpicklingError("a plain pickle holds no tensors, but this one refers to a storage")
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r} (expected ('storage', ...))")
        _, storage_class, key, location, numel = pid
        if not isinstance(storage_class, _StorageClass):
            raise pickle.UnpicklingError(f"persistent id {pid!r}: {storage_class!r} is not a storage class")
        if isinstance(storage_class.dtype, str):
            raise _unsupported_error(storage_class.dtype)
        if not (isinstance(key, str) and isinstance(location, str) and isinstance(numel, int) and numel >= 0):
            raise pickle.UnpicklingError(f"malformed persistent id {pid!r}")
        if key not in self.loaded:
            array = self.reader.storage(key, storage_class.dtype, numel)
            self.loaded[key] = self._place(array, location)
        return self.loaded[key]

    def _place(self, array: numpy.ndarray, location: str) -> _Storage:
        """The storage on the device ``map_location`` picks for a storage saved at ``location``."""
        where = self.map_location
        if callable(where) and not isinstance(where, (str, backend.device)):
            moved = where(_Storage(array, "cpu"), location)
            if moved is None:
                return _Storage(array, _saved_device(location))
            if not isinstance(moved, _Storage):
                raise MapLocationError(f"map_location returned {type(moved).__name__}, expected a storage or None")
            return moved
        if isinstance(where, dict):
            where = where.get(location, location)
        if where is None:
            return _Storage(array, _saved_device(location))
        if not isinstance(where, (str, backend.device)):
            raise MapLocationError(
                f"map_location must be a device, a device name, a dict or a callable, got {type(where).__name__}"
            )
        return _Storage(array, backend.canonical(where))

    def load_build(self):
        state = self.stack[-1]
        target = self.stack[-2]
        if type(target) is not collections.OrderedDict or not isinstance(state, dict):
            raise pickle.UnpicklingError(
                f"the file sets attributes of a {type(target).__name__}: only an OrderedDict's (a state_dict's "
                "_metadata) may be set"
            )
        self.stack.pop()
        target.__dict__.update(state)

    dispatch[pickle.BUILD[0]] = load_build


def _saved_device(location: str):
    """The device a storage was saved on, which must exist here (as PyTorch's ``map_location=None``)."""
    kind = location.partition(":")[0]
    if kind == "cuda" and not backend.cuda_available():
        raise RuntimeError(
            f"Attempting to deserialize object on a CUDA device ({location}) but CUDA is not available here. "
            "If you are running on a CPU-only machine, please use tinygrad_edu.load with map_location='cpu' to map "
            "your storages to the CPU."
        )
    if kind not in ("cpu", "cuda"):
        raise RuntimeError(f"the file's tensors were saved on {location!r}: load them with map_location='cpu'")
    return backend.canonical(location)
