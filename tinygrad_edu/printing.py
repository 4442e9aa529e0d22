"""How a tensor prints: PyTorch's ``tensor([...], dtype=..., grad_fn=<...>)`` format, number for number.

PyTorch's rules (its default print options: 4 digits, 80 columns, a summary past 1,000 elements):

* floats whose finite values are all whole print as ``1.``; otherwise with 4 decimals, ``1.5000``;
* scientific notation (``1.0000e-05``) when the largest finite non-zero magnitude is over 1,000 times the
  smallest, or over 1e8, or (not all whole) the smallest is under 1e-4;
* every element is padded to one width, taken over the elements shown, so columns line up;
* past 1,000 elements only the first and last 3 of each dimension are shown, with ``...`` between;
* a row wraps at 80 columns; rows of a matrix are separated by a newline, matrices by a blank line.
"""

from __future__ import annotations

import math

import numpy

from . import backend

PRECISION = 4
LINE_WIDTH = 80
THRESHOLD = 1000  # more elements than this: summarize
EDGE_ITEMS = 3


def tensor_repr(t) -> str:
    prefix = "tensor("
    array = host(t._data)
    extras = []
    if array.size == 0 and array.shape != (0,):
        extras.append(f"size={tuple(array.shape)}")
    if t.device.type != "cpu":
        extras.append(f"device='{t.device}'")
    if t._data.dtype not in (numpy.float32, numpy.int64, numpy.bool_):
        extras.append(f"dtype={t.dtype!r}")
    if t._ctx is not None:
        extras.append(f"grad_fn=<{t._ctx.name}Backward0>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + array_str(array, len(prefix)) + "".join(", " + e for e in extras) + ")"


def array_str(array: numpy.ndarray, indent: int) -> str:
    """The bracketed values of ``array`` as PyTorch prints them, continuation lines indented by ``indent``."""
    if array.size == 0:
        return "[]"
    summarize = array.size > THRESHOLD
    formatter = _Formatter(_shown(array) if summarize else array)
    if array.ndim == 0:
        return formatter.format(array.item())
    return _nested(array, indent, summarize, formatter)


class _Formatter:
    """One format for all the elements shown: the mode (integer, whole floats, fixed, scientific) and width."""

    def __init__(self, values: numpy.ndarray):
        self.floating = numpy.issubdtype(values.dtype, numpy.floating)
        self.whole = True
        self.scientific = False
        if not self.floating:
            self.width = max((len(_plain(v)) for v in values.ravel().tolist()), default=1)
            return
        finite = values[numpy.isfinite(values)].astype(numpy.float64)
        nonzero = numpy.abs(finite[finite != 0])
        self.whole = bool(numpy.all(finite == numpy.ceil(finite)))
        if nonzero.size:
            big, small = float(nonzero.max()), float(nonzero.min())
            self.scientific = big / small > 1000.0 or big > 1.0e8 or (not self.whole and small < 1.0e-4)
        self.width = max((len(self._text(v)) for v in finite[finite != 0].tolist()), default=1)  # signs count

    def _text(self, value) -> str:
        if not self.floating:
            return _plain(value)
        if self.scientific:
            return f"{value:.{PRECISION}e}"
        if self.whole:
            return f"{value:.0f}." if math.isfinite(value) else f"{value:.0f}".lower()
        return f"{value:.{PRECISION}f}"

    def format(self, value) -> str:
        text = self._text(value)
        return " " * (self.width - len(text)) + text


def _plain(value) -> str:
    return str(value)


def _shown(array: numpy.ndarray) -> numpy.ndarray:
    """The elements a summary shows (the first and last EDGE_ITEMS along each long dimension), flattened."""
    if array.ndim == 0:
        return array.reshape(1)
    if array.ndim == 1:
        if array.shape[0] > 2 * EDGE_ITEMS:
            return numpy.concatenate([array[:EDGE_ITEMS], array[-EDGE_ITEMS:]])
        return array
    rows = list(range(array.shape[0]))
    if array.shape[0] > 2 * EDGE_ITEMS:
        rows = rows[:EDGE_ITEMS] + rows[-EDGE_ITEMS:]
    return numpy.concatenate([_shown(array[i]).ravel() for i in rows])


def _nested(array: numpy.ndarray, indent: int, summarize: bool, formatter: _Formatter) -> str:
    if array.ndim == 1:
        return _row(array, indent, summarize, formatter)
    n = array.shape[0]
    if summarize and n > 2 * EDGE_ITEMS:
        parts = [_nested(array[i], indent + 1, summarize, formatter) for i in range(EDGE_ITEMS)]
        parts.append("...")
        parts += [_nested(array[i], indent + 1, summarize, formatter) for i in range(n - EDGE_ITEMS, n)]
    else:
        parts = [_nested(array[i], indent + 1, summarize, formatter) for i in range(n)]
    separator = "," + "\n" * (array.ndim - 1) + " " * (indent + 1)
    return "[" + separator.join(parts) + "]"


def _row(array: numpy.ndarray, indent: int, summarize: bool, formatter: _Formatter) -> str:
    per_line = max(1, (LINE_WIDTH - indent) // (formatter.width + 2))  # ", " after each element
    values = array.tolist()
    if summarize and len(values) > 2 * EDGE_ITEMS:
        texts = [formatter.format(v) for v in values[:EDGE_ITEMS]] + [" ..."]
        texts += [formatter.format(v) for v in values[-EDGE_ITEMS:]]
    else:
        texts = [formatter.format(v) for v in values]
    lines = [", ".join(texts[i : i + per_line]) for i in range(0, len(texts), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def host(array):
    """A NumPy array of ``array``'s values (copied from the GPU for a CuPy array)."""
    return backend.to_host(array)
