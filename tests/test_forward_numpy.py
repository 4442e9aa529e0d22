"""Forward values of every op of the registry (``op_registry.py``) against its NumPy reference, written
independently there, in float32 and float64; and PyTorch's dtype rules: no float64 promotion of float32 inputs,
ints stay int64, ``int / 2`` is float32."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_registry import (
    TG,
    WITH_NUMPY_REF,
    dtype_name,
    is_float,
    make_function,
    make_leaves,
    outputs_of,
    parametrize,
    to_numpy,
)
from strategies import examples, grid, shapes

import tinygrad_edu as torch
from tinygrad_edu.nn import functional as F

TOLERANCE = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-12, atol=1e-13)}


def _rounded(value, dtype: str):
    """Float arrays (inputs, float masks) as the op sees them in ``dtype``, back in float64 for the reference."""
    if isinstance(value, np.ndarray) and value.dtype == np.float64:
        return value.astype(dtype).astype(np.float64)
    if isinstance(value, (tuple, list)):
        return type(value)(_rounded(v, dtype) for v in value)
    return value


@parametrize(WITH_NUMPY_REF, "numpy", dtypes=True)
@examples(5)
@given(data=st.data())
def test_forward_matches_numpy(device, entry, dtype, data):
    """The op's outputs against its NumPy reference (on the same values rounded to ``dtype``): shape, value, and
    the dtype: float32 stays float32 (no float64 promotion); integer and bool results as NumPy's."""
    sample = data.draw(entry.samples, label="sample")
    leaves = make_leaves(TG, sample, device, dtype, requires_grad=False)
    outputs = outputs_of(make_function(entry, TG, sample, device, dtype)(*leaves))
    inputs, args = _rounded(sample.inputs, dtype), _rounded(sample.args, dtype)
    kwargs = {k: _rounded(v, dtype) for k, v in sample.kwargs.items()}
    expected = outputs_of(entry.numpy_ref(*inputs, *args, **kwargs))
    assert len(outputs) == len(expected)
    tolerance = TOLERANCE[dtype] if dtype == "float64" else {"rtol": max(entry.float32_rtol, 2e-5), "atol": 2e-6}
    for i, (out, ref) in enumerate(zip(outputs, expected)):
        ref = np.asarray(ref)
        value = to_numpy(out)
        assert value.shape == ref.shape, f"output {i}: shape {value.shape}, NumPy's {ref.shape}"
        if is_float(out) and entry.keeps_dtype:
            assert dtype_name(out) == dtype, f"output {i}: {entry.name} turned {dtype} into {dtype_name(out)}"
        elif not is_float(out):
            assert np.asarray(value).dtype == ref.dtype, f"output {i}: dtype {value.dtype}, NumPy's {ref.dtype}"
        np.testing.assert_allclose(value, ref, **tolerance, err_msg=f"output {i}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_keeps_the_dtype_and_scales_the_kept_values(device, dtype):
    x = np.random.default_rng(0).standard_normal((40, 50)).astype(dtype)
    dropped = F.dropout(torch.tensor(x, device=device), p=0.5).cpu().numpy()
    assert dropped.dtype == x.dtype
    assert np.all((dropped == 0) | np.isclose(dropped, 2 * x, rtol=1e-6))
    assert 0.4 < (dropped == 0).mean() < 0.6


# -- dtype rules ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: torch.tensor([1, 2]) / 2, torch.float32),
        (lambda: torch.tensor([1, 2]) / torch.tensor([2, 4]), torch.float32),
        (lambda: torch.tensor([1, 2]) + 2, torch.int64),
        (lambda: torch.tensor([1, 2]) * 2.5, torch.float32),
        (lambda: torch.tensor([1, 2]).sum(), torch.int64),
        (lambda: torch.tensor([True, False]).sum(), torch.int64),
        (lambda: torch.tensor([1, 2]).max(), torch.int64),
        (lambda: torch.tensor([1, 2], dtype=torch.int32) + 2, torch.int32),
        (lambda: torch.tensor([1.0, 2.0]) + 2.5, torch.float32),
        (lambda: 2.5 * torch.tensor([1.0, 2.0]) - 1, torch.float32),
        (lambda: torch.tensor([1.0, 2.0]) + torch.tensor(2.0, dtype=torch.float64), torch.float32),
        (lambda: torch.tensor([1.0, 2.0]) * torch.tensor([1, 2]), torch.float32),
        (lambda: torch.tensor([1.0, 2.0], dtype=torch.float64) * 2.5, torch.float64),
        (lambda: torch.tensor([1.0, 2.0]) ** 2, torch.float32),
        (lambda: 2 ** torch.tensor([1.0, 2.0]), torch.float32),
        (lambda: torch.tensor([1, 2]).exp(), torch.float32),
        (lambda: torch.tensor([1.0, 2.0]).mean(), torch.float32),
        (lambda: torch.tensor([1.0, 2.0]).var(), torch.float32),
        (lambda: torch.where(torch.tensor([True, False]), torch.tensor([1.0, 2.0]), 0.0), torch.float32),
        (lambda: torch.cat([torch.tensor([1, 2]), torch.tensor([3])]), torch.int64),
        (lambda: torch.tensor([1.0, 2.0]).to(torch.float64), torch.float64),
    ],
)
def test_result_dtype_follows_pytorch(make, expected):
    assert make().dtype == expected


@examples(10)
@given(shape=shapes(), value=grid(0.5))
def test_zero_d_tensor_broadcasts_like_a_number(shape, value):
    x = np.arange(math.prod(shape), dtype=np.float32).reshape(shape)
    out = torch.tensor(x) * torch.tensor(value) + torch.tensor(1.0)
    assert out.dtype == torch.float32 and tuple(out.shape) == shape
    np.testing.assert_allclose(out.numpy(), x * np.float32(value) + 1, rtol=1e-6)


def test_promotions_fast_path_agrees_with_the_general_rule():
    """``promotion.result_dtype`` answers two common cases (two tensors of one dtype; a float tensor and a Python int
    or float) without the general rule; wherever it does, the general rule gives the same dtype, both ways round,
    with and without true division, for tensors with dims and 0-d ones."""
    from tinygrad_edu import promotion
    from tinygrad_edu.tensor import Tensor

    dtypes = ("bool", "uint8", "int32", "int64", "float16", "float32", "float64")
    tensors = [torch.tensor(np.zeros(shape, dtype=d)) for d in dtypes for shape in ((), (2,))]
    operands = [*tensors, True, 3, 2.5]
    answered = 0
    for a in operands:
        for b in operands:
            for true_division in (False, True):
                fast = promotion._common_case(a, b, true_division, Tensor)
                if fast is not None:
                    answered += 1
                    assert fast == promotion._by_kinds(a, b, true_division, Tensor), (a, b, true_division)
    # same dtype: 7 dtypes × 4 ordered pairs of their 0-d and 1-d tensors, the 3 float ones under true division
    # too (28 + 12); a float tensor and a number: 6 tensors × (3, 2.5) × both sides × both divisions (48)
    assert answered == 28 + 12 + 48
