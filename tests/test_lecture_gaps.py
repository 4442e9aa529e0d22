"""What running the series' own notebooks and scripts here (imports changed, nothing else) found missing.

Each test is written here in our own words; it exercises the same calls as the lectures, compared with PyTorch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_edu as tg

torch = pytest.importorskip("torch", reason="PyTorch is not installed: oracle comparison skipped")


# -- nn.init.trunc_normal_: PyTorch's draws, bit for bit -------------------------------------------------------

# (mean, std, a, b): a wide window (normals drawn again where out of bounds), a narrow one and two far out in a
# tail (uniform candidates kept by their density), the bounds as fractions of std as a ViT-style init writes them
WINDOWS = [
    (0.0, 1.0, -2.0, 2.0),
    (0.0, 0.02, -0.04, 0.04),
    (0.0, 1.0, -0.1, 0.1),
    (0.0, 1.0, 2.5, 4.0),
    (1.0, 1.0, -3.0, -1.0),
    (0.5, 2.0, 0.0, 1.0),
]


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("shape", [(1,), (17,), (64, 48)])
def test_trunc_normal_draws_pytorchs_weights_and_leaves_the_stream_where_pytorch_does(window, shape):
    mean, std, a, b = window
    for seed in (0, 2147483647):
        ours_gen, their_gen = tg.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tail windows warn, in both libraries
            ours = tg.nn.init.trunc_normal_(tg.zeros(shape), mean, std, a, b, generator=ours_gen)
            theirs = torch.nn.init.trunc_normal_(torch.empty(shape), mean, std, a, b, generator=their_gen)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        assert ours.numpy().min() >= np.float32(a) and ours.numpy().max() <= np.float32(b)
        np.testing.assert_array_equal(
            tg.rand(5, generator=ours_gen).numpy(), torch.rand(5, generator=their_gen).numpy()
        )


def test_trunc_normal_fills_a_parameter_in_place_without_recording_and_uses_the_global_stream():
    weight = tg.nn.Parameter(tg.zeros(8, 4))
    tg.manual_seed(1337)
    torch.manual_seed(1337)
    returned = tg.nn.init.trunc_normal_(weight, std=0.02)
    theirs = torch.nn.init.trunc_normal_(torch.nn.Parameter(torch.zeros(8, 4)), std=0.02)
    assert returned is weight and weight.requires_grad and weight.grad_fn is None
    np.testing.assert_array_equal(weight.detach().numpy(), theirs.detach().numpy())


def test_trunc_normal_warns_as_pytorch_when_the_mean_is_far_from_the_window():
    with pytest.warns(UserWarning, match="more than 2 std from"):
        tg.nn.init.trunc_normal_(tg.zeros(4), mean=5.0, std=1.0, a=-1.0, b=1.0)


# -- torch.histogram's default of 100 bins (makemore part 3 plots activations with histogram(t, density=True)) --


def test_histogram_without_bins_uses_pytorchs_100():
    values = np.random.default_rng(3).standard_normal(500).astype(np.float32)
    ours, theirs = tg.histogram(tg.tensor(values), density=True), torch.histogram(torch.tensor(values), density=True)
    assert tuple(ours.hist.shape) == (100,) and tuple(ours.bin_edges.shape) == (101,)
    np.testing.assert_allclose(ours.hist.numpy(), theirs.hist.numpy(), rtol=1e-5)
    np.testing.assert_allclose(ours.bin_edges.numpy(), theirs.bin_edges.numpy(), atol=1e-6)  # float32 rounding
    method = tg.tensor(values).histogram(density=False).hist
    assert method.sum().item() == 500


# -- scatter(reduce="multiply") ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_scatter_multiply_multiplies_every_value_sent_to_a_position(dtype):
    base = [[1, 2, 3, 4], [5, 6, 7, 8]]
    index = [[0, 0, 3, 0], [1, 2, 2, 2]]  # row 0 sends three values to column 0; row 1 two to column 2
    src = [[2, 3, 5, 7], [11, 13, 17, 19]]
    ours = tg.tensor(base, dtype=getattr(tg, dtype)).scatter(
        1, tg.tensor(index), tg.tensor(src, dtype=getattr(tg, dtype)), reduce="multiply"
    )
    theirs = torch.tensor(base, dtype=getattr(torch, dtype)).scatter(
        1, torch.tensor(index), torch.tensor(src, dtype=getattr(torch, dtype)), reduce="multiply"
    )
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert ours.dtype == getattr(tg, dtype)
    by_value = tg.tensor([1.0, 2.0, 3.0]).scatter(0, tg.tensor([0, 0, 2]), 2.5, reduce="multiply")
    assert (
        by_value.tolist()
        == torch.tensor([1.0, 2.0, 3.0]).scatter(0, torch.tensor([0, 0, 2]), 2.5, reduce="multiply").tolist()
    )


def test_scatter_multiply_has_no_gradient_and_an_unknown_reduce_is_refused():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="no gradient"):
        x.scatter(0, tg.tensor([0]), tg.tensor([2.0]), reduce="multiply")
    with tg.no_grad():
        assert x.scatter(0, tg.tensor([0]), tg.tensor([2.0]), reduce="multiply").tolist() == [2.0, 2.0, 3.0]
    with pytest.raises(RuntimeError, match="either add or multiply"):
        x.detach().scatter(0, tg.tensor([0]), tg.tensor([2.0]), reduce="mean")


# -- var and std accumulate in float64, as PyTorch's CPU kernel: the lecture's printed digits are PyTorch's --------


def test_std_and_var_of_a_large_float32_tensor_are_pytorchs_float():
    theirs_gen = torch.Generator().manual_seed(2147483647)
    torch.randn((1000, 1), generator=theirs_gen)
    big = torch.randn((1000, 1000), generator=theirs_gen)  # makemore part 3's "b std" (1.0006722211837769)
    ours = tg.tensor(big.numpy())
    assert ours.std().item() == big.std().item()
    for dim in (0, 1):
        np.testing.assert_array_equal(ours.var(dim).numpy(), big.var(dim).numpy())
        np.testing.assert_array_equal(
            ours.std(dim, keepdim=True, unbiased=False).numpy(), big.std(dim, keepdim=True, unbiased=False).numpy()
        )
    assert ours.std().dtype == tg.float32 and ours.half().var().dtype == tg.float16


def test_std_keeps_its_gradient_through_the_wider_accumulation():
    values = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    ours, theirs = tg.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    (ours.std(0) * tg.arange(4).float()).sum().backward()
    (theirs.std(0) * torch.arange(4).float()).sum().backward()
    assert ours.grad.dtype == tg.float32
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_empty_like_has_the_shape_dtype_and_device_asked_for():
    source = tg.ones(2, 3, dtype=tg.float64)
    made = tg.empty_like(source)
    theirs = torch.empty_like(torch.ones(2, 3, dtype=torch.float64))
    assert tuple(made.shape) == tuple(theirs.shape) and made.dtype == tg.float64 and made.device == source.device
    assert tg.empty_like(source, dtype=tg.int32).dtype == tg.int32
    assert tg.empty_like(source, requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="must be Tensor"):
        tg.empty_like([1.0, 2.0])
