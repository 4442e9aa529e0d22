"""``gpt/model.py`` (and ``gpt/lecture.py``) on PyTorch: the same file, run with its import lines pointed at PyTorch.

The benchmarks compare our engine with PyTorch running *this* model (and the tests check that the two give
the same logits, loss and gradients), and the lecture-ladder experiment trains the lecture's modules on both, so
there is no second copy of a model that could drift from the first. A file is compiled under its own path, so a
traceback from the PyTorch run points at the line that raised, and the module is cached as ``gpt.<name>_on_torch``.

Only the imports differ: the three lines that name the library, and a relative import of another of these files
(``from .model import generate`` becomes ``from gpt.model_on_torch import generate``, loaded first). Everything
else is written in the API the two libraries share.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
from pathlib import Path

# the three lines at the top of gpt/model.py and gpt/lecture.py, and what they become
IMPORTS = {
    "import tinygrad_edu as torch": "import torch",
    "import tinygrad_edu.nn as nn": "import torch.nn as nn",
    "from tinygrad_edu.nn import functional as F": "from torch.nn import functional as F",
}
LIBRARIES = ("tinygrad_edu", "torch")
PORTABLE = ("gpt.model", "gpt.lecture")  # the files written in the shared API
RELATIVE_IMPORT = re.compile(r"^from \.(\w+) import (.+)$")


def model_module(library: str = "torch") -> types.ModuleType:
    """The module ``gpt.model`` as it runs on ``library`` ("tinygrad_edu" or "torch")."""
    return module_on(library, "gpt.model")


def module_on(library: str, name: str) -> types.ModuleType:
    """The module ``name`` (one of ``PORTABLE``) as it runs on ``library`` ("tinygrad_edu" or "torch")."""
    if library not in LIBRARIES:
        raise ValueError(f"library must be one of {LIBRARIES}, got {library!r}")
    if name not in PORTABLE:
        raise ValueError(f"only {PORTABLE} are written to run on both libraries, not {name!r}")
    ours = importlib.import_module(name)
    if library == "tinygrad_edu":
        return ours
    torch_name = f"{name}_on_torch"
    if torch_name in sys.modules:
        return sys.modules[torch_name]
    import torch  # noqa: F401 - fail here, with PyTorch's own ImportError, if it is not installed

    path = Path(ours.__file__)
    lines = path.read_text(encoding="utf-8").splitlines()
    for line_ours, line_theirs in IMPORTS.items():
        if lines.count(line_ours) != 1:
            raise RuntimeError(f"{path}: expected the line {line_ours!r} exactly once, to run it on PyTorch")
        lines[lines.index(line_ours)] = line_theirs  # same line count: tracebacks keep the file's line numbers
    for i, line in enumerate(lines):
        relative = RELATIVE_IMPORT.match(line)
        if relative:
            dependency = module_on("torch", f"gpt.{relative[1]}")
            lines[i] = f"from {dependency.__name__} import {relative[2]}"
    module = types.ModuleType(torch_name, ours.__doc__)
    module.__file__ = str(path)
    sys.modules[torch_name] = module  # before running it: dataclasses look their module up while being built
    try:
        exec(compile("\n".join(lines) + "\n", str(path), "exec"), module.__dict__)
    except BaseException:
        del sys.modules[torch_name]
        raise
    return module
