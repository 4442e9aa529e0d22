"""Build the notebooks from their sources: ``python notebooks/build.py`` (``--check``: say which are stale).

Each notebook is written as a Python file in jupytext's "percent" format (reviewable as code, linted as code):
``# %%`` starts a code cell, ``# %% [markdown]`` a Markdown cell whose lines are comments (``# `` stripped).
The ``.ipynb`` beside it is made from it with no outputs and fixed cell ids, so building twice gives the same
bytes and git holds no outputs (``tests/test_notebooks.py`` checks both). A notebook is only ever replaced by
a build of its own source (its metadata names the source); any other file under its name is refused.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = ("backprop.py", "lets_build_gpt.py", "inside_gpt.py", "gradients_of_gradients.py")


def cells_of(source: str) -> list[dict]:
    """The cells of a percent-format source, in order (text before the first ``# %%`` is not a cell)."""
    cells, kind, lines = [], None, []

    def close():
        if kind is not None:
            text = "\n".join(lines).strip("\n")
            if kind == "markdown":
                text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in text.split("\n"))
            cells.append({"cell_type": kind, "source": text})

    for line in source.splitlines():
        if line.startswith("# %%"):
            close()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        else:
            lines.append(line)
    close()
    return cells


def notebook_of(source_path: Path) -> dict:
    cells = []
    for n, cell in enumerate(cells_of(source_path.read_text(encoding="utf-8"))):
        entry = {"cell_type": cell["cell_type"], "id": f"{source_path.stem}-{n}", "metadata": {}}
        entry["source"] = cell["source"].splitlines(keepends=True)
        if cell["cell_type"] == "code":
            entry.update(execution_count=None, outputs=[])
        cells.append(entry)
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "built_from": source_path.name,  # how build.py knows a notebook it may replace
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def text_of(notebook: dict) -> str:
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def target_of(source_path: Path) -> Path:
    return source_path.with_suffix(".ipynb")


def build(check: bool = False) -> list[str]:
    """Write every notebook (or, with ``check``, list those whose file differs from a fresh build)."""
    stale = []
    for name in SOURCES:
        source, target = HERE / name, target_of(HERE / name)
        text = text_of(notebook_of(source))
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        stale.append(target.name)
        if check:
            continue
        if target.exists() and not _built_here(target, name):
            raise SystemExit(f"refusing to replace {target}: it is not a notebook built from {name}")
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    return stale


def _built_here(target: Path, source_name: str) -> bool:
    try:
        return json.loads(target.read_text(encoding="utf-8"))["metadata"].get("built_from") == source_name
    except (ValueError, KeyError, TypeError):
        return False


if __name__ == "__main__":
    check = "--check" in sys.argv[1:]
    changed = build(check)
    if check and changed:
        print(f"stale: {', '.join(changed)}: run python notebooks/build.py", file=sys.stderr)
        sys.exit(1)
    print(f"{'stale' if check else 'written'}: {', '.join(changed) or 'none'}")
