"""How a tensor prints: PyTorch's ``tensor([...], dtype=..., grad_fn=<...>)`` format."""

from __future__ import annotations

import numpy

from . import backend


def tensor_repr(t) -> str:
    body = numpy.array2string(host(t._data), separator=", ", precision=4, prefix="tensor(")
    extras = []
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    if t._data.dtype not in (numpy.float32, numpy.int64, numpy.bool_):
        extras.append(f"dtype={t.dtype!r}")
    if t._ctx is not None:
        extras.append(f"grad_fn=<{t._ctx.name}Backward>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"


def host(array):
    """A NumPy array of ``array``'s values (copied from the GPU for a CuPy array)."""
    return backend.to_host(array)
