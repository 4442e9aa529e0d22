"""The README starts small and says only what its files say: it fits in 12 KB, its first lines are the commands
CI runs, and its results table is the result files' numbers, with their dates and commands. (The file tables
that used to be here moved to docs/, with their test: tests/test_docs.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
BENCHMARKS = REPO / "benchmarks" / "results"
EXPERIMENTS = REPO / "gpt" / "experiments" / "results"

INSTALL_AND_RUN = "pip install -e . && gpt train --preset baby"
INSTALL_AND_TEST = 'pip install -e ".[test,oracle]" && python -m pytest'


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_readme_fits_in_12_kb():
    size = len(README.encode("utf-8"))
    assert size <= 12_288, f"README.md is {size:,} bytes: move detail into docs/ (the limit is 12,288)"


def test_the_first_lines_are_the_two_commands_a_new_user_needs():
    """Install and run the main job; install and run the tests. CI (`.ci/run`) installs the project and runs the
    tests with these same commands, so the two must change together."""
    first_block = README.split("```bash\n", 1)[1].split("```", 1)[0]
    assert README.index("```bash") < 100, "the commands must come first"
    lines = first_block.splitlines()
    assert lines[0].startswith(INSTALL_AND_RUN)
    assert lines[1].startswith(INSTALL_AND_TEST)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install --quiet -e ".[test,oracle]"' in ci
    assert re.search(r"^python -m pytest\b", ci, re.M)


def test_the_time_in_the_first_line_is_the_recipe_benchmark():
    """The first line says how long the main command takes: the median wall time of `python -m benchmarks
    recipe`, rounded to the second, so it cannot drift from the measurement."""
    ours = next(r for r in _json(BENCHMARKS / "recipe.json")["rows"] if r["side"] == "ours")
    first_line = README.split("```bash\n", 1)[1].splitlines()[0]
    assert f"({round(ours['wall_s'])} s on 2 CPU cores" in first_line


# --- the results table ---------------------------------------------------------------------------------------
# Each row: a phrase of its first cell, the file its numbers come from, and the three number cells (ours,
# PyTorch, ours / PyTorch) as the README rounds them. A row of the table that no entry describes fails the test,
# so every number in the table is checked.


def _recipe():
    rows = {r["side"]: r for r in _json(BENCHMARKS / "recipe.json")["rows"]}
    return rows["ours"], rows["torch"]


def _steps(preset):
    return next(s for s in _json(BENCHMARKS / "kernels.json")["steps"] if s["preset"] == preset)


def _generation(preset, window):
    rows = _json(BENCHMARKS / "generate.json")["rows"]
    return next(r for r in rows if r["preset"] == preset and r["window"] == window)


def _rung(name):
    return next(r for r in _json(EXPERIMENTS / "lecture-ladder.json")["rungs"] if r["rung"] == name)


def _recipe_wall():
    ours, torch = _recipe()
    return [f"{ours['wall_s']:.1f}", f"{torch['wall_s']:.1f}", f"{ours['wall_s'] / torch['wall_s']:.2f}"]


def _recipe_loss():
    ours, torch = _recipe()
    return [f"{ours['val_loss'][-1]:.4f}", f"{torch['val_loss'][-1]:.4f}", None]


def _baby_step():
    step = _steps("baby")
    return [f"{step['kernels']:.1f}", f"{step['torch']:.1f}", f"{step['kernels'] / step['torch']:.2f}"]


def _lecture_step():
    step = _steps("lecture")
    return [f"{step['kernels'] / 1000:.2f}", f"{step['torch'] / 1000:.2f}", f"{step['kernels'] / step['torch']:.2f}"]


def _lecture_shift():
    row = _generation("lecture", "shift")
    ours, torch = row["ours+cache_tokens_per_s"], row["torch+cache_tokens_per_s"]
    return [f"{ours:.1f}", f"{torch:.1f}", f"{row['ratio+cache']:.2f}"]


def _layer_norm_rung():
    rung = _rung("+ LayerNorm")
    ours, torch = rung["tinygrad_edu_val"], rung["torch_val"]
    return [f"{ours['mean']:.3f} ± {ours['spread']:.3f}", f"{torch['mean']:.3f} ± {torch['spread']:.3f}", None]


ROWS = [
    ("`gpt train --preset baby` whole", BENCHMARKS / "recipe.json", _recipe_wall),
    ("its final validation loss", BENCHMARKS / "recipe.json", _recipe_loss),
    ("training step, `baby` preset", BENCHMARKS / "kernels.json", _baby_step),
    ("training step, `lecture` preset", BENCHMARKS / "kernels.json", _lecture_step),
    ("generation, lecture shape", BENCHMARKS / "generate.json", _lecture_shift),
    ("the lecture's 3-block GPT with LayerNorm", EXPERIMENTS / "lecture-ladder.json", _layer_norm_rung),
]


def results_table() -> list[list[str]]:
    section = README.split("\n## Results\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]
    return [row for row in cells[2:]]  # past the header and the |---| line


def _numbers(cell: str) -> str:
    """The numbers of a cell as written, units dropped: '152.2 s' -> '152.2', '2.071 ± 0.005' stays."""
    return " ± ".join(re.findall(r"-?\d[\d,]*(?:\.\d+)?", cell)).replace(",", "")


def test_there_is_one_results_table_and_every_row_is_checked():
    assert README.count("\n## Results\n") == 1
    table = results_table()
    assert len(table) == len(ROWS), "a row of the results table has no entry in ROWS (or an entry no row)"
    for row, (phrase, _, _) in zip(table, ROWS):
        assert phrase in row[0], f"expected the row of {phrase!r}, got {row[0]!r}"


@pytest.mark.parametrize("phrase, source, expected", ROWS, ids=[r[0].strip("`") for r in ROWS])
def test_a_results_row_is_its_result_file_rounded(phrase, source, expected):
    table = results_table()
    index = next(i for i, row in enumerate(table) if phrase in row[0])
    row = table[index]
    for cell, value in zip(row[1:4], expected()):
        if value is None:
            assert _numbers(cell) == "", f"{phrase}: expected no figure in {cell!r}"
        else:
            assert _numbers(cell) == value, f"{phrase}: the README says {cell!r}, {source.name} gives {value}"
    # the last cell names the file, its date and its command; "the same run" repeats the row above's
    where = row[4]
    if where == "the same run":
        assert index > 0 and ROWS[index - 1][1] == source
        return
    assert source.name in where and str(source.relative_to(REPO)) in where, f"{phrase}: {where!r} names no file"
    data = _json(source)
    command = data["command"].split(" --out-dir")[0]  # experiments ran with a scratch --out-dir
    assert f"`{command}`" in where, f"{phrase}: the command is {command!r}"
    if "machine" in data:  # benchmarks record their date; experiments' files have none (the commit's is given)
        assert data["machine"]["date"][:10] in where, f"{phrase}: the result file is dated {data['machine']['date']}"
    else:
        assert re.search(r"committed \d{4}-\d\d-\d\d", where), f"{phrase}: say when the result file was committed"


def test_the_lecture_figure_in_the_results_table_is_the_ladder_file():
    row = next(row for row in results_table() if "the lecture's 3-block GPT with LayerNorm" in row[0])
    assert f"(lecture: {_rung('+ LayerNorm')['lecture_val']:.2f})" in row[0]
