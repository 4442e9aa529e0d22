"""``assert_close``: are two results the same, to the rounding their dtype allows? As
``torch.testing.assert_close``: the same default tolerances per dtype, the same checks and the same message."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy

from .. import backend, dtypes
from ..tensor import Tensor

# (rtol, atol) per dtype when neither is given: about the rounding of a few operations in that dtype.
# Integer and bool results must be equal (0, 0).
DEFAULT_TOLERANCES = {
    dtypes.float16: (1e-3, 1e-5),
    dtypes.float32: (1.3e-6, 1e-5),
    dtypes.float64: (1e-7, 1e-7),
}


def default_tolerances(*dtypes_: dtypes.DType) -> tuple[float, float]:
    """The loosest (rtol, atol) of the dtypes compared: a float32 result checked against a float64 one is held
    to float32's tolerance."""
    pairs = [DEFAULT_TOLERANCES.get(d, (0.0, 0.0)) for d in dtypes_]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def assert_close(
    actual, expected, *, rtol=None, atol=None, equal_nan=False, check_device=True, check_dtype=True, msg=None
) -> None:
    """Raise ``AssertionError`` unless ``actual`` and ``expected`` are close: for every element,
    ``|actual - expected| <= atol + rtol * |expected|`` (inf equals inf of the same sign; nan equals nan only
    with ``equal_nan=True``).

    Both may be Tensors, NumPy arrays, Python numbers, or sequences and mappings of them (compared item by
    item). Tensors must also agree in shape, and in dtype and device unless ``check_dtype``/``check_device``
    is False (then both are compared as float64 on the CPU). With neither ``rtol`` nor ``atol`` given, each
    dtype's default is used (``DEFAULT_TOLERANCES``; integers and bools must be equal). The message counts the
    mismatched elements and names the greatest absolute and relative differences and where they are.
    ``msg`` replaces the message, or, if callable, is given it and returns the new one.
    """
    if (rtol is None) != (atol is None):
        missing = "atol" if atol is None else "rtol"
        raise ValueError(f"Both 'rtol' and 'atol' must be either specified or omitted, but got no {missing}.")
    _compare(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg, path=())


def _compare(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg, path):
    if isinstance(actual, (Tensor, numpy.ndarray)) or isinstance(expected, (Tensor, numpy.ndarray)):
        if type(actual) is not type(expected):
            raise TypeError(
                f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}."
            )
        return _compare_arrays(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg, path)
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            raise AssertionError(
                f"The keys of the mappings do not match: {sorted(map(str, actual))} != "
                f"{sorted(map(str, expected))}" + _where(path)
            )
        for key in actual:
            _compare(actual[key], expected[key], rtol, atol, equal_nan, check_device, check_dtype, msg, (*path, key))
        return None
    if _is_sequence(actual) and _is_sequence(expected):
        if len(actual) != len(expected):
            raise AssertionError(
                f"The length of the sequences mismatch: {len(actual)} != {len(expected)}" + _where(path)
            )
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, rtol, atol, equal_nan, check_device, check_dtype, msg, (*path, i))
        return None
    if isinstance(actual, bool) and isinstance(expected, bool):
        if actual is not expected:
            _fail(f"Booleans mismatch: {actual} is not {expected}", msg, path)
        return None
    if _is_number(actual) and _is_number(expected):
        return _compare_scalars(actual, expected, rtol, atol, equal_nan, check_dtype, msg, path)
    raise TypeError(f"No comparison pair was able to handle inputs of type {type(actual)} and {type(expected)}.")


def _is_sequence(x) -> bool:
    return isinstance(x, Sequence) and not isinstance(x, str)


def _is_number(x) -> bool:
    return isinstance(x, (int, float, numpy.number)) and not isinstance(x, bool)


def _where(path) -> str:
    return f"\n\nThe failure occurred for item {''.join(f'[{p!r}]' for p in path)}" if path else ""


def _fail(message: str, msg, path):
    if callable(msg):
        message = msg(message)
    elif msg is not None:
        message = msg
    raise AssertionError(message + _where(path))


def _compare_scalars(actual, expected, rtol, atol, equal_nan, check_dtype, msg, path):
    if check_dtype and type(actual) is not type(expected):
        _fail(f"The (d)types do not match: {type(actual)} != {type(expected)}.", msg, path)
    integers = isinstance(actual, int) and isinstance(expected, int)
    if rtol is None:
        rtol, atol = (0.0, 0.0) if integers else DEFAULT_TOLERANCES[dtypes.float64]
    exact = rtol == 0 and atol == 0  # the message says "equal" and shows no allowance
    if _close(numpy.float64(actual), numpy.float64(expected), rtol, atol, equal_nan):
        return
    absolute = abs(actual - expected)
    relative = absolute / abs(expected) if expected != 0 else math.inf
    if exact:
        _fail(
            f"Scalars are not equal!\n\nExpected {expected} but got {actual}.\nAbsolute difference: {absolute}\n"
            f"Relative difference: {relative}",
            msg,
            path,
        )
    _fail(
        f"Scalars are not close!\n\nExpected {expected} but got {actual}.\n"
        f"Absolute difference: {absolute} (up to {atol} allowed)\n"
        f"Relative difference: {relative} (up to {rtol} allowed)",
        msg,
        path,
    )


def _describe(x):
    """(host array, dtype, device, shape as printed) of a Tensor or a NumPy array."""
    if isinstance(x, Tensor):
        return backend.to_host(x._data), x.dtype, x.device, x.shape
    return x, dtypes.from_numpy(x.dtype), None, x.shape


def _compare_arrays(actual, expected, rtol, atol, equal_nan, check_device, check_dtype, msg, path):
    a, a_dtype, a_device, a_shape = _describe(actual)
    e, e_dtype, e_device, e_shape = _describe(expected)
    for name, left, right, checked in (
        ("shape", a_shape, e_shape, True),
        ("device", a_device, e_device, check_device),
        ("dtype", a_dtype, e_dtype, check_dtype),
    ):
        if checked and left != right:
            _fail(f"The values for attribute '{name}' do not match: {left} != {right}.", msg, path)
    if rtol is None:
        rtol, atol = default_tolerances(a_dtype, e_dtype)
    floating = a_dtype.is_floating_point or e_dtype.is_floating_point
    exact = rtol == 0 and atol == 0  # the message says "equal" and shows no allowance
    # compared in the dtype both promote to (as a result of that dtype would be), integers exactly
    common = numpy.promote_types(a.dtype, e.dtype) if check_dtype else numpy.float64
    a, e = numpy.asarray(a, dtype=common), numpy.asarray(e, dtype=common)
    if common == numpy.bool_:
        a, e = a.astype(numpy.int64), e.astype(numpy.int64)
    close = _close(a, e, rtol, atol, equal_nan)
    if close.all():
        return
    with numpy.errstate(all="ignore"):
        absolute = numpy.abs(a - e) if floating else numpy.abs(a.astype(numpy.int64) - e.astype(numpy.int64))
        relative = (
            absolute / numpy.abs(e)
            if floating  # integers: the relative difference in float32, as PyTorch prints it
            else absolute.astype(numpy.float32) / numpy.abs(e).astype(numpy.float32)
        )
    absolute, relative = numpy.where(close, 0, absolute), numpy.where(close, 0, relative)
    if a.ndim == 0:  # a 0-d tensor is reported as a scalar, as PyTorch does
        shown = float if floating else int
        lines = [f"Scalars are not {'equal' if exact else 'close'}!", "", f"Expected {shown(e)} but got {shown(a)}."]
        magnitude = abs(float(e))
        relative_value = float(absolute) / magnitude if magnitude else float("inf")  # a scalar's, in float64
        for label, value, allowed in (("Absolute", shown(absolute), atol), ("Relative", relative_value, rtol)):
            lines.append(f"{label} difference: {value}" + ("" if exact else f" (up to {allowed} allowed)"))
        _fail("\n".join(lines), msg, path)
    mismatched, total = int((~close).sum()), close.size
    lines = [
        f"Tensor-likes are not {'equal' if exact else 'close'}!",
        "",
        f"Mismatched elements: {mismatched} / {total} ({100 * mismatched / total:.1f}%)",
    ]
    for label, diff, allowed in (("absolute", absolute, atol), ("relative", relative, rtol)):
        index = _index_of_greatest(diff)
        value = diff[index]
        shown = int(value) if diff.dtype.kind in "iu" else float(value)
        bound = "" if exact else f" (up to {allowed} allowed)"
        lines.append(f"Greatest {label} difference: {shown} at index {index}{bound}")
    _fail("\n".join(lines), msg, path)


def _close(a, e, rtol, atol, equal_nan):
    with numpy.errstate(all="ignore"):
        close = (a == e) | (numpy.abs(a - e) <= atol + rtol * numpy.abs(e))
        if numpy.issubdtype(numpy.asarray(a).dtype, numpy.floating):
            close &= numpy.isfinite(a) | (a == e)  # inf only equals the same inf, never a finite value
            if equal_nan:
                close |= numpy.isnan(a) & numpy.isnan(e)
    return close


def _index_of_greatest(diff) -> tuple:
    """The index (a tuple, as PyTorch prints it) of the greatest difference; a nan counts as the greatest."""
    flat = diff.reshape(-1)
    nans = numpy.flatnonzero(numpy.isnan(flat)) if flat.dtype.kind == "f" else ()
    position = int(nans[0]) if len(nans) else int(numpy.argmax(flat))
    return tuple(int(i) for i in numpy.unravel_index(position, diff.shape))
