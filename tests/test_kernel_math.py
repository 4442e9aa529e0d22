"""The kernels' own arithmetic: ``kernels/exp.py``'s exp and ``kernels/bits.py``'s order-preserving keys.

They replace the C library's exp and a float maximum inside compiled loops (so that LLVM vectorizes them), so
they are checked on their own, over the whole float range, NaN, infinities and subnormals included.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_edu import kernels

pytestmark = pytest.mark.skipif(not kernels.numba_available(), reason="numba is not installed: no kernels to test")

if kernels.numba_available():
    import numba

    from tinygrad_edu.kernels import bits
    from tinygrad_edu.kernels.exp import exp
    from tinygrad_edu.kernels.fastmath import FUSED_MULTIPLY_ADD
    from tinygrad_edu.kernels.softmax import row_max

    @numba.njit(fastmath=FUSED_MULTIPLY_ADD)  # as the kernels that call exp compile it
    def exp_each(a, out):
        for i in range(a.size):
            out[i] = exp(a[i])

    @numba.njit
    def keys_of(a, out):
        for i in range(a.size):
            out[i] = bits.ordered_key(a[i])

    @numba.njit
    def back_from_keys(keys, like, out):
        for i in range(keys.size):
            out[i] = bits.from_ordered_key(keys[i], like[0])

    @numba.njit
    def row_maxima(x, out):
        for r in range(x.shape[0]):
            out[r] = row_max(x, r, x.shape[1] - 1)


EXTENDED_LONG_DOUBLE = np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant  # x86's 80-bit, say


def ulp_error(ours, x, dtype):
    """|ours - e^x| in units of the last place of e^x in ``dtype``, e^x taken in long double (at least float64's
    precision, and more on x86); a subnormal result's ulp is the smallest subnormal."""
    exact = np.exp(x.astype(np.longdouble))
    spacing = np.maximum(np.spacing(exact.astype(dtype)), np.finfo(dtype).smallest_subnormal)
    return np.abs(ours.astype(np.longdouble) - exact) / spacing


@pytest.mark.parametrize("dtype, lowest, highest", [(np.float32, -105.0, 88.7), (np.float64, -746.0, 709.7)])
def test_exp_is_within_one_ulp_over_the_whole_range(dtype, lowest, highest):
    rng = np.random.default_rng(0)
    x = np.concatenate([
        np.linspace(lowest, highest, 1_000_001),  # every binade of the result, subnormals included
        rng.uniform(-1, 1, 200_000),  # |r| < ln 2 / 2 and its neighbours, where the polynomial alone works
        rng.uniform(-20, 0, 200_000),  # softmax's and GELU's arguments
    ]).astype(dtype)  # fmt: skip
    ours = np.empty_like(x)
    exp_each(x, ours)
    if EXTENDED_LONG_DOUBLE or dtype == np.float32:
        assert ulp_error(ours, x, dtype).max() <= 1.0
    else:  # no long double beyond float64 here: NumPy's float64 exp is the reference, itself within ~0.5 ulp
        np.testing.assert_allclose(ours, np.exp(x), rtol=3e-16, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_at_the_edges_is_numpys(dtype):
    info = np.finfo(dtype)
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e4, -1e4, info.max, info.min, info.tiny, -info.tiny], dtype)
    ours = np.empty_like(x)
    exp_each(x, ours)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(ours, np.exp(x))  # 1, 1, inf, 0, nan, inf, 0, inf, 0, 1, 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_of_the_largest_and_smallest_finite_results(dtype):
    """Where e^x leaves the normal range and where it reaches the float range's end, to the ulp."""
    if dtype == np.float64 and not EXTENDED_LONG_DOUBLE:
        pytest.skip("long double is float64 here: no reference more precise than the result")
    info = np.finfo(dtype)
    edges = [np.log(info.max), np.log(info.tiny), np.log(info.smallest_subnormal)]
    x = np.concatenate([np.linspace(e - 0.5, e + 0.5, 20_001) for e in edges]).astype(dtype)
    ours = np.empty_like(x)
    exp_each(x, ours)
    with np.errstate(over="ignore"):
        exact = np.exp(x.astype(np.longdouble))
    overflow = exact > info.max
    assert np.all(np.isinf(ours[overflow & (exact > np.longdouble(info.max) * 1.0001)]))
    assert ulp_error(ours[~overflow], x[~overflow], dtype).max() <= 1.0


def check_ordered_keys(x):
    """The compiled keys are the documented ones, order the non-NaN values as ``<`` does (-0.0 < 0.0 being the
    one tie broken), and map back to the same bits, NaN payloads included."""
    keys = np.empty(x.size, np.int64)
    keys_of(x, keys)
    np.testing.assert_array_equal(keys, bits.ordered_key(x))
    finite = ~np.isnan(x)
    a, b = x[finite][:, None], x[finite][None, :]
    ka, kb = keys[finite][:, None], keys[finite][None, :]
    assert np.all((ka < kb) <= (a <= b)) and np.all((a < b) <= (ka < kb))
    back = np.empty_like(x)
    back_from_keys(keys, x, back)
    same_width = np.int32 if x.dtype == np.float32 else np.int64
    np.testing.assert_array_equal(back.view(same_width), x.view(same_width))


def floats(width):
    return st.lists(
        st.floats(width=width, allow_nan=True, allow_infinity=True, allow_subnormal=True), min_size=2, max_size=50
    )


@given(floats(32))
def test_ordered_keys_order_float32s_as_their_values(values):
    check_ordered_keys(np.array(values, np.float32))


@given(floats(64))
def test_ordered_keys_order_float64s_as_their_values(values):
    check_ordered_keys(np.array(values, np.float64))


@given(st.integers(1, 300), st.sampled_from([np.float32, np.float64]), st.data())
def test_row_max_is_numpys_max(n, dtype, data):
    """Exact, on rows of every length around the vector width; a row with a NaN gives NaN (as np.max)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((3, n)).astype(dtype)
    x[1, rng.integers(n)] = -np.inf
    x[2, rng.integers(n)] = data.draw(st.sampled_from([np.inf, -0.0, np.nan]))
    out = np.empty(3, dtype)
    row_maxima(x, out)
    np.testing.assert_array_equal(out, x.max(axis=1))


def test_an_edited_helper_file_invalidates_the_cached_kernels(tmp_path, monkeypatch):
    """numba checks only a kernel's own file; compiled_cache drops every cached kernel when any kernel source
    changes (softmax inlines exp.py's exp: an edit there alone must not leave the old softmax cached)."""
    from tinygrad_edu.kernels import compiled_cache

    folder = tmp_path / "kernels"
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "exp.py").write_text("A = 1\n")
    (folder / "softmax.py").write_text("B = 2\n")
    monkeypatch.setattr(compiled_cache, "FOLDER", folder)
    monkeypatch.setattr(compiled_cache, "FINGERPRINT", folder / "__pycache__" / "kernel-sources.sha256")
    names = ("softmax.forward-1.py311.nbi", "softmax.forward-1.py311.1.nbc")
    cached = [folder / "__pycache__" / name for name in names]
    for path in cached:
        path.write_bytes(b"compiled")
    assert compiled_cache.drop_stale_kernels()  # no fingerprint yet: whatever is cached is of unknown sources
    assert not any(p.exists() for p in cached)
    for path in cached:
        path.write_bytes(b"compiled")
    assert not compiled_cache.drop_stale_kernels() and all(p.exists() for p in cached)  # unchanged: kept
    (folder / "exp.py").write_text("A = 3\n")  # the helper changes, softmax.py does not
    assert compiled_cache.drop_stale_kernels() and not any(p.exists() for p in cached)
