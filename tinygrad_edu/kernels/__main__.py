"""``python -m tinygrad_edu.kernels``: the table of fast paths, and which of them can run on this machine."""

from . import describe, numba_available

print(describe())
print(f"\nnumba {'found: the cpu kernels can run' if numba_available() else 'missing: only the numpy paths run'}")
