"""``tinygrad_edu.autograd.functional`` (vjp, jvp, jacobian, hessian, hvp, vhp).

First against closed forms (no PyTorch needed): the Jacobian of Ax is A, the Hessian of xᵀAx is A + Aᵀ, and so on.
Then against ``torch.autograd.functional`` in float64 with the same inputs and the same v: values, the nesting
of tuples, zeros for unused inputs, ``create_graph=True`` (a derivative of the result), ``strict=True`` errors and
the rules for v. The engine is imported as ``tg``; ``torch`` is the fixture (skipped when PyTorch is absent).
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu.autograd import functional as AF

RTOL, ATOL = 1e-10, 1e-12


def f64(array, requires_grad=False, m=tg):
    return m.tensor(np.asarray(array, dtype=np.float64), dtype=m.float64, requires_grad=requires_grad)


def randn(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)


def as_numpy(result):
    """The same nesting of tuples, with arrays for Tensors (of either library)."""
    if isinstance(result, tuple):
        return tuple(as_numpy(r) for r in result)
    return result.detach().numpy()


def assert_same(ours, theirs, path="result"):
    """Equal nesting (a tuple where the other has a tuple), equal shapes, equal values."""
    assert isinstance(ours, tuple) == isinstance(theirs, tuple), f"{path}: tuple vs Tensor"
    if isinstance(ours, tuple):
        assert len(ours) == len(theirs), f"{path}: {len(ours)} entries vs {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{path}[{i}]")
        return
    assert ours.shape == theirs.shape, f"{path}: shape {ours.shape} vs {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=path)


# -- closed forms, without PyTorch ------------------------------------------------------------------------------
A = randn(0, 3, 3)
B = randn(1, 3, 2)


def test_jacobian_of_a_linear_map_is_its_matrix():
    x = f64(randn(2, 3))
    J = AF.jacobian(lambda x: f64(A) @ x, x)
    np.testing.assert_allclose(J.numpy(), A, rtol=RTOL, atol=ATOL)


def test_jacobian_of_a_matrix_function_has_output_then_input_dimensions():
    # Y = X B: dY[i, j] / dX[k, l] = δ(i, k) B[l, j]
    X = f64(randn(3, 2, 3))
    J = AF.jacobian(lambda X: X @ f64(B), X)
    assert tuple(J.shape) == (2, 2, 2, 3)
    expected = np.einsum("ik,lj->ijkl", np.eye(2), B)
    np.testing.assert_allclose(J.numpy(), expected, rtol=RTOL, atol=ATOL)


def test_jacobian_of_elementwise_function_is_diagonal():
    x = randn(4, 5)
    J = AF.jacobian(lambda x: x.tanh(), f64(x))
    np.testing.assert_allclose(J.numpy(), np.diag(1 - np.tanh(x) ** 2), rtol=RTOL, atol=ATOL)


def test_hessian_of_quadratic_form_is_a_plus_a_transpose():
    x = f64(randn(5, 3))
    H = AF.hessian(lambda x: x @ (f64(A) @ x), x)
    assert tuple(H.shape) == (3, 3)
    np.testing.assert_allclose(H.numpy(), A + A.T, rtol=RTOL, atol=ATOL)


def test_hessian_of_bilinear_form_has_the_matrix_off_the_diagonal():
    # f(x, y) = xᵀBy: d²f/dx² = 0, d²f/dxdy = B, d²f/dydx = Bᵀ, d²f/dy² = 0
    x, y = f64(randn(6, 3)), f64(randn(7, 2))
    (hxx, hxy), (hyx, hyy) = AF.hessian(lambda x, y: x @ (f64(B) @ y), (x, y))
    assert [tuple(h.shape) for h in (hxx, hxy, hyx, hyy)] == [(3, 3), (3, 2), (2, 3), (2, 2)]
    np.testing.assert_allclose(hxy.numpy(), B, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(hyx.numpy(), B.T, rtol=RTOL, atol=ATOL)
    assert not hxx.numpy().any() and not hyy.numpy().any()


def test_hessian_of_a_matrix_input_has_twice_its_shape():
    # f(X) = Σ X² has Hessian 2·I, laid out as (2, 2, 2, 2)
    H = AF.hessian(lambda X: (X * X).sum(), f64(randn(8, 2, 2)))
    np.testing.assert_allclose(H.numpy(), 2 * np.eye(4).reshape(2, 2, 2, 2), rtol=RTOL, atol=ATOL)


def test_vjp_and_jvp_of_a_linear_map_are_the_transpose_and_the_matrix_products():
    x, v = f64(randn(9, 3)), randn(10, 3)
    out, vjp = AF.vjp(lambda x: f64(A) @ x, x, f64(v))
    np.testing.assert_allclose(out.numpy(), A @ x.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(vjp.numpy(), A.T @ v, rtol=RTOL, atol=ATOL)
    out, jvp = AF.jvp(lambda x: f64(A) @ x, x, f64(v))
    np.testing.assert_allclose(jvp.numpy(), A @ v, rtol=RTOL, atol=ATOL)


def test_hvp_and_vhp_of_quadratic_form():
    x, v = f64(randn(11, 3)), randn(12, 3)
    for product in (AF.hvp, AF.vhp):
        value, hv = product(lambda x: x @ (f64(A) @ x), x, f64(v))
        assert value.item() == pytest.approx(x.numpy() @ A @ x.numpy(), rel=1e-12)
        np.testing.assert_allclose(hv.numpy(), (A + A.T) @ v, rtol=RTOL, atol=ATOL)


def test_products_agree_with_the_full_jacobian_and_hessian():
    """jvp = J v, vjp = vᵀJ, hvp = H v: each product against the matrix built row by row."""

    def f(x):
        return (x.sin() * x.sum()).exp()

    def scalar(x):
        return (x.tanh() * x.exp()).sum() * x.sum()

    x, v = f64(randn(13, 4)), randn(14, 4)
    J = AF.jacobian(f, x).numpy()
    H = AF.hessian(scalar, x).numpy()
    np.testing.assert_allclose(AF.jvp(f, x, f64(v))[1].numpy(), J @ v, rtol=1e-9, atol=ATOL)
    np.testing.assert_allclose(AF.vjp(f, x, f64(v))[1].numpy(), v @ J, rtol=1e-9, atol=ATOL)
    np.testing.assert_allclose(AF.hvp(scalar, x, f64(v))[1].numpy(), H @ v, rtol=1e-9, atol=ATOL)
    np.testing.assert_allclose(H, H.T, rtol=1e-9, atol=ATOL)


def test_unused_inputs_get_zeros_of_their_shape():
    x, y = f64(randn(15, 3)), f64(randn(16, 2, 2))
    (_, (gx, gy)) = AF.vjp(lambda x, y: (x * x).sum(), (x, y))
    np.testing.assert_allclose(gx.numpy(), 2 * x.numpy(), rtol=RTOL)
    assert tuple(gy.shape) == (2, 2) and not gy.numpy().any()
    (_, (hx, hy)) = AF.hvp(lambda x, y: (x * x).sum(), (x, y), (f64(np.ones(3)), f64(np.ones((2, 2)))))
    np.testing.assert_allclose(hx.numpy(), 2 * np.ones(3), rtol=RTOL)
    assert tuple(hy.shape) == (2, 2) and not hy.numpy().any()
    jx, jy = AF.jacobian(lambda x, y: x * 2, (x, y))
    assert tuple(jy.shape) == (3, 2, 2) and not jy.numpy().any()
    np.testing.assert_allclose(jx.numpy(), 2 * np.eye(3), rtol=RTOL)


def test_strict_is_off_unless_asked_for_in_every_function():
    """A function of x alone, differentiated in (x, y): zeros for y, not an error."""
    x, y = f64(randn(15, 3)), f64(randn(16, 2, 2))
    ones = (f64(np.ones(3)), f64(np.ones((2, 2))))
    (_, (_, vhy)) = AF.vhp(lambda x, y: (x * x).sum(), (x, y), ones)
    assert tuple(vhy.shape) == (2, 2) and not vhy.numpy().any()
    (_, jv) = AF.jvp(lambda x, y: (x * x).sum(), (x, y), ones)
    np.testing.assert_allclose(jv.numpy(), 2 * x.numpy().sum(), rtol=RTOL)
    hxx, hxy = AF.hessian(lambda x, y: (x * x).sum(), (x, y))[0]
    np.testing.assert_allclose(hxx.numpy(), 2 * np.eye(3), rtol=RTOL)
    assert tuple(hxy.shape) == (3, 2, 2) and not hxy.numpy().any()


def test_results_are_detached_and_the_callers_graph_is_untouched_without_create_graph():
    x = f64(randn(17, 3), requires_grad=True)
    results = [
        *AF.vjp(lambda x: (x**3).sum(), x),
        *AF.jvp(lambda x: x**3, x, f64(np.ones(3))),
        AF.jacobian(lambda x: x**3, x),
        AF.hessian(lambda x: (x**3).sum(), x),
        *AF.hvp(lambda x: (x**3).sum(), x, f64(np.ones(3))),
        *AF.vhp(lambda x: (x**3).sum(), x, f64(np.ones(3))),
    ]
    assert [r.requires_grad for r in results] == [False] * len(results)
    assert x.grad is None


def test_create_graph_results_can_be_differentiated_again():
    # f = Σx⁴: H = diag(12x²), so d(Σ H)/dx = 24x; Hv = 12x²v, so d(Σ Hv)/dx = 24xv; ∇f = 4x³, d(Σ∇f)/dx = 12x²
    x, v = f64(randn(18, 3), requires_grad=True), randn(19, 3)

    def f(x):
        return (x**4).sum()

    H = AF.hessian(f, x, create_graph=True)
    assert H.requires_grad
    (dH,) = tg.autograd.grad(H.sum(), x)
    np.testing.assert_allclose(dH.numpy(), 24 * x.detach().numpy(), rtol=1e-10)
    _, hv = AF.hvp(f, x, f64(v), create_graph=True)
    (dhv,) = tg.autograd.grad(hv.sum(), x)
    np.testing.assert_allclose(dhv.numpy(), 24 * x.detach().numpy() * v, rtol=1e-10)
    _, g = AF.vjp(f, x, create_graph=True)
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 12 * x.detach().numpy() ** 2, rtol=1e-10)


def test_results_are_the_same_when_called_under_no_grad():
    x, v = f64(randn(33, 3), requires_grad=True), f64(randn(34, 3))

    def f(x):
        return x.tanh() * x.sum()

    def scalar(x):
        return (x.tanh() * x.exp()).sum()

    def every_function(create_graph=False):
        return [
            *AF.vjp(f, x, v, create_graph=create_graph),
            *AF.jvp(f, x, v, create_graph=create_graph),
            AF.jacobian(f, x, create_graph=create_graph),
            AF.hessian(scalar, x, create_graph=create_graph),
            *AF.hvp(scalar, x, v, create_graph=create_graph),
            *AF.vhp(scalar, x, v, create_graph=create_graph),
        ]

    expected = [r.numpy() for r in every_function()]
    with tg.no_grad():
        got = every_function()
        recorded = every_function(create_graph=True)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a.numpy(), b, rtol=RTOL, atol=ATOL)
    derivatives = [recorded[i] for i in (1, 3, 4, 5, 7, 9)]  # vjp, jvp, jacobian, hessian, hvp, vhp
    assert all(d.requires_grad for d in derivatives)
    (dH,) = tg.autograd.grad(recorded[5].sum(), x)
    (dH_outside,) = tg.autograd.grad(AF.hessian(scalar, x, create_graph=True).sum(), x)
    np.testing.assert_allclose(dH.numpy(), dH_outside.numpy(), rtol=RTOL, atol=ATOL)


def test_vjp_with_create_graph_is_differentiable_in_v_too():
    # vᵀJ of Ax is Aᵀv: its derivative in v (weighted by w) is A w
    x, v, w = f64(randn(20, 3)), f64(randn(21, 3), requires_grad=True), randn(22, 3)
    _, vjp = AF.vjp(lambda x: f64(A) @ x, x, v, create_graph=True)
    (dv,) = tg.autograd.grad(vjp, v, f64(w))
    np.testing.assert_allclose(dv.numpy(), A @ w, rtol=RTOL, atol=ATOL)


def test_v_is_a_constant_without_create_graph():
    v = f64(randn(23, 3), requires_grad=True)
    _, vjp = AF.vjp(lambda x: x * 2, f64(randn(24, 3)), v)
    assert not vjp.requires_grad


def test_nesting_follows_the_inputs_and_outputs():
    x, y = f64(randn(25, 3)), f64(randn(26, 2))

    def one_out(x, y=None):
        return x.exp() if y is None else x.exp().sum() * y

    def two_out(x, y=None):
        return (x.exp(), x.sum()) if y is None else (x.exp(), y * x.sum())

    assert isinstance(AF.jacobian(one_out, x), tg.Tensor)
    jx, jy = AF.jacobian(one_out, (x, y))  # tuple over inputs
    assert (tuple(jx.shape), tuple(jy.shape)) == ((2, 3), (2, 2))
    j0, j1 = AF.jacobian(two_out, x)  # tuple over outputs
    assert (tuple(j0.shape), tuple(j1.shape)) == ((3, 3), (3,))
    (j00, j01), (j10, j11) = AF.jacobian(two_out, (x, y))  # outputs, then inputs
    assert [tuple(j.shape) for j in (j00, j01, j10, j11)] == [(3, 3), (3, 2), (2, 3), (2, 2)]
    out, vjp = AF.vjp(two_out, x, (f64(np.ones(3)), f64(1.0)))
    assert isinstance(out, tuple) and isinstance(vjp, tg.Tensor)
    out, jvp = AF.jvp(two_out, (x, y), (f64(np.ones(3)), f64(np.ones(2))))
    assert isinstance(out, tuple) and [tuple(j.shape) for j in jvp] == [(3,), (2,)]


def test_v_can_be_none_only_for_a_single_one_element_tensor():
    x = f64(randn(27, 3))
    with pytest.raises(RuntimeError, match="v can be None only when func's output is a single Tensor with one"):
        AF.vjp(lambda x: x * 2, x)
    with pytest.raises(RuntimeError, match="v can be None only when the input is a single Tensor with one"):
        AF.jvp(lambda x: x * 2, x)
    for product in (AF.hvp, AF.vhp):
        with pytest.raises(RuntimeError, match="v can be None only when the input"):
            product(lambda x: (x * x).sum(), x)
    # one element: v = 1
    assert AF.vjp(lambda x: (x * x).sum(), x)[1].tolist() == pytest.approx((2 * x).tolist())
    s = f64(3.0)
    assert AF.jvp(lambda s: s**3, s)[1].item() == pytest.approx(27.0)
    assert AF.hvp(lambda s: s**3, s)[1].item() == pytest.approx(18.0)


def test_v_of_the_wrong_shape_or_count_is_an_error():
    x, y = f64(randn(28, 3)), f64(randn(29, 2))
    with pytest.raises(RuntimeError, match=r"v\[0\] has shape \(2,\), but it should be \(3,\)"):
        AF.vjp(lambda x: x * 2, x, f64(np.ones(2)))
    with pytest.raises(RuntimeError, match=r"v\[1\] has shape \(3,\), but it should be \(2,\)"):
        AF.jvp(lambda x, y: x * y.sum(), (x, y), (f64(np.ones(3)), f64(np.ones(3))))
    with pytest.raises(RuntimeError, match="v should be a tuple of 2 Tensors, got 1"):
        AF.hvp(lambda x, y: (x * x).sum() * y.sum(), (x, y), f64(np.ones(3)))
    with pytest.raises(RuntimeError, match="v should be a single Tensor, got 2"):
        AF.vjp(lambda x: x * 2, x, (f64(np.ones(3)), f64(np.ones(3))))


def test_inputs_must_be_tensors():
    with pytest.raises(TypeError, match=r"inputs\[1\] must be a Tensor, got list"):
        AF.jacobian(lambda x, y: x, (f64(np.ones(2)), [1.0, 2.0]))
    with pytest.raises(TypeError, match="inputs must be a Tensor or a tuple of Tensors, got ndarray"):
        AF.vjp(lambda x: x, np.ones(2))


def test_hessian_and_hessian_products_need_a_scalar_function():
    x = f64(randn(30, 3))
    for call in (
        lambda: AF.hessian(lambda x: x * x, x),
        lambda: AF.hessian(lambda x: ((x * x).sum(), x.sum()), x),
        lambda: AF.vhp(lambda x: x * x, x, x),
        lambda: AF.hvp(lambda x: x * x, x, x),
    ):
        with pytest.raises(RuntimeError, match="func must return a single Tensor with one element"):
            call()


def test_strict_rejects_an_output_independent_of_an_input():
    x, y = f64(randn(31, 3)), f64(randn(32, 3))
    with pytest.raises(RuntimeError, match="independent of input 1; strict=True"):
        AF.vjp(lambda x, y: (x * x).sum(), (x, y), strict=True)
    with pytest.raises(RuntimeError, match="output 0 is independent of input 1; strict=True"):
        AF.jacobian(lambda x, y: x * x, (x, y), strict=True)
    with pytest.raises(RuntimeError, match="output 0 of func does not require grad"):
        AF.jvp(lambda x, y: x.detach(), (x, y), (x, y), strict=True)
    with pytest.raises(RuntimeError, match="gradient with respect to input 1 is a constant"):
        AF.hessian(lambda x, y: (x * x).sum() + y.sum(), (x, y), strict=True)
    # without strict the same calls give zeros; with strict, a function that uses every input passes
    _, (gx, gy) = AF.vjp(lambda x, y: (x * x).sum(), (x, y))
    assert not gy.numpy().any()
    _, (gx, gy) = AF.vjp(lambda x, y: (x * y).sum(), (x, y), strict=True)
    np.testing.assert_allclose(gy.numpy(), x.numpy(), rtol=RTOL)


def _message(call, error=Exception) -> str:
    with pytest.raises(error) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize("name", ["vjp", "jvp", "vhp", "hvp", "jacobian", "hessian"])
def test_every_message_starts_with_the_functions_name_and_names_the_argument(name):
    """The whole message, not a fragment of it: which function, which argument, what it got."""
    fn, x = getattr(AF, name), f64(randn(33, 2))
    takes_v = name not in ("jacobian", "hessian")
    with_v = (lambda f, v: fn(f, x, v)) if takes_v else (lambda f, v: fn(f, x))
    assert _message(lambda: with_v(lambda x: 3.0, f64(np.ones(2))), TypeError) == (
        f"{name}: the output of func must be a Tensor or a tuple of Tensors, got float"
    )
    assert _message(lambda: with_v(lambda x: (x.sum(), 3.0), f64(np.ones(2))), TypeError) == (
        f"{name}: the output of func[1] must be a Tensor, got float"
    )
    if takes_v:
        assert _message(lambda: fn(lambda x: (x * x).sum(), x, 3.0), TypeError) == (
            f"{name}: v must be a Tensor or a tuple of Tensors, got float"
        )


def test_vjp_names_itself_when_v_is_on_another_device_than_the_output(device):
    """v goes to the backward pass as its seed; the seed's check names vjp, not the engine's own caller."""
    other = "cpu" if device == "cuda" else "cuda"
    if not tg.cuda.is_available():
        pytest.skip("CUDA is off (TINYGRAD_EDU_CUDA=off, or no CuPy and no GPU): one device only")
    x = tg.tensor(randn(34, 3), dtype=tg.float64, device=device)
    v = tg.ones(3, dtype=tg.float64, device=other)
    assert _message(lambda: AF.vjp(lambda x: x * 2, x, v), RuntimeError) == (
        f"vjp: the gradient is on {other}, the output on {device}"
    )


@pytest.mark.parametrize("name", ["vjp", "jvp", "vhp", "hvp", "jacobian", "hessian"])
def test_results_keep_a_float32_inputs_dtype(name):
    x = tg.tensor(randn(35, 3), dtype=tg.float32)
    scalar = name in ("vhp", "hvp", "hessian")
    func = (lambda x: (x * x).sum()) if scalar else (lambda x: x * x)
    args = (func, x) if name in ("jacobian", "hessian") else (func, x, tg.ones(3))
    results = getattr(AF, name)(*args)
    for result in results if isinstance(results, tuple) else (results,):
        assert result.dtype == tg.float32, name


# -- against PyTorch ------------------------------------------------------------------------------------------
# Each case is written once for a module ``m`` (the engine or torch): its inputs, and a function of them.
X3, Y23, V3, W23 = randn(40, 3), randn(41, 2, 3), randn(42, 3), randn(43, 2, 3)


def vector_single(m):
    return (f64(X3, m=m),), lambda x: x.tanh() * x.sum() + x.exp()


def vector_tuple(m):
    return (f64(X3, m=m), f64(Y23, m=m)), lambda x, y: ((y @ x).tanh(), (x * x).sum() * y.exp())


def matrix_single(m):
    return (f64(Y23, m=m),), lambda y: y.softmax(dim=1) * y.sum(dim=0)


def scalar_single(m):
    return (f64(X3, m=m),), lambda x: (x.tanh() * x.exp()).sum() * x.sin().sum()


def scalar_tuple(m):
    return (f64(X3, m=m), f64(Y23, m=m)), lambda x, y: ((y @ x).tanh() ** 2).sum() + (x**3).sum() * y.mean()


def scalar_matrix(m):
    return (f64(Y23, m=m),), lambda y: (y.log_softmax(dim=1) * y.cos()).sum()


VECTOR_CASES = [vector_single, vector_tuple, matrix_single]
SCALAR_CASES = [scalar_single, scalar_tuple, scalar_matrix]


def _args(inputs, single):
    return inputs[0] if single else inputs


def _vectors_like(m, tensors, seed):
    return tuple(f64(randn(seed + i, *t.shape), m=m) for i, t in enumerate(tensors))


def _call(m, name, case, create_graph=False, strict=False, requires_grad=False):
    """Run ``m.autograd.functional.<name>`` on the case, as a Tensor when it has one input, else a tuple."""
    inputs, func = case(m)
    for x in inputs:
        x.requires_grad_(requires_grad)
    F = m.autograd.functional
    single = len(inputs) == 1
    args = _args(inputs, single)
    if name in ("jacobian", "hessian"):
        result = getattr(F, name)(func, args, create_graph=create_graph, strict=strict)
    else:
        with m.no_grad():
            outputs = func(*inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        like = outputs if name == "vjp" else inputs
        v = _vectors_like(m, like, seed=50)
        v = v[0] if len(v) == 1 else v
        result = getattr(F, name)(func, args, v, create_graph=create_graph, strict=strict)
    return inputs, result


@pytest.mark.torch
@pytest.mark.parametrize("case", VECTOR_CASES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", ["vjp", "jvp", "jacobian"])
def test_vector_functions_match_torch(torch, name, case):
    _, ours = _call(tg, name, case)
    _, theirs = _call(torch, name, case)
    assert_same(as_numpy(ours), as_numpy(theirs))


@pytest.mark.torch
@pytest.mark.parametrize("case", SCALAR_CASES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", ["vjp", "hessian", "hvp", "vhp"])
def test_scalar_functions_match_torch(torch, name, case):
    _, ours = _call(tg, name, case)
    _, theirs = _call(torch, name, case)
    assert_same(as_numpy(ours), as_numpy(theirs))


def _flatten(result):
    return [t for r in result for t in _flatten(r)] if isinstance(result, tuple) else [result]


@pytest.mark.torch
@pytest.mark.parametrize(
    "name, case",
    [
        ("vjp", vector_tuple),
        ("jvp", vector_tuple),
        ("jacobian", vector_single),
        ("jacobian", vector_tuple),
        ("hessian", scalar_single),
        ("hessian", scalar_tuple),
        ("hvp", scalar_tuple),
        ("vhp", scalar_matrix),
    ],
)
def test_create_graph_result_has_torchs_derivative(torch, name, case):
    """d(Σ wᵢ·resultᵢ)/d(inputs) for fixed random weights w: the result's own graph, checked against PyTorch's."""
    grads = {}
    for m in (tg, torch):
        inputs, result = _call(m, name, case, create_graph=True, requires_grad=True)
        results = [r for r in _flatten(result) if r.requires_grad]
        assert results, "create_graph=True should give differentiable results"
        total = sum((r * f64(randn(60 + k, *r.shape), m=m)).sum() for k, r in enumerate(results))
        grads[m.__name__] = as_numpy(m.autograd.grad(total, inputs, allow_unused=True, materialize_grads=True))
    assert_same(grads["tinygrad_edu"], grads["torch"])


STRICT_CASES = {
    # case: (which function of autograd.functional, func of (x, y)); called with inputs (x, y) and, where needed, v
    "vjp-unused": ("vjp", lambda x, y: (x * x).sum()),
    "vjp-constant-output": ("vjp", lambda x, y: x.detach().sum() + 0 * y.detach().sum()),
    "vjp-linear": ("vjp", lambda x, y: (2 * x + 3 * y).sum()),
    "jvp-unused": ("jvp", lambda x, y: x * x),
    "jvp-linear": ("jvp", lambda x, y: 2 * x + y),
    "jacobian-unused": ("jacobian", lambda x, y: (x.exp(), (y * y).sum())),
    "jacobian-linear": ("jacobian", lambda x, y: 2 * x + y),
    "hessian-unused": ("hessian", lambda x, y: (x * x).sum()),
    "hessian-linear-in-y": ("hessian", lambda x, y: (x * x).sum() + y.sum()),
    "hessian-separable": ("hessian", lambda x, y: (x * x * x).sum() + (y * y * y).sum()),
    "hessian-coupled": ("hessian", lambda x, y: (x * y).tanh().sum()),
    "hvp-linear-in-y": ("hvp", lambda x, y: (x * x).sum() + y.sum()),
    "hvp-quadratic": ("hvp", lambda x, y: (x * x).sum() + (x * y).sum()),
    "vhp-unused": ("vhp", lambda x, y: (x * x * x).sum()),
    "vhp-coupled": ("vhp", lambda x, y: (x * y).tanh().sum()),
}


def _strict_call(m, name, func, create_graph, strict):
    x, y, vx, vy = f64(X3, m=m), f64(V3, m=m), f64(V3, m=m), f64(X3, m=m)
    F = m.autograd.functional
    if name in ("jacobian", "hessian"):
        return getattr(F, name)(func, (x, y), create_graph=create_graph, strict=strict)
    if name == "vjp":
        return F.vjp(func, (x, y), create_graph=create_graph, strict=strict)
    return getattr(F, name)(func, (x, y), (vx, vy), create_graph=create_graph, strict=strict)


@pytest.mark.torch
@pytest.mark.parametrize("create_graph", [False, True], ids=["", "create_graph"])
@pytest.mark.parametrize("case", list(STRICT_CASES))
def test_strict_raises_exactly_where_torch_does(torch, case, create_graph):
    """Both raise, or both give the same result; and without strict both give the same result (zeros included)."""
    name, func = STRICT_CASES[case]
    try:
        theirs = as_numpy(_strict_call(torch, name, func, create_graph, strict=True))
    except RuntimeError:
        with pytest.raises(RuntimeError, match="strict=True"):
            _strict_call(tg, name, func, create_graph, strict=True)
    else:
        assert_same(as_numpy(_strict_call(tg, name, func, create_graph, strict=True)), theirs)
    ours = as_numpy(_strict_call(tg, name, func, create_graph, strict=False))
    assert_same(ours, as_numpy(_strict_call(torch, name, func, create_graph, strict=False)))


@pytest.mark.torch
@pytest.mark.parametrize(
    "name, func, inputs, v",
    [
        ("vjp", lambda x: x * 2, "x", None),  # v=None with a 3-element output
        ("vjp", lambda x: x * 2, "x", "w"),  # v of the wrong shape
        ("vjp", lambda x: x * 2, "x", ("x", "x")),  # two v for one output
        ("jvp", lambda x: x * 2, "x", None),
        ("jvp", lambda x, y: x * y.sum(), ("x", "y"), ("x", "x")),
        ("hvp", lambda x: (x * x).sum(), "x", None),
        ("vhp", lambda x, y: (x * x).sum() * y.sum(), ("x", "y"), "x"),
        ("vhp", lambda x: x * x, "x", "x"),  # not a scalar function
    ],
)
def test_v_errors_match_torch(torch, name, func, inputs, v):
    def pick(tensors, key):
        """None, one tensor by name, or a tuple of them."""
        if key is None:
            return None
        return tuple(tensors[k] for k in key) if isinstance(key, tuple) else tensors[key]

    for m in (tg, torch):
        tensors = {"x": f64(X3, m=m), "y": f64(W23, m=m), "w": f64(np.ones(2), m=m)}
        with pytest.raises(RuntimeError):
            getattr(m.autograd.functional, name)(func, pick(tensors, inputs), pick(tensors, v))


@pytest.mark.torch
def test_scalar_v_defaults_match_torch(torch):
    results = {}
    for m in (tg, torch):
        F, s = m.autograd.functional, f64([0.7], m=m)
        results[m.__name__] = as_numpy(
            (F.vjp(lambda s: s.tanh(), s), F.jvp(lambda s: s.tanh(), s), F.hvp(lambda s: s.tanh(), s))
        )
    assert_same(results["tinygrad_edu"], results["torch"])
