"""The modules the series' code uses (BatchNorm1d, Conv1d/2d, RNN/GRU/LSTM and their cells, MultiheadAttention,
and makemore's Sequential/Embedding/Flatten stacks), against PyTorch: a PyTorch module's state_dict loads into
ours through NumPy and both give the same outputs, states and gradients; parameter names, shapes and default
initialisation bounds are PyTorch's; train and eval behave as PyTorch's."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn as tnn
from tinygrad_edu.nn import functional as tF

pytestmark = pytest.mark.torch

RTOL, ATOL = 1e-10, 1e-12


def host(t) -> np.ndarray:
    return t.detach().numpy()


def load_from_torch(ours, theirs) -> None:
    """PyTorch's state_dict, through NumPy, into our module (strict: every name and shape must match)."""
    ours.load_state_dict({k: tg.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})


def twin(torch, name: str, *args, **kwargs):
    """(ours, theirs): the same module class from both libraries in float64, ours holding PyTorch's values."""
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    ours = getattr(tnn, name)(*args, **kwargs).double()
    load_from_torch(ours, theirs)
    return ours, theirs


def leaves(torch, *arrays):
    return [tg.tensor(a, requires_grad=True) for a in arrays], [torch.tensor(a, requires_grad=True) for a in arrays]


def flat(result) -> list:
    """A module's outputs as a flat list of tensors (None dropped)."""
    if isinstance(result, (tuple, list)):
        return [t for r in result for t in flat(r)]
    return [] if result is None else [result]


def assert_same_forward_and_backward(torch, ours, theirs, our_inputs, their_inputs, seed=0, rtol=RTOL, atol=ATOL):
    """Outputs equal; then, under the same random upstream gradients, the inputs' and parameters' gradients."""
    mine, reference = flat(ours(*our_inputs)), flat(theirs(*their_inputs))
    assert len(mine) == len(reference)
    rng = np.random.default_rng(seed)
    upstream = [rng.standard_normal(tuple(r.shape)) for r in reference]
    for a, b in zip(mine, reference):
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(host(a), b.detach().numpy(), rtol=rtol, atol=atol)
    tg.autograd.backward(mine, [tg.tensor(g) for g in upstream])
    torch.autograd.backward(reference, [torch.tensor(g) for g in upstream])
    for a, b in zip(our_inputs, their_inputs):
        if getattr(b, "requires_grad", False):
            np.testing.assert_allclose(host(a.grad), b.grad.numpy(), rtol=rtol, atol=atol)
    our_params = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(host(our_params[name].grad), p.grad.numpy(), rtol=rtol, atol=atol, err_msg=name)


def assert_same_parameters(torch, name: str, *args, **kwargs) -> None:
    """Parameter and buffer names, shapes and dtypes as PyTorch's (float32 by default)."""
    ours, theirs = getattr(tnn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()
    ]
    for (k, v), (_, w) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert str(v.dtype).split(".")[-1] == str(w.dtype).split(".")[-1], k


def assert_uniform_within(t, bound: float) -> None:
    """Drawn from U(-bound, bound): inside the bounds, and spread over them (not all near 0 or one value)."""
    values = host(t).ravel()
    assert np.all(np.abs(values) <= bound + 1e-7)
    if values.size >= 50:
        assert np.abs(values).max() > 0.8 * bound and abs(values.mean()) < 0.3 * bound


rng = np.random.default_rng(1234)


def randn(*shape) -> np.ndarray:
    return rng.standard_normal(shape)


# -- BatchNorm1d ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 4), (5, 4, 3)])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"momentum": None},
        {"momentum": 0.3, "eps": 1e-3},
        {"affine": False},
        {"bias": False},
        {"track_running_stats": False},
        {"affine": False, "track_running_stats": False, "momentum": None},
    ],
)
def test_batchnorm1d_trains_then_evaluates_as_torch(torch, shape, options):
    ours, theirs = twin(torch, "BatchNorm1d", 4, **options)
    for step in range(3):  # a few batches: the running statistics (and num_batches_tracked) move
        x = randn(*shape) * (step + 1) + step
        (ox,), (tx,) = leaves(torch, x)
        assert_same_forward_and_backward(torch, ours, theirs, [ox], [tx], seed=step)
        for p in (*ours.parameters(), ox):
            p.grad = None
        theirs.zero_grad()
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(host(ours.state_dict()[key]), value.numpy(), rtol=RTOL, atol=ATOL, err_msg=key)
    ours.eval()
    theirs.eval()
    (ox,), (tx,) = leaves(torch, randn(*shape))
    assert_same_forward_and_backward(torch, ours, theirs, [ox], [tx])
    if theirs.running_mean is not None:  # eval leaves the statistics alone
        np.testing.assert_allclose(host(ours.running_mean), theirs.running_mean.numpy(), rtol=RTOL)
        assert int(ours.num_batches_tracked.item()) == int(theirs.num_batches_tracked.item()) == 3


def test_batchnorm1d_running_statistics_use_the_unbiased_variance_and_momentum_none_averages():
    bn = tnn.BatchNorm1d(1, momentum=None, affine=False)
    batches = [np.array([[1.0], [3.0]]), np.array([[0.0], [4.0]]), np.array([[2.0], [2.0], [5.0]])]
    for b in batches:
        out = bn(tg.tensor(b, dtype=tg.float32))
        # normalised by the batch's own biased variance: mean 0, mean square ≈ 1 (less the eps)
        assert abs(host(out).mean()) < 1e-6
    means = [b.mean() for b in batches]
    unbiased = [b.var(ddof=1) for b in batches]
    np.testing.assert_allclose(host(bn.running_mean), [np.mean(means)], rtol=1e-6)
    np.testing.assert_allclose(host(bn.running_var), [np.mean(unbiased)], rtol=1e-6)
    assert bn.num_batches_tracked.dtype == tg.int64 and int(bn.num_batches_tracked.item()) == 3


def test_batchnorm1d_parameters_buffers_and_errors_as_torch(torch):
    assert_same_parameters(torch, "BatchNorm1d", 5)
    assert_same_parameters(torch, "BatchNorm1d", 5, affine=False, track_running_stats=False)
    bn = tnn.BatchNorm1d(3)
    assert np.all(host(bn.weight) == 1) and np.all(host(bn.bias) == 0)
    assert np.all(host(bn.running_mean) == 0) and np.all(host(bn.running_var) == 1)
    assert repr(bn) == repr(torch.nn.BatchNorm1d(3))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        bn(tg.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(tg.zeros(1, 3))
    bn.eval()
    assert tuple(bn(tg.zeros(1, 3)).shape) == (1, 3)  # one sample is fine in eval


def test_f_batch_norm_updates_the_running_statistics_given_as_torch(torch):
    x = randn(4, 3, 2)
    ours_rm, ours_rv = tg.tensor(randn(3)), tg.tensor(np.abs(randn(3)) + 0.5)
    theirs_rm, theirs_rv = torch.tensor(host(ours_rm)), torch.tensor(host(ours_rv))
    out = tF.batch_norm(tg.tensor(x), ours_rm, ours_rv, training=True, momentum=0.2, eps=1e-4)
    ref = torch.nn.functional.batch_norm(torch.tensor(x), theirs_rm, theirs_rv, training=True, momentum=0.2, eps=1e-4)
    np.testing.assert_allclose(host(out), ref.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(host(ours_rm), theirs_rm.numpy(), rtol=RTOL)
    np.testing.assert_allclose(host(ours_rv), theirs_rv.numpy(), rtol=RTOL)
    with pytest.raises(RuntimeError, match="running_mean and running_var must be defined"):
        tF.batch_norm(tg.tensor(x), None, None)
    with pytest.raises(RuntimeError, match="running_mean should contain 3 elements not 2"):
        tF.batch_norm(tg.tensor(x), tg.zeros(2), tg.ones(3), training=True)


# -- Conv1d / Conv2d --------------------------------------------------------------------------------------

CONV_CASES = [
    ("Conv1d", (3, 4, 5), {}, (2, 3, 9)),
    ("Conv1d", (4, 6, 3), {"stride": 2, "padding": 1, "dilation": 2, "groups": 2}, (2, 4, 11)),
    ("Conv1d", (2, 3, 4), {"padding": "same", "bias": False}, (3, 2, 7)),
    ("Conv1d", (2, 3, 2), {"padding": "valid"}, (2, 6)),  # unbatched
    ("Conv2d", (3, 4, 3), {}, (2, 3, 6, 5)),
    ("Conv2d", (4, 4, (2, 3)), {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2), "groups": 4}, (2, 4, 7, 8)),
    ("Conv2d", (2, 6, 3), {"padding": "same", "dilation": 2, "groups": 2}, (1, 2, 7, 7)),
    ("Conv2d", (3, 2, 2), {"bias": False}, (3, 5, 4)),  # unbatched
]


@pytest.mark.parametrize(("name", "args", "kwargs", "shape"), CONV_CASES)
def test_conv_loads_torch_state_and_matches_outputs_and_gradients(torch, name, args, kwargs, shape):
    ours, theirs = twin(torch, name, *args, **kwargs)
    (ox,), (tx,) = leaves(torch, randn(*shape))
    assert_same_forward_and_backward(torch, ours, theirs, [ox], [tx])
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize(("name", "args", "kwargs", "shape"), CONV_CASES)
def test_conv_parameters_and_initialisation_as_torch(torch, name, args, kwargs, shape):
    assert_same_parameters(torch, name, *args, **kwargs)
    conv = getattr(tnn, name)(*args, **kwargs)
    fan_in = conv.weight.shape[1] * math.prod(conv.weight.shape[2:])
    assert_uniform_within(conv.weight, 1 / math.sqrt(fan_in))  # PyTorch's kaiming_uniform_(a=√5)
    if conv.bias is not None:
        assert_uniform_within(conv.bias, 1 / math.sqrt(fan_in))


def test_conv_initialisation_spreads_over_its_bounds():
    conv = tnn.Conv2d(8, 16, 3)  # 1152 weights, fan_in 72
    assert_uniform_within(conv.weight, 1 / math.sqrt(72))
    assert host(conv.weight).std() == pytest.approx(1 / math.sqrt(72) / math.sqrt(3), rel=0.1)


def test_conv_bad_arguments_are_refused_as_torch():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        tnn.Conv1d(3, 4, 2, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        tnn.Conv1d(4, 3, 2, groups=2)
    with pytest.raises(ValueError, match="not supported for strided convolutions"):
        tnn.Conv2d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string 'full'"):
        tnn.Conv1d(2, 2, 3, padding="full")
    with pytest.raises(NotImplementedError, match="padding_mode='zeros'"):
        tnn.Conv1d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        tnn.Conv1d(2, 2, 3, padding_mode="mirror")
    conv = tnn.Conv2d(3, 4, 3)
    with pytest.raises(RuntimeError, match="expected input\\[1, 2, 5, 5\\] to have 3 channels, but got 2"):
        conv(tg.zeros(1, 2, 5, 5))
    with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
        conv(tg.zeros(1, 3, 2, 5))
    with pytest.raises(RuntimeError, match="Expected 3D \\(unbatched\\) or 4D \\(batched\\) input to conv2d"):
        conv(tg.zeros(3, 5))
    with pytest.raises(RuntimeError, match="non-positive stride"):
        tF.conv1d(tg.zeros(1, 1, 4), tg.zeros(1, 1, 2), stride=0)
    with pytest.raises(RuntimeError, match="negative padding"):
        tF.conv1d(tg.zeros(1, 1, 4), tg.zeros(1, 1, 2), padding=-1)
    with pytest.raises(RuntimeError, match="should be the same"):
        tF.conv1d(tg.zeros(1, 1, 4), tg.zeros(1, 1, 2, dtype=tg.float64))


# -- RNN / GRU / LSTM -------------------------------------------------------------------------------------

RNN_CASES = [
    ("RNN", {}, (5, 3, 4)),
    ("RNN", {"nonlinearity": "relu", "num_layers": 2, "bidirectional": True}, (4, 2, 4)),
    ("GRU", {}, (5, 3, 4)),
    ("GRU", {"num_layers": 2, "batch_first": True, "bias": False}, (3, 5, 4)),
    ("GRU", {"bidirectional": True}, (4, 4)),  # unbatched
    ("LSTM", {}, (5, 3, 4)),
    ("LSTM", {"num_layers": 2, "bidirectional": True, "batch_first": True}, (2, 4, 4)),
    ("LSTM", {"num_layers": 3, "dropout": 0.5}, (4, 4)),  # unbatched; dropout only while training (eval here)
]


def _initial_state(name, kwargs, shape, with_state):
    """(h0,) or ((h0, c0),) when asked for, else ()."""
    if not with_state:
        return [], []
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    batch = () if len(shape) == 2 else (shape[0] if kwargs.get("batch_first") else shape[1],)
    state = [randn(layers, *batch, 6) for _ in range(2 if name == "LSTM" else 1)]
    ours, theirs = [tg.tensor(s, requires_grad=True) for s in state], [torch_tensor(s) for s in state]
    return ([tuple(ours)], [tuple(theirs)]) if name == "LSTM" else ([ours[0]], [theirs[0]])


def torch_tensor(array):
    import torch

    return torch.tensor(array, requires_grad=True)


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize(("name", "kwargs", "shape"), RNN_CASES)
def test_recurrent_layers_match_torch(torch, name, kwargs, shape, with_state):
    ours, theirs = twin(torch, name, 4, 6, **kwargs)
    ours.eval()
    theirs.eval()
    (ox,), (tx,) = leaves(torch, randn(*shape))
    our_state, their_state = _initial_state(name, kwargs, shape, with_state)
    assert_same_forward_and_backward(torch, ours, theirs, [ox, *our_state], [tx, *their_state])
    for ours_s, theirs_s in zip(flat(our_state), flat(their_state)):  # the initial state's gradient too
        np.testing.assert_allclose(host(ours_s.grad), theirs_s.grad.numpy(), rtol=RTOL, atol=ATOL)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize(("name", "kwargs"), [("RNN", {}), ("GRU", {"bias": False}), ("LSTM", {"num_layers": 2})])
def test_recurrent_parameter_names_shapes_and_initialisation_as_torch(torch, name, kwargs):
    assert_same_parameters(torch, name, 4, 6, **kwargs)
    assert_same_parameters(torch, name, 4, 6, bidirectional=True, **kwargs)
    for p in getattr(tnn, name)(4, 6, **kwargs).parameters():
        assert_uniform_within(p, 1 / math.sqrt(6))


def test_lstm_gate_order_is_input_forget_cell_output():
    """With only the forget gate's bias large (and the rest zero), c' = σ(f)·c: the state is kept."""
    lstm = tnn.LSTM(1, 1).double()
    for p in lstm.parameters():
        p.data.zero_()
    lstm.bias_ih_l0.data.copy_(tg.tensor([0.0, 50.0, 0.0, 0.0], dtype=tg.float64))  # rows i, f, g, o
    _, (h, c) = lstm(
        tg.zeros(1, 1, 1, dtype=tg.float64),
        (tg.zeros(1, 1, 1, dtype=tg.float64), tg.full((1, 1, 1), 0.7, dtype=tg.float64)),
    )
    np.testing.assert_allclose(host(c), 0.7, rtol=1e-12)
    np.testing.assert_allclose(host(h), 0.5 * np.tanh(0.7), rtol=1e-12)  # σ(o) = σ(0) = 1/2


def test_recurrent_dropout_acts_between_layers_only_while_training():
    lstm = tnn.LSTM(3, 5, num_layers=2, dropout=0.5).double()
    x = tg.tensor(randn(6, 2, 3))
    lstm.train()
    tg.manual_seed(0)
    first, _ = lstm(x)
    tg.manual_seed(1)
    second, _ = lstm(x)
    assert not np.allclose(host(first), host(second))
    lstm.eval()
    np.testing.assert_array_equal(host(lstm(x)[0]), host(lstm(x)[0]))


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("RNNCell", {"nonlinearity": "relu"}), ("GRUCell", {}), ("LSTMCell", {}), ("GRUCell", {"bias": False})],
)
@pytest.mark.parametrize("batched", [True, False])
def test_recurrent_cells_match_torch(torch, name, kwargs, batched):
    assert_same_parameters(torch, name, 4, 6, **kwargs)
    ours, theirs = twin(torch, name, 4, 6, **kwargs)
    batch = (3,) if batched else ()
    (ox,), (tx,) = leaves(torch, randn(*batch, 4))
    state = [randn(*batch, 6) for _ in range(2 if name == "LSTMCell" else 1)]
    our_state, their_state = leaves(torch, *state)
    our_state, their_state = (
        (tuple(our_state), tuple(their_state)) if name == "LSTMCell" else (*our_state, *their_state)
    )
    assert_same_forward_and_backward(torch, ours, theirs, [ox, our_state], [tx, their_state])
    assert_same_forward_and_backward(torch, ours, theirs, [ox], [tx])  # no state given: zeros


def test_recurrent_bad_input_is_refused_as_torch():
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
        tnn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        tnn.GRU(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        tnn.LSTM(3, 0)
    lstm = tnn.LSTM(3, 4)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 3, got 5"):
        lstm(tg.zeros(2, 1, 5))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 4D"):
        lstm(tg.zeros(2, 1, 1, 3))
    with pytest.raises(RuntimeError, match="Expected hidden size \\(1, 2, 4\\), got \\[1, 3, 4\\]"):
        lstm(tg.zeros(5, 2, 3), (tg.zeros(1, 3, 4), tg.zeros(1, 2, 4)))


# -- MultiheadAttention -----------------------------------------------------------------------------------


def _masks(kind, batch, length, source, heads):
    if kind == "bool":
        return {"attn_mask": np.triu(np.ones((length, source), bool), 1)}
    if kind == "float":
        return {"attn_mask": randn(length, source)}
    if kind == "3d":
        return {"attn_mask": randn(batch * heads, length, source)}
    if kind == "padding":
        padding = np.zeros((batch, source), bool)
        padding[0, -1] = True
        return {"key_padding_mask": padding}
    if kind == "both":
        padding = np.zeros((batch, source), bool)
        padding[-1, -1] = (
            True  # (key 0 stays visible: a query that sees no key is NaN in PyTorch, or 0 on its fast path)
        )
        return {"attn_mask": np.triu(np.ones((length, source), bool), 1), "key_padding_mask": padding}
    if kind == "causal":
        return {"attn_mask": np.triu(np.ones((length, source), bool), 1), "is_causal": True}
    return {}


@pytest.mark.parametrize("masks", [None, "bool", "float", "3d", "padding", "both", "causal"])
@pytest.mark.parametrize(
    "options",
    [
        ({"batch_first": True}, {}),
        ({}, {"average_attn_weights": False}),
        ({"kdim": 5, "vdim": 3, "bias": False}, {}),
        ({"batch_first": True}, {"need_weights": False}),
    ],
)
def test_multihead_attention_matches_torch(torch, masks, options):
    module_kwargs, call_kwargs = options
    ours, theirs = twin(torch, "MultiheadAttention", 8, 2, **module_kwargs)
    batch, length, source = 3, 4, 4
    bf = module_kwargs.get("batch_first", False)
    q = randn(batch, length, 8) if bf else randn(length, batch, 8)
    k = randn(*((batch, source) if bf else (source, batch)), module_kwargs.get("kdim", 8))
    v = randn(*((batch, source) if bf else (source, batch)), module_kwargs.get("vdim", 8))
    our_inputs, their_inputs = leaves(torch, q, k, v)
    extra = _masks(masks, batch, length, source, 2)
    ours_kw = {n: tg.tensor(a) if isinstance(a, np.ndarray) else a for n, a in extra.items()} | call_kwargs
    theirs_kw = {n: torch.tensor(a) if isinstance(a, np.ndarray) else a for n, a in extra.items()} | call_kwargs
    mine, reference = ours(*our_inputs, **ours_kw), theirs(*their_inputs, **theirs_kw)
    if not call_kwargs.get("need_weights", True):
        assert mine[1] is None and reference[1] is None
    assert_same_forward_and_backward(
        torch, _WithParams(ours, ours_kw), _WithParams(theirs, theirs_kw), our_inputs, their_inputs, atol=1e-11
    )
    del mine, reference


class _WithParams:
    """A module called with fixed keyword arguments, its parameters still reachable by name."""

    def __init__(self, module, kwargs):
        self.module, self.kwargs = module, kwargs

    def __call__(self, *xs):
        return self.module(*xs, **self.kwargs)

    def named_parameters(self):
        return self.module.named_parameters()


def test_multihead_attention_unbatched_and_parameters_as_torch(torch):
    assert_same_parameters(torch, "MultiheadAttention", 8, 2)
    assert_same_parameters(torch, "MultiheadAttention", 8, 4, kdim=3, vdim=5, bias=False)
    ours, theirs = twin(torch, "MultiheadAttention", 6, 3)
    x = randn(5, 6)
    mine, reference = ours(*[tg.tensor(x)] * 3), theirs(*[torch.tensor(x)] * 3)
    for a, b in zip(mine, reference):
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(host(a), b.detach().numpy(), rtol=RTOL, atol=ATOL)
    m = tnn.MultiheadAttention(16, 4)
    assert_uniform_within(m.in_proj_weight, math.sqrt(6 / (16 + 48)))  # xavier over the whole (3E, E)
    assert np.all(host(m.in_proj_bias) == 0) and np.all(host(m.out_proj.bias) == 0)
    assert_uniform_within(m.out_proj.weight, 1 / 4)


def test_multihead_attention_dropout_only_while_training_and_bad_input_refused():
    m = tnn.MultiheadAttention(4, 2, dropout=0.5).double()
    x = tg.tensor(randn(3, 1, 4))
    m.eval()
    np.testing.assert_array_equal(host(m(x, x, x)[0]), host(m(x, x, x)[0]))
    m.train()
    _, weights = m(x, x, x, average_attn_weights=False)
    assert np.any(host(weights) == 0)  # dropped weights; rows then no longer sum to 1
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        m(x, x, x, is_causal=True)
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        tnn.MultiheadAttention(5, 2)
    with pytest.raises(AssertionError, match="expecting key_padding_mask shape of \\(1, 3\\)"):
        m(x, x, x, key_padding_mask=tg.zeros(1, 2, dtype=tg.bool))


# -- makemore's stacks: Sequential of Embedding, FlattenConsecutive (a user's view), Linear, BatchNorm1d, Tanh --


def _flatten_consecutive(lib):
    class FlattenConsecutive(lib.nn.Module):
        """makemore part 5: (B, T, C) -> (B, T/n, C·n), written by the learner with view."""

        def __init__(self, n):
            super().__init__()
            self.n = n

        def forward(self, x):
            B, T, C = x.shape
            x = x.view(B, T // self.n, C * self.n)
            return x.squeeze(1) if x.shape[1] == 1 else x

    return FlattenConsecutive


def wavenet(lib, vocab=27, block=8, emb=10, hidden=16):
    nn = lib.nn
    flat = _flatten_consecutive(lib)

    class BatchNormTokens(nn.Module):
        """nn.BatchNorm1d wants channels at axis 1 of (B, T, C): transpose in and out (contiguous for the next
        view, which PyTorch refuses on the transposed layout, as we do)."""

        def __init__(self, features):
            super().__init__()
            self.bn = nn.BatchNorm1d(features)

        def forward(self, x):
            return self.bn(x.transpose(1, 2)).transpose(1, 2).contiguous() if x.dim() == 3 else self.bn(x)

    return nn.Sequential(
        nn.Embedding(vocab, emb),
        flat(2),
        nn.Linear(emb * 2, hidden, bias=False),
        BatchNormTokens(hidden),
        nn.Tanh(),
        flat(2),
        nn.Linear(hidden * 2, hidden, bias=False),
        BatchNormTokens(hidden),
        nn.Tanh(),
        flat(2),
        nn.Linear(hidden * 2, hidden, bias=False),
        BatchNormTokens(hidden),
        nn.Tanh(),
        nn.Linear(hidden, vocab),
    )


def test_makemore_wavenet_trains_and_evaluates_as_torch(torch):
    torch.manual_seed(0)
    theirs = wavenet(torch).double()
    ours = wavenet(tg).double()
    load_from_torch(ours, theirs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ix = rng.integers(0, 27, size=(6, 8))
    targets = rng.integers(0, 27, size=6)
    for _ in range(2):  # two SGD steps in training mode: the same losses, gradients and running statistics
        our_loss = tF.cross_entropy(ours(tg.tensor(ix)), tg.tensor(targets))
        their_loss = torch.nn.functional.cross_entropy(theirs(torch.tensor(ix)), torch.tensor(targets))
        np.testing.assert_allclose(our_loss.item(), their_loss.item(), rtol=1e-10)
        our_loss.backward()
        their_loss.backward()
        with tg.no_grad():
            for p in ours.parameters():
                p -= 0.1 * p.grad
                p.grad = None
        with torch.no_grad():
            for p in theirs.parameters():
                p -= 0.1 * p.grad
                p.grad = None
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(host(ours.state_dict()[key]), value.numpy(), rtol=1e-9, atol=1e-12, err_msg=key)
    ours.eval()
    theirs.eval()
    for layer in ours:
        assert not layer.training
    np.testing.assert_allclose(host(ours(tg.tensor(ix))), theirs(torch.tensor(ix)).detach().numpy(), rtol=1e-9)


def test_makemore_part3_mlp_with_batchnorm_and_containers(torch):
    """Part 3's MLP: Linear (no bias) → BatchNorm1d → Tanh, in a Sequential; ModuleList/ModuleDict hold layers."""

    def mlp(lib):
        nn = lib.nn
        return nn.ModuleDict(
            {
                "emb": nn.Embedding(27, 4),
                "body": nn.Sequential(
                    nn.Flatten(),
                    *nn.ModuleList([nn.Linear(12, 8, bias=False), nn.BatchNorm1d(8), nn.Tanh()]),
                    nn.Linear(8, 27),
                ),
            }
        )

    torch.manual_seed(0)
    theirs, ours = mlp(torch).double(), mlp(tg).double()
    load_from_torch(ours, theirs)
    ix = rng.integers(0, 27, size=(5, 3))
    out = ours["body"](ours["emb"](tg.tensor(ix)))
    ref = theirs["body"](theirs["emb"](torch.tensor(ix)))
    np.testing.assert_allclose(host(out), ref.detach().numpy(), rtol=1e-10)
    assert repr(ours) == repr(theirs)
    ours.eval()
    theirs.eval()
    assert not ours["body"][2].training  # eval() reaches the BatchNorm1d inside the ModuleDict's Sequential
    np.testing.assert_allclose(
        host(ours["body"](ours["emb"](tg.tensor(ix)))), theirs["body"](theirs["emb"](torch.tensor(ix))).detach().numpy()
    )


@pytest.mark.parametrize("dims", [(), (0,), (1, 2), (0, -2)])
def test_flatten_module_as_torch(torch, dims):
    x = randn(2, 3, 4, 5)
    ours, theirs = tnn.Flatten(*dims), torch.nn.Flatten(*dims)
    np.testing.assert_array_equal(host(ours(tg.tensor(x))), theirs(torch.tensor(x)).numpy())
    assert repr(ours) == repr(theirs)


# -- devices ----------------------------------------------------------------------------------------------


def test_modules_run_on_each_device_as_on_the_cpu(device):
    """Built on the CPU, moved with .to(device): the same outputs and gradients (cuda: a GPU or the stand-in)."""
    tg.manual_seed(0)
    model = tnn.ModuleDict(
        {
            "conv": tnn.Conv1d(3, 4, 3, padding="same", groups=1),
            "bn": tnn.BatchNorm1d(4),
            "lstm": tnn.LSTM(4, 5, batch_first=True, bidirectional=True),
            "attn": tnn.MultiheadAttention(10, 2, batch_first=True),
        }
    ).double()
    x = randn(2, 3, 6)

    def run(dev):
        model.to(dev)
        inp = tg.tensor(x, device=dev, requires_grad=True)
        h = model["bn"](model["conv"](inp)).transpose(1, 2)  # (N, L, C)
        h, _ = model["lstm"](h)
        out, weights = model["attn"](h, h, h)
        (out.sum() + weights.sum()).backward()
        grads = {n: p.grad.detach().cpu().numpy() for n, p in model.named_parameters()}
        model.zero_grad()
        return out.detach().cpu().numpy(), inp.grad.cpu().numpy(), grads

    state = {k: v.clone() for k, v in model.state_dict().items()}
    expected = run("cpu")
    model.load_state_dict(state)  # the first run moved the running statistics: start the second from the same
    got = run(device)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-10, atol=1e-12)
    for name in expected[2]:
        np.testing.assert_allclose(got[2][name], expected[2][name], rtol=1e-9, atol=1e-12, err_msg=name)
