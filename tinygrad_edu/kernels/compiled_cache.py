"""Keep numba's on-disk cache of the kernels in step with their sources.

numba (``cache=True``) stores each compiled kernel beside its file, in ``__pycache__``, and reuses it while that
file is unchanged. It does not look at the files a kernel takes code from: softmax's kernel inlines ``exp.py``'s
exp, so after an edit of ``exp.py`` alone numba would go on loading the softmax compiled with the old exp. (A
reader changing the polynomial would see nothing change.) So before the first kernel runs, the sources of all
kernel files are fingerprinted together; when the fingerprint differs from the one the cache was built with,
the cached kernels in that folder are deleted, and numba compiles them afresh (a few seconds, once).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

FOLDER = Path(__file__).parent
FINGERPRINT = FOLDER / "__pycache__" / "kernel-sources.sha256"


def fingerprint() -> str:
    """One hash of every CPU kernel file's source (the CUDA kernels are not cached on disk)."""
    digest = hashlib.sha256()
    for path in sorted(FOLDER.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def drop_stale_kernels() -> bool:
    """Delete the cached kernels if the sources changed since they were compiled; True if any were deleted.

    A folder that cannot be written to (an installed, read-only package) is left alone: numba then caches
    elsewhere, and an installed package's files change only by reinstalling, which numba notices itself."""
    current = fingerprint()
    try:
        if FINGERPRINT.read_text() == current:
            return False
    except OSError:
        pass
    removed = False
    try:
        for cached in list(FINGERPRINT.parent.glob("*.nbi")) + list(FINGERPRINT.parent.glob("*.nbc")):
            cached.unlink(missing_ok=True)
            removed = True
        FINGERPRINT.parent.mkdir(exist_ok=True)
        partial = FINGERPRINT.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(current)
        os.replace(partial, FINGERPRINT)  # whole or not at all, for a process starting beside this one
    except OSError:
        return removed
    return removed
