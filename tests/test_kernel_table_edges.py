"""Edges of the fast-path table that the mutation rerun of issue 40 found untested: the condition of the embedding
kernels at one index, the words of ``python -m tinygrad_edu.kernels`` (``describe``), and ``warm_up``, which
compiles every kernel for float32 and float64 ahead of a run."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_edu import kernels


def test_the_embedding_kernels_apply_from_one_index():
    """``some_rows``: a lookup of one row is not empty, so it takes the kernel; no rows take the reference."""
    assert kernels.some_rows([np.array([3])], {}) is True
    assert kernels.some_rows([np.array(3)], {}) is True  # a 0-d index: one row
    assert kernels.some_rows([np.zeros(0, dtype=np.int64)], {}) is False


def test_describe_has_one_line_per_fast_path_with_its_op_file_devices_dtypes_and_condition():
    lines = kernels.describe().splitlines()
    assert len(lines) == len(kernels.TABLE)
    for path, line in zip(kernels.TABLE, lines):
        module, _, name = path.implementation.partition(".")
        assert line.split(" -> ")[0].strip() == path.reference.__name__
        assert f" -> kernels/{module}.py: {name}  [" in line
        inside = line.split("  [", 1)[1]
        expected = f"{', '.join(path.devices)}; {', '.join(path.dtypes)}"
        if path.when is not None:
            expected += f"; {path.when.__doc__}"
        assert inside == expected + "]"


def test_warm_up_compiles_each_kernel_for_float32_and_float64():
    if not kernels.numba_available():
        pytest.skip("numba is not installed: nothing to compile (not a GPU/CUDA skip, so CI would flag it)")
    from tinygrad_edu.kernels import adam, cross_entropy, gelu, layer_norm, masked_fill, scatter_add, softmax

    assert kernels.warm_up() is None
    for module in (adam, cross_entropy, gelu, layer_norm, masked_fill, scatter_add, softmax):
        # the compiled functions of the module (numba dispatchers) and the argument types they were compiled for
        compiled = {str(s) for value in vars(module).values() for s in getattr(value, "signatures", ())}
        assert "float32" in " ".join(compiled) and "float64" in " ".join(compiled), (module.__name__, compiled)


@pytest.mark.parametrize(
    "a_shape, mask_shape, mask_dtype, applies",
    [
        ((2, 3, 4), (3, 4), np.bool_, True),  # the trailing axes, repeated over the leading one
        ((2, 3, 4), (1, 3, 4), np.bool_, True),  # a leading 1 is dropped
        ((2, 3, 4), (2, 3, 4), np.bool_, True),  # as many axes as a
        ((2, 3, 4), (1, 1, 4), np.bool_, True),  # the last axis alone
        ((2, 3, 4), (3, 1), np.bool_, False),  # broadcasts inside the trailing axes: not a repeat
        ((2, 3, 4), (2, 1, 4), np.bool_, False),
        ((3, 4), (2, 3, 4), np.bool_, False),  # more axes than a: the result would grow
        ((2, 1, 1), (1, 1), np.bool_, False),  # all 1s: nothing to cover
        ((2, 3, 4), (3, 4), np.float64, False),  # not a bool mask
    ],
)
def test_the_masked_fill_kernel_applies_exactly_where_the_mask_repeats_over_leading_axes(
    a_shape, mask_shape, mask_dtype, applies
):
    from tinygrad_edu.kernels import masked_fill

    a, mask = np.zeros(a_shape), np.ones(mask_shape, dtype=mask_dtype)
    assert masked_fill.repeats_over_leading_axes(a, mask) is applies


@pytest.mark.parametrize("exponent", [0, 1, 2, 3.0, -1])
def test_the_whole_power_kernel_gradient_at_exponents_0_and_1_and_at_0(exponent):
    """x**0 has slope 0 everywhere, 0 included (not 0·0⁻¹ = nan); x**1 has slope 1: the ends of the kernel's
    range of exponents, which the registry's draws seldom reach."""
    import tinygrad_edu as tg

    values = [1.5, -2.0, 0.5] if exponent < 0 else [0.0, 1.5, -2.0]
    x = tg.tensor(values, dtype=tg.float64, requires_grad=True)
    x.pow(exponent).sum().backward()
    expected = [exponent * v ** (exponent - 1) if exponent else 0.0 for v in values]
    assert x.grad.numpy().tolist() == pytest.approx(expected)
