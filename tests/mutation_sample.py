"""A bounded random sample of mutants of the code changed since the mutation record, each run against the tests
that cover it, so that CI sees when the record rots (``tests/test_mutation_sample.py``; tests/README.md,
"Mutation score").

mutmut itself makes the mutants (the same generator, so the same names as ``mutmut run`` and as
``tests/mutation_equivalents.py``), of the functions ``tests/mutation_changed.py`` finds changed. Each sampled
mutant is run in a copy of the package and the tests (``MUTANT_UNDER_TEST`` picks it, as under mutmut), on:

- the tests mutmut found covering its function, where ``tests/mutation_test_map.json`` has them (written from a
  ``mutmut run``'s stats by ``python tests/mutation_sample.py --save-map STATS``: the functions whose covering
  tests took at most ``MAP_BUDGET_S`` in all);
- otherwise the suites of its folder (``FOLDER_SUITES``), on the entries named after its op class if it has one
  (``selections``), stopping at the first failure.

A mutant is *killed* when a test fails, *survives* when they all pass, and is *undecided* when its time ran out
(mutmut would count a timeout as caught; here it means only that the budget was too small to tell), and an
*error* when pytest itself failed (not a test). Run by
hand, with the seed and size as you like:

    python tests/mutation_sample.py --seed 7 --size 5
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mutation_changed import changed_patterns
from mutation_equivalents import EQUIVALENT

REPO = Path(__file__).resolve().parent.parent
MAP = REPO / "tests" / "mutation_test_map.json"
MAP_BUDGET_S = 10.0
# where a mutant of a function with no map entry is tested: the registry's and the kernels' fast suites
FOLDER_SUITES = {
    "tinygrad_edu.ops": ["tests/test_forward_numpy.py", "tests/test_gradcheck_ops.py", "tests/test_invariants.py"],
    "tinygrad_edu.promotion": ["tests/test_tensor_api.py", "tests/test_forward_numpy.py"],
    "tinygrad_edu.kernels": ["tests/test_kernels.py", "tests/test_fast_paths.py"],
    "tinygrad_edu.autograd": ["tests/test_autograd.py", "tests/test_gradcheck_tool.py", "tests/test_hooks.py"],
}


@dataclasses.dataclass
class Verdict:
    name: str  # mutmut's name: module.function__mutmut_n
    status: str  # killed, survived, undecided
    seconds: float
    tests: str  # what ran: "map" (the tests covering it) or the folder's suites
    change: str  # the mutated line, before → after

    @property
    def equivalent(self) -> bool:
        short = self.name.removeprefix("tinygrad_edu.")
        return any(short in names for _, names in EQUIVALENT.values())


def _module_path(module: str) -> Path:
    path = REPO / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _function_of(name: str) -> str:
    return name.rsplit("__mutmut_", 1)[0]


_MUTATED: dict = {}


def _mutated(module: str):
    """mutmut's mutated file of ``module`` (every mutant, behind trampolines). mutmut reads its configuration (the
    ``raise`` lines it leaves alone) from pyproject.toml in the working directory, so this runs from the root."""
    if module not in _MUTATED:
        from mutmut.mutation.file_mutation import mutate_file_contents

        path = _module_path(module)
        cwd = os.getcwd()
        os.chdir(REPO)
        try:
            _MUTATED[module] = mutate_file_contents(str(path.relative_to(REPO)), path.read_text(encoding="utf-8"))
        finally:
            os.chdir(cwd)
    return _MUTATED[module]


def candidates(patterns: list[str]) -> dict[str, list[str]]:
    """module -> its mutants (mutmut's short names) in the changed functions."""
    wanted: dict[str, set[str]] = {}
    for pattern in patterns:
        module, _, function = pattern.removesuffix("__mutmut_*").rpartition(".")
        wanted.setdefault(module, set()).add(function)
    found = {}
    for module, functions in wanted.items():
        names = [n for n in _mutated(module).mutant_names if _function_of(n) in functions]
        if names:
            found[module] = names
    return found


def _draw(rng: random.Random, patterns: list[str], size: int) -> list[str]:
    """``size`` mutants: a changed function drawn at random, then one of its mutants (a function with none, such
    as a compiled kernel, which mutmut leaves alone, is passed over). Only the drawn functions' files are
    mutated, so the cost does not grow with the number of changes."""
    chosen = []
    for pattern in rng.sample(patterns, len(patterns)):
        if len(chosen) == size:
            break
        module, _, function = pattern.removesuffix("__mutmut_*").rpartition(".")
        names = [n for n in _mutated(module).mutant_names if _function_of(n) == function]
        if names:
            chosen.append(f"{module}.{rng.choice(names)}")
    return chosen


def change_of(module: str, short_name: str) -> str:
    """The mutated line, ``before → after``, read from mutmut's mutated file."""
    mutated = _mutated(module)
    lines = mutated.code.splitlines()

    def body(function_name):
        span = mutated.line_span_by_function_name[function_name]
        stripped = (line.strip() for line in lines[span.start - 1 : span.end])
        return [line for line in stripped if not line.startswith(("def ", "@"))]  # the name differs there

    before = body(_function_of(short_name) + "__mutmut_orig")
    after = body(short_name)
    removed = [d[2:] for d in difflib.ndiff(before, after) if d.startswith("- ")]
    added = [d[2:] for d in difflib.ndiff(before, after) if d.startswith("+ ")]
    return f"`{(removed or [''])[0][:110]}` → `{(added or [''])[0][:110]}`"


def _copy_tree(destination: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", ".hypothesis", "*.nbi", "*.nbc")
    for folder in ("tinygrad_edu", "tests"):
        shutil.copytree(REPO / folder, destination / folder, ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", destination / "pyproject.toml")


def selections(name: str, test_map: dict) -> list[tuple[list[str], str]]:
    """The pytest arguments that test mutant ``name``, best first, each with where it came from: the tests that
    cover its function (the map), then, for a method of an op class (``Split``, ``SoftmaxKernel``), its folder's
    suites on the entries named after it (``-k split``), then its folder's suites whole. The next is tried when
    one cannot run: a mapped test renamed or removed since (pytest's 4), or no test of that name (5)."""
    function = _function_of(name)
    found = [(sorted(test_map[function]), "map")] if function in test_map else []
    suites = next(
        (s for prefix, s in FOLDER_SUITES.items() if name.startswith(prefix)), FOLDER_SUITES["tinygrad_edu.ops"]
    )
    short = function.rpartition(".")[2]
    if short.startswith("xǁ"):
        op = short.split("ǁ")[1].removesuffix("Kernel")
        keyword = re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower()  # MaskedFill -> masked_fill
        found.append(([*suites, "-k", keyword], f"folder -k {keyword}"))
    return [*found, (suites, "folder")]


def run_sample(seed: int, size: int, budget_s: float, per_mutant_s: float, patterns=None) -> list[Verdict]:
    """Run ``size`` mutants drawn with ``seed`` from the changed functions, within ``budget_s`` in all."""
    started = time.monotonic()
    patterns = changed_patterns()[0] if patterns is None else patterns
    chosen = _draw(random.Random(seed), sorted(patterns), size)
    test_map = json.loads(MAP.read_text(encoding="utf-8")) if MAP.exists() else {}
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="mutation-sample-") as scratch:
        root = Path(scratch)
        _copy_tree(root)
        for name in chosen:
            left = budget_s - (time.monotonic() - started)
            if left < 5:
                break
            module, _, short = name.rpartition(".")
            path = _module_path(module)
            relative = path.relative_to(REPO)
            (root / relative).write_text(_mutated(module).code, encoding="utf-8")
            env = dict(os.environ, MUTANT_UNDER_TEST=name, HYPOTHESIS_PROFILE="mutation", PYTHONPATH=str(root))
            command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
            t0, status, source = time.monotonic(), "error", ""
            try:
                for arguments, tried in selections(name, test_map):
                    source = tried  # the selection that ran, for the report
                    left = budget_s - (time.monotonic() - started)
                    result = subprocess.run(
                        [*command, *arguments],
                        cwd=root,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=max(1.0, min(per_mutant_s, left)),
                    )
                    if result.returncode not in (4, 5):
                        break
                # 1: a test failed; 2: collection failed (a mutant can break an import); 3, 4: pytest itself
                status = {0: "survived", 1: "killed", 2: "killed"}.get(result.returncode, "error")
            except subprocess.TimeoutExpired:
                status = "undecided"
            finally:
                shutil.copy(path, root / relative)  # the original back, for the next mutant
            verdicts.append(Verdict(name, status, time.monotonic() - t0, source, change_of(module, short)))
    return verdicts


def save_map(stats_path: Path = REPO / "mutants" / "mutmut-stats.json") -> int:
    """Write ``MAP`` from a mutmut run's stats: for each function whose covering tests take at most
    ``MAP_BUDGET_S`` in all, those tests (node ids, as mutmut ran them)."""
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    durations = stats["duration_by_test"]
    kept = {}
    for function, tests in stats["tests_by_mangled_function_name"].items():
        if tests and sum(durations.get(t, 0.0) for t in tests) <= MAP_BUDGET_S:
            kept[function] = sorted(tests)
    MAP.write_text(json.dumps(dict(sorted(kept.items())), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{MAP.relative_to(REPO)}: {len(kept)} functions of {len(stats['tests_by_mangled_function_name'])}")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=3)
    parser.add_argument("--budget", type=float, default=110.0, help="seconds for the whole sample")
    parser.add_argument("--per-mutant", type=float, default=60.0, help="seconds for one mutant's tests")
    parser.add_argument("--save-map", metavar="STATS", help="write the test map from mutmut's stats file (mutants/...)")
    args = parser.parse_args(argv)
    if args.save_map:
        return save_map(Path(args.save_map))
    verdicts = run_sample(args.seed, args.size, args.budget, args.per_mutant)
    for v in verdicts:
        note = " (recorded equivalent)" if v.status == "survived" and v.equivalent else ""
        print(f"{v.status:9} {v.seconds:5.1f} s  {v.name}{note}  [{v.tests}]  {v.change}")
    return 1 if any(v.status == "error" or (v.status == "survived" and not v.equivalent) for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
