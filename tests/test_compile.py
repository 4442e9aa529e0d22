"""``tinygrad_edu.compile``: a compiled call equals the eager call, and the guards, retraces, fallbacks and graph
breaks behave as documented (``tinygrad_edu/compiler``, ``docs/compiler.md``).

The bound: a replay runs the same op implementations on the same arrays in the same order as eager, so every
unfused value is bitwise eager's. A fused kernel computes each member in the group's dtype as NumPy does, except
``x**2``/``x**3``, computed as ``x*x``/``x*x*x`` (within 2 ulp of ``powf``), and the C library's ``tanh``/``exp``
against LLVM's (within 1 ulp): forward values and gradients agree within ``rtol=1e-5`` in float32 on these chains
(``CHAIN_RTOL``). AdamW divides by ``sqrt(v)``, which turns a 1-ulp gradient difference into a larger parameter
difference after a few steps, so parameters are compared at ``PARAM_ATOL``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import examples

import tinygrad_edu as torch
from benchmarks.public_gpt import model_classes
from tinygrad_edu import nn
from tinygrad_edu.compiler import CompiledFunction, CompiledModule, fuse
from tinygrad_edu.nn import functional as F

PublicGPT, new_gelu = model_classes(torch)

CHAIN_RTOL, CHAIN_ATOL = 1e-5, 1e-6
PARAM_ATOL = 1e-4

needs_numba = pytest.mark.skipif(not fuse.available(), reason="numba is not installed: nothing is fused")


def _close(a, b, rtol=CHAIN_RTOL, atol=CHAIN_ATOL):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def _kernels(compiled):
    return [
        n for entries in compiled.cache.values() for _, r in entries for n in r.schedule if isinstance(n, fuse.Fused)
    ]


# -- fusion ------------------------------------------------------------------------------------------------------


@needs_numba
def test_the_tanh_gelu_chain_becomes_one_kernel_and_matches_eager_and_pytorch():
    x = torch.randn(6, 40)
    compiled = torch.compile(new_gelu)
    first, second = compiled(x), compiled(x)
    kernels = _kernels(compiled)
    assert len(kernels) == 1 and len(kernels[0].members) == 8
    _close(second.numpy(), new_gelu(x).numpy())
    assert np.array_equal(first.numpy(), new_gelu(x).numpy())  # the first call is the eager call
    torch_ = pytest.importorskip("torch")
    expected = torch_.nn.functional.gelu(torch_.tensor(x.numpy()), approximate="tanh").numpy()
    _close(second.numpy(), expected, rtol=1e-5, atol=1e-6)


@needs_numba
def test_a_sum_or_mean_over_the_last_axes_ends_the_kernel_of_its_chain_and_its_backward_still_runs():
    def fn(x, b):
        rows = ((x * 2 + b).tanh() * x).sum(-1)
        total = (x * x).mean()
        (rows.sum() + total).backward()
        return rows.detach(), total.detach()

    values = np.random.default_rng(3).standard_normal((2, 4, 7)).astype(np.float32)
    bias = np.linspace(-1, 1, 7, dtype=np.float32)
    eager_in = [torch.tensor(values, requires_grad=True), torch.tensor(bias, requires_grad=True)]
    ins = [torch.tensor(values, requires_grad=True), torch.tensor(bias, requires_grad=True)]
    compiled = torch.compile(fn)
    compiled(*ins)
    for t in ins:
        t.grad = None
    rows, total = compiled(*ins)
    expected_rows, expected_total = fn(*eager_in)
    reductions = [k.members[-1].runs.__name__ for k in _kernels(compiled) if k.reduction is not None]
    assert sorted(reductions) == ["Mean", "Sum"]
    _close(rows.numpy(), expected_rows.numpy())
    _close(total.numpy(), expected_total.numpy())
    for e, c in zip(eager_in, ins):
        _close(c.grad.numpy(), e.grad.numpy())


UNARY = {
    "tanh": lambda t: t.tanh(),
    "sin": lambda t: t.sin(),
    "exp_small": lambda t: (t * 0.25).exp(),
    "neg": lambda t: -t,
    "square": lambda t: t**2,
    "cube": lambda t: t**3,
    "sqrt_pos": lambda t: (t * t + 1.0).sqrt(),
    "log_pos": lambda t: (t.abs() + 1.0).log(),
}


@st.composite
def chains(draw):
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    steps = draw(st.lists(st.sampled_from([*UNARY, "add_row", "mul_col", "scale", "div_pos"]), min_size=2, max_size=6))
    reduce = draw(st.sampled_from(["sum", "mean", "none"]))
    seed = draw(st.integers(0, 2**16))
    return rows, cols, steps, reduce, seed


@needs_numba
@examples(8)
@given(chains())
def test_drawn_elementwise_chains_compiled_equal_eager_forward_and_gradients(chain):
    rows, cols, steps, reduce, seed = chain
    rng = np.random.default_rng(seed)
    values = [rng.uniform(-2, 2, shape).astype(np.float32) for shape in ((rows, cols), (1, cols), (rows, 1))]

    def step(x, row, col):
        y = x
        for name in steps:
            if name in UNARY:
                y = UNARY[name](y)
            elif name == "add_row":
                y = y + row
            elif name == "mul_col":
                y = y * col
            elif name == "scale":
                y = 0.5 * y + 1.5
            else:
                y = y / (col * col + 1.0)
        out = y.sum() if reduce == "sum" else y.mean() if reduce == "mean" else (y * y).sum()
        out.backward()
        return out.detach()

    def leaves():
        return [torch.tensor(v, requires_grad=True) for v in values]

    eager_in, compiled_in = leaves(), leaves()
    compiled = torch.compile(step)
    eager_out = step(*eager_in)
    compiled(*compiled_in)  # the trace (an eager call)
    for t in compiled_in:
        t.grad = None
    replayed = compiled(*compiled_in)
    assert compiled.traces == 1 and compiled.eager_reason is None
    _close(replayed.numpy(), eager_out.numpy())
    for e, c in zip(eager_in, compiled_in):
        if e.grad is None:  # an input the chain never used
            assert c.grad is None
        else:
            _close(c.grad.numpy(), e.grad.numpy())


# -- whole training steps ----------------------------------------------------------------------------------------


def _training_step(model, optimizer, zero_first=True):
    def step(x, y):
        if zero_first:
            optimizer.zero_grad(set_to_none=True)
        out = model(x, y) if not isinstance(model, nn.Sequential) else (None, F.cross_entropy(model(x), y))
        loss = out[1]
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def _compare_training(make_model, batches, optimizer_factory, reseed=True, atol=PARAM_ATOL):
    torch.manual_seed(0)
    eager_model = make_model()
    torch.manual_seed(0)
    compiled_model = make_model()
    eager_opt, compiled_opt = optimizer_factory(eager_model), optimizer_factory(compiled_model)
    eager, compiled = (
        _training_step(eager_model, eager_opt),
        torch.compile(_training_step(compiled_model, compiled_opt)),
    )
    for i, (x, y) in enumerate(batches):
        torch.manual_seed(1000 + i)  # the same dropout stream for both
        a = eager(x, y)
        torch.manual_seed(1000 + i)
        b = compiled(x, y)
        np.testing.assert_allclose(b.item(), a.item(), rtol=1e-5, atol=1e-6)
    assert compiled.eager_reason is None and compiled.traces == 1
    for (name, p), q in zip(eager_model.named_parameters(), compiled_model.parameters()):
        np.testing.assert_allclose(q.detach().cpu().numpy(), p.detach().cpu().numpy(), atol=atol, err_msg=name)
    for p, q in zip(eager_model.parameters(), compiled_model.parameters()):
        for key, value in eager_opt.state[id(p)].items():
            other = compiled_opt.state[id(q)][key]
            if hasattr(value, "numpy"):
                np.testing.assert_allclose(other.cpu().numpy(), value.cpu().numpy(), rtol=1e-3, atol=1e-6, err_msg=key)
            else:
                assert other == value
    return compiled


def _token_batches(n, batch, block, vocab=65, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (torch.tensor(rng.integers(0, vocab, (batch, block))), torch.tensor(rng.integers(0, vocab, (batch, block))))
        for _ in range(n)
    ]


def test_an_mlp_step_with_adamw_matches_eager_exactly():
    rng = np.random.default_rng(1)
    batches = [
        (torch.tensor(rng.standard_normal((16, 8)).astype(np.float32)), torch.tensor(rng.integers(0, 4, 16)))
        for _ in range(4)
    ]
    compiled = _compare_training(
        lambda: nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 4)),
        batches,
        lambda m: torch.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.1),
        atol=0,  # nothing to fuse here: the replay is eager's arithmetic, bit for bit
    )
    assert compiled.traces == 1


def test_the_gpt_of_gpt_model_py_trains_the_same_with_dropout(device):
    """On cuda (the stand-in without a GPU) the replay runs unfused: the same arrays, so exactly eager's."""
    from gpt.config import PRESETS
    from gpt.model import GPT, GPTConfig

    tiny = {k: v for k, v in PRESETS["tiny"].items() if k in ("n_layer", "n_head", "n_embd", "block_size")}
    batches = [(x.to(device), y.to(device)) for x, y in _token_batches(3, 4, tiny["block_size"])]
    _compare_training(
        lambda: GPT(GPTConfig(vocab_size=65, dropout=0.1, **tiny)).to(device),
        batches,
        lambda m: torch.optim.AdamW(m.parameters(), lr=1e-3),
    )


@needs_numba
def test_a_public_style_gpt_with_a_hand_written_gelu_trains_the_same_and_fuses_the_gelu():
    compiled = _compare_training(
        lambda: PublicGPT(n_layer=2, n_head=2, n_embd=16, block_size=16, dropout=0.1),
        _token_batches(3, 4, 16),
        lambda m: torch.optim.AdamW(m.parameters(), lr=1e-3),
    )
    gelus = [k for k in _kernels(compiled) if len(k.members) == 8]
    assert len(gelus) == 2  # one per block


def test_gradient_accumulation_over_calls_adds_to_existing_grads():
    w_eager, w_compiled = (torch.tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True) for _ in range(2))

    def micro_step(w, x):
        ((x @ w).tanh().sum() / 2).backward()

    compiled = torch.compile(micro_step)
    for i in range(3):
        x = torch.tensor(np.full((3, 2), 0.1 * (i + 1), dtype=np.float32))
        micro_step(w_eager, x)
        compiled(w_compiled, x)
    np.testing.assert_array_equal(w_compiled.grad.numpy(), w_eager.grad.numpy())
    assert compiled.traces == 2  # .grad None (a backward stores), then set (a backward adds)


def test_inference_under_no_grad_replays_a_compiled_module():
    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(approximate="tanh"), nn.Linear(8, 2))
    compiled = torch.compile(model)
    assert isinstance(compiled, CompiledModule) and compiled._orig_mod is model
    x = torch.randn(5, 4)
    with torch.no_grad():
        expected = model(x)
        compiled(x)
        out = compiled(x)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    assert compiled._compiled.traces == 1 and compiled.training is True  # attributes are the module's


# -- guards, retraces, fallbacks, graph breaks ---------------------------------------------------------------


def test_a_new_shape_dtype_or_requires_grad_traces_again():
    compiled = torch.compile(lambda x: (x * 2 + 1).tanh())
    for shape in ((3,), (3,), (4,), (4,)):
        compiled(torch.ones(shape))
    assert compiled.traces == 2
    compiled(torch.ones(3, dtype=torch.float64))
    with torch.no_grad():
        compiled(torch.ones(3))
    assert compiled.traces == 4


def test_switching_a_module_to_eval_traces_again_without_dropout():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    compiled = torch.compile(model)
    x = torch.ones(2, 4)
    with torch.no_grad():
        compiled(x)
        model.eval()
        a, b = compiled(x), compiled(x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(a.numpy(), model(x).detach().numpy())
    assert compiled._compiled.traces == 2


def test_past_the_recompile_limit_it_runs_eagerly_and_warns_once():
    compiled = torch.compile(lambda x: x * 3, recompile_limit=2)
    compiled(torch.ones(1))
    compiled(torch.ones(2))
    with pytest.warns(UserWarning, match="recompile_limit"):
        out = compiled(torch.ones(3))
    np.testing.assert_array_equal(out.numpy(), [3, 3, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled(torch.ones(4))  # eager now, silently


def test_item_inside_ends_the_region_runs_eagerly_and_says_why():
    w = torch.tensor([1.0, -2.0], requires_grad=True)

    def step(x):
        loss = (w * x).sum()
        if loss.item() > 0:  # data-dependent Python
            loss = loss * 2
        loss.backward()
        return loss.detach()

    compiled = torch.compile(step)
    with pytest.warns(UserWarning, match=r"item\(\) reads a tensor's value"):
        first = compiled(torch.tensor([3.0, 1.0]))
    assert first.item() == 2.0 and compiled.eager_reason is not None
    second = compiled(torch.tensor([-3.0, 1.0]))  # the other branch: right, because it ran eagerly
    assert second.item() == -5.0


def test_random_numbers_drawn_inside_end_the_region_so_each_call_draws_afresh():
    def noisy(x):
        return x + torch.randn(x.shape)  # a replay would repeat the trace's numbers

    compiled = torch.compile(noisy)
    with pytest.warns(UserWarning, match=r"randn\(\) draws random numbers"):
        first = compiled(torch.zeros(3))
    second = compiled(torch.zeros(3))
    assert compiled.eager_reason is not None and not torch.equal(first, second)
    torch.manual_seed(5)
    eager = noisy(torch.zeros(3))
    torch.manual_seed(5)
    assert torch.equal(compiled(torch.zeros(3)), eager)  # eager from then on: the same stream as eager


def test_fullgraph_raises_where_the_trace_cannot_be_replayed():
    compiled = torch.compile(lambda x: x * 2 if bool(x.sum() > 0) else x, fullgraph=True)
    with pytest.raises(RuntimeError, match="fullgraph=True"):
        compiled(torch.ones(2))


@needs_numba
def test_a_compiled_model_whose_backward_runs_outside_trains_as_eager():
    """nanoGPT's ``model = torch.compile(model)``: the forward replays as one node of the eager graph, and
    ``loss.backward()`` outside runs the backward traced with it."""

    def make():
        torch.manual_seed(0)
        model = PublicGPT(n_layer=1, n_head=2, n_embd=16, block_size=16, dropout=0.1)
        return model, torch.optim.AdamW(model.parameters(), lr=1e-3)

    (eager, eager_opt), (model, opt) = make(), make()
    compiled = torch.compile(model)
    for i, (x, y) in enumerate(_token_batches(3, 4, 16)):
        for m, o in ((eager, eager_opt), (compiled, opt)):
            torch.manual_seed(50 + i)
            logits, loss = m(x, y)
            assert logits.requires_grad and logits.shape == (4, 16, 65)
            loss.backward()
            if m is compiled:
                grads = [p.grad.numpy().copy() for p in model.parameters()]
            else:
                expected = [p.grad.numpy().copy() for p in eager.parameters()]
            o.step()
            o.zero_grad()
        for got, want in zip(grads, expected):
            _close(got, want, rtol=1e-4, atol=1e-6)
    assert compiled._compiled.traces == 1 and compiled._compiled.eager_reason is None
    for p, q in zip(eager.parameters(), model.parameters()):
        np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), atol=PARAM_ATOL)


def test_an_in_place_write_outside_any_op_is_refused():
    buffer = torch.zeros(3)

    def fn(x):
        buffer.add_(x)
        return buffer * 1

    with pytest.warns(UserWarning, match="add_ writes a tensor in place"):
        torch.compile(fn)(torch.ones(3))


# -- the API ---------------------------------------------------------------------------------------------------


def test_decorator_forms_disable_and_bad_options():
    @torch.compile
    def f(x):
        return x + 1

    @torch.compile(mode="max-autotune", dynamic=False)
    def g(x):
        return x + 2

    assert isinstance(f, CompiledFunction) and isinstance(g, CompiledFunction)
    assert f(torch.ones(1)).item() == 2 and g(torch.ones(1)).item() == 3
    model = nn.Linear(2, 2)
    assert torch.compile(model, disable=True) is model
    with pytest.raises(RuntimeError, match="unexpected options"):
        torch.compile(f, options={"triton.cudagraphs": True})
    with pytest.raises(RuntimeError, match="expected a function or nn.Module"):
        torch.compile(3)


@needs_numba
def test_debug_prints_the_graph_the_groups_and_each_kernels_source(capsys, monkeypatch):
    compiled = torch.compile(new_gelu, options={"debug": True})
    compiled(torch.randn(2, 5))
    err = capsys.readouterr().err
    assert "traced graph" in err and "fused_0(" in err and "def fused_0(" in err and "np.tanh(" in err
    monkeypatch.setenv("TINYGRAD_EDU_COMPILE_DEBUG", "1")
    torch.compile(lambda x: (x * 2).exp() + 1)(torch.ones(3))
    assert "def fused_0(" in capsys.readouterr().err


def test_a_compiled_function_keeps_math_of_python_numbers_it_was_traced_with():
    compiled = torch.compile(lambda x, scale: x * scale)
    assert compiled(torch.ones(2), 2.0).tolist() == [2.0, 2.0]
    assert compiled(torch.ones(2), 3.0).tolist() == [3.0, 3.0]  # a number is part of the guard: traced again
    assert compiled.traces == 2
    assert math.isclose(compiled(torch.ones(1), 3.0).item(), 3.0)


def test_gpt_train_compile_trains_the_tiny_preset_to_eager_val_loss(prepared_shakespeare, tmp_path):
    from gpt.config import build_config
    from gpt.train import train

    def run(name, compile_):
        values = dict(data_dir=str(prepared_shakespeare[0]), out_dir=str(tmp_path / name), progress=False)
        values.update(sample_chars=0, max_iters=8, eval_interval=8, eval_iters=2, compile=compile_)
        return train(build_config("tiny", values), log=lambda *_: None)

    eager, compiled = run("eager", False), run("compiled", True)
    assert compiled.val_loss == pytest.approx(eager.val_loss, abs=1e-4)
    assert compiled.train_loss == pytest.approx(eager.train_loss, abs=1e-4)
