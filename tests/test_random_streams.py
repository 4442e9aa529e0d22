"""Random numbers as PyTorch's CPU generator makes them, bit for bit (tinygrad_edu/random.py).

Every test draws the same calls from a tinygrad_edu generator and from PyTorch's, seeded alike, and asserts the
arrays are identical (not close): the engine's words, each transform, the order of draws across calls, the state
bytes, and the first numbers of the lectures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import examples

import tinygrad_edu as tg
import tinygrad_edu.nn as tnn
from tinygrad_edu import random as tgr
from tinygrad_edu.nn import functional as F

torch = pytest.importorskip("torch", reason="PyTorch is not installed: oracle comparison skipped")

SEEDS = [0, 1, 1337, 2147483647, 2**63, 2**64 - 1, -5]
SIZES = [1, 2, 15, 16, 17, 31, 33, 1000]
FLOATS = [(tg.float32, torch.float32), (tg.float64, torch.float64), (tg.float16, torch.float16)]


def same(ours, theirs) -> None:
    """Bit for bit: the same dtype, shape and bytes (NaN-free here, so array_equal is exact equality)."""
    a, b = ours.detach().numpy(), theirs.detach().numpy()
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def pair(seed):
    return tg.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)


def test_the_engine_is_mt19937_as_numpy_and_pytorch_run_it():
    """The 32-bit words: NumPy's MT19937 from the same 624-word state gives the same outputs."""
    engine = tgr.MT19937(5489)
    numpy_mt = np.random.MT19937()
    numpy_mt.state = {"bit_generator": "MT19937", "state": {"key": tgr.seeded_state(5489), "pos": 624}}
    np.testing.assert_array_equal(engine.words(2000), numpy_mt.random_raw(2000).astype(np.uint32))
    assert tgr.MT19937(5489).words(1)[0] == 3499211612  # the first output of mt19937's reference seed
    compiled, sliced = tgr.MT19937(2**63 + 7), tgr.MT19937(2**63 + 7)
    for n in (1, 622, 1, 624, 625, 3000):  # the compiled loop against the three-slice NumPy twist
        np.testing.assert_array_equal(compiled.words(n), sliced.words_reference(n))
        assert (compiled.left, compiled.next) == (sliced.left, sliced.next)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("size", SIZES)
def test_rand_and_randn(seed, size):
    g, tg_ = pair(seed)
    for ours, theirs in FLOATS:
        same(tg.rand(size, generator=g, dtype=ours), torch.rand(size, generator=tg_, dtype=theirs))
        same(tg.randn(size, generator=g, dtype=ours), torch.randn(size, generator=tg_, dtype=theirs))
    same(tg.randn(3, size, generator=g), torch.randn(3, size, generator=tg_))


@pytest.mark.parametrize("seed", [0, 2147483647, 2**63])
def test_large_draws(seed):
    g, tg_ = pair(seed)
    same(tg.randn(768, 128, generator=g), torch.randn(768, 128, generator=tg_))
    same(tg.randn(100_003, generator=g, dtype=tg.float64), torch.randn(100_003, generator=tg_, dtype=torch.float64))
    same(tg.rand(70_001, generator=g), torch.rand(70_001, generator=tg_))


@examples(30)
@given(
    st.integers(-(2**63), 2**64 - 1),
    st.lists(st.sampled_from(["rand", "randn", "randn64", "uniform", "normal", "int", "bern"]), max_size=6),
    st.integers(1, 70),
)
def test_interleaved_calls_on_one_generator(seed, calls, size):
    """Any sequence of draws leaves both generators at the same point: the cached second normal of the small
    path, the redrawn tail of the vectorised one, two words for float64."""
    g, tg_ = pair(seed)
    for call in calls:
        if call == "rand":
            same(tg.rand(size, generator=g), torch.rand(size, generator=tg_))
        elif call == "randn":
            same(tg.randn(size, generator=g), torch.randn(size, generator=tg_))
        elif call == "randn64":
            same(tg.randn(size, generator=g, dtype=tg.float64), torch.randn(size, generator=tg_, dtype=torch.float64))
        elif call == "uniform":
            same(tg.empty(size).uniform_(-0.3, 2.5, generator=g), torch.empty(size).uniform_(-0.3, 2.5, generator=tg_))
        elif call == "normal":
            same(tg.empty(size).normal_(0.5, 3.0, generator=g), torch.empty(size).normal_(0.5, 3.0, generator=tg_))
        elif call == "int":
            same(tg.randint(-7, 2**40, (size,), generator=g), torch.randint(-7, 2**40, (size,), generator=tg_))
        else:
            same(tg.empty(size).bernoulli_(0.3, generator=g), torch.empty(size).bernoulli_(0.3, generator=tg_))
    same(g.get_state(), tg_.get_state())


@pytest.mark.parametrize(
    "low, high", [(0, 1), (0, 10), (-5, 2**28 - 1), (-5, 2**28 + 3), (0, 2**40), (-(2**62), 2**62)]
)
def test_randint_and_random_(low, high):
    g, tg_ = pair(1337)
    same(tg.randint(low, high, (257,), generator=g), torch.randint(low, high, (257,), generator=tg_))
    for ours, theirs in [(tg.int32, torch.int32), (tg.float32, torch.float32), (tg.float64, torch.float64)]:
        if high <= 2**24:
            same(
                tg.empty(40, dtype=ours).random_(low, high, generator=g),
                torch.empty(40, dtype=theirs).random_(low, high, generator=tg_),
            )
    for ours, theirs in [(tg.int64, torch.int64), (tg.int32, torch.int32), (tg.uint8, torch.uint8),
                         (tg.float32, torch.float32), (tg.float64, torch.float64), (tg.bool, torch.bool)]:  # fmt: skip
        same(tg.empty(33, dtype=ours).random_(generator=g), torch.empty(33, dtype=theirs).random_(generator=tg_))
    same(
        tg.empty(9, dtype=tg.int64).random_(17, generator=g),
        torch.empty(9, dtype=torch.int64).random_(17, generator=tg_),
    )


@pytest.mark.parametrize("n", [0, 1, 2, 5, 100, 5000])
def test_randperm(n):
    g, tg_ = pair(2147483647)
    same(tg.randperm(n, generator=g), torch.randperm(n, generator=tg_))
    same(tg.randperm(n, generator=g, dtype=tg.int32), torch.randperm(n, generator=tg_, dtype=torch.int32))


@pytest.mark.parametrize("replacement", [True, False])
@pytest.mark.parametrize("num_samples", [1, 3, 20])
def test_multinomial(replacement, num_samples):
    g, tg_ = pair(42)
    weights = torch.rand(5, 27, generator=torch.Generator().manual_seed(3)) ** 3
    weights[1, :5] = 0  # zero-weight categories are never drawn
    if not replacement and num_samples > 22:
        return
    for ours, theirs in [
        (tg.tensor(weights.numpy()), weights),
        (tg.tensor(weights[2].double().numpy()), weights[2].double()),
    ]:
        same(
            tg.multinomial(ours, num_samples, replacement, generator=g),
            torch.multinomial(theirs, num_samples, replacement, generator=tg_),
        )
    same(g.get_state(), tg_.get_state())


def test_bernoulli_with_tensor_and_scalar_p():
    g, tg_ = pair(7)
    p = torch.rand(4, 50, generator=torch.Generator().manual_seed(1))
    for theirs in (p, p.double()):
        ours = tg.tensor(theirs.numpy())
        same(tg.bernoulli(ours, generator=g), torch.bernoulli(theirs, generator=tg_))
        same(ours.bernoulli(generator=g), theirs.bernoulli(generator=tg_))
        same(tg.zeros(4, 50).bernoulli_(ours, generator=g), torch.zeros(4, 50).bernoulli_(theirs, generator=tg_))
    for q in (0.0, 0.25, 1.0):
        same(tg.empty(3000).bernoulli_(q, generator=g), torch.empty(3000).bernoulli_(q, generator=tg_))
        same(
            tg.bernoulli(tg.zeros(30, dtype=tg.float64), q, generator=g),
            torch.bernoulli(torch.zeros(30, dtype=torch.float64), q, generator=tg_),
        )
    with pytest.raises(RuntimeError, match=r"\[0, 1\]"):
        tg.empty(3).bernoulli_(1.5)


def test_normal_with_tensor_and_float_arguments():
    g, tg_ = pair(99)
    same(tg.normal(2.0, 3.0, (40,), generator=g), torch.normal(2.0, 3.0, (40,), generator=tg_))
    same(tg.normal(2.0, 3.0, (5,), generator=g), torch.normal(2.0, 3.0, (5,), generator=tg_))
    for ours, theirs in FLOATS:
        same(
            tg.empty(37, dtype=ours).uniform_(-1.5, 0.25, generator=g),
            torch.empty(37, dtype=theirs).uniform_(-1.5, 0.25, generator=tg_),
        )
        same(
            tg.empty(37, dtype=ours).normal_(-1.5, 0.25, generator=g),
            torch.empty(37, dtype=theirs).normal_(-1.5, 0.25, generator=tg_),
        )
    mean, std = torch.arange(20.0), torch.full((20,), 0.5)
    same(
        tg.normal(tg.tensor(mean.numpy()), tg.tensor(std.numpy()), generator=g), torch.normal(mean, std, generator=tg_)
    )
    with pytest.raises(RuntimeError, match="std >= 0"):
        tg.normal(0.0, -1.0, (3,))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_mask_and_gradient_are_pytorchs(p, dtype):
    x = torch.randn(7, 33, dtype=getattr(torch, dtype), generator=torch.Generator().manual_seed(5), requires_grad=True)
    ours = tg.tensor(x.detach().numpy(), requires_grad=True)
    tg.manual_seed(123)
    torch.manual_seed(123)
    out_ours, out_theirs = F.dropout(ours, p), torch.nn.functional.dropout(x, p)
    same(out_ours, out_theirs)
    out_ours.sum().backward()
    out_theirs.sum().backward()
    same(ours.grad, x.grad)
    same(tg.rand(5), torch.rand(5))  # the stream goes on from the same point (p = 1 draws nothing)
    module = tnn.Dropout(p)
    same(module(tg.ones(50)), torch.nn.Dropout(p)(torch.ones(50)))


def test_init_functions_and_layers():
    tg.manual_seed(1337)
    torch.manual_seed(1337)
    for ours, theirs in [
        (tnn.init.kaiming_uniform_, torch.nn.init.kaiming_uniform_),
        (tnn.init.kaiming_normal_, torch.nn.init.kaiming_normal_),
        (tnn.init.xavier_uniform_, torch.nn.init.xavier_uniform_),
        (tnn.init.xavier_normal_, torch.nn.init.xavier_normal_),
    ]:
        same(ours(tg.empty(64, 48)), theirs(torch.empty(64, 48)))
    same(tnn.init.uniform_(tg.empty(10), -3, 0.5), torch.nn.init.uniform_(torch.empty(10), -3, 0.5))
    same(tnn.init.normal_(tg.empty(10, 3), 1, 0.02), torch.nn.init.normal_(torch.empty(10, 3), 1, 0.02))
    linear, reference = tnn.Linear(384, 65), torch.nn.Linear(384, 65)
    same(linear.weight, reference.weight)
    same(linear.bias, reference.bias)
    same(tnn.Embedding(65, 32).weight, torch.nn.Embedding(65, 32).weight)


# -- the generator's API and state ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_state_bytes_are_pytorchs_and_cross_both_ways(seed):
    g, tg_ = pair(seed)
    assert g.initial_seed() == tg_.initial_seed() == seed % 2**64
    same(g.get_state(), tg_.get_state())
    tg.randn(3, generator=g)  # leaves a cached normal in the state
    torch.randn(3, generator=tg_)
    state = g.get_state()
    assert state.dtype == tg.uint8 and tuple(state.shape) == (5056,)
    same(state, tg_.get_state())
    crossed = torch.Generator().set_state(torch.from_numpy(state.numpy()))
    same(tg.randn(1, generator=g), torch.randn(1, generator=crossed))  # the cached second normal
    back = tg.Generator().set_state(tg_.get_state().numpy())
    same(tg.randn(20, generator=back), torch.randn(20, generator=tg_))


def test_global_generator_functions():
    tg.manual_seed(2147483647)
    torch.manual_seed(2147483647)
    assert tg.initial_seed() == torch.initial_seed()
    state = tg.get_rng_state()
    same(state, torch.get_rng_state())
    first = tg.rand(4)
    same(first, torch.rand(4))
    tg.set_rng_state(state)
    same(tg.rand(4), first)
    with tg.random.fork_rng():
        tg.randn(100)
    same(tg.randn(20), torch.randn(20))
    value = tg.seed()
    assert tg.initial_seed() == value
    g = tg.Generator()
    assert g.manual_seed(3) is g and g.initial_seed() == 3 and g.device == tg.device("cpu")
    assert tg.manual_seed(3).initial_seed() == 3


def test_bad_states_and_seeds_are_refused_with_clear_errors():
    g = tg.Generator()
    with pytest.raises(RuntimeError, match="5056"):
        g.set_state(tg.zeros(10, dtype=tg.uint8))
    with pytest.raises(TypeError, match="ByteTensor"):
        g.set_state(tg.zeros(5056))
    with pytest.raises(RuntimeError, match="valid mt19937"):
        g.set_state(tg.zeros(5056, dtype=tg.uint8))  # never seeded
    with pytest.raises(TypeError, match="dict"):
        tg.set_rng_state({"bit_generator": "PCG64"})
    with pytest.raises(RuntimeError, match="Overflow"):
        tg.manual_seed(2**64)
    with pytest.raises(TypeError, match="must be a tinygrad_edu.Generator"):
        tg.rand(3, generator=np.random.default_rng(0))


def test_checkpoint_state_round_trips_through_json():
    """gpt/checkpoint.py stores the state as a list of bytes in its JSON header; set_rng_state takes it back."""
    import json

    tg.manual_seed(5)
    tg.randn(3)
    saved = json.loads(json.dumps(tg.get_rng_state().tolist()))
    after = tg.randn(40).numpy()
    tg.set_rng_state(saved)
    np.testing.assert_array_equal(tg.randn(40).numpy(), after)


# -- the lectures' first numbers -----------------------------------------------------------------------------


def test_makemore_first_steps():
    g = torch.Generator().manual_seed(2147483647)
    ours = tg.Generator().manual_seed(2147483647)
    p, q = torch.rand(3, generator=g), tg.rand(3, generator=ours)
    same(q, p)
    p, q = p / p.sum(), q / q.sum()
    same(
        tg.multinomial(q, num_samples=20, replacement=True, generator=ours),
        torch.multinomial(p, num_samples=20, replacement=True, generator=g),
    )
    same(tg.randn((27, 27), generator=ours), torch.randn((27, 27), generator=g))
    counts = torch.rand(27, 27, generator=torch.Generator().manual_seed(1)) + 1
    probs = counts / counts.sum(1, keepdim=True)
    ours_probs = tg.tensor(probs.numpy())
    index, mine = 0, 0
    for _ in range(30):  # sampling names one character at a time
        index = torch.multinomial(probs[index], num_samples=1, replacement=True, generator=g).item()
        mine = tg.multinomial(ours_probs[mine], num_samples=1, replacement=True, generator=ours).item()
        assert mine == index


def test_gpt_lecture_first_steps():
    torch.manual_seed(1337)
    tg.manual_seed(1337)
    data_length, block_size, batch_size = 1_003_854, 8, 4
    same(tg.randint(data_length - block_size, (batch_size,)), torch.randint(data_length - block_size, (batch_size,)))
    same(tg.randn(4, 8, 2), torch.randn(4, 8, 2))
    head = tnn.Linear(32, 16, bias=False), torch.nn.Linear(32, 16, bias=False)
    same(head[0].weight, head[1].weight)
    table = tnn.Embedding(65, 65), torch.nn.Embedding(65, 65)
    same(table[0].weight, table[1].weight)


def test_randn_speed_is_close_to_pytorchs():
    """A (768, 128) weight draws in a few milliseconds (PyTorch's C++ takes about one)."""
    import time

    tg.randn(768, 128)  # compiled kernels are cached, but load on first use
    start = time.perf_counter()
    for _ in range(5):
        tg.randn(768, 128)
    ours = (time.perf_counter() - start) / 5
    assert ours < 0.05, f"randn(768, 128) took {ours * 1e3:.1f} ms"
    assert math.isfinite(ours)
