"""Mixed-precision knobs against PyTorch on the CPU: ``autocast`` (values within bfloat16 rounding, dtypes where
NumPy has them), ``GradScaler`` step for step, and the float32 matmul precision switches."""

import types
import warnings

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import backends
from tinygrad_edu.nn import functional as F

BF16_ULP = 2.0**-7  # bfloat16 keeps 8 significant bits: neighbours differ by at most 2^-7 relative


def _draw(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _is_bfloat16_valued(a) -> bool:
    return not (np.ascontiguousarray(a, dtype=np.float32).view(np.uint32) & 0xFFFF).any()


def _close_to_bf16(ours, theirs):
    """Ours (bfloat16 values in float32) and PyTorch's bfloat16 result, at most one bfloat16 step apart."""
    theirs = theirs.detach().float().numpy()
    assert _is_bfloat16_valued(ours)
    np.testing.assert_allclose(ours, theirs, rtol=BF16_ULP, atol=1e-6)


PRODUCTS = {
    "matmul": lambda m, a, b, bias: a @ b.T,
    "mm": lambda m, a, b, bias: m.mm(a, b.T),
    "bmm": lambda m, a, b, bias: m.bmm(a[None], b.T[None])[0],
    "linear": lambda m, a, b, bias: (F if m is tg else m.nn.functional).linear(a, b, bias),
}


@pytest.mark.parametrize("name", PRODUCTS)
def test_products_under_cpu_autocast_are_pytorchs_bfloat16_products(name, torch):
    a, b, bias = _draw(6, 16), _draw(5, 16, seed=1), _draw(5, seed=2)
    with tg.autocast("cpu"):
        ours = PRODUCTS[name](tg, tg.tensor(a), tg.tensor(b), tg.tensor(bias))
    with torch.autocast("cpu"):
        theirs = PRODUCTS[name](torch, torch.tensor(a), torch.tensor(b), torch.tensor(bias))
    assert theirs.dtype == torch.bfloat16 and ours.dtype == tg.float32  # no bfloat16 storage here: its values
    _close_to_bf16(ours.numpy(), theirs)
    plain = PRODUCTS[name](tg, tg.tensor(a), tg.tensor(b), tg.tensor(bias)).numpy()
    assert not _is_bfloat16_valued(plain)  # outside the region: float32 as before


def test_gradients_through_a_bfloat16_product_match_pytorchs(torch):
    a, w = _draw(4, 8), _draw(3, 8, seed=1)
    grads = []
    for lib in (tg, torch):
        x, weight = lib.tensor(a, requires_grad=True), lib.tensor(w, requires_grad=True)
        with lib.autocast("cpu"):
            out = x @ weight.T
        (out.float() * lib.tensor(_draw(4, 3, seed=2))).sum().backward()
        grads.append((x.grad, weight.grad))
    for ours, theirs in zip(*grads):
        assert ours.dtype == tg.float32 and theirs.dtype == torch.float32
        _close_to_bf16(ours.numpy(), theirs)


def test_float16_autocast_gives_pytorchs_dtypes_on_the_cpu(torch):
    a, b, target = _draw(4, 8), _draw(3, 8, seed=1), [0, 2, 1, 0]
    results = []
    for lib, fn in ((tg, F), (torch, torch.nn.functional)):
        with lib.autocast("cpu", dtype=lib.float16):
            h = lib.tensor(a) @ lib.tensor(b).T
            outs = [h, fn.linear(lib.tensor(a), lib.tensor(b)), fn.softmax(h, -1), fn.log_softmax(h, -1)]
            outs += [fn.cross_entropy(h, lib.tensor(target)), h.sum(), lib.tensor(a).softmax(-1)]
        results.append(outs)
    for ours, theirs in zip(*results):
        assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_allclose(ours.float().numpy(), theirs.float().numpy(), rtol=2e-3, atol=2e-3)


def test_float64_and_integer_tensors_are_left_alone(torch):
    a = np.random.default_rng(0).standard_normal((3, 3))
    with tg.autocast("cpu"):
        out = tg.tensor(a) @ tg.tensor(a)
    with torch.autocast("cpu"):
        theirs = torch.tensor(a) @ torch.tensor(a)
    assert out.dtype == tg.float64 and theirs.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), a @ a, rtol=1e-15)


def test_regions_nest_and_enabled_false_turns_autocast_off_inside():
    a = tg.tensor(_draw(4, 8))
    with tg.amp.autocast("cpu"):
        assert _is_bfloat16_valued((a @ a.T).numpy())
        with tg.autocast("cpu", enabled=False):
            assert not tg.is_autocast_enabled("cpu")
            assert not _is_bfloat16_valued((a @ a.T).numpy())
            with tg.cpu.amp.autocast():
                assert _is_bfloat16_valued((a @ a.T).numpy())
        assert _is_bfloat16_valued((a @ a.T).numpy())
    assert not tg.is_autocast_enabled("cpu")
    assert not _is_bfloat16_valued((a @ a.T).numpy())


def test_autocast_as_a_decorator():
    @tg.autocast("cpu")
    def product(x):
        return x @ x.T

    a = tg.tensor(_draw(4, 8))
    assert _is_bfloat16_valued(product(a).numpy())
    assert not _is_bfloat16_valued((a @ a.T).numpy())
    assert _is_bfloat16_valued(tg.cpu.amp.autocast()(lambda x: x @ x.T)(a).numpy())


def test_an_error_inside_a_region_leaves_autocast_off():
    with pytest.raises(KeyError), tg.autocast("cpu"):
        raise KeyError
    assert not tg.is_autocast_enabled("cpu")


def test_bad_arguments_are_pytorchs_errors(torch):
    for lib in (tg, torch):
        with pytest.raises(ValueError, match="Expected `device_type` of type `str`"):
            lib.autocast(0)
        with pytest.raises(RuntimeError, match="gpu"):  # PyTorch: not a device name; here: not an autocast one
            lib.autocast("gpu")
        with pytest.warns(UserWarning, match="target dtype is not supported. Disabling autocast"):
            region = lib.autocast("cpu", dtype=lib.float32)
        with region:
            assert not lib.is_autocast_enabled("cpu")


def test_autocast_signatures_are_pytorchs(torch):
    import inspect

    def names(f):
        return list(inspect.signature(f).parameters)

    assert names(tg.autocast) == names(torch.autocast)
    assert names(tg.cpu.amp.autocast) == names(torch.cpu.amp.autocast)
    assert names(tg.cuda.amp.autocast) == names(torch.cuda.amp.autocast)
    assert names(tg.amp.GradScaler) == names(torch.amp.GradScaler)
    assert names(tg.cuda.amp.GradScaler) == names(torch.cuda.amp.GradScaler)


# -- GradScaler ------------------------------------------------------------------------------------------------


def _scaled_training(lib, grads, **scaler_options):
    """Scale, backward, step and update over ``grads`` (some with inf): the parameter, scale and state each step."""
    p = lib.tensor([1.0, -2.0, 0.5], requires_grad=True)
    opt = lib.optim.SGD([p], lr=0.1)
    scaler = lib.amp.GradScaler("cpu", **scaler_options)
    trace = []
    for g in grads:
        opt.zero_grad()
        scaler.scale((p * lib.tensor(g)).sum()).backward()
        scaler.step(opt)
        scaler.update()
        trace.append((p.detach().numpy().copy(), scaler.get_scale(), scaler.state_dict()))
    return trace


GRADS = [[1.0, 2.0, 3.0], [np.inf, 1.0, 1.0], [0.5, 0.5, 0.5], [1.0, np.nan, 1.0], [2.0, 1.0, 0.0], [1, 1, 1.0]]


@pytest.mark.parametrize("options", [dict(growth_interval=2, init_scale=1024.0), dict(enabled=False), dict()], ids=str)
def test_grad_scaler_steps_skips_and_rescales_as_pytorchs(options, torch):
    ours = _scaled_training(tg, GRADS, **options)
    theirs = _scaled_training(torch, GRADS, **options)
    for (p, scale, state), (tp, tscale, tstate) in zip(ours, theirs):
        np.testing.assert_allclose(p, tp, rtol=1e-7)
        assert scale == tscale
        assert state == tstate


def test_unscale_then_clip_then_step_as_nanogpt_does(torch):
    results = []
    for lib in (tg, torch):
        p = lib.tensor([3.0, 4.0], requires_grad=True)
        opt = lib.optim.SGD([p], lr=1.0)
        scaler = lib.amp.GradScaler("cpu", init_scale=256.0)
        scaler.scale((p * p).sum()).backward()
        scaler.unscale_(opt)
        lib.nn.utils.clip_grad_norm_([p], 1.0)
        scaler.step(opt)
        scaler.update()
        with pytest.raises(RuntimeError, match="unscale_\\(\\) is being called after step\\(\\)"):
            scaler.scale(p.sum()).backward()
            scaler.step(opt)
            scaler.unscale_(opt)
        results.append(p.detach().numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)


def test_grad_scaler_state_dict_round_trip_and_misuse(torch):
    scaler = tg.amp.GradScaler("cpu", init_scale=8.0, growth_interval=3)
    other = tg.amp.GradScaler("cpu")
    other.load_state_dict(scaler.state_dict())
    assert other.state_dict() == scaler.state_dict() == torch.amp.GradScaler("cpu", 8.0, growth_interval=3).state_dict()
    for lib in (tg, torch):
        with pytest.raises(RuntimeError, match="source state dict is empty"):
            lib.amp.GradScaler("cpu").load_state_dict({})
        with pytest.raises((RuntimeError, AssertionError), match="unscale_ but _scale is None"):  # PyTorch: assert
            lib.amp.GradScaler("cpu").unscale_(lib.optim.SGD([lib.zeros(1, requires_grad=True)], lr=0.1))


# -- float32 matmul precision -----------------------------------------------------------------------------------


@pytest.fixture
def restore_precision():
    yield
    tg.set_float32_matmul_precision("highest")


def test_matmul_precision_and_allow_tf32_are_two_views_of_one_setting(restore_precision):
    assert tg.get_float32_matmul_precision() == "highest" and not tg.backends.cuda.matmul.allow_tf32
    tg.backends.cuda.matmul.allow_tf32 = True
    assert tg.get_float32_matmul_precision() == "high"
    tg.set_float32_matmul_precision("medium")
    assert tg.backends.cuda.matmul.allow_tf32
    tg.backends.cuda.matmul.allow_tf32 = False
    assert tg.get_float32_matmul_precision() == "highest"


def test_matmul_precision_changes_nothing_on_the_cpu(restore_precision):
    a = tg.tensor(_draw(8, 8))
    exact = (a @ a).numpy()
    tg.set_float32_matmul_precision("medium")
    np.testing.assert_array_equal((a @ a).numpy(), exact)


def test_bad_precisions_as_pytorch_treats_them(torch, restore_precision):
    for lib in (tg, torch):
        with pytest.raises(RuntimeError, match="expects a str, but got int"):
            lib.set_float32_matmul_precision(3)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lib.set_float32_matmul_precision("low")
        assert any("low is not one of 'highest', 'high', or 'medium'" in str(w.message) for w in caught)
    assert tg.get_float32_matmul_precision() == "highest"


def test_cudnn_and_cublas_flags_can_be_set_and_typos_are_errors():
    tg.backends.cudnn.allow_tf32 = True
    tg.backends.cudnn.benchmark = True
    assert tg.backends.cudnn.benchmark
    tg.backends.cudnn.benchmark = False
    with pytest.raises(AttributeError, match="Unknown attribute allow_tf23"):
        tg.backends.cuda.matmul.allow_tf23 = True
    assert tg.backends.mps.is_available() is False


def test_the_precision_is_handed_to_cupys_gemm(monkeypatch, restore_precision):
    calls = []
    linalg = types.SimpleNamespace(COMPUTE_TYPE_DEFAULT=1, COMPUTE_TYPE_BF16=6, COMPUTE_TYPE_TF32=7)
    core = types.SimpleNamespace(_routines_linalg=linalg, set_compute_type=lambda dt, ct: calls.append((dt, ct)))
    fake_cupy = types.SimpleNamespace(_core=core)
    monkeypatch.setattr(backends.backend, "simulated", lambda: False)
    monkeypatch.setattr(backends.backend, "cuda_available", lambda: True)
    monkeypatch.setattr(backends.backend, "array_module", lambda dev: fake_cupy)
    tg.set_float32_matmul_precision("high")
    tg.set_float32_matmul_precision("medium")
    tg.backends.cuda.matmul.allow_tf32 = False
    assert calls == [(np.float32, 7), (np.float32, 6), (np.float32, 1)]


def test_compile_wraps_the_model_and_disable_returns_it_unchanged():
    model = tg.nn.Linear(2, 2)
    assert tg.compile(model)._orig_mod is model  # tinygrad_edu/compiler: tests/test_compile.py
    assert tg.compile(mode="max-autotune")(model)._orig_mod is model
    assert tg.compile(model, disable=True) is model


def test_rounding_to_bfloat16_is_pytorchs_cast_at_ties_and_special_values(torch):
    from tinygrad_edu.autograd.autocast import round_to_bfloat16

    tie = np.array([0x3F808000, 0x3F818000, 0x3F80C000, 0x7F7FFFFF, 0x00000001, 0x80010000], np.uint32)
    values = np.concatenate(
        [
            _draw(1000) * np.float32(1e3),
            tie.view(np.float32),  # halfway cases (to even, both ways), the largest float, subnormals
            np.array([np.inf, -np.inf, 0.0, -0.0, 1e-40, 3.0e38], np.float32),
        ]
    )
    ours = round_to_bfloat16(np, values)
    theirs = torch.tensor(values).to(torch.bfloat16).float().numpy()
    np.testing.assert_array_equal(ours.view(np.uint32), theirs.view(np.uint32))
    assert np.isnan(round_to_bfloat16(np, np.array([np.nan], np.float32))).all()


def test_the_gradient_into_a_bfloat16_value_is_rounded_as_pytorchs_cast_rounds_it(torch):
    from tinygrad_edu.autograd import graph
    from tinygrad_edu.autograd.autocast import RoundToBFloat16

    x, upstream = _draw(50), _draw(50, seed=1) * np.float32(3)
    ours = tg.tensor(x, requires_grad=True)
    graph.apply(RoundToBFloat16, ours).backward(tg.tensor(upstream))
    theirs = torch.tensor(x, requires_grad=True)
    theirs.to(torch.bfloat16).float().backward(torch.tensor(upstream))
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
