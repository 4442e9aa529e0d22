"""A learner can walk from any public function to its math: the files a reader opens, counted on the call stack.

For every entry of the op registry (each public ``F.*`` function and Tensor method), the op is run forward and
backward under ``sys.setprofile``. Each time an op's ``forward`` or ``backward`` in ``tinygrad_edu/ops`` starts,
or a fast path in ``tinygrad_edu/kernels`` does, the stack is read back to the nearest public function of the
API (an ``F.*`` function, a Tensor method or operator, a ``torch.*`` function, ``backward``): the distinct files
on that path are the files a reader walks through. So ``F.silu``, written as ``x * x.sigmoid()``, is walked from
``Tensor.__mul__`` to ``Mul``'s math, and from ``F.silu`` the reader has the composition in front of them already.
An op run inside another op's backward (``ctx.run``) counts from the outer op, whose file is open already.

Limits (issue 34): the reference math within 4 files, a kernel within 5.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_registry import REGISTRY, TG, run

from tinygrad_edu import kernels

PACKAGE = Path(kernels.__file__).resolve().parent.parent
OPS, KERNELS = PACKAGE / "ops", PACKAGE / "kernels"
PUBLIC_FILES = {PACKAGE / name for name in ("__init__.py", "tensor.py", "factories.py", "nn/functional.py")}
MATH_LIMIT, KERNEL_LIMIT = 4, 5


def _kind(filename: str, name: str) -> str | None:
    """'math' for an op's forward or backward, 'kernel' for code in a kernel file, else None."""
    path = Path(filename)
    if path.parent == OPS and name in ("forward", "backward"):
        return "math"
    if KERNELS in path.parents or path.parent == KERNELS:
        return None if path.name in ("__init__.py", "devices.py") else "kernel"
    return None


def _public(code) -> bool:
    name = code.co_name
    return Path(code.co_filename).resolve() in PUBLIC_FILES and (not name.startswith("_") or name.endswith("__"))


def _walk(frame) -> list[str] | None:
    """The package's files from the nearest public entry point down to ``frame``; None when an outer op or kernel
    frame is on the stack already (its walk was counted)."""
    files = []
    outer = frame.f_back
    while outer is not None and Path(outer.f_code.co_filename).resolve().is_relative_to(PACKAGE):
        if _kind(outer.f_code.co_filename, outer.f_code.co_name) is not None:
            return None
        files.append(outer.f_code.co_filename)
        if _public(outer.f_code):
            break
        outer = outer.f_back
    path = [frame.f_code.co_filename, *files]
    return list(dict.fromkeys(reversed(path)))  # the entry point's file first, each file once


class WalkRecorder:
    def __init__(self):
        self.longest = {"math": [], "kernel": []}

    def __call__(self, frame, event, arg):
        if event != "call":
            return
        kind = _kind(frame.f_code.co_filename, frame.f_code.co_name)
        if kind is None:
            return
        walk = _walk(frame)
        if walk is not None and len(walk) > len(self.longest[kind]):
            self.longest[kind] = walk

    def __enter__(self):
        sys.setprofile(self)
        return self

    def __exit__(self, *exc):
        sys.setprofile(None)


def _short(files) -> str:
    return " -> ".join(str(Path(f).resolve().relative_to(PACKAGE)) for f in files)


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda e: e.name)
@settings(max_examples=3, deadline=None, database=None)
@given(data=st.data())
def test_each_op_reaches_its_math_and_kernel_within_the_limits(entry, data):
    sample = data.draw(entry.samples)
    with WalkRecorder() as walks:
        for dtype in (np.float32, np.float64) if entry.differentiable else (np.float64,):
            run(entry, TG, sample, dtype=dtype)
    assert len(walks.longest["math"]) <= MATH_LIMIT, f"{entry.name}: {_short(walks.longest['math'])}"
    assert len(walks.longest["kernel"]) <= KERNEL_LIMIT, f"{entry.name}: {_short(walks.longest['kernel'])}"


def test_the_walk_reaches_a_kernel_and_the_math_where_they_run():
    """The recorder itself: F.layer_norm reaches its kernel on float32 and its reference inside reference()."""
    import tinygrad_edu as tg

    x = tg.randn(3, 4, requires_grad=True)
    if kernels.numba_available():
        with WalkRecorder() as walks:
            tg.nn.functional.layer_norm(x, (4,)).sum().backward()
        assert [Path(f).name for f in walks.longest["kernel"]] == ["functional.py", "graph.py", "layer_norm.py"]
    with kernels.reference(), WalkRecorder() as walks:
        tg.nn.functional.layer_norm(x, (4,)).sum().backward()
    assert [Path(f).name for f in walks.longest["math"]][-1] == "nn_ops.py"
    assert walks.longest["kernel"] == []
