"""``gpt/model.py`` on PyTorch: the same file, run with its three import lines pointed at PyTorch.

The benchmarks compare our engine with PyTorch running *this* model (and the tests check that the two give
the same logits, loss and gradients), so there is no second copy of the model that could drift from the first.
The file is compiled under its own path, so a traceback from the PyTorch run points at the line of
``gpt/model.py`` that raised, and the module is cached as ``gpt.model_on_torch``.

Only the imports differ: everything else in ``gpt/model.py`` is written in the API the two libraries share.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

from . import model

# the three lines at the top of gpt/model.py, and what they become
IMPORTS = {
    "import tinygrad_edu as torch": "import torch",
    "import tinygrad_edu.nn as nn": "import torch.nn as nn",
    "from tinygrad_edu.nn import functional as F": "from torch.nn import functional as F",
}
LIBRARIES = ("tinygrad_edu", "torch")


def model_module(library: str = "torch") -> types.ModuleType:
    """The module ``gpt.model`` as it runs on ``library`` ("tinygrad_edu" or "torch")."""
    if library not in LIBRARIES:
        raise ValueError(f"library must be one of {LIBRARIES}, got {library!r}")
    if library == "tinygrad_edu":
        return model
    name = "gpt.model_on_torch"
    if name in sys.modules:
        return sys.modules[name]
    import torch  # noqa: F401 - fail here, with PyTorch's own ImportError, if it is not installed

    path = Path(model.__file__)
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    for ours, theirs in IMPORTS.items():
        if lines.count(ours) != 1:
            raise RuntimeError(f"{path}: expected the line {ours!r} exactly once, to run the model on PyTorch")
        lines[lines.index(ours)] = theirs  # same line count: tracebacks keep model.py's line numbers
    module = types.ModuleType(name, model.__doc__)
    module.__file__ = str(path)
    sys.modules[name] = module  # before running it: dataclasses look their module up while being built
    try:
        exec(compile("\n".join(lines) + "\n", str(path), "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module
