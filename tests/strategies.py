"""Hypothesis strategies and small helpers shared by the per-op property tests.

The generic strategies (shapes, dims, values, layouts, leaves) are the public ones of
``tinygrad_edu.testing.strategies``, imported here, so that users test their ops with what the suite uses; this
module adds the suite's own (``examples``, expand's source and target, indices).

Shapes are small (at most 4 dims, 5 per dim, 60 elements) so that a full finite-difference gradcheck, which
evaluates the function twice per input element, stays fast. Values are kept away from the points where an op
is not differentiable (0 for abs/relu, ties for max/min, the bounds of clamp) and from singularities (log and
sqrt of non-positive numbers, division by ~0): finite differences straddling a kink give meaningless numbers.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import tinygrad_edu as torch
from tinygrad_edu.testing.strategies import (  # noqa: F401 - re-exported for the tests
    LAYOUTS,
    MAX_DIMS,
    MAX_ELEMENTS,
    MAX_SIDE,
    OFFSET,
    TIE_FREE_LAYOUTS,
    VIEWS,
    apply_view,
    arrays,
    away_from,
    away_from_zero,
    broadcast_values,
    broadcastable_shapes,
    dim_of,
    distinct_arrays,
    eighths,
    empty_dims,
    floats,
    grid,
    leaf,
    positive,
    reduction_dims,
    shapes,
    tensors,
    view_source,
    view_source_shape,
    views,
    with_layout,
)


def examples(n: int):
    """``@settings`` for a test whose examples are expensive: ``n`` examples under the default profiles,
    scaled up proportionally under ``thorough``. The device and seed fixtures are function-scoped on purpose
    (they only return a name / reseed), so that health check is off."""
    scale = max(1, settings.default.max_examples // 25)
    return settings(
        max_examples=n * scale,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# -- shapes --------------------------------------------------------------------------------------------------


broadcast_pairs = broadcastable_shapes  # the suite's name for it


@st.composite
def source_and_target(draw, max_dims: int = 3):
    """(source, target) with ``source`` broadcastable to exactly ``target`` (for expand and masks): the source
    has any number of the target's trailing dims (so all ranks are common, not mostly 0-d), each the target's
    size or 1."""
    target = draw(shapes(max_dims=max_dims, max_side=4))
    rank = draw(st.integers(0, len(target)))
    trailing = target[len(target) - rank :]
    source = tuple(draw(st.sampled_from([side, 1])) for side in trailing)
    return source, target


# the suite's layout strategy: one of the public LAYOUTS (tinygrad_edu.testing.strategies.layouts() is its
# function form)
layouts = st.sampled_from(LAYOUTS)


# -- indices --------------------------------------------------------------------------------------------


@st.composite
def basic_and_advanced_index(draw, shape: tuple):
    """An index for ``shape`` mixing ints, slices (positive steps, as PyTorch), None, Ellipsis and up to two
    integer-array indices of one length (repeated positions included)."""
    parts, array_len = [], draw(st.integers(1, 4))
    arrays_used = 0
    dims = list(shape)
    use_ellipsis = draw(st.booleans()) and len(dims) > 0
    keep = draw(st.integers(0, len(dims))) if use_ellipsis else len(dims)
    for side in dims[:keep]:
        kind = draw(st.sampled_from(["int", "slice", "array", "none_then_slice"]))
        if kind == "int":
            parts.append(draw(st.integers(-side, side - 1)))
        elif kind == "array" and arrays_used < 2:
            arrays_used += 1
            values = draw(st.lists(st.integers(-side, side - 1), min_size=array_len, max_size=array_len))
            parts.append(np.asarray(values, dtype=np.int64))
        else:
            if kind == "none_then_slice":
                parts.append(None)
            start = draw(st.one_of(st.none(), st.integers(-side, side)))
            stop = draw(st.one_of(st.none(), st.integers(-side, side)))
            parts.append(slice(start, stop, draw(st.integers(1, 3))))
    if use_ellipsis:
        parts.append(Ellipsis)
        if draw(st.booleans()):
            parts.append(None)
    return tuple(parts)


def to_tensor_index(index: tuple, device: str = "cpu"):
    """The same index with integer arrays as int64 tensors, as a user would write it."""
    return tuple(torch.tensor(p, device=device) if isinstance(p, np.ndarray) else p for p in index)
