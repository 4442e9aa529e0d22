"""The documentation holds together: every relative link in the README and the docs pages points to a file that
exists (and to a heading that exists, where it names one), and the file tables of the docs name every source
file, and only files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The pages whose links are checked: the README, every page of docs/, and the other pages the README's
# documentation table leads to that live beside their code.
PAGES = sorted(
    [REPO / "README.md", *(REPO / "docs").glob("*.md")]
    + [REPO / "benchmarks" / "README.md", REPO / "benchmarks" / "NOTES.md", REPO / "gpt" / "experiments" / "README.md"]
)
# Pages that must exist because the README sends a reader to them (a link test also catches them; this names them).
REQUIRED_PAGES = ["docs/reading-path.md", "docs/engine.md", "docs/gpt.md", "docs/cli.md", "docs/bad-inputs.md"]

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def _text(page: Path) -> str:
    return FENCE.sub("", page.read_text(encoding="utf-8"))  # links in code blocks are code, not links


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", _text(page), re.M)}


def _links(page: Path) -> list[str]:
    return [t for t in LINK.findall(_text(page)) if not re.match(r"[a-z]+:", t)]  # http:, https:, mailto:


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_relative_link_points_to_a_file_that_exists(page):
    broken = []
    for target in _links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{target} (no such heading in {file.relative_to(REPO)})")
    assert broken == [], f"{page.relative_to(REPO)}: broken links: {broken}"


@pytest.mark.parametrize("page", REQUIRED_PAGES)
def test_the_pages_the_readme_sends_readers_to_exist(page):
    assert (REPO / page).is_file(), f"{page} is linked from the README but does not exist"


# --- file tables ----------------------------------------------------------------------------------------------
# The tables of docs/engine.md (tinygrad_edu), docs/gpt.md (gpt) and benchmarks/README.md (benchmarks) name every
# source file: a row names a file (`dir/file.py`), or several (`dir/a.py`, `b.py`), or a folder whose files its
# description lists (`benchmarks/` ... `peak.py`, `ops.py`), or a folder alone (all its files).

TABLE_PAGES = [p for p in PAGES if p.name != "bad-inputs.md"]  # that one is generated: a table of messages
PATH = re.compile(r"^(tinygrad_edu|gpt|benchmarks|tests)/[\w/.]*$")


def named_in_tables() -> set[str]:
    """Paths named in the first column of the tables: `dir/file.py`, or `file.py` after a `dir/...` in the cell."""
    names = set()
    for page in TABLE_PAGES:
        for row in (line for line in _text(page).splitlines() if line.startswith("| `")):
            cells = row.split("|")
            folder = ""
            for token in re.findall(r"`([^`]+)`", cells[1]):
                if PATH.match(token):
                    folder = token.rsplit("/", 1)[0] if not token.endswith("/") else token.rstrip("/")
                    names.add(token.rstrip("/"))
                elif token.endswith(".py") and folder:
                    names.add(f"{folder}/{token}")
            description = cells[2] if len(cells) > 2 else ""
            if folder:  # a folder row lists its files in the description: `peak.py`, `ops.py` ...
                names.update(f"{folder}/{t}" for t in re.findall(r"`([\w/]+\.py)`", description) if "/" not in t)
    return names


SOURCES = sorted(
    str(p.relative_to(REPO))
    for package in ("tinygrad_edu", "gpt", "benchmarks")
    for p in (REPO / package).rglob("*.py")
    if p.name not in ("__init__.py", "__main__.py")
)


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_file_is_in_a_docs_table(source):
    named = named_in_tables()
    folders = {n for n in named if (REPO / n).is_dir()}
    assert source in named or str(Path(source).parent) in folders, f"{source} is missing from the docs' file tables"


def test_every_path_in_the_tables_exists():
    missing = sorted(n for n in named_in_tables() if not (REPO / n).exists())
    assert missing == []
