"""The random bits of dropout: a counter-based hash, so that element i's bit depends on (seed, i) alone.

u(seed, i) = the top 24 bits of splitmix64(seed + (i + 1)·γ), γ = 0x9E3779B97F4A7C15 (the golden ratio in 64
bits); splitmix64's finalizer is z ← (z ⊕ z≫30)·0xBF58476D1CE4E5B9, z ← (z ⊕ z≫27)·0x94D049BB133111EB,
z ← z ⊕ z≫31, all modulo 2⁶⁴. An element is kept when u ≥ t, t = round(p·2²⁴), so P(keep) = 1 - t/2²⁴ = 1 - p
to within 3e-8. Nothing sequential: any implementation (this NumPy one, or a loop in another language) computes the same
bits for the same seed, element by element, in any order and on any number of threads; one seed per call comes
from the device's seeded generator.
"""

from __future__ import annotations

import numpy

GAMMA = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
BITS = 24

_GAMMA, _MIX1, _MIX2 = numpy.uint64(GAMMA), numpy.uint64(MIX1), numpy.uint64(MIX2)
_S30, _S27, _S31, _STOP = numpy.uint64(30), numpy.uint64(27), numpy.uint64(31), numpy.uint64(64 - BITS)


def hashed_bits(seed, counter):
    """u = the top 24 bits of splitmix64(seed + counter·γ), for uint64 ``counter`` = i + 1 (a scalar or an array
    of any array module). There is one hash, written once: it is plain arithmetic, so a compiler can take this very
    function, and ``keep_mask`` runs it on whole arrays."""
    z = counter * _GAMMA + seed
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    z = z ^ (z >> _S31)
    return z >> _STOP


def threshold(p: float) -> int:
    """t such that u ≥ t keeps an element with probability 1 - p (u uniform on 0 .. 2²⁴ - 1)."""
    return int(round(p * (1 << BITS)))


def keep_mask(xp, seed: int, shape, p: float):
    """keep[i] = u(seed, i) ≥ t over the elements of ``shape`` in C order (uint64 arithmetic wraps mod 2⁶⁴)."""
    size = int(numpy.prod(shape, dtype=numpy.int64))
    counters = xp.arange(1, size + 1, dtype=xp.uint64)
    return (hashed_bits(numpy.uint64(seed), counters) >= numpy.uint64(threshold(p))).reshape(shape)
