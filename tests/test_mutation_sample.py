"""The mutation record cannot rot silently: CI runs a bounded random sample of mutants of the code changed since
the record (``tests/mutation_sample.py``), and fails on a survivor that is neither killed nor recorded as
equivalent in ``tests/mutation_equivalents.py``. It samples the folders whose rerun is complete (``RECORDED``,
tests/README.md): a folder joins when its score is recorded, so CI guards what the record vouches for. The seed
is the record's commit, so a run reproduces, and the sample moves as the changed code does
(``MUTATION_SAMPLE_SEED`` sets another)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from mutation_changed import RECORD_COMMIT, REPO, changed_patterns, functions
from mutation_sample import candidates, run_sample

pytest.importorskip("mutmut", reason="mutmut is not installed (pip install -e '.[test]')")


# the folders whose mutation rerun is complete (killed or justified >= 95%, tests/README.md): kernels/, autograd/
# and promotion.py join when theirs is
RECORDED = ("tinygrad_edu.ops.",)


def _seed() -> int:
    if "MUTATION_SAMPLE_SEED" in os.environ:
        return int(os.environ["MUTATION_SAMPLE_SEED"])
    record = subprocess.run(["git", "rev-parse", RECORD_COMMIT], cwd=REPO, capture_output=True, text=True)
    return int(record.stdout.strip()[:8], 16) if record.returncode == 0 else 0


def test_the_changed_functions_are_named_as_mutmut_names_them():
    """Negative control for the rerun command: every function this finds in a file is one mutmut mutates by that
    name (its mutants carry it), and a method is named with its class."""
    path = REPO / "tinygrad_edu" / "ops" / "op.py"
    ours = {name for name, _, _ in functions(path.read_text(encoding="utf-8"))}
    pattern = [f"tinygrad_edu.ops.op.{name}__mutmut_*" for name in ours]
    mutated = {n.rsplit("__mutmut_", 1)[0] for n in candidates(pattern)["tinygrad_edu.ops.op"]}
    assert mutated and mutated <= ours and "xǁOpǁrun" in mutated


def test_a_sample_of_mutants_of_the_changed_code_is_killed_or_recorded_as_equivalent():
    patterns = [p for p in changed_patterns()[0] if p.startswith(RECORDED)]
    if not patterns:
        pytest.skip("nothing in the recorded folders changed since the record: nothing to sample")
    seed = _seed()
    verdicts = run_sample(seed, size=3, budget_s=100.0, per_mutant_s=60.0, patterns=patterns)
    assert verdicts, "no mutant ran within the budget"
    report = "\n".join(f"{v.status:9} {v.seconds:5.1f} s  {v.name}  [{v.tests}]  {v.change}" for v in verdicts)
    print(report)
    assert [v for v in verdicts if v.status == "error"] == [], f"pytest itself failed on a mutant:\n{report}"
    unexplained = [v for v in verdicts if v.status == "survived" and not v.equivalent]
    assert unexplained == [], (
        f"surviving mutants not in tests/mutation_equivalents.py (seed {seed}; rerun with "
        f"`python tests/mutation_sample.py --seed {seed}`): kill each with a test, or record why it is "
        f"equivalent\n{report}"
    )


def test_the_equivalents_record_names_only_functions_that_exist():
    """A recorded equivalent mutant of a function since removed or renamed is a stale record (mutmut numbers a
    function's mutants afresh when it changes; this catches the functions that are gone)."""
    from mutation_equivalents import EQUIVALENT

    present: dict = {}
    stale = []
    for names in (names for _, names in EQUIVALENT.values()):
        for name in names:
            module, _, function = name.rsplit("__mutmut_", 1)[0].rpartition(".")
            path = REPO / "tinygrad_edu" / Path(*module.split("."))
            path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
            if path not in present:
                present[path] = (
                    {f for f, _, _ in functions(path.read_text(encoding="utf-8"))} if path.exists() else set()
                )
            if function not in present[path]:
                stale.append(name)
    assert stale == []
