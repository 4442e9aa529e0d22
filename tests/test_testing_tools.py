"""``tinygrad_edu.testing``, the public kit: ``assert_close`` and ``make_tensor`` behave as PyTorch's (verdicts,
defaults and messages), the strategies draw what they say, and ``check_op`` catches each kind of broken op,
naming the failing element, while passing correct ones."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

import tinygrad_edu as tg
from tinygrad_edu.autograd import Function
from tinygrad_edu.testing import (
    CheckOpError,
    assert_close,
    away_from,
    broadcastable_shapes,
    check_op,
    dims,
    layouts,
    make_tensor,
    shapes,
    tensors,
)
from tinygrad_edu.testing import strategies as public_strategies

DTYPES = ["float16", "float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool"]


def _outcome(call):
    """(exception type name, message) of ``call()``, or None when it returns; PyTorch's names read as ours."""
    try:
        call()
    except (AssertionError, ValueError, TypeError) as error:
        return type(error).__name__, str(error).replace("torch.", "tinygrad_edu.")
    return None


def _both(torch, a, b):
    """The same values as a tinygrad_edu and a PyTorch tensor (NumPy arrays pass through; numbers too)."""
    if isinstance(a, np.ndarray):
        return tg.tensor(a), torch.from_numpy(a.copy())
    return a, a


# -- assert_close ---------------------------------------------------------------------------------------------

PAIRS = {
    "float32 one element": (np.array([1.0, 2.0, 3.0], np.float32), np.array([1.0, 2.5, 3.0], np.float32)),
    "float64 matrix": (np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 4.1]])),
    "float16": (np.array([1.0, 2.0], np.float16), np.array([1.0, 2.01], np.float16)),
    "integers": (np.array([1, 2, 3]), np.array([1, 5, 3])),
    "bools": (np.array([True, False]), np.array([True, True])),
    "0-d float": (np.array(1.0, np.float32), np.array(2.0, np.float32)),
    "0-d int": (np.array(1), np.array(3)),
    "shape": (np.array([1.0]), np.array([1.0, 2.0])),
    "dtype": (np.array([1.0], np.float32), np.array([1.0])),
    "nan": (np.array([1.0, np.nan]), np.array([1.0, np.nan])),
    "inf against a number": (np.array([np.inf, 1.0]), np.array([1.0, 1.0])),
    "inf against inf": (np.array([np.inf, -np.inf]), np.array([np.inf, -np.inf])),
    "close enough": (np.array([1.0, 2.0], np.float32), np.array([1.000001, 2.0], np.float32)),
    "empty": (np.zeros((0, 3)), np.zeros((0, 3))),
    "numbers": (1.0, 1.5),
    "ints": (1, 2),
    "int and float": (1, 1.0),
    "booleans": (True, False),
    "sequence lengths": ([1.0, 2.0], [1.0, 2.0, 3.0]),
}


@pytest.mark.torch
@pytest.mark.parametrize("case", PAIRS)
def test_assert_close_gives_torchs_verdict_and_message(torch, case):
    a, b = PAIRS[case]
    ours_a, theirs_a = _both(torch, a, None)
    ours_b, theirs_b = _both(torch, b, None)
    expected = _outcome(lambda: torch.testing.assert_close(theirs_a, theirs_b))
    assert _outcome(lambda: assert_close(ours_a, ours_b)) == expected


@pytest.mark.torch
@pytest.mark.parametrize(
    "kwargs",
    [
        {"equal_nan": True},
        {"rtol": 1e-3},
        {"atol": 1.0},
        {"rtol": 0.0, "atol": 0.6},
        {"check_dtype": False},
        {"msg": "custom message"},
        {"msg": lambda m: "prefix: " + m},
    ],
    ids=str,
)
def test_assert_close_options_as_torchs(torch, kwargs):
    cases = [
        (np.array([1.0, np.nan], np.float32), np.array([1.5, np.nan], np.float32)),
        (np.array([1.0, 2.0], np.float32), np.array([1.0, 2.0])),
        (np.array([1.0, 2.0], np.float32), np.array([1.0, 2.5])),
    ]
    for a, b in cases:
        ours = _outcome(lambda a=a, b=b: assert_close(tg.tensor(a), tg.tensor(b), **kwargs))
        theirs = _outcome(
            lambda a=a, b=b: torch.testing.assert_close(torch.from_numpy(a), torch.from_numpy(b), **kwargs)
        )
        assert ours == theirs


@pytest.mark.torch
def test_assert_close_names_the_failing_item_of_a_sequence_or_mapping(torch):
    for wrap in (lambda x, y: [x, y], lambda x, y: {"a": x, "b": y}):
        ours = wrap(tg.tensor([1.0]), tg.tensor([2.0]))
        theirs = wrap(torch.tensor([1.0]), torch.tensor([2.0]))
        ours_expected = wrap(tg.tensor([1.0]), tg.tensor([3.0]))
        theirs_expected = wrap(torch.tensor([1.0]), torch.tensor([3.0]))
        mine = _outcome(lambda ours=ours, expected=ours_expected: assert_close(ours, expected))
        reference = _outcome(
            lambda theirs=theirs, expected=theirs_expected: torch.testing.assert_close(theirs, expected)
        )
        assert mine == reference


def test_assert_close_refuses_a_tensor_against_another_type():
    with pytest.raises(TypeError, match="No comparison pair"):
        assert_close(tg.tensor([1.0]), [1.0])
    with pytest.raises(TypeError, match="No comparison pair"):
        assert_close(tg.tensor([1.0]), np.array([1.0]))


@pytest.mark.torch
@examples(60)
@given(
    data=st.data(),
    dtype=st.sampled_from([np.float32, np.float64, np.int64]),
    shape=shapes(max_dims=2, max_side=3),
)
def test_assert_close_agrees_with_torch_on_drawn_values(torch, data, dtype, shape):
    """Values a little apart, in place or not, and any tolerance: the same verdict and the same message."""
    values = st.sampled_from([0.0, 1.0, -2.5, 1e-6, 3.0, np.inf, np.nan]) if dtype != np.int64 else st.integers(-3, 3)
    a = data.draw(public_strategies.arrays(shape, values, dtype=dtype))
    b = a.copy()
    if a.size and data.draw(st.booleans()):
        flat = b.reshape(-1)
        flat[data.draw(st.integers(0, a.size - 1))] += data.draw(
            st.sampled_from([1, 2]) if dtype == np.int64 else st.sampled_from([1e-7, 1e-3, 0.5])
        )
    tolerance = data.draw(st.sampled_from([{}, {"rtol": 1e-3, "atol": 1e-6}, {"rtol": 0.0, "atol": 0.0}]))
    equal_nan = data.draw(st.booleans())
    ours = _outcome(lambda: assert_close(tg.tensor(a), tg.tensor(b), equal_nan=equal_nan, **tolerance))
    theirs = _outcome(
        lambda: torch.testing.assert_close(torch.from_numpy(a), torch.from_numpy(b), equal_nan=equal_nan, **tolerance)
    )
    assert ours == theirs


# -- make_tensor ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DTYPES)
def test_make_tensor_draws_from_torchs_default_range(name):
    dtype = getattr(tg, name)
    values = make_tensor(400, dtype=dtype, device="cpu").numpy()
    assert values.dtype == dtype.np and values.shape == (400,)
    low, high = {"float16": (-9, 9), "float32": (-9, 9), "float64": (-9, 9), "uint8": (0, 10), "bool": (0, 2)}.get(
        name, (-9, 10)
    )
    numbers = values.astype(np.float64)
    assert numbers.min() >= low and numbers.max() < high
    # the whole range is used, not a corner of it
    assert numbers.min() < low + (high - low) / 4 and numbers.max() > high - (high - low) / 4 - 1


@pytest.mark.torch
@pytest.mark.parametrize(
    "kwargs",
    [
        {"low": 3, "high": 3, "dtype": "int64"},
        {"low": 5, "high": 2, "dtype": "float32"},
        {"low": float("nan"), "high": 2, "dtype": "float32"},
        {"low": 300, "high": 400, "dtype": "uint8"},
        {"requires_grad": True, "dtype": "int64"},
        {"requires_grad": True, "dtype": "bool"},
    ],
    ids=str,
)
def test_make_tensor_refuses_what_torch_refuses_with_its_message(torch, kwargs):
    name = kwargs.pop("dtype")
    ours = _outcome(lambda: make_tensor(3, dtype=getattr(tg, name), device="cpu", **kwargs))
    theirs = _outcome(lambda: torch.testing.make_tensor(3, dtype=getattr(torch, name), device="cpu", **kwargs))
    assert theirs is not None and ours == theirs


def test_make_tensor_takes_the_shape_as_ints_or_one_sequence_and_clamps_bounds():
    assert make_tensor(2, 3, dtype=tg.float32, device="cpu").shape == (2, 3)
    assert make_tensor((2, 3), dtype=tg.float32, device="cpu").shape == (2, 3)
    assert make_tensor([4], dtype=tg.float32, device="cpu").shape == (4,)
    assert make_tensor((), dtype=tg.float64, device="cpu").shape == ()
    small = make_tensor(200, dtype=tg.uint8, device="cpu", low=-5, high=3).numpy()
    assert small.min() >= 0 and small.max() < 3  # low clamped to uint8's 0
    fractional = make_tensor(200, dtype=tg.int64, device="cpu", low=0.5, high=2.5).numpy()
    assert set(np.unique(fractional)) <= {1, 2}  # ceil(low), ceil(high) exclusive
    with pytest.warns(FutureWarning, match="full"):
        assert (make_tensor(3, dtype=tg.float32, device="cpu", low=2.0, high=2.0).numpy() == 2.0).all()
    with pytest.raises(TypeError, match="dtype must be a tinygrad_edu dtype"):
        make_tensor(3, dtype=np.float32, device="cpu")


def test_make_tensor_noncontiguous_exclude_zero_requires_grad_and_seed():
    t = make_tensor(3, 4, dtype=tg.float32, device="cpu", noncontiguous=True, requires_grad=True)
    assert t.shape == (3, 4) and not t.is_contiguous() and t.requires_grad and t.is_leaf
    assert make_tensor(1, dtype=tg.float32, device="cpu", noncontiguous=True).is_contiguous()  # < 2 elements
    ints = make_tensor(300, dtype=tg.int64, device="cpu", low=0, high=2, exclude_zero=True).numpy()
    assert (ints == 1).all()
    floats = make_tensor(300, dtype=tg.float16, device="cpu", low=0, high=1e-7, exclude_zero=True).numpy()
    assert (floats != 0).all() and (floats == np.finfo(np.float16).tiny).any()
    flags = make_tensor(300, dtype=tg.bool, device="cpu", exclude_zero=True).numpy()
    assert flags.all()
    tg.manual_seed(7)
    first = make_tensor(5, dtype=tg.float64, device="cpu").numpy()
    tg.manual_seed(7)
    assert (make_tensor(5, dtype=tg.float64, device="cpu").numpy() == first).all()


def test_make_tensor_on_each_device(device):
    t = make_tensor(2, 3, dtype=tg.float32, device=device, noncontiguous=True)
    assert t.device == tg.device(device) and t.shape == (2, 3)


# -- strategies ------------------------------------------------------------------------------------------------


@examples(40)
@given(t=tensors(dtype=tg.float32, elements=away_from([0.0, 1.0], margin=0.2), requires_grad=True))
def test_tensors_draws_in_the_dtype_away_from_the_points(t):
    values = t.detach().numpy()
    assert t.dtype is tg.float32 and t.requires_grad and t.is_leaf
    assert (np.abs(values) >= 0.2 * (1 - 1e-6)).all() and (np.abs(values - 1) >= 0.2 * (1 - 1e-6)).all()


def test_tensors_draws_every_layout_and_0_d_and_size_1_dims():
    seen_layouts, seen = set(), set()

    @examples(150)
    @given(layout=layouts(), data=st.data())
    def draw(layout, data):
        t = data.draw(tensors(dtype=tg.float64, shape=shapes(min_dims=2, min_side=2), layout=layout))
        strides = [s // 8 for s in t._data.strides]
        contiguous = t._data.flags.c_contiguous
        expected = {
            "contiguous": contiguous,
            "transposed": t._data.flags.f_contiguous and not contiguous,
            "strided": strides[-1] == 2,
            "broadcast": strides[-1] == 0,
            "offset": contiguous and t._data.base is not None and t._data.base.size > t._data.size,
        }
        assert expected[layout], (layout, t._data.strides)
        seen_layouts.add(layout)
        seen.add(data.draw(tensors(dtype=tg.int64)).dim())

    draw()
    assert seen_layouts == set(public_strategies.LAYOUTS)
    assert 0 in seen and len(seen) > 2


@examples(60)
@given(data=st.data(), ndim=st.integers(0, 4))
def test_dims_are_valid_for_the_rank_and_cover_negative_and_tuple_dims(data, ndim):
    dim = data.draw(dims(ndim, allow_none=True))
    if dim is None:
        return
    chosen = dim if isinstance(dim, tuple) else (dim,)
    n = max(ndim, 1)
    assert all(-n <= d < n for d in chosen)
    assert len({d % n for d in chosen}) == len(chosen)
    tg.zeros(*((2,) * ndim)).sum(dim=dim)  # the engine accepts it


def test_dims_draws_negative_dims_and_tuples():
    kinds = set()

    @examples(100)
    @given(dim=dims(3))
    def draw(dim):
        kinds.add("tuple" if isinstance(dim, tuple) else "negative" if dim < 0 else "one")
        if isinstance(dim, tuple) and any(d < 0 for d in dim):
            kinds.add("negative in a tuple")

    draw()
    assert kinds == {"tuple", "negative", "one", "negative in a tuple"}


@examples(40)
@given(b=broadcastable_shapes(num_shapes=3))
def test_broadcastable_shapes_broadcast(b):
    assert np.broadcast_shapes(*b.input_shapes) == b.result_shape


def test_away_from_refuses_a_domain_with_nothing_left():
    with pytest.raises(ValueError, match="no value"):
        away_from([0.0], margin=3.0, lo=-1.0, hi=1.0)


def test_import_tinygrad_edu_does_not_load_hypothesis_and_its_absence_is_named():
    code = (
        "import sys; import tinygrad_edu; assert 'hypothesis' not in sys.modules; "
        "tinygrad_edu.testing.assert_close(tinygrad_edu.ones(2), tinygrad_edu.ones(2)); "
        "assert 'hypothesis' not in sys.modules; sys.modules['hypothesis'] = None\n"
        "try:\n    tinygrad_edu.testing.check_op\nexcept ImportError as e:\n    print(e)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert "pip install hypothesis" in out.stdout


# -- check_op --------------------------------------------------------------------------------------------------


class Softplus(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (1 + x.exp()).log()

    @staticmethod
    def backward(ctx, grad):  # d softplus(x)/dx = sigmoid(x)
        (x,) = ctx.saved_tensors
        return grad * x.sigmoid()


class SoftplusWrongBackward(Softplus):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x.sigmoid() * (x < 0.5)  # wrong where x >= 0.5


def softplus_reference(x):
    return np.log1p(np.exp(x))


def test_check_op_passes_a_correct_function_against_numpy_and_torch(torch):
    check_op(Softplus.apply, reference=softplus_reference, max_examples=10)
    check_op(Softplus.apply, reference=torch.nn.functional.softplus, max_examples=5)
    check_op(lambda a, b: a * b + a, reference=lambda a, b: a * b + a, broadcast=True, max_examples=10)


def test_check_op_names_the_element_of_a_wrong_backward():
    with pytest.raises(CheckOpError) as caught:
        check_op(SoftplusWrongBackward.apply, shape=st.just((2, 3)), max_examples=20)
    message = str(caught.value)
    assert "check_op(SoftplusWrongBackward.apply) failed on drawn inputs" in message
    assert "gradcheck failed for input 0 (shape (2, 3)) at element (" in message
    # the smallest example is printed with its values, and the values are the shrunk ones (all alike)
    assert "input 0: shape (2, 3), layout contiguous, values [[1., 1., 1.]," in message


@pytest.mark.parametrize(
    "fn, reference, found",
    [
        (lambda x: x * 2, lambda x: x * 2.001, "output 0 differs from the reference"),
        (lambda x: x.double() * 2, None, "output 0 has dtype float64, its inputs float32"),
        (lambda x: x.add_(1).clone() if not x.requires_grad else x * 1, None, None),
    ],
    ids=["value", "dtype", "fine"],
)
def test_check_op_checks_values_and_dtypes(fn, reference, found):
    if found is None:
        check_op(fn, reference=reference, grad=False, gradgrad=False, max_examples=5)
        return
    with pytest.raises(CheckOpError, match=found):
        check_op(fn, reference=reference, grad=False, gradgrad=False, max_examples=10)


class MutatesItsInput(Function):
    @staticmethod
    def forward(ctx, x):
        x.mul_(1.5)  # a detached view of the input: writes into the caller's tensor
        return x * 1

    @staticmethod
    def backward(ctx, grad):
        return grad * 1.5


class GradAliasesInput(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.sum()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return x  # the input itself as its gradient: wrong, and sharing its memory


class BrokenOnEmpty(Function):
    @staticmethod
    def forward(ctx, x):
        return x - x.max() + x.max()  # the max of no elements is an error

    @staticmethod
    def backward(ctx, grad):
        return grad


class BrokenOn0d(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2 if x.dim() == 0 else x * 1  # twice the value for a 0-d input

    @staticmethod
    def backward(ctx, grad):
        return grad


@pytest.mark.parametrize(
    "function, found",
    [
        (MutatesItsInput, "the op changed input 0 (first at element "),
        (GradAliasesInput, "shares memory with input 0"),
        (BrokenOnEmpty, "failed on empty inputs"),
        (BrokenOn0d, "failed on 0-d inputs"),
    ],
    ids=lambda v: getattr(v, "__name__", "message"),
)
def test_check_op_checks_the_invariants(function, found):
    with pytest.raises(CheckOpError) as caught:
        # shapes with a dim, none of size 0: only the 0-d and the empty phases can see the last two
        check_op(function.apply, shape=shapes(min_dims=1), layouts=public_strategies.TIE_FREE_LAYOUTS, max_examples=10)
    assert found in str(caught.value)


def test_check_op_refuses_what_it_cannot_use():
    with pytest.raises(TypeError, match="num_inputs"):
        check_op(lambda *xs: xs[0])
    with pytest.raises(TypeError, match="domain must be"):
        check_op(Softplus.apply, domain=[0, 1])
    with pytest.raises(TypeError, match="floating"):
        check_op(Softplus.apply, dtypes=(tg.int64,))


def test_check_op_ignores_warnings_of_nothing():  # the example of docs/testing.md runs cleanly
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_op(Softplus.apply, reference=softplus_reference, grad=False, gradgrad=False, max_examples=3)


# -- the docs page ---------------------------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[1] / "docs" / "testing.md"


def _section_blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced block in docs/testing.md's "Test your own op" section, in order."""
    text = DOCS.read_text(encoding="utf-8").split("## Test your own op", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```(\w+)\n(.*?)^```", text, re.M | re.S)


def test_the_docs_example_runs_and_its_printed_failure_is_what_check_op_says():
    blocks = _section_blocks()
    assert [language for language, _ in blocks] == ["python", "text", "python"]
    (_, wrong), (_, printed), (_, fixed) = blocks
    namespace: dict = {}
    with pytest.raises(CheckOpError) as caught:
        exec(compile(wrong, str(DOCS), "exec"), namespace)
    message = f"CheckOpError: {caught.value}".splitlines()
    shown = printed.strip().splitlines()
    assert message[:3] == shown[:3]  # the op, the phase, the smallest example's dtype and device
    assert "at element ()" in shown[-1]
    if settings.default.derandomize:  # the ci profile: the same example every run, so the same numbers
        assert message == shown
    exec(compile(fixed, str(DOCS), "exec"), namespace)  # the fixed backward passes every check


def test_check_op_on_each_device(device):
    check_op(Softplus.apply, reference=softplus_reference, devices=(device,), max_examples=5)
    with pytest.raises(CheckOpError, match=f"device {device}"):
        check_op(lambda x: x * 2, reference=lambda x: x * 3, devices=(device,), grad=False, gradgrad=False)
