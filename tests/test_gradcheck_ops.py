"""Every differentiable op of the registry (``op_registry.py``) against finite differences (``gradcheck``, float64).

Shapes, values, layouts and parameters come from each entry's sample strategy: broadcast pairs, 0-d tensors,
size-1 dims, transposed and strided leaves and non-contiguous views inside the graph, within the op's domain.
A new op is checked here by adding its entry. Below that, gradients in situations no strategy draws.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_registry import DIFFERENTIABLE, TG, make_function, make_leaves, parametrize
from strategies import arrays, examples, floats, leaf

import tinygrad_edu as torch
from tinygrad_edu.autograd import gradcheck


@parametrize(DIFFERENTIABLE, "gradcheck")
@examples(8)
@given(data=st.data())
def test_gradient_matches_finite_differences(device, entry, data):
    sample = data.draw(entry.samples, label="sample")
    leaves = make_leaves(TG, sample, device)
    assert gradcheck(make_function(entry, TG, sample, device), leaves, eps=entry.eps)


def test_indexing_repeated_integer_tensor_accumulates(device):
    x = leaf(np.arange(4.0), device)
    idx = torch.tensor([1, 1, 3, 1], device=device)
    assert gradcheck(lambda x: x[idx] * x[idx], (x,))
    x[idx].sum().backward()
    assert x.grad.tolist() == [0.0, 3.0, 0.0, 1.0]


def test_indexing_negative_and_positive_positions_of_one_row_accumulate(device):
    """-1 and 2 are the same row of a 3-row tensor: both reads' gradients land there (they used to overwrite)."""
    x = leaf(np.arange(6.0).reshape(3, 2), device)
    x[torch.tensor([2, -1, 0, -3], device=device)].sum().backward()
    assert x.grad.tolist() == [[2.0, 2.0], [0.0, 0.0], [2.0, 2.0]]


def test_expand_rejects_minus_one_in_a_new_leading_dim():
    with pytest.raises(RuntimeError, match="-1"):
        torch.zeros(3).expand(-1, 3)


@examples(15)
@given(data=st.data(), rows=st.integers(1, 4), cols=st.integers(1, 5))
def test_masked_softmax_with_minus_inf_gradient(device, data, rows, cols):
    """-inf written by a mask (rows never fully masked): the masked entries get probability and gradient 0."""
    mask = data.draw(arrays((rows, cols), st.booleans(), dtype=np.bool_))
    mask[np.arange(rows), data.draw(st.lists(st.integers(0, cols - 1), min_size=rows, max_size=rows))] = False
    mask_t = torch.tensor(mask, device=device)
    x = leaf(data.draw(arrays((rows, cols), floats(-3, 3))), device)
    assert gradcheck(lambda x: x.masked_fill(mask_t, float("-inf")).softmax(-1), (x,))
    y = x.masked_fill(mask_t, float("-inf")).softmax(-1)
    assert np.all(y.detach().cpu().numpy()[mask] == 0)
