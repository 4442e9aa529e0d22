"""What of the series' code the op registry cannot reach: in-place indexed updates on integer tensors (the bigram
counts), ``numpy.asarray(t)``, an indexed write into a tensor in the graph (the "backprop ninja" notebook), the
errors of the new ops, and a few pieces of autograd's API (inference_mode, retain_grad, buffers). Each is
compared with PyTorch where PyTorch runs."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn as tnn
from tinygrad_edu.nn import functional as tF


def both(torch):
    return ((torch, torch.nn.functional), (tg, tF))


# -- integer tensors updated in place through an index (makemore's bigram counts) ---------------------------


@pytest.mark.parametrize("dtype", ["int32", "int64", "float32"])
def test_indexed_augmented_assignment_counts_like_torch(torch, dtype):
    """``N[i, j] += 1`` with ints, 0-d tensors and index tensors with repeated pairs: a repeated pair adds once,
    as PyTorch's (it is a read, an add, then a write of the read positions)."""
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 4, 30), rng.integers(0, 4, 30)
    results = []
    for m, _ in both(torch):
        counts = m.zeros((4, 4), dtype=getattr(m, dtype))
        for r, c in zip(rows[:10], cols[:10]):  # the bigram loop: plain ints
            counts[int(r), int(c)] += 1
        counts[m.tensor(1), m.tensor(2)] += 5  # 0-d index tensors
        counts[m.tensor(rows[10:]), m.tensor(cols[10:])] += 1  # repeated pairs among them
        counts[0] -= 1
        counts[3, 3] *= 2
        results.append(counts.numpy())
    np.testing.assert_array_equal(results[1], results[0])
    assert results[1].dtype == results[0].dtype


def test_element_of_a_tensor_is_a_view_like_torch(torch):
    """``x[0, 1]`` is a 0-d view: an in-place method on it writes into x (NumPy alone would give a copy)."""
    for m, _ in both(torch):
        x = m.zeros((2, 3), dtype=m.int64)
        x[0, 1].add_(7)
        assert x.tolist() == [[0, 7, 0], [0, 0, 0]]


# -- numpy.asarray(t) --------------------------------------------------------------------------------------


def test_array_protocol_gives_the_values(torch):
    x = tg.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(np.asarray(x), np.arange(6.0).reshape(2, 3))
    assert np.asarray(x, dtype=np.int64).dtype == np.int64
    assert np.asarray(x).dtype == np.asarray(torch.arange(6.0)).dtype
    # a NumPy scalar on the left still makes a tensor, not an array of the tensor's values
    assert isinstance(np.float32(2.0) * x, tg.Tensor)


def test_array_protocol_refuses_a_tensor_that_requires_grad_like_torch(torch):
    with pytest.raises(RuntimeError, match="numpy"):
        np.asarray(torch.ones(2, requires_grad=True))
    with pytest.raises(RuntimeError, match=r"numpy\(\) on a tensor that requires grad"):
        np.asarray(tg.ones(2, requires_grad=True))
    np.testing.assert_array_equal(np.asarray(tg.ones(2, requires_grad=True).detach()), np.ones(2))


# -- an indexed write into a tensor in the graph ------------------------------------------------------------


def _ninja(m, logits_values, targets, upstream):
    """The notebook's dlogits: softmax, then 1 taken off at each row's target, in place on a clone."""
    logits = m.tensor(logits_values, requires_grad=True)
    probs = (logits * 1.5).softmax(1)
    dlogits = probs.clone()
    dlogits[range(len(targets)), m.tensor(targets)] -= 1
    dlogits /= len(targets)
    (dlogits * m.tensor(upstream)).sum().backward()
    return dlogits.detach().numpy(), logits.grad.numpy()


def test_indexed_write_into_a_non_leaf_has_torchs_values_and_gradients(torch):
    rng = np.random.default_rng(1)
    logits, upstream = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    targets = [1, 0, 3, 3, 2]
    theirs, ours = _ninja(torch, logits, targets, upstream), _ninja(tg, logits, targets, upstream)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10, atol=1e-14)


def _write_column(m, x, w):
    x[:, 1] = w[:, 0]  # a column from a tensor that requires grad


def _write_rows(m, x, w):
    x[m.tensor([0, 3, 2])] = w[:3] * 2  # rows picked by an index tensor


def _write_number(m, x, w):
    x[1, 2] = 5.0  # a number: that element's gradient is cut


def _write_reading_itself(m, x, w):
    x[0:2] = x[1:3] + w[0] * 2  # the value reads x before the write


@pytest.mark.parametrize("write", [_write_column, _write_rows, _write_number, _write_reading_itself])
def test_indexed_write_gradients_match_torch(torch, write):
    rng = np.random.default_rng(2)
    a, b, up = rng.standard_normal((4, 3)), rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    results = []
    for m, _ in both(torch):
        base, w = m.tensor(a, requires_grad=True), m.tensor(b, requires_grad=True)
        x = base * 1.0  # not a leaf
        write(m, x, w)
        assert x.requires_grad and not x.is_leaf
        (x * m.tensor(up)).sum().backward()
        w_grad = np.zeros_like(b) if w.grad is None else w.grad.numpy()
        results.append((x.detach().numpy().copy(), base.grad.numpy().copy(), w_grad.copy()))
    for ours, theirs in zip(results[1], results[0]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_indexed_write_makes_a_plain_tensor_part_of_the_graph(torch):
    """Writing a tensor that requires grad into zeros: the zeros become a node, the gradient reaches the value."""
    grads = []
    for m, _ in both(torch):
        w = m.tensor([1.5, -2.0], requires_grad=True)
        out = m.zeros(4)
        out[1:3] = w * w
        (out * m.arange(4.0)).sum().backward()
        grads.append(w.grad.tolist())
    assert grads[1] == grads[0]


def test_indexed_write_over_values_a_backward_needs_raises_like_torch(torch):
    """softmax keeps its output for backward: writing into it in place makes that backward wrong, so it raises
    (the version counter), as PyTorch's."""
    for m, _ in both(torch):
        probs = m.tensor([[0.5, 1.0, -1.0]], requires_grad=True).softmax(1)
        probs[0, 0] = 0.0
        with pytest.raises(RuntimeError, match="modified by an inplace operation|modified in place"):
            probs.sum().backward()


def test_indexed_write_into_a_leaf_that_requires_grad_raises_like_torch(torch):
    for m, _ in both(torch):
        leaf = m.zeros(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="in-place"):
            leaf[0] = 1.0
        with m.no_grad():
            leaf[0] = 1.0  # allowed outside the graph, as an optimizer step does
        assert leaf.tolist() == [1.0, 0.0, 0.0]


# -- errors of the new ops, with PyTorch's substance ---------------------------------------------------------

ERRORS = [
    ("gather index of floats", lambda m, F: m.ones(3).gather(0, m.ones(2)), "int64"),
    ("gather index of another rank", lambda m, F: m.ones(3, 2).gather(0, m.zeros(2, dtype=m.int64)),
     "same number of dimensions"),
    ("gather index out of range", lambda m, F: m.ones(3).gather(0, m.tensor([3])), "out of bounds"),
    ("gather index too wide", lambda m, F: m.ones(2, 2).gather(0, m.zeros(2, 3, dtype=m.int64)),
     "Size does not match at dimension 1"),
    ("scatter_add src of another dtype", lambda m, F: m.ones(3).scatter_add(0, m.tensor([0]), m.ones(1).double()),
     "dtype"),
    ("roll shifts and dims differ", lambda m, F: m.ones(2, 3).roll(1, (0, 1)), "shifts and dimensions must align"),
    ("repeat with fewer sizes", lambda m, F: m.ones(2, 3).repeat(2), "can not be smaller"),
    ("flip a dim twice", lambda m, F: m.ones(2, 3).flip(0, 0), "multiple times"),
    ("fliplr of a vector", lambda m, F: m.ones(3).fliplr(), "2-d|2-D"),
    ("index_select with a matrix", lambda m, F: m.ones(3).index_select(0, m.zeros(2, 2, dtype=m.int64)), "vector"),
    ("repeat_interleave counts of another length",
     lambda m, F: m.ones(3).repeat_interleave(m.tensor([1, 2])), "same size"),
    ("pad of odd length", lambda m, F: F.pad(m.ones(2, 3), (1, 2, 3)), "divisible by 2"),
    ("pad of too many dims", lambda m, F: F.pad(m.ones(3), (1, 1, 1, 1)), "two times the input dimension"),
    ("reflect pad as wide as the dim", lambda m, F: F.pad(m.ones(1, 3), (3, 0), mode="reflect"), "less than"),
    ("one_hot of floats", lambda m, F: F.one_hot(m.ones(3)), "int64"),
    ("one_hot inferring from nothing", lambda m, F: F.one_hot(m.zeros(0, dtype=m.int64)), "empty tensor"),
    ("bincount of negatives", lambda m, F: m.bincount(m.tensor([-1, 2])), "non-negative"),
    ("topk of 2 on a 0-d tensor", lambda m, F: m.tensor(1.0).topk(2), "out of range"),
    ("index_select of 2 from a 0-d tensor", lambda m, F: m.tensor(2.0).index_select(0, m.tensor([0, 0])),
     "only 1 value"),
    ("roll of a 0-d tensor along a dim", lambda m, F: m.tensor(2.0).roll(1, 0), "no dimensions"),
    ("take_along_dim of a 0-d tensor along a dim", lambda m, F: m.tensor(2.0).take_along_dim(m.tensor(0), 0),
     "no dimensions"),
    ("einsum with too few subscripts", lambda m, F: m.einsum("i,j", m.ones(2, 2), m.ones(2)), "subscripts"),
    ("einsum with too many operands", lambda m, F: m.einsum("i", m.ones(2), m.ones(2)), "operands"),
    ("einsum of two dtypes", lambda m, F: m.einsum("i,i", m.ones(2), m.ones(2).double()), "dtype"),
]  # fmt: skip


ZERO_D = {
    "gather": lambda m: m.tensor(2.0).gather(0, m.tensor(0)),
    "index_select": lambda m: m.tensor(2.0).index_select(0, m.tensor([0])),
    "cumsum": lambda m: m.tensor(2.0).cumsum(0),
    "cumprod of ints": lambda m: m.tensor(3).cumprod(-1),
    "roll flattened": lambda m: m.tensor(2.0).roll(1),
    "flip": lambda m: m.tensor(2.0).flip(0),
    "sort indices": lambda m: m.tensor(2.0).sort()[1],
    "repeat": lambda m: m.tensor(2.0).repeat(2, 1),
    "repeat_interleave": lambda m: m.tensor(2.0).repeat_interleave(3),
    "logsumexp": lambda m: m.tensor(2.0).logsumexp(0),
    "logsumexp of ints": lambda m: m.tensor([1, 2]).logsumexp(0),
    "take_along_dim flattened": lambda m: m.tensor(2.0).take_along_dim(m.tensor(0)),
    "scatter": lambda m: m.tensor(2.0).scatter(0, m.tensor(0), m.tensor(5.0)),
    "cumsum of bools": lambda m: m.tensor([True, True]).cumsum(0),
    "constant pad of ints": lambda m: m.nn.functional.pad(m.tensor([[1, 2]]), (1, 1), value=7),
    "topk of a 0-d tensor": lambda m: m.tensor(2.0).topk(1, dim=-1)[0],
    "einsum trace": lambda m: m.einsum("ii", m.arange(9.0).reshape(3, 3)),
}


@pytest.mark.parametrize("call", ZERO_D.values(), ids=ZERO_D.keys())
def test_zero_d_and_integer_corners_match_torch(torch, call):
    theirs, ours = call(torch), call(tg)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert str(ours.dtype).rsplit(".", 1)[-1] == str(theirs.dtype).rsplit(".", 1)[-1]
    assert ours.tolist() == theirs.tolist()


@pytest.mark.parametrize("call, message", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_bad_arguments_raise_like_torch(torch, call, message):
    with pytest.raises(Exception) as theirs:
        call(torch, torch.nn.functional)
    with pytest.raises(type(theirs.value), match=message):
        call(tg, tF)


# -- small pieces of the API that the series' code uses ----------------------------------------------------


def test_nelement_is_numel():
    assert tg.ones(2, 3, 0).nelement() == 0 and tg.ones(2, 3).nelement() == 6 == tg.ones(2, 3).numel()


def test_inference_mode_nests_and_decorates_like_torch(torch):
    for m, _ in both(torch):
        x = m.ones(2, requires_grad=True)
        with m.inference_mode():
            assert not (x * 2).requires_grad
            with m.inference_mode(False):
                assert (x * 2).requires_grad
            assert not (x * 2).requires_grad

        @m.inference_mode
        def bare(a):
            return a * 2

        @m.inference_mode()
        def called(a):
            return a * 2

        assert not bare(x).requires_grad and not called(x).requires_grad
        assert (x * 2).requires_grad


def test_retain_grad_keeps_a_non_leaf_gradient_like_torch(torch):
    grads = []
    for m, _ in both(torch):
        x = m.tensor([1.0, -2.0], requires_grad=True)
        y = x * 3
        y.retain_grad()
        z = y * y
        z.sum().backward()
        assert y.retains_grad and x.is_leaf and not y.is_leaf
        grads.append(y.grad.tolist())
    assert grads[1] == grads[0]


def test_non_persistent_buffer_stays_out_of_the_state_dict_like_torch(torch):
    names = []
    for nn in (torch.nn, tnn):
        module = nn.Module()
        m = torch if nn is torch.nn else tg
        module.register_buffer("kept", m.ones(2))
        module.register_buffer("mask", m.zeros(2), persistent=False)
        names.append((sorted(module.state_dict()), sorted(n for n, _ in module.named_buffers())))
    assert names[1] == names[0] == (["kept"], ["kept", "mask"])


def test_ops_that_read_a_tensor_before_an_indexed_write_get_its_old_value_like_torch(torch):
    """``y = d + 1`` before ``d[0] = 5``: y's gradient reaches all of the old d (the write cut only d's own)."""
    grads = []
    for m, _ in both(torch):
        a = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        d = a * 1.0
        y = d + 1
        z = d * 2.0
        d[0] = 5.0
        (y.sum() + z.sum() * 10 + d.sum() * 100).backward()
        grads.append(a.grad.tolist())
    assert grads[1] == grads[0] == [21.0, 121.0, 121.0]
