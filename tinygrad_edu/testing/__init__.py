"""``tinygrad_edu.testing``: the tools the engine's own tests use, for testing your own ops.

- ``assert_close`` and ``make_tensor``, as ``torch.testing``'s;
- hypothesis strategies (``tensors``, ``shapes``, ``broadcastable_shapes``, ``dims``, ``layouts``, ``away_from``
  ...; the module ``tinygrad_edu.testing.strategies`` has them all);
- ``check_op``: values against a reference, gradcheck, gradgradcheck and the invariants, in one call.

The strategies and ``check_op`` need hypothesis (``pip install hypothesis``), which is loaded only when one of
them is first used, so ``import tinygrad_edu`` never needs it.
"""

from __future__ import annotations

import importlib

from .comparison import assert_close
from .creation import make_tensor

# name -> the submodule that defines it; those submodules import hypothesis
_NEEDS_HYPOTHESIS = {
    "check_op": "check",
    "CheckOpError": "check",
    "strategies": None,
    **dict.fromkeys(
        (
            "tensors",
            "shapes",
            "broadcastable_shapes",
            "dims",
            "layouts",
            "floats",
            "positive",
            "away_from_zero",
            "away_from",
            "arrays",
            "empty_dims",
        ),
        "strategies",
    ),
}

__all__ = ["assert_close", "make_tensor", *_NEEDS_HYPOTHESIS]


def __getattr__(name: str):
    if name not in _NEEDS_HYPOTHESIS:
        raise AttributeError(f"module 'tinygrad_edu.testing' has no attribute {name!r}")
    try:
        importlib.import_module("hypothesis")
    except ImportError as error:
        raise ImportError(
            f"tinygrad_edu.testing.{name} draws its examples with hypothesis, which is not installed: "
            "pip install hypothesis"
        ) from error
    module = importlib.import_module(f".{_NEEDS_HYPOTHESIS[name] or name}", __name__)
    return module if _NEEDS_HYPOTHESIS[name] is None else getattr(module, name)
