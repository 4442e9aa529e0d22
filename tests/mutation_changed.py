"""The functions of the mutated code that changed since the mutation record, as mutmut's mutant-name patterns, so
that a rerun tests only them (tests/README.md, "Mutation score"):

    mutmut run --max-children 2 $(python tests/mutation_changed.py)

A function changed if a line of it (its decorators and signature included) differs from the record's commit
(``RECORD_COMMIT``), in the working tree: committed or not. A file new since then counts whole. mutmut names a
module function ``f`` ``<module>.x_f__mutmut_<n>`` and a method ``C.m`` ``<module>.xǁCǁm__mutmut_<n>``; nested
functions are mutated as part of the function around them. ``--files`` prints the changed files instead, and
``--since COMMIT`` compares with another commit, and
``--until HEAD`` takes the committed code alone (not the changes still being made in the working tree).
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# the commit whose engine the record in tests/README.md was taken on; move it when the record is retaken whole
RECORD_COMMIT = "636fffb"


def mutated_globs() -> list[str]:
    """``[tool.mutmut] only_mutate`` from pyproject.toml: the files mutmut mutates."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    return re.findall(r'"([^"]+)"', re.search(r"^only_mutate = \[(.*?)\]", text, re.M | re.S).group(1))


def mutated_files() -> list[str]:
    globs = mutated_globs()
    files = (str(p.relative_to(REPO)) for p in (REPO / "tinygrad_edu").rglob("*.py"))
    return sorted(f for f in files if any(fnmatch(f, g) for g in globs))


def changed_lines(path: str, since: str, until: str | None = None) -> set[int] | None:
    """Line numbers (in the working tree's file, or ``until``'s) that differ from ``since``; None for a file new
    since then."""
    known = subprocess.run(["git", "cat-file", "-e", f"{since}:{path}"], cwd=REPO, capture_output=True)
    if known.returncode != 0:
        return None
    diff = subprocess.run(
        ["git", "diff", "-U0", since, *([until] if until else []), "--", path],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = set()
    for start, count in re.findall(r"^@@ -\S+ \+(\d+)(?:,(\d+))? @@", diff, re.M):
        start, count = int(start), 1 if count == "" else int(count)
        lines.update(range(start, start + count) if count else [start])  # a deletion marks the line after it
    return lines


def functions(source: str) -> list[tuple[str, int, int]]:
    """(mutmut's name part, first line, last line) of each module function and method."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            found.append((f"x_{node.name}", first, node.end_lineno))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    first = min([item.lineno, *(d.lineno for d in item.decorator_list)])
                    found.append((f"xǁ{node.name}ǁ{item.name}", first, item.end_lineno))
    return found


def _source(path: str, until: str | None) -> str | None:
    if until is None:
        return (REPO / path).read_text(encoding="utf-8") if (REPO / path).exists() else None
    shown = subprocess.run(["git", "show", f"{until}:{path}"], cwd=REPO, capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


def changed_patterns(since: str = RECORD_COMMIT, until: str | None = None) -> tuple[list[str], list[str]]:
    """(mutant-name patterns of the changed functions, the changed files), in the working tree or at ``until``."""
    patterns, files = [], []
    for path in mutated_files():
        source = _source(path, until)
        if source is None:  # not in that commit: a file still being written
            continue
        lines = changed_lines(path, since, until)
        if lines is not None and not lines:
            continue
        files.append(path)
        module = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for name, first, last in functions(source):
            if lines is None or any(first <= n <= last for n in lines):
                patterns.append(f"{module}.{name}__mutmut_*")
    return patterns, files


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--since", default=RECORD_COMMIT, help="the commit to compare with (the record's)")
    parser.add_argument("--until", default=None, help="a commit to compare instead of the working tree (HEAD)")
    parser.add_argument("--files", action="store_true", help="print the changed files, not the mutant patterns")
    args = parser.parse_args(argv)
    patterns, files = changed_patterns(args.since, args.until)
    print("\n".join(files if args.files else patterns))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
