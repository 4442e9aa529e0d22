"""The strict stand-in for CuPy, and the CUDA mistakes it exists to catch without a GPU.

Each of the "CUDA readiness" findings has a test here that fails on the code as it was: the stand-in refuses
what CuPy refuses, so the cuda device's code paths run in CI, and it counts syncs, so a training step's
waits for the GPU are held to what the step needs.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import backend

pytestmark = pytest.mark.skipif(
    not tg.cuda.is_simulated(), reason="the stand-in is off (a GPU is present, or TINYGRAD_EDU_CUDA is not 'sim')"
)


@pytest.fixture
def sim():
    return backend.array_module(backend.device("cuda"))


# -- the stand-in refuses what CuPy refuses ---------------------------------------------------------------


def test_host_and_device_arrays_do_not_mix(sim):
    d, h = sim.ones(3), np.ones(3)
    for mixed in (lambda: d + h, lambda: h + d, lambda: sim.add(d, h), lambda: sim.concatenate([d, h])):
        with pytest.raises(TypeError):
            mixed()
    with pytest.raises(TypeError, match="Only cupy arrays can be concatenated"):
        sim.concatenate(([True], d > 0))
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill"):
        d[...] = h
    d[np.array([0, 2])] = np.array([5.0, 7.0])  # through an index array, CuPy copies host values (and so here)
    assert d.get().tolist() == [5.0, 1.0, 7.0]


def test_implicit_conversions_to_the_host_raise_and_explicit_ones_count_a_sync(sim):
    d = sim.arange(4.0).sum()
    assert isinstance(d, sim.ndarray) and d.ndim == 0  # reductions stay on the device, as in CuPy
    for implicit in (lambda: np.asarray(d), lambda: float(d), lambda: int(d), lambda: [1, 2][d]):
        with pytest.raises(TypeError):
            implicit()
    with sim.count_syncs() as syncs:
        assert d.item() == 6.0
        assert sim.asnumpy(d) == 6.0
        assert bool(d > 1)
    assert syncs.count == 3


def test_only_what_cupy_13_has_is_there(sim):
    for missing in ("put_along_axis", "fft"):
        with pytest.raises(AttributeError, match="simulated CuPy 13"):
            getattr(sim, missing)
    with pytest.raises(AttributeError):
        sim.ones(2).mT  # noqa: B018 - new in CuPy 14
    with pytest.raises(AttributeError, match="permutation"):
        sim.random.Generator(sim.random.XORWOW(0)).permutation(3)
    with pytest.raises(NotImplementedError, match="multiply.at"):
        sim.multiply.at(sim.ones(3), sim.asarray([0]), 2.0)
    with pytest.raises(TypeError, match="Wrong arguments"):
        sim.add(sim.ones(2), 1, where=sim.ones(2) > 0)
    with pytest.raises(ValueError, match="kind can only be None or 'stable'"):
        sim.argsort(sim.ones(3), kind="quicksort")


# -- the findings, one test each ------------------------------------------------------------------------


def test_embedding_backward_on_cuda_sums_repeated_rows():
    """1. The scatter-add of Embedding.backward took NumPy's sorted path on CUDA (a host concatenate)."""
    weight = tg.randn(5, 3, device="cuda", requires_grad=True)
    idx = tg.tensor([[0, 4, 0], [4, 4, 1]], device="cuda")
    upstream = tg.randn(2, 3, 3, device="cuda")
    tg.nn.functional.embedding(idx, weight).backward(upstream)
    expected = np.zeros((5, 3))
    np.add.at(expected, idx.cpu().numpy(), upstream.cpu().numpy())
    np.testing.assert_allclose(weight.grad.cpu().numpy(), expected, rtol=1e-6)


def test_gradcheck_and_gradgradcheck_run_on_cuda():
    """2. gradcheck multiplied host arrays with device arrays."""
    x = tg.randn(3, 4, dtype=tg.float64, device="cuda", requires_grad=True)
    assert tg.autograd.gradcheck(lambda t: (t.tanh() * t).sum(dim=1), (x,))
    assert tg.autograd.gradcheck(lambda t: t.exp(), (x,), fast_mode=True)
    assert tg.autograd.gradgradcheck(lambda t: t.sin() * t, (x,))


def test_max_along_a_dim_has_a_backward_on_cuda():
    """3. The backward of max/min(dim) must not need put_along_axis (CuPy 14 only)."""
    x = tg.tensor([[1.0, 3.0, 2.0], [5.0, 4.0, 0.0]], device="cuda", requires_grad=True)
    values, _ = x.max(dim=1)
    values.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


def test_randperm_on_cuda_is_a_seeded_permutation():
    """4. CuPy's Generator has no permutation."""
    tg.manual_seed(3)
    a = tg.randperm(50, device="cuda")
    tg.manual_seed(3)
    b = tg.randperm(50, device="cuda")
    assert sorted(a.tolist()) == list(range(50)) and a.tolist() == b.tolist() and a.device == tg.device("cuda")


def test_the_benchmarks_read_weights_from_a_cuda_model():
    """5. The benchmarks called .numpy() on CUDA tensors to hand weights to PyTorch."""
    from benchmarks import models

    setup = {"vocab_size": 11, "block_size": 8, "n_layer": 1, "n_head": 2, "n_embd": 8, "batch_size": 2}
    step = models.OursStep(setup, "cuda")
    step()
    weights = step.state_dict_numpy()
    assert all(isinstance(v, np.ndarray) for v in weights.values()) and weights


def test_host_operands_of_cuda_tensors_are_copied_to_the_device():
    """6. __setitem__, in-place arithmetic and allclose with a NumPy operand."""
    t = tg.zeros(2, 3, device="cuda")
    t[0] = np.array([1.0, 2.0, 3.0])
    t += np.ones(3, dtype=np.float32)
    t.mul_(np.full(3, 2.0, dtype=np.float32))
    t.add_(np.ones((2, 3), dtype=np.float32), alpha=0.5)
    assert t.tolist() == [[4.5, 6.5, 8.5], [2.5, 2.5, 2.5]]
    assert t.allclose(np.array([[4.5, 6.5, 8.5], [2.5, 2.5, 2.5]], dtype=np.float32))
    t.masked_fill_(np.array([[True, False, False]] * 2), 0.0)
    assert t[:, 0].tolist() == [0.0, 0.0]


def test_the_cuda_generator_state_is_two_numbers_that_replay_every_draw():
    """7. Dropout on CUDA drew from a generator whose state a checkpoint could not hold."""
    tg.manual_seed(11)
    tg.rand(4, device="cuda")
    state = tg.cuda.get_rng_state()
    assert set(state) == {"seed", "draws"} and state["draws"] == 1
    after = [tg.rand(5, device="cuda").tolist(), tg.randn(2, device="cuda").tolist()]
    tg.cuda.set_rng_state(state)
    assert [tg.rand(5, device="cuda").tolist(), tg.randn(2, device="cuda").tolist()] == after
    tg.manual_seed(12)
    assert tg.rand(5, device="cuda").tolist() != after[0]


# -- checks of device values wait for the next read, and cost no sync of their own ----------------------------


def test_an_out_of_range_index_on_cuda_raises_at_the_next_read_with_its_message(sim):
    weight = tg.randn(4, 2, device="cuda")
    with sim.count_syncs() as syncs:
        out = tg.nn.functional.embedding(tg.tensor([1, 9], device="cuda"), weight)  # no sync: the check waits
        assert syncs.count == 0 and backend.pending_checks() == 1
    with pytest.raises(IndexError, match="embedding: index 9 is out of range for an embedding of 4 rows"):
        out.sum().item()
    assert backend.pending_checks() == 0
    logits = tg.randn(3, 5, device="cuda")
    loss = tg.nn.functional.cross_entropy(logits, tg.tensor([0, 7, -100], device="cuda"))
    with pytest.raises(IndexError, match="cross_entropy: target 7 is out of range for 5 classes"):
        loss.item()
    with pytest.raises(IndexError, match="index 3 on dim 0 is outside \\[-3, 3\\)"):
        logits[tg.tensor([0, 3], device="cuda")].tolist()


def test_index_arrays_after_a_none_an_ellipsis_or_a_mask_are_not_checked_against_the_wrong_dim(sim):
    """An index array's dim is known only up to the first None, Ellipsis or mask; past one, the range check must
    not hold an in-range position to the size of the dim at its place in the tuple (4 is fine on a dim of 5)."""
    mask = np.array([[True, False, True], [False, True, True]])
    cases = [
        ((5, 3), lambda i, m: (None, i)),  # i indexes dim 0 (5), at the place of dim 1 (3)
        ((3, 2, 5), lambda i, m: (Ellipsis, i)),  # i indexes dim 2 (5), at the place of dim 1 (2)
        ((2, 3, 5), lambda i, m: (m, i)),  # the mask takes dims 0 and 1, i indexes dim 2 (5), at the place of dim 1
    ]
    for shape, index in cases:
        x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        expected = x[index(np.array([4]), mask)]
        got = tg.tensor(x, device="cuda")[index(tg.tensor([4], device="cuda"), tg.tensor(mask, device="cuda"))]
        assert got.tolist() == expected.tolist(), shape


def test_a_zero_dim_index_array_out_of_range_raises_on_cuda_as_on_cpu(sim):
    for device in ("cpu", "cuda"):
        x = tg.arange(3.0, device=device)
        with pytest.raises(IndexError, match="5"):
            x[np.array(5)].tolist()
        assert x[np.array(-1)].tolist() == 2.0


def test_too_many_indices_on_cuda_is_numpys_error_not_a_lookup_past_the_shape(sim):
    x, i = tg.arange(3.0, device="cuda"), tg.tensor([0], device="cuda")
    with pytest.raises(IndexError, match="too many indices for array: array is 1-dimensional, but 2 were indexed"):
        x[i, i].tolist()


def test_index_on_device_leaves_numpy_to_numpy_and_keeps_a_single_index_single(sim):
    from tinygrad_edu.ops.movement import index_on_device

    on_host = (np.array([0, 7]), slice(None))
    assert index_on_device(np, (3, 2), on_host) is on_host  # NumPy raises its own IndexError for the 7
    moved = index_on_device(sim, (3,), np.array([2, 0]))
    assert isinstance(moved, sim.ndarray) and moved.get().tolist() == [2, 0]
    assert isinstance(index_on_device(sim, (3, 2), (np.array([1]),)), tuple)


def test_a_passing_check_rides_along_with_the_value_in_one_read(sim):
    x = tg.randn(6, 3, device="cuda")
    picked = x[tg.tensor([5, 0, 5], device="cuda")]
    with sim.count_syncs() as syncs:
        values = picked.tolist()
    assert syncs.count == 1 and values == [x.tolist()[5], x.tolist()[0], x.tolist()[5]]


def test_pending_checks_stay_bounded_in_a_loop_that_never_reads(sim):
    weight = tg.randn(4, 2, device="cuda")
    for _ in range(100):
        tg.nn.functional.embedding(tg.tensor([1, 2], device="cuda"), weight)
    assert backend.pending_checks() <= backend._MAX_PENDING + 1
    tg.nn.functional.embedding(tg.tensor([7], device="cuda"), weight)
    for _ in range(40):
        tg.nn.functional.embedding(tg.tensor([1], device="cuda"), weight)
    with pytest.raises(IndexError, match="index 7 is out of range"):
        weight.sum().item()


# -- syncs per training step ----------------------------------------------------------------------------------


def _step_parts(dropout=0.1):
    from gpt.config import build_config
    from gpt.model import GPT
    from gpt.train import configure_optimizer

    run = build_config("tiny", {"dropout": dropout})
    tg.manual_seed(0)
    model = GPT(run.with_vocab_size(65).model).to("cuda")
    optimizer = configure_optimizer(model, run.train)
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.integers(0, 65, (4, 16)), device="cuda")
    y = tg.tensor(rng.integers(0, 65, (4, 16)), device="cuda")
    return model, optimizer, x, y, run.train


def test_a_training_step_waits_for_the_gpu_only_to_log_its_loss(sim):
    """Forward, backward, clipping, the non-finite check, AdamW: no sync; reading the loss: one."""
    model, optimizer, x, y, cfg = _step_parts()
    with sim.count_syncs() as syncs:
        for _ in range(3):
            _, loss = model(x, y)
            loss.backward()
            norm = tg.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            tg.assert_async(norm.isfinite(), lambda: RuntimeError("non-finite gradient norm"))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        assert syncs.count == 0
        loss.item()
        assert syncs.count == 1


def test_gpt_train_syncs_once_per_log_and_once_per_evaluated_split(sim, prepared_shakespeare, tmp_path):
    """The real loop: 12 steps, evaluations at 0, 6 and 12 (train and val), losses logged at 0, 4 and 8."""
    from gpt.config import build_config
    from gpt.train import train

    values = dict(
        data_dir=str(prepared_shakespeare[0]), out_dir=str(tmp_path), progress=False, sample_chars=0,
        device="cuda", max_iters=12, eval_interval=6, eval_iters=2, log_interval=4, checkpoint=False,
    )  # fmt: skip
    with sim.count_syncs() as syncs:
        train(build_config("tiny", values), log=lambda *_: None)
    assert syncs.count == 3 * 2 + 3


def test_sampling_a_token_waits_for_the_gpu_only_to_read_it(sim):
    probs = tg.softmax(tg.randn(2, 7, device="cuda"), dim=-1)
    with sim.count_syncs() as syncs:
        drawn = tg.multinomial(probs, 1)
        assert syncs.count == 0
        drawn.tolist()
    assert syncs.count == 1
    with pytest.raises(RuntimeError, match="probabilities must be finite and non-negative"):
        tg.multinomial(probs - 1, 1).tolist()
