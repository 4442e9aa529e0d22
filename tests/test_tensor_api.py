"""The tensor API a PyTorch user expects: dtype rules, factories, randomness, Python protocols, conversions."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as torch
import tinygrad_edu.nn as nn
from tinygrad_edu.nn import functional as F

# -- tensor() and dtypes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        (1.5, torch.float32),
        ([1.0, 2.0], torch.float32),
        ([[1, 2], [3, 4]], torch.int64),
        (3, torch.int64),
        ([True, False], torch.bool),
        (np.array([1.0, 2.0]), torch.float64),
        (np.array([1, 2], dtype=np.int32), torch.int32),
        (np.array([1.0], dtype=np.float32), torch.float32),
        (np.float64(1.5), torch.float64),
        (np.float32(1.5), torch.float32),
    ],
)
def test_tensor_dtype_rules(data, dtype):
    """Python floats -> float32, ints -> int64, bools -> bool; NumPy arrays keep their dtype."""
    assert torch.tensor(data).dtype == dtype


def test_tensor_of_a_tensor_keeps_its_dtype():
    """Also for a 0-d result such as a float64 sum (whose array is a NumPy scalar)."""
    total = torch.tensor([1.0, 2.0], dtype=torch.float64).sum()
    assert torch.tensor(total).dtype == torch.float64
    assert torch.tensor(torch.arange(3, dtype=torch.int32)).dtype == torch.int32


def test_cat_and_stack_promote_like_pytorch():
    """The highest kind wins: int64 with float32 is float32 (NumPy's rules would give float64)."""
    assert torch.cat([torch.tensor([1]), torch.tensor([2.5])]).dtype == torch.float32
    assert torch.stack([torch.tensor([1]), torch.tensor([2.5], dtype=torch.float64)]).dtype == torch.float64
    assert torch.cat([torch.tensor([True]), torch.tensor([3])]).tolist() == [1, 3]


def test_tensor_with_explicit_dtype():
    assert torch.tensor([1, 2], dtype=torch.float64).dtype == torch.float64
    assert torch.tensor([1.7, 2.2], dtype=torch.long).tolist() == [1, 2]


def test_tensor_copies_its_source_array():
    source = np.array([1.0, 2.0])
    t = torch.tensor(source)
    source[0] = 100.0
    assert t.tolist() == [1.0, 2.0]
    # and from another tensor
    u = torch.tensor(t)
    u[1] = -1.0
    assert t.tolist() == [1.0, 2.0]


def test_from_numpy_shares_memory():
    source = np.array([1.0, 2.0])
    t = torch.from_numpy(source)
    source[0] = 9.0
    assert t.tolist() == [9.0, 2.0]


def test_dtype_names():
    assert torch.float32 is torch.float and torch.float64 is torch.double
    assert torch.long is torch.int64 and torch.bool is not None
    assert torch.float32.is_floating_point and not torch.int64.is_floating_point


# -- factories ---------------------------------------------------------------------------------------------------


def test_zeros_ones_full_eye():
    assert torch.zeros(2, 3).shape == (2, 3) and torch.zeros(2, 3).dtype == torch.float32
    assert torch.zeros((2, 3)).tolist() == [[0.0] * 3] * 2
    assert torch.ones(3, dtype=torch.long).tolist() == [1, 1, 1]
    assert torch.full((2,), 7).dtype == torch.int64
    assert torch.full((2, 2), 0.5).tolist() == [[0.5, 0.5], [0.5, 0.5]]
    assert torch.eye(3).tolist() == np.eye(3).tolist()
    assert torch.eye(2, 3).shape == (2, 3)


@pytest.mark.parametrize(
    ("args", "expected", "dtype"),
    [
        ((5,), [0, 1, 2, 3, 4], torch.int64),
        ((2, 5), [2, 3, 4], torch.int64),
        ((1, 10, 3), [1, 4, 7], torch.int64),
        ((0.0, 1.0, 0.25), [0.0, 0.25, 0.5, 0.75], torch.float32),
        ((3.0,), [0.0, 1.0, 2.0], torch.float32),
    ],
)
def test_arange(args, expected, dtype):
    t = torch.arange(*args)
    assert t.tolist() == expected and t.dtype == dtype


def test_linspace():
    t = torch.linspace(0, 1, 5)
    assert t.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0] and t.dtype == torch.float32


def test_tril_triu_functions():
    m = torch.ones(3, 3)
    assert torch.tril(m).tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert torch.triu(m, diagonal=1).tolist() == [[0, 1, 1], [0, 0, 1], [0, 0, 0]]


def test_randn_and_rand_shapes_and_moments():
    x = torch.randn(200, 100)
    assert x.shape == (200, 100) and x.dtype == torch.float32
    assert abs(x.mean().item()) < 0.02 and x.std().item() == pytest.approx(1.0, abs=0.02)
    u = torch.rand(20000)
    assert u.min().item() >= 0 and u.max().item() < 1
    assert u.mean().item() == pytest.approx(0.5, abs=0.01)


def test_randint_forms():
    a = torch.randint(5, (1000,))
    assert a.dtype == torch.int64 and a.shape == (1000,)
    assert a.min().item() == 0 and a.max().item() == 4
    b = torch.randint(3, 6, (2, 500))
    assert b.shape == (2, 500) and b.min().item() == 3 and b.max().item() == 5
    with pytest.raises(ValueError, match="high"):
        torch.randint(3, 3, (2,))


@pytest.mark.parametrize(
    "draw",
    [
        lambda: torch.randn(5),
        lambda: torch.rand(5),
        lambda: torch.randint(0, 100, (5,)),
        lambda: torch.multinomial(torch.tensor([0.1, 0.2, 0.3, 0.4]), 10, replacement=True),
        lambda: F.dropout(torch.ones(20), 0.5),
        lambda: nn.Dropout(0.3)(torch.ones(20)),
        lambda: nn.Linear(4, 3).weight,
    ],
    ids=["randn", "rand", "randint", "multinomial", "dropout", "Dropout", "Linear_init"],
)
def test_manual_seed_makes_draws_reproducible(draw):
    torch.manual_seed(42)
    first = draw().tolist()
    second = draw().tolist()
    torch.manual_seed(42)
    assert draw().tolist() == first
    assert draw().tolist() == second
    assert first != second


# -- multinomial ---------------------------------------------------------------------------------------------------


def test_multinomial_shapes_for_rows_and_vectors():
    probs = torch.tensor([[0.2, 0.8], [0.5, 0.5], [1.0, 0.0]])
    out = torch.multinomial(probs, 4, replacement=True)
    assert out.shape == (3, 4) and out.dtype == torch.int64
    assert out[2].tolist() == [0, 0, 0, 0]  # zero-probability categories are never drawn
    assert torch.multinomial(torch.tensor([1.0, 2.0]), 1).shape == (1,)


def test_multinomial_without_replacement_draws_unique_indices():
    probs = torch.ones(5, 10)
    out = torch.multinomial(probs, 10, replacement=False)
    for row in out.tolist():
        assert sorted(row) == list(range(10))
    with pytest.raises(RuntimeError, match="without replacement"):
        torch.multinomial(probs, 11)


def test_multinomial_distribution_matches_probs():
    """Unnormalised weights are fine; 40,000 draws land within ~1% of the probabilities."""
    weights = torch.tensor([1.0, 2.0, 3.0, 4.0])
    draws = torch.multinomial(weights, 40_000, replacement=True).numpy()
    frequencies = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(frequencies, [0.1, 0.2, 0.3, 0.4], atol=0.01)


def test_multinomial_without_replacement_first_draw_follows_probs():
    probs = torch.tensor([0.7, 0.2, 0.1]).expand(20_000, 3)
    first = torch.multinomial(probs, 2)[:, 0].numpy()
    np.testing.assert_allclose(np.bincount(first, minlength=3) / first.size, [0.7, 0.2, 0.1], atol=0.015)


def test_multinomial_rejects_negative_probabilities():
    with pytest.raises(RuntimeError, match="non-negative"):
        torch.multinomial(torch.tensor([0.5, -0.1, 0.6]), 1)


# -- comparisons and Python protocols -------------------------------------------------------------------------------


def test_comparisons_give_bool_tensors():
    x = torch.tensor([1.0, 2.0, 3.0])
    for result in (x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2, x > torch.tensor([0.0, 5.0, 1.0])):
        assert result.dtype == torch.bool
    assert (x > 1.5).tolist() == [False, True, True]
    assert (x == torch.tensor([1.0, 0.0, 3.0])).tolist() == [True, False, True]


def test_len_and_iter():
    data = torch.arange(12).reshape(4, 3)
    assert len(data) == 4
    rows = list(data)
    assert len(rows) == 4 and rows[1].tolist() == [3, 4, 5]
    with pytest.raises(TypeError):
        len(torch.tensor(1.0))


def test_iterating_gives_0d_tensors_usable_as_slice_bounds():
    """``for i in ix: data[i:i+8]``, as the lecture's get_batch writes it."""
    data = torch.arange(100)
    ix = torch.tensor([3, 50])
    batch = [data[i : i + 8] for i in ix]
    assert all(isinstance(i, torch.Tensor) and i.dim() == 0 for i in ix)
    assert batch[0].tolist() == list(range(3, 11)) and batch[1].tolist() == list(range(50, 58))
    assert torch.stack(batch).shape == (2, 8)


def test_index_int_float_protocols():
    assert [10, 20, 30][torch.tensor(2)] == 30
    assert int(torch.tensor(3.7)) == 3
    assert float(torch.tensor(2)) == 2.0
    assert range(10)[torch.tensor(4)] == 4
    with pytest.raises(TypeError):
        [1, 2][torch.tensor(1.0)]


def test_bool_of_single_element_and_error_on_many():
    assert bool(torch.tensor([1.0])) and not bool(torch.tensor(0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(torch.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="ambiguous"):
        if torch.ones(2) > 0:
            pass


def test_format_of_scalar_tensor():
    loss = torch.tensor(1.23456789)
    assert f"{loss:.4f}" == "1.2346"
    assert f"step {torch.tensor(3)}: {torch.tensor([0.5]).mean():.2f}" == "step 3: 0.50"


def test_item_tolist_numpy():
    x = torch.tensor([[1.5, 2.0]])
    assert x.tolist() == [[1.5, 2.0]]
    assert torch.tensor(2.5).item() == 2.5 and isinstance(torch.tensor(2).item(), int)
    assert isinstance(x.numpy(), np.ndarray) and x.numpy().dtype == np.float32
    with pytest.raises(RuntimeError, match="one element"):
        x.item()


def test_numpy_on_tensor_requiring_grad_errors():
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0, 1.0]


def test_detach_and_clone():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad
    c = x.clone()
    assert c.requires_grad and c.grad_fn is not None  # clone is differentiable
    (c * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    plain = torch.tensor([1.0, 2.0])
    copy = plain.clone()
    copy[0] = 5.0
    assert plain.tolist() == [1.0, 2.0]


def test_shape_size_dim_numel_dtype_device():
    x = torch.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.dim() == 3 and x.ndim == 3 and x.numel() == 24
    assert x.dtype == torch.float32
    assert x.device == torch.device("cpu") and x.device.type == "cpu" and str(x.device) == "cpu"
    B, T, C = x.shape
    assert (B, T, C) == (2, 3, 4)
    assert x.shape[1:] == (3, 4)


def test_view_on_transposed_tensor_errors_while_reshape_works():
    x = torch.arange(6).reshape(2, 3)
    with pytest.raises(RuntimeError, match="reshape"):
        x.t().view(6)
    assert x.t().reshape(6).tolist() == [0, 3, 1, 4, 2, 5]
    assert x.t().contiguous().view(6).tolist() == [0, 3, 1, 4, 2, 5]
    assert x.view(3, 2).tolist() == [[0, 1], [2, 3], [4, 5]]


def test_T_and_transpose():
    x = torch.arange(6).reshape(2, 3)
    assert x.T.shape == (3, 2) and x.T.tolist() == [[0, 3], [1, 4], [2, 5]]
    assert x.transpose(0, 1).tolist() == x.T.tolist()


def test_float_long_and_to_dtype():
    x = torch.tensor([1.7, -2.2])
    assert x.long().tolist() == [1, -2] and x.long().dtype == torch.int64
    assert torch.tensor([1, 2]).float().dtype == torch.float32
    y = x.to(torch.float64)
    assert y.dtype == torch.float64 and y.tolist() == pytest.approx([1.7, -2.2], rel=1e-6)
    assert x.double().dtype == torch.float64


def test_to_cpu_is_a_no_op_here():
    x = torch.ones(2)
    assert x.to("cpu") is x and x.cpu() is x
    assert x.to(torch.device("cpu")).device.type == "cpu"


def test_to_float64_keeps_the_graph():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x.to(torch.float64) * 3).sum().backward()
    assert x.grad.dtype == torch.float32 and x.grad.tolist() == [3.0, 3.0]


def test_cuda_unavailable_here(monkeypatch):
    monkeypatch.setattr(torch.backend, "_cupy", lambda: None)  # a machine with no GPU and the stand-in off
    assert torch.cuda.is_available() is False
    assert torch.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.ones(2).to("cuda")
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="CUDA"):
        nn.Linear(2, 2).cuda()


def test_submodules_are_reachable_as_attributes():
    import tinygrad_edu

    assert tinygrad_edu.nn is nn
    assert tinygrad_edu.nn.functional is F
    assert callable(tinygrad_edu.nn.init.normal_)
    assert tinygrad_edu.optim.AdamW is not None
    assert tinygrad_edu.autograd.Function is not None
    assert callable(tinygrad_edu.autograd.grad)
    assert callable(tinygrad_edu.nn.utils.clip_grad_norm_)


def test_tensor_repr():
    text = repr(torch.tensor([1.0, 2.5]))
    assert text.startswith("tensor([1") and "2.5" in text and "dtype" not in text  # float32 is the default
    assert repr(torch.tensor([1, 2])) == "tensor([1, 2])"
    assert "dtype=tinygrad_edu.float64" in repr(torch.tensor([1.0], dtype=torch.float64))
    assert "requires_grad=True" in repr(torch.ones(1, requires_grad=True))
    assert "grad_fn=" in repr(torch.ones(1, requires_grad=True) * 2)
    assert repr(torch.tensor(3.0)).startswith("tensor(3.")


def test_torch_level_functions():
    x = torch.tensor([[1.0, -2.0], [3.0, 0.5]])
    assert torch.exp(x).tolist() == x.exp().tolist()
    assert torch.sum(x, dim=1).tolist() == [-1.0, 3.5]
    assert torch.max(x).item() == 3.0
    assert torch.cat([x, x], dim=0).shape == (4, 2)
    assert torch.stack([x, x]).shape == (2, 2, 2)
    assert torch.where(x > 0, x, torch.zeros_like(x)).tolist() == [[1.0, 0.0], [3.0, 0.5]]
    assert torch.zeros_like(x).shape == x.shape and torch.ones_like(x).sum().item() == 4


@pytest.mark.parametrize(
    "index, shape",
    [
        ((0, slice(None), [1, 2]), (3, 2)),  # NumPy would give (2, 3): it counts the 0 as an advanced index
        ((slice(None), 1, [0, 3]), (2, 2)),
        ((Ellipsis, 0, [1, 1]), (2, 2)),
        ((None, 0, [1]), (1, 1, 4)),
        ((0, 1, [2]), (1,)),
    ],
)
def test_integers_mixed_with_arrays_index_as_in_pytorch(index, shape):
    """PyTorch applies integers first (like slices that drop their dim), then the arrays; so do we."""
    values = np.arange(24.0).reshape(2, 3, 4)
    x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    out = x[index]
    assert tuple(out.shape) == shape
    basic = tuple(slice(None) if isinstance(p, list) else p for p in index)
    rest = tuple(p if isinstance(p, list) else slice(None) for p in index if not isinstance(p, int))
    np.testing.assert_array_equal(out.detach().numpy(), values[basic][rest])
    out.sum().backward()
    expected = np.zeros_like(values)
    np.add.at(expected[basic], rest, 1.0)  # expected[basic] is a view (basic indexing), so this writes expected
    np.testing.assert_array_equal(x.grad.numpy(), expected)


@pytest.mark.parametrize(
    "a, b",
    [([1.0, 2.0], [1.0, 2.0]), ([1.0, 2.0], [1.0, 3.0]), ([1.0], [1.0, 1.0]), ([float("nan")], [float("nan")])],
)
def test_equal_is_same_shape_and_same_values_as_in_pytorch(a, b):
    real = pytest.importorskip("torch")
    assert torch.equal(torch.tensor(a), torch.tensor(b)) == real.equal(real.tensor(a), real.tensor(b))
    assert torch.tensor(a).equal(torch.tensor(b)) == real.tensor(a).equal(real.tensor(b))


def test_equal_compares_values_across_dtypes_and_refuses_a_non_tensor():
    assert torch.tensor([1, 2]).equal(torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="must be Tensor"):
        torch.tensor([1.0]).equal([1.0])
