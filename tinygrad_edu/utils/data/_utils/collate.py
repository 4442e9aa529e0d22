"""``default_collate``: a list of samples to one batch; ``default_convert``: one sample's arrays to tensors.

The batch keeps the samples' structure, with one more dimension in front of every leaf:

- tensors are stacked (``stack(batch, 0)``); NumPy arrays become tensors and are stacked too;
- Python floats become a float64 tensor, ints an int64 one, bools a bool one (PyTorch's dtypes: a float batch
  is float64, not the float32 of ``tensor(1.0)``); NumPy scalars keep their dtype;
- strings and bytes stay a list;
- a dict's values are collated key by key, a namedtuple's field by field;
- other sequences are transposed: ``[(x0, y0), (x1, y1)]`` becomes ``[batch of x, batch of y]`` (a list, as
  PyTorch's, even when the samples were tuples)."""

from __future__ import annotations

import collections.abc
import copy

import numpy

from .... import dtypes
from ....factories import as_tensor, stack, tensor
from ....tensor import Tensor

COLLATE_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _is_string_array(array: numpy.ndarray) -> bool:
    # Bytes, unicode and object arrays have no tensor dtype.
    return array.dtype.kind in "SaUO"


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def default_collate(batch):
    """A list of samples, all of the same structure, to one batch of that structure (see the module's text)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch, 0)
    if isinstance(elem, numpy.ndarray) and not isinstance(elem, numpy.str_):
        if _is_string_array(elem):
            raise TypeError(COLLATE_ERROR.format(elem.dtype))
        return default_collate([as_tensor(b) for b in batch])
    if isinstance(elem, (numpy.number, numpy.bool_)):
        return as_tensor(numpy.array(batch))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, float):
        return tensor(batch, dtype=dtypes.float64)
    if isinstance(elem, int):  # bool too: tensor() makes a bool batch of bools and an int64 one of ints
        return tensor(batch)
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        if isinstance(elem, collections.abc.MutableMapping):
            # A copy keeps the mapping's own type and attributes (an OrderedDict, a defaultdict's factory).
            clone = copy.copy(elem)
            clone.update(collated)
            return clone
        try:
            return type(elem)(collated)
        except TypeError:  # a mapping type that cannot be built from a dict
            return collated
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = [default_collate(list(samples)) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return transposed
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            clone[:] = transposed
            return clone
        try:
            return type(elem)(transposed)
        except TypeError:
            return transposed
    raise TypeError(COLLATE_ERROR.format(type(elem)))


def default_convert(data):
    """One sample's NumPy arrays and scalars to tensors, everything else kept (the DataLoader's ``collate_fn``
    when ``batch_size=None``: no batching, only conversion). Tuples become lists, as in PyTorch."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, numpy.ndarray):
        return data if _is_string_array(data) else as_tensor(data)
    if isinstance(data, (numpy.number, numpy.bool_)):
        return as_tensor(data)
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(value) for key, value in data.items()}
        if isinstance(data, collections.abc.MutableMapping):
            clone = copy.copy(data)
            clone.update(converted)
            return clone
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence):
        converted = [default_convert(d) for d in data]
        if isinstance(data, collections.abc.MutableSequence):
            clone = copy.copy(data)
            clone[:] = converted
            return clone
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    return data
