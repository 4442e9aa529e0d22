"""Random numbers as PyTorch's CPU draws them, bit for bit: a Mersenne Twister and PyTorch's transforms.

The engine is MT19937 (Matsumoto and Nishimura, 1998): 624 words of 32 bits of state; ``next_state`` "twists"
all 624 into the next 624, and each output is one state word "tempered" by a few shifts and masks. PyTorch seeds
it from the low 32 bits of the seed (``initial_seed`` still reports all 64) and reads the state as it is, so
``manual_seed(s)`` here and in PyTorch give the same words, and then the same numbers through the same transforms:

* ``uniform``: float32 from the low 24 bits of one word, float64 from the low 53 bits of two (``random64``);
* ``normal``: Box-Muller. A tensor of 16+ elements is first filled with uniforms, then each block of 16 becomes
  16 normals (the last, partial block is redrawn as a whole); a smaller one draws float64 pairs one element at a
  time and keeps the second normal of a pair for the next call;
* ``integers``: ``word % range + low``, with one word when the range is below 2²⁸, else with two;
* ``bernoulli``: a uniform below p; ``randperm`` and ``multinomial``: PyTorch's CPU algorithms (see each).

The ``cuda`` device keeps its own counter-based generator (``backend.CountingGenerator``): PyTorch's CUDA
numbers come from Philox in a GPU kernel, which this engine does not reproduce.
"""

from __future__ import annotations

import contextlib
import math
import numbers

import numba
import numpy
from numba.extending import intrinsic

from . import backend, dtypes

N, M = 624, 397  # the state's length in words, and the distance of the word each twist mixes in
MATRIX_A, UPPER, LOWER = numpy.uint32(0x9908B0DF), numpy.uint32(0x80000000), numpy.uint32(0x7FFFFFFF)
DEFAULT_SEED = 67280421310721  # PyTorch's generators' seed before any manual_seed
STATE_BYTES = 5056  # PyTorch's CPU generator state (CPUGeneratorImplState); 5048 is the older layout


def seeded_state(seed: int) -> numpy.ndarray:
    """The 624 words after seeding: s[0] = the seed's low 32 bits, s[j] = 1812433253·(s[j-1] ⊕ s[j-1]≫30) + j."""
    words = [seed & 0xFFFFFFFF]
    for j in range(1, N):  # each word needs the previous one: a loop, once per seeding
        words.append((1812433253 * (words[-1] ^ (words[-1] >> 30)) + j) & 0xFFFFFFFF)
    return numpy.array(words, dtype=numpy.uint32)


def _twist(upper_of, lower_of):
    """(the top bit of ``upper_of`` with the low 31 of ``lower_of``) ≫ 1, ⊕ MATRIX_A when ``lower_of`` is odd."""
    mixed = (upper_of & UPPER) | (lower_of & LOWER)
    return (mixed >> numpy.uint32(1)) ^ numpy.where(lower_of & numpy.uint32(1), MATRIX_A, numpy.uint32(0))


def next_state(s: numpy.ndarray) -> numpy.ndarray:
    """The next 624 words: new[i] = new-or-old[i + 397 mod 624] ⊕ twist(old[i], old[i + 1]), i in order.

    Word i reads word i + 397, which is still old for i < 227 and already new after: the loop's order matters only
    through that, so three slices do it (each reads new words of the slice before) and the last word wraps."""
    new = numpy.empty_like(s)
    new[0:227] = s[397:624] ^ _twist(s[0:227], s[1:228])
    new[227:454] = new[0:227] ^ _twist(s[227:454], s[228:455])
    new[454:623] = new[227:396] ^ _twist(s[454:623], s[455:624])
    new[623:624] = new[396:397] ^ _twist(s[623:624], new[0:1])
    return new


def temper(y: numpy.ndarray) -> numpy.ndarray:
    """The output of state words y: a fixed invertible scramble that spreads each bit over the word."""
    y = y ^ (y >> numpy.uint32(11))
    y = y ^ ((y << numpy.uint32(7)) & numpy.uint32(0x9D2C5680))
    y = y ^ ((y << numpy.uint32(15)) & numpy.uint32(0xEFC60000))
    return y ^ (y >> numpy.uint32(18))


@numba.njit(cache=True)
def _generate(state, left, nxt, out):
    """Fill ``out`` with the next outputs, twisting ``state`` in place when its 624 words are used up; returns
    the new (left, next). The twist is the loop that ``next_state`` slices: word i from words i, i+1, i+397."""
    for k in range(out.size):
        left -= 1
        if left == 0:
            for i in range(N):
                mixed = (state[i] & UPPER) | (state[(i + 1) % N] & LOWER)
                twisted = (mixed >> numpy.uint32(1)) ^ (
                    MATRIX_A if state[(i + 1) % N] & numpy.uint32(1) else numpy.uint32(0)
                )
                state[i] = state[(i + M) % N] ^ twisted
            left, nxt = N, 0
        y = state[nxt]
        nxt += 1
        y ^= y >> numpy.uint32(11)
        y ^= (y << numpy.uint32(7)) & numpy.uint32(0x9D2C5680)
        y ^= (y << numpy.uint32(15)) & numpy.uint32(0xEFC60000)
        y ^= y >> numpy.uint32(18)
        out[k] = y
    return left, nxt


class MT19937:
    """The engine: ``words(n)`` are its next n 32-bit outputs, ``words64(n)`` n outputs of 64 bits, each made of
    two words (the first one high). ``left`` and ``next`` count as PyTorch's do: a twist is due when left is 1."""

    def __init__(self, seed: int = 5489):
        self.seed = seed
        self.state = seeded_state(seed)
        self.left, self.next = 1, 0

    def words(self, n: int) -> numpy.ndarray:
        """The next n outputs: ``next_state`` and ``temper`` above, compiled into one loop (``_generate``)."""
        out = numpy.empty(n, dtype=numpy.uint32)
        self.left, self.next = _generate(self.state, self.left, self.next, out)
        return out

    def words_reference(self, n: int) -> numpy.ndarray:
        """The same outputs with NumPy's array operations alone: the reference ``_generate`` is tested against."""
        out = numpy.empty(n, dtype=numpy.uint32)
        filled = 0
        while filled < n:
            if self.left == 1:
                self.state = next_state(self.state)
                self.left, self.next = N + 1, 0
            take = min(self.left - 1, n - filled)
            out[filled : filled + take] = self.state[self.next : self.next + take]
            self.next += take
            self.left -= take
            filled += take
        return temper(out)

    def words64(self, n: int) -> numpy.ndarray:
        pairs = self.words(2 * n).astype(numpy.uint64)
        return (pairs[0::2] << numpy.uint64(32)) | pairs[1::2]


# -- transforms -------------------------------------------------------------------------------------------


@intrinsic
def _fma(typingctx, a, b, c):
    """a·b + c rounded once, as C's fma (PyTorch's Box-Muller ends with one)."""

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, b, c), codegen


_F = numpy.float32
_LOG_POLY = tuple(
    _F(c)
    for c in (
        7.0376836292e-2,
        -1.1514610310e-1,
        1.1676998740e-1,
        -1.2420140846e-1,
        1.4249322787e-1,
        -1.6668057665e-1,
        2.0000714765e-1,
        -2.4999993993e-1,
        3.3333331174e-1,
    )
)


@numba.njit(cache=True)
def _log_f32(x):
    """log x in float32 as PyTorch's x86 normal kernel computes it (Cephes' polynomial, as in avx_mathfun.h):
    x = m·2^e with m in [√½, √2), log x = e·log 2 + log1p(m - 1), log 2 split in two parts for accuracy. The
    multiply-adds are fused where the compiled kernel fuses them."""
    mantissa, exponent = math.frexp(x)  # x = mantissa·2^exponent, mantissa in [½, 1): the float's own fields
    m, e = _F(mantissa), _F(exponent)
    if m < _F(0.707106781186547524):
        e = e - _F(1)
        t = (m - _F(1)) + m
    else:
        t = m - _F(1)
    z = t * t
    y = _LOG_POLY[0]
    for k in range(1, 9):
        y = _fma(y, t, _LOG_POLY[k])
    y = _fma(y * t, z, e * _F(-2.12194440e-4))
    y = y - z * _F(0.5)
    return _fma(e, _F(0.693359375), t + y)


@numba.njit(cache=True)
def _sincos_f32(x):
    """(sin x, cos x) in float32 as PyTorch's x86 normal kernel computes them (Cephes, as in avx_mathfun.h): x is
    reduced by a multiple j of π/4 (in three parts, for accuracy), then one polynomial gives the sine and one the
    cosine of the remainder, swapped and negated as j's octant says."""
    negative = x < 0
    x = abs(x)
    j = (numpy.int32(x * _F(1.27323954473516)) + 1) & ~1  # 4/π·x, rounded up to even
    y = _F(j)
    x = _fma(y, _F(-0.78515625), x)
    x = _fma(y, _F(-2.4187564849853515625e-4), x)
    x = _fma(y, _F(-3.77489497744594108e-8), x)
    z = x * x
    cos_poly = _fma(_fma(_F(2.443315711809948e-5), z, _F(-1.388731625493765e-3)), z, _F(4.166664568298827e-2))
    cos_poly = _fma(cos_poly * z, z, -(z * _F(0.5))) + _F(1)
    sin_poly = _fma(_fma(_F(-1.9515295891e-4), z, _F(8.3321608736e-3)), z, _F(-1.6666654611e-1))
    sin_poly = _fma(sin_poly * z, x, x)
    sine, cosine = (sin_poly, cos_poly) if (j & 2) == 0 else (cos_poly, sin_poly)
    if negative ^ ((j & 4) != 0):
        sine = -sine
    if ((j - 2) & 4) == 0:
        cosine = -cosine
    return sine, cosine


@numba.njit(cache=True)
def _box_muller_blocks_f32(data, mean, std):
    """float32 blocks of 16 as PyTorch's x86 kernel (8 lanes of AVX2) makes them, with its log and sincos."""
    two_pi = _F(2 * math.pi)
    for block in range(0, data.size - 15, 16):
        for j in range(block, block + 8):
            radius = numpy.sqrt(_F(-2) * _log_f32(_F(1) - data[j]))
            sine, cosine = _sincos_f32(two_pi * data[j + 8])
            data[j] = _fma(radius * cosine, std, mean)
            data[j + 8] = _fma(radius * sine, std, mean)


@numba.njit(cache=True)
def _box_muller_blocks(data, mean, std):
    """Each block of 16 float64 uniforms becomes 16 normals:
    r = √(-2·log(1 - u[j])), θ = 2π·u[j+8]; out[j] = r·cos θ·std + mean, out[j+8] = r·sin θ·std + mean."""
    for block in range(0, data.size - 15, 16):
        for j in range(block, block + 8):
            radius = math.sqrt(-2.0 * math.log(1.0 - data[j]))  # 1 - u: [0, 1) -> (0, 1], for the log
            theta = 2.0 * math.pi * data[j + 8]
            data[j] = _fma(radius * math.cos(theta), std, mean)
            data[j + 8] = _fma(radius * math.sin(theta), std, mean)


@numba.njit(cache=True)
def _scale(x, width, low):
    """x·width + low, rounded once (the compiled kernel fuses the multiply-add)."""
    out = numpy.empty_like(x)
    for i in range(x.size):
        out[i] = _fma(x[i], width, low)
    return out


@numba.njit(cache=True)
def _affine(x, std, mean):
    """x·std + mean, rounded once: a cached normal, scaled as the compiled kernel scales it."""
    return _fma(x, std, mean)


@numba.njit(cache=True)
def _box_muller_pairs(u1, u2, mean, std):
    """float64 normals one at a time: r = √(-2·log1p(-u2)), θ = 2π·u1; (r·cos θ·std + mean, r·sin θ)."""
    first = numpy.empty(u1.size)
    second = numpy.empty(u1.size)
    for i in range(u1.size):
        radius = math.sqrt(-2.0 * math.log1p(-u2[i]))
        theta = 2.0 * math.pi * u1[i]
        first[i] = _fma(radius * math.cos(theta), std, mean)
        second[i] = radius * math.sin(theta)
    return first, second


@numba.njit(cache=True)
def _exponential(u, rate):
    """-log1p(-u)/rate for each uniform u (the C library's log1p, as PyTorch's kernel calls it)."""
    out = numpy.empty(u.size)
    for i in range(u.size):
        out[i] = -1.0 / rate * math.log1p(-u[i])
    return out


@numba.njit(cache=True)
def _shuffle_small(perm, words):
    """Swap perm[i] with perm[i + words[i] % (n - i)], i = 0 .. n - 2 (Fisher-Yates)."""
    n = perm.size
    for i in range(n - 1):
        z = i + numpy.int64(words[i] % numpy.uint32(n - i))
        perm[i], perm[z] = perm[z], perm[i]


@numba.njit(cache=True)
def _shuffle_large(perm, words):
    """Fisher-Yates without a first fill: perm[i] = perm[z], perm[z] = i, z = words[i] % (i + 1)."""
    for i in range(perm.size):
        z = numpy.int64(words[i] % numpy.uint64(i + 1))
        perm[i] = perm[z]
        perm[z] = i


@numba.njit(cache=True)
def _search(cdf, u):
    """For each u, the first index whose cumulative probability is not below it (a binary search)."""
    out = numpy.empty(u.size, dtype=numpy.int64)
    for k in range(u.size):
        left, right = 0, cdf.size
        while right - left > 0:
            mid = left + (right - left) // 2
            if cdf[mid] < u[k]:
                left = mid + 1
            else:
                right = mid
        out[k] = left
    return out


_STATE_LAYOUT = numpy.dtype(
    {
        "names": [
            "seed",
            "left",
            "seeded",
            "next",
            "state",
            "normal_y",
            "normal_is_valid",
            "float_normal",
            "float_valid",
        ],
        "formats": ["<u8", "<i4", "<i4", "<u8", ("<u8", N), "<f8", "<i4", "<f4", "u1"],
        "offsets": [0, 8, 12, 16, 24, 5024, 5040, 5048, 5052],
        "itemsize": STATE_BYTES,
    }
)


class Generator:
    """``Generator(device='cpu')``: a random number generator, as ``torch.Generator``. On the CPU its numbers
    are PyTorch's for the same seed; ``Generator('cuda')`` is the counter-based CUDA generator."""

    # the arrays layer cannot make Tensors: factories.py installs the function that wraps a state's bytes
    _as_tensor = staticmethod(lambda array: array)

    def __new__(cls, device="cpu"):
        dev = backend.canonical(device)
        if dev.type == "cuda":
            return backend.CountingGenerator(backend.array_module(dev), DEFAULT_SEED)
        return super().__new__(cls)

    def __init__(self, device="cpu"):
        self.device = backend.CPU
        self._reset(DEFAULT_SEED)

    def _reset(self, seed: int) -> None:
        self.engine = MT19937(seed)
        self.next_double_normal = None  # the second normal of the last scalar Box-Muller pair
        self.next_float_normal = None

    def manual_seed(self, seed) -> Generator:
        self._reset(check_seed(seed))
        return self

    def seed(self) -> int:
        """Seed from the operating system's entropy, and return that seed."""
        value = int(numpy.random.SeedSequence().entropy % 2**64)
        self._reset(value)
        return value

    def initial_seed(self) -> int:
        return self.engine.seed

    def get_state(self):
        """The state as PyTorch's 5056-byte CPU state: a uint8 tensor that PyTorch's set_state accepts."""
        record = numpy.zeros((), dtype=_STATE_LAYOUT)
        record["seed"], record["left"], record["seeded"], record["next"] = (
            self.engine.seed,
            self.engine.left,
            1,
            self.engine.next,
        )
        record["state"] = self.engine.state
        if self.next_double_normal is not None:
            record["normal_y"], record["normal_is_valid"] = self.next_double_normal, 1
        if self.next_float_normal is not None:
            record["float_normal"], record["float_valid"] = self.next_float_normal, 1
        return self._as_tensor(numpy.frombuffer(record.tobytes(), dtype=numpy.uint8).copy())

    def set_state(self, new_state) -> Generator:
        if isinstance(new_state, dict):
            raise TypeError(
                "set_state: this state is a dict (an older tinygrad_edu's NumPy generator, or the cuda generator's "
                "state): the CPU generator's state is PyTorch's 5056 bytes, a uint8 tensor"
            )
        if isinstance(new_state, (list, tuple)):  # the bytes as a checkpoint's JSON header stores them
            if not all(isinstance(b, int) and 0 <= b < 256 for b in new_state):
                raise TypeError("set_state: a list state must hold bytes (ints in 0 .. 255)")
            new_state = numpy.array(new_state, dtype=numpy.uint8)
        array = numpy.asarray(new_state.numpy() if hasattr(new_state, "numpy") else new_state)
        if array.dtype != numpy.uint8:
            raise TypeError(f"RNG state must be a torch.ByteTensor (uint8), but got {array.dtype}")
        size = array.size
        if size not in (STATE_BYTES, STATE_BYTES - 8):
            raise RuntimeError(
                "Expected either a THGeneratorState of size 5048 or a CPUGeneratorImplState of size 5056 but "
                f"found the input RNG state size to be {size}"
            )
        record = numpy.frombuffer(numpy.pad(array.reshape(-1), (0, STATE_BYTES - size)).tobytes(), _STATE_LAYOUT)[0]
        left, nxt = int(record["left"]), int(record["next"])
        if not (record["seeded"] and 0 < left <= N and nxt <= N):
            raise RuntimeError(
                "The input RNG state must be a valid mt19937 state (seeded, 0 < left <= 624, next <= 624)"
            )
        engine = MT19937.__new__(MT19937)
        engine.seed, engine.left, engine.next = int(record["seed"]), left, nxt
        engine.state = record["state"].astype(numpy.uint32)
        self.engine = engine
        self.next_double_normal = float(record["normal_y"]) if record["normal_is_valid"] else None
        valid_float = size == STATE_BYTES and record["float_valid"]
        self.next_float_normal = numpy.float32(record["float_normal"]) if valid_float else None
        return self

    def __repr__(self) -> str:
        return f"<tinygrad_edu.Generator device='cpu' initial_seed={self.initial_seed()}>"

    # -- the draws: PyTorch's CPU transforms --------------------------------------------------------------

    def uniform(self, n: int, np_dtype, low: float = 0.0, high: float = 1.0) -> numpy.ndarray:
        """n uniforms in [low, high): float64 from 53 bits of two words, the others from 24 bits of one, computed
        in float32 and then rounded (float16); a value rounded up to ``high`` becomes ``low``."""
        if np_dtype == numpy.float64:
            x = (self.engine.words64(n) & numpy.uint64(2**53 - 1)) * (1.0 / 2**53)
            out = x if (low, high) == (0.0, 1.0) else _scale(x, high - low, float(low))
        else:
            x = (self.engine.words(n) & numpy.uint32(2**24 - 1)).astype(numpy.float32) * numpy.float32(1 / 2**24)
            low32, high32 = numpy.float32(low), numpy.float32(high)
            out = (x if (low, high) == (0.0, 1.0) else _scale(x, high32 - low32, low32)).astype(np_dtype)
        out[out == np_dtype.type(high)] = np_dtype.type(low)
        return out

    def normal(self, n: int, np_dtype, mean: float = 0.0, std: float = 1.0) -> numpy.ndarray:
        """n normals N(mean, std²) as PyTorch's CPU ``normal_`` makes them for a contiguous tensor."""
        if n >= 16:
            work = numpy.float64 if np_dtype == numpy.float64 else numpy.float32
            blocks = _box_muller_blocks if work == numpy.float64 else _box_muller_blocks_f32
            # float32/64 fill all n with uniforms first; float16 (computed in float32) only the full blocks
            data = self.uniform(n if work == np_dtype else n - n % 16, numpy.dtype(work))
            blocks(data, work(mean), work(std))
            data = numpy.resize(data, n) if data.size < n else data
            if n % 16:  # the last 16 are drawn again, whole, and replace the tail of the last full block
                tail = self.uniform(16, numpy.dtype(work))
                blocks(tail, work(mean), work(std))
                data[n - 16 :] = tail
            return data.astype(np_dtype, copy=False)
        out = numpy.empty(n)
        for i in range(n):  # at most 15: the cached second normal decides each element's draws
            if self.next_double_normal is not None:
                out[i] = _affine(self.next_double_normal, float(std), float(mean))
                self.next_double_normal = None
                continue
            u = self.uniform(2, numpy.dtype(numpy.float64))
            first, second = _box_muller_pairs(u[:1], u[1:], float(mean), float(std))
            out[i], self.next_double_normal = first[0], float(second[0])
        return out.astype(np_dtype)

    def integers(self, n: int, low: int, high: int) -> numpy.ndarray:
        """n integers in [low, high) as int64: word % (high - low) + low, one word for a range below 2²⁸."""
        span = high - low
        words = self.engine.words64(n) if span >= 2**28 else self.engine.words(n).astype(numpy.uint64)
        offsets = words % numpy.uint64(span)
        return (offsets + numpy.uint64(low % 2**64)).view(numpy.int64)

    def random_bits(self, n: int, np_dtype) -> numpy.ndarray:
        """``random_()`` with no range: [0, 2^digits] for a float dtype, [0, max] for an integer one, bool from the
        lowest bit; float64 and int64 take two words per element, the others one."""
        np_dtype = numpy.dtype(np_dtype)
        if np_dtype == numpy.bool_:
            return (self.engine.words(n) & numpy.uint32(1)).astype(bool)
        if np_dtype.kind == "f":
            span = 2 ** (numpy.finfo(np_dtype).nmant + 1) + 1
        else:
            span = int(numpy.iinfo(np_dtype).max) + 1
        wide = np_dtype in (numpy.float64, numpy.int64)
        words = self.engine.words64(n) if wide else self.engine.words(n).astype(numpy.uint64)
        return (words % numpy.uint64(span)).astype(np_dtype)

    def bernoulli(self, p: numpy.ndarray) -> numpy.ndarray:
        """One draw per element of the float array ``p``: u < p, u a float64 uniform for a float64 p, else a
        float32 one (PyTorch's kernel compares in float for a float32 or float16 p)."""
        if p.dtype == numpy.float64:
            return self.uniform(p.size, numpy.dtype(numpy.float64)).reshape(p.shape) < p
        return self.uniform(p.size, numpy.dtype(numpy.float32)).reshape(p.shape) < p.astype(numpy.float32)

    def bernoulli_scalar(self, shape, p: float) -> numpy.ndarray:
        """``empty(shape).bernoulli_(p)`` for a Python float p: a float64 uniform below p per element."""
        n = math.prod(shape)
        return (self.uniform(n, numpy.dtype(numpy.float64)) < p).reshape(shape)

    def permutation(self, n: int) -> numpy.ndarray:
        """``randperm(n)``: Fisher-Yates from 0 .. n-1 with one word per swap; for n ≥ 2³²/20 (where % of a
        32-bit word would skew) PyTorch's variant with a 64-bit draw per position."""
        perm = numpy.arange(n, dtype=numpy.int64)
        if n < (2**32 - 1) // 20:
            _shuffle_small(perm, self.engine.words(max(n - 1, 0)))
        else:
            _shuffle_large(perm, self.engine.words64(n))
        return perm

    def exponential(self, n: int, np_dtype, rate: float = 1.0) -> numpy.ndarray:
        """n draws of Exp(rate): -log1p(-u)/rate, u a float64 uniform."""
        return _exponential(self.uniform(n, numpy.dtype(numpy.float64)), float(rate)).astype(np_dtype)


def check_seed(seed) -> int:
    """A seed as PyTorch takes it: an int in [-2⁶³, 2⁶⁴); a negative one counts from 2⁶⁴."""
    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral,)):
        if isinstance(seed, float) and seed.is_integer():
            seed = int(seed)
        else:
            raise RuntimeError(f"manual_seed expected a long, but got {type(seed).__name__}")
    seed = int(seed)
    if not -(2**63) <= seed < 2**64:
        raise RuntimeError(
            f"Overflow when unpacking the seed {seed}: it must be within the inclusive range "
            "[-0x8000_0000_0000_0000, 0xffff_ffff_ffff_ffff]"
        )
    return seed % 2**64


# -- the default generators: one per device ---------------------------------------------------------------

_defaults: dict = {}


def default_generator(dev=backend.CPU):
    """The generator a random function uses when it is given none: one per device."""
    dev = backend.canonical(dev)
    gen = _defaults.get(dev)
    if gen is None:
        gen = _defaults[dev] = Generator(dev)
        if dev.type == "cuda" and _last_seed:  # made after a manual_seed: seeded by it, as PyTorch's lazy one
            gen.manual_seed(_last_seed[0])
    return gen


_last_seed: list = []


def manual_seed(seed) -> Generator:
    """Seed the CPU generator and the CUDA one, as ``torch.manual_seed``; returns the CPU's. Like PyTorch's, it
    takes ``int(seed)`` (1.9 seeds as 1), where ``Generator.manual_seed`` takes integers only."""
    seed = check_seed(int(seed))
    _last_seed[:] = [seed]
    for dev in list(_defaults):
        if dev.type == "cuda":
            _defaults[dev].manual_seed(seed)
    return default_generator(backend.CPU).manual_seed(seed)


def seed() -> int:
    """Seed every generator from the operating system's entropy; returns the seed."""
    value = default_generator(backend.CPU).seed()
    _last_seed[:] = [value]
    for dev in list(_defaults):
        if dev.type == "cuda":
            _defaults[dev].manual_seed(value)
    return value


def initial_seed() -> int:
    return default_generator(backend.CPU).initial_seed()


def get_rng_state():
    """The CPU generator's state: PyTorch's 5056-byte layout, as a uint8 tensor."""
    return default_generator(backend.CPU).get_state()


def set_rng_state(new_state) -> None:
    default_generator(backend.CPU).set_state(new_state)


def cuda_generator():
    return default_generator(backend.device("cuda"))


@contextlib.contextmanager
def fork_rng(devices=None, enabled: bool = True, device_type: str = "cuda"):
    """Run the block with the generators' states saved, and restore them after it (as ``torch.random.fork_rng``):
    random draws inside it do not change what comes after. ``devices``: the cuda devices whose generators are
    saved too (default: those in use)."""
    if device_type != "cuda":
        raise RuntimeError(f"fork_rng: device_type {device_type!r} is not supported here: only 'cuda'")
    if not enabled:
        yield
        return
    cpu = default_generator(backend.CPU)
    saved_cpu = cpu.get_state()
    gpus = (
        [dev for dev in _defaults if dev.type == "cuda"]
        if devices is None
        else [backend.device(f"cuda:{d}") if isinstance(d, int) else backend.device(d) for d in devices]
    )
    saved_gpus = [(dev, dict(default_generator(dev).state)) for dev in gpus]
    try:
        yield
    finally:
        cpu.set_state(saved_cpu)
        for dev, state in saved_gpus:
            default_generator(dev).state = state


# -- draws into arrays, for both devices: what the random functions and in-place methods call ------------------


def resolve(generator, dev):
    """The generator to draw from for device ``dev``: the one given (checked to be of that device), or the
    device's default."""
    dev = backend.canonical(dev)
    if generator is None:
        return default_generator(dev)
    if not isinstance(generator, (Generator, backend.CountingGenerator)):
        raise TypeError(f"generator must be a tinygrad_edu.Generator, not {type(generator).__name__}")
    if generator.device.type != dev.type:
        raise RuntimeError(f"Expected a '{dev.type}' device type for generator but found '{generator.device.type}'")
    return generator


def _float_dtype(what: str, np_dtype) -> numpy.dtype:
    np_dtype = numpy.dtype(np_dtype)
    if np_dtype.kind != "f":
        raise NotImplementedError(f"{what}: samples need a floating point dtype, got {dtypes.from_numpy(np_dtype)}")
    return np_dtype


def normal(gen, shape, np_dtype, mean: float = 0.0, std: float = 1.0, what: str = "normal_"):
    """An array of ``shape`` of N(mean, std²) draws; ``what`` names the caller in errors."""
    np_dtype = _float_dtype(what, np_dtype)
    if std < 0:
        raise RuntimeError(f"{what} expects std >= 0.0, but found std {std}")
    if isinstance(gen, backend.CountingGenerator):
        work = numpy.float64 if np_dtype == numpy.float64 else numpy.float32
        return (gen.standard_normal(shape, dtype=work) * std + mean).astype(np_dtype, copy=False)
    return gen.normal(math.prod(shape), np_dtype, mean, std).reshape(shape)


def uniform(gen, shape, np_dtype, low: float = 0.0, high: float = 1.0, what: str = "uniform_"):
    """An array of ``shape`` of U[low, high) draws; ``what`` names the caller in errors."""
    np_dtype = _float_dtype(what, np_dtype)
    if low > high:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={low} > to={high}")
    if isinstance(gen, backend.CountingGenerator):
        work = numpy.float64 if np_dtype == numpy.float64 else numpy.float32
        return (gen.random(shape, dtype=work) * (high - low) + low).astype(np_dtype, copy=False)
    return gen.uniform(math.prod(shape), np_dtype, low, high).reshape(shape)


def integers(gen, shape, np_dtype, low: int, high: int):
    """An array of ``shape`` of integers in [low, high), in ``np_dtype``."""
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    if isinstance(gen, backend.CountingGenerator):
        return gen.integers(low, high, size=shape).astype(np_dtype)
    return gen.integers(math.prod(shape), low, high).reshape(shape).astype(np_dtype)


def bernoulli(gen, p, shape, np_dtype):
    """An array of ``shape`` of 0/1 draws, 1 with probability p: a float, or an array that broadcasts to shape."""
    if isinstance(p, numbers.Real):
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
        if isinstance(gen, backend.CountingGenerator):
            return (gen.random(shape) < p).astype(np_dtype)
        return gen.bernoulli_scalar(shape, float(p)).astype(np_dtype)
    if isinstance(gen, backend.CountingGenerator):
        return (gen.random(shape) < p).astype(np_dtype)
    p = numpy.ascontiguousarray(numpy.broadcast_to(backend.to_host(p), shape))
    if p.size and not ((p >= 0) & (p <= 1)).all():
        raise RuntimeError("bernoulli: all the probabilities of p must be in [0, 1]")
    return gen.bernoulli(p).astype(np_dtype)


def random_bits(gen, shape, np_dtype):
    """``random_()``: an array of ``shape`` of integers in [0, 2^mantissa] (floats) or [0, max] (integers)."""
    if isinstance(gen, backend.CountingGenerator):
        np_dtype = numpy.dtype(np_dtype)
        top = (
            2
            if np_dtype == numpy.bool_
            else (
                2 ** (numpy.finfo(np_dtype).nmant + 1) + 1
                if np_dtype.kind == "f"
                else int(numpy.iinfo(np_dtype).max) + 1
            )
        )
        return gen.integers(0, top, size=shape).astype(np_dtype)
    return gen.random_bits(math.prod(shape), np_dtype).reshape(shape)
