"""0-d results (a loss, a full reduction, a dot product) behave as PyTorch's: they can be viewed, reshaped,
unsqueezed, expanded and indexed, and the gradient flows back through each of those."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu.nn import functional as F

LOGITS = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
TARGETS = np.array([1, 2, 3, 0])

# name -> a 0-d result of the (4, 5) input `a`, for a library `m` and its functional module `fm`
REDUCTIONS = {
    "cross_entropy": lambda m, fm, a: fm.cross_entropy(a, m.tensor(TARGETS)),
    "mse_loss": lambda m, fm, a: fm.mse_loss(a, a.detach() * 0),
    "sum": lambda m, fm, a: a.sum(),
    "mean": lambda m, fm, a: a.mean(),
    "max": lambda m, fm, a: a.max(),
    "min": lambda m, fm, a: a.min(),
    "amax": lambda m, fm, a: a.amax(),
    "var": lambda m, fm, a: a.var(),
    "std": lambda m, fm, a: a.std(),
    "dot": lambda m, fm, a: a[0] @ a[1],
}

# name -> (what is done to the 0-d result, the shape PyTorch gives)
USES = {
    "view(1)": (lambda r: r.view(1), (1,)),
    "view(())": (lambda r: r.view(()), ()),
    "view(-1)": (lambda r: r.view(-1), (1,)),
    "view_as": (lambda r: r.view_as(r), ()),
    "reshape(1, 1)": (lambda r: r.reshape(1, 1), (1, 1)),
    "flatten": (lambda r: r.flatten(), (1,)),
    "unsqueeze(0)": (lambda r: r.unsqueeze(0), (1,)),
    "unsqueeze(-1)": (lambda r: r.unsqueeze(-1), (1,)),
    "squeeze": (lambda r: r.squeeze(), ()),
    "squeeze(0)": (lambda r: r.squeeze(0), ()),
    "expand(3)": (lambda r: r.expand(3), (3,)),
    "expand(2, 3)": (lambda r: r.expand(2, 3), (2, 3)),
    "[None]": (lambda r: r[None], (1,)),
    "[...]": (lambda r: r[...], ()),
    "[()]": (lambda r: r[()], ()),
    "contiguous": (lambda r: r.contiguous(), ()),
}


@pytest.mark.parametrize("use", USES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_a_0d_result_supports_views_and_indexing(reduction, use):
    transform, shape = USES[use]
    a = tg.tensor(LOGITS, requires_grad=True)
    result = REDUCTIONS[reduction](tg, F, a)
    assert result.shape == ()
    out = transform(result)
    assert tuple(out.shape) == shape
    np.testing.assert_array_equal(out.detach().numpy(), np.full(shape, result.item(), dtype=np.float32))
    out.sum().backward()
    a_again = tg.tensor(LOGITS, requires_grad=True)
    REDUCTIONS[reduction](tg, F, a_again).backward()
    # every element of `out` is the 0-d result, so d(Σ out)/da = size(out) · d(result)/da
    np.testing.assert_allclose(a.grad.numpy(), shape_size(shape) * a_again.grad.numpy(), rtol=1e-6, atol=1e-7)


def shape_size(shape) -> int:
    return int(np.prod(shape)) if shape else 1


@pytest.mark.torch
@pytest.mark.parametrize("use", USES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_0d_behaviour_and_gradient_equal_pytorch(torch, reduction, use):
    transform = USES[use][0]
    results = []
    for lib, fm in ((tg, F), (torch, torch.nn.functional)):
        a = lib.tensor(LOGITS, requires_grad=True)
        out = transform(REDUCTIONS[reduction](lib, fm, a))
        out.sum().backward()
        results.append((tuple(out.shape), out.detach().numpy(), a.grad.numpy()))
    (shape, value, grad), (torch_shape, torch_value, torch_grad) = results
    assert shape == torch_shape
    np.testing.assert_allclose(value, torch_value, rtol=1e-5)
    np.testing.assert_allclose(grad, torch_grad, rtol=1e-5, atol=1e-7)


def test_indexing_a_0d_tensor_with_an_integer_is_an_index_error_as_in_pytorch():
    loss = F.cross_entropy(tg.tensor(LOGITS, requires_grad=True), tg.tensor(TARGETS))
    with pytest.raises(IndexError):
        loss[0]
