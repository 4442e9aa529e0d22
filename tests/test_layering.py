"""The engine's layers, as a reader should be able to draw them, checked from the source:

    arrays (backend, dtypes, handles, the CuPy stand-in) ← ops (the reference math) ← kernels (fast paths of ops)
    ← autograd
    ← Tensor (tensor, as_array, indexing, promotion, printing, factories) ← nn, optim
    ← tools (viz, examples, the package's __init__)

Every import, at module level or inside a function, points to the same layer or one below, and no set of
modules imports itself round in a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tinygrad_edu"

LAYERS = [
    (
        "arrays",
        ("backend", "dtypes", "cuda", "handles", "simulated_cuda", "allocator", "backends", "distributed", "random"),
    ),
    ("ops", ("ops",)),
    ("kernels", ("kernels",)),
    ("autograd", ("autograd",)),
    ("tensor", ("tensor", "as_array", "indexing", "promotion", "printing", "factories", "fused", "flat_buffer")),
    ("nn and optim", ("nn", "optim", "amp", "utils")),
    ("compiler", ("compiler",)),  # traces what runs on all of the above; nothing below depends on it
    ("tools", ("viz", "examples", "serialization", "testing", "")),  # "": the package __init__, the public API
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_edges() -> dict[str, set[str]]:
    """module -> the tinygrad_edu modules it imports anywhere in its body (function-level imports included).

    ``from . import x`` counts as importing ``x``, not the package it lives in (Python has run the package's
    ``__init__`` already by then, as the parent of the importing module)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    if f"{target}.{alias.name}" in modules:
                        found.add(f"{target}.{alias.name}")
                    elif target in modules and target != name:
                        found.add(target)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in modules and a.name != name)
        edges[name] = found
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iteratively)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def layer_of(module: str) -> int:
    first = module.split(".")[1] if "." in module else ""
    for level, (_, names) in enumerate(LAYERS):
        if first in names:
            return level
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {Path(__file__).name}")


def test_the_cycle_finder_finds_a_cycle():
    """Negative control: the check below would see a circle if there were one."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_inside_the_engine():
    assert cycles(import_edges()) == []


def test_every_import_points_to_the_same_layer_or_below():
    wrong = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in import_edges().items()
        for target in targets
        if layer_of(target) > layer_of(module)
    ]
    assert wrong == []


PRIVATE_FIELDS = {"_data", "_version", "_xp", "_ctx", "_init_fields", "_wrap"}


@pytest.mark.parametrize("path", [*sorted((PACKAGE / "optim").glob("*.py")), PACKAGE / "nn" / "init.py"], ids=str)
def test_optimizers_and_init_use_the_public_in_place_api(path):
    """Parameters are updated as in PyTorch (``no_grad`` and in-place methods), never through Tensor internals."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    private = sorted({n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in PRIVATE_FIELDS})
    assert private == []
