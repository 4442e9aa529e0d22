"""The keyword arguments PyTorch's SGD, Adam and AdamW take: those that change the update (``maximize``,
``amsgrad``, ``nesterov``, ``dampening``, ``decoupled_weight_decay``) step for step against PyTorch's optimizer in
float64; those that only choose PyTorch's kernels (``foreach``, ``fused``, ``capturable``) change nothing here."""

import numpy as np
import pytest

import tinygrad_edu as tg

SHAPES = [(3, 4), (5,)]


def _run(make, lib, steps=4, dtype="float64", seed=0):
    """Parameters after ``steps`` updates of ``make(params)`` with drawn gradients, in ``lib`` (tg or torch)."""
    rng = np.random.default_rng(seed)
    starts = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]
    params = [lib.tensor(a, dtype=getattr(lib, dtype), requires_grad=True) for a in starts]
    opt = make(lib, params)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = lib.tensor(g, dtype=getattr(lib, dtype))
        opt.step()
    return [p.detach().numpy() for p in params], opt


CHANGES_THE_MATH = {
    "SGD maximize": lambda m, ps: m.optim.SGD(ps, lr=0.1, maximize=True),
    "SGD maximize momentum wd": lambda m, ps: m.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True),
    "SGD dampening": lambda m, ps: m.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.3),
    "SGD nesterov": lambda m, ps: m.optim.SGD(ps, lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.01),
    "Adam maximize": lambda m, ps: m.optim.Adam(ps, lr=0.05, maximize=True),
    "Adam amsgrad": lambda m, ps: m.optim.Adam(ps, lr=0.05, amsgrad=True, weight_decay=0.1),
    "Adam amsgrad maximize": lambda m, ps: m.optim.Adam(ps, lr=0.05, amsgrad=True, maximize=True),
    "Adam decoupled_weight_decay": lambda m, ps: m.optim.Adam(
        ps, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True
    ),  # fmt: skip
    "AdamW maximize": lambda m, ps: m.optim.AdamW(ps, lr=0.05, weight_decay=0.1, maximize=True),
    "AdamW amsgrad": lambda m, ps: m.optim.AdamW(ps, lr=0.05, weight_decay=0.1, amsgrad=True),
}


@pytest.mark.parametrize("name", CHANGES_THE_MATH)
def test_options_that_change_the_update_match_pytorch_in_float64(name, torch):
    make = CHANGES_THE_MATH[name]
    ours, _ = _run(make, tg)
    theirs, _ = _run(make, torch)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["Adam maximize", "AdamW maximize", "Adam decoupled_weight_decay"])
def test_options_match_pytorch_in_float32_where_the_fused_path_could_run(name, torch):
    make = CHANGES_THE_MATH[name]
    ours, _ = _run(make, tg, dtype="float32")
    theirs, _ = _run(make, torch, dtype="float32")
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_maximize_climbs_where_the_default_descends():
    down, _ = _run(lambda m, ps: m.optim.SGD(ps, lr=0.1), tg, steps=1)
    up, _ = _run(lambda m, ps: m.optim.SGD(ps, lr=0.1, maximize=True), tg, steps=1)
    start, _ = _run(lambda m, ps: m.optim.SGD(ps, lr=0.0), tg, steps=1)
    for d, u, s in zip(down, up, start):
        np.testing.assert_allclose(u - s, -(d - s), rtol=1e-12, atol=1e-15)


KERNEL_CHOICES = [dict(foreach=True), dict(foreach=False), dict(fused=True), dict(fused=False)]


@pytest.mark.parametrize("choice", KERNEL_CHOICES, ids=str)
@pytest.mark.parametrize("opt", ["SGD", "Adam", "AdamW"])
def test_kernel_choices_change_nothing_and_are_stored_in_the_group(opt, choice, torch):
    extra = dict(momentum=0.9) if opt == "SGD" else dict(capturable=True)
    plain, _ = _run(lambda m, ps: getattr(m.optim, opt)(ps, lr=0.05, **extra), tg, dtype="float32")
    chosen, ours = _run(lambda m, ps: getattr(m.optim, opt)(ps, lr=0.05, **extra, **choice), tg, dtype="float32")
    for a, b in zip(plain, chosen):
        np.testing.assert_array_equal(a, b)
    group = ours.state_dict()["param_groups"][0]
    theirs = getattr(torch.optim, opt)([torch.zeros(1, requires_grad=True)], lr=0.05, **extra, **choice)
    assert set(group) == set(theirs.state_dict()["param_groups"][0])
    assert all(group[k] == v for k, v in choice.items())


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda m, p: m.optim.SGD([p], lr=0.1, fused=True, foreach=True), RuntimeError, "cannot be `True` together"),
        (lambda m, p: m.optim.Adam([p], fused=True, foreach=True), RuntimeError, "cannot be `True` together"),
        (lambda m, p: m.optim.AdamW([p], fused=True, differentiable=True), RuntimeError, "does not support"),
        (lambda m, p: m.optim.SGD([p], lr=0.1, nesterov=True, momentum=0.9, dampening=0.1), ValueError, "Nesterov"),
        (lambda m, p: m.optim.SGD([p], lr=0.1, nesterov=True), ValueError, "Nesterov momentum requires"),
    ],
)
def test_bad_combinations_raise_pytorchs_errors(make, error, message, torch):
    for lib in (tg, torch):
        with pytest.raises(error, match=message):
            make(lib, lib.zeros(2, requires_grad=True))


def test_differentiable_true_is_refused_with_what_to_do_instead():
    with pytest.raises(NotImplementedError, match="update under no_grad"):
        tg.optim.SGD([tg.zeros(2, requires_grad=True)], lr=0.1, differentiable=True)
