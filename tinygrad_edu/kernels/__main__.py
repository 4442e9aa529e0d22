"""``python -m tinygrad_edu.kernels``: the table of fast paths, and which of them can run on this machine."""

import os
import sys

from . import describe, numba_available

try:
    print(describe())
    print(f"\nnumba {'found: the cpu kernels can run' if numba_available() else 'missing: only the numpy paths run'}")
    sys.stdout.flush()
except BrokenPipeError:  # the reader left (`| head`): nothing more to say, and no traceback about it
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
