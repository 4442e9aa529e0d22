"""The README's file tables match the tree: every source file is named in them, and every path they name exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
PATH = re.compile(r"^(tinygrad_edu|gpt|benchmarks|tests)/[\w/.]*$")
TABLE_ROWS = [line for line in README.splitlines() if line.startswith("| `")]


def named_in_tables() -> set[str]:
    """Paths named in the first column of the tables: `dir/file.py`, or `file.py` after a `dir/...` in the cell."""
    names = set()
    for row in TABLE_ROWS:
        cell = row.split("|")[1]
        folder = ""
        for token in re.findall(r"`([^`]+)`", cell):
            if PATH.match(token):
                folder = token.rsplit("/", 1)[0] if not token.endswith("/") else token.rstrip("/")
                names.add(token.rstrip("/"))
            elif token.endswith(".py") and folder:
                names.add(f"{folder}/{token}")
        cell_and_rest = row.split("|")[2] if len(row.split("|")) > 2 else ""
        if folder:  # a folder row lists its files in the description: `peak.py`, `ops.py` ...
            names.update(f"{folder}/{t}" for t in re.findall(r"`([\w/]+\.py)`", cell_and_rest) if "/" not in t)
    return names


SOURCES = sorted(
    str(p.relative_to(REPO))
    for package in ("tinygrad_edu", "gpt", "benchmarks")
    for p in (REPO / package).rglob("*.py")
    if p.name not in ("__init__.py", "__main__.py")
)


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_file_is_in_a_readme_table(source):
    named = named_in_tables()
    folders = {n for n in named if (REPO / n).is_dir()}
    assert source in named or str(Path(source).parent) in folders, f"{source} is missing from the README's tables"


def test_every_path_in_the_tables_exists():
    missing = sorted(n for n in named_in_tables() if not (REPO / n).exists())
    assert missing == []
