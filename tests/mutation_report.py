"""Print mutmut's results as the markdown of tests/README.md: per module, the score, and every survivor, grouped
by why it is equivalent (``tests/mutation_equivalents.py``) or listed as unexplained.

Run from the project root after ``mutmut run`` (tests/README.md, "Mutation score"):

    python tests/mutation_report.py > /tmp/report.md

A timeout counts as caught, as mutmut counts it, and so does a crash: a segfault, or mutmut's "suspicious" (an
exit code it does not know: here -6, glibc aborting on a corrupted heap), since the suite dies and CI fails. "No
tests" are mutants no selected test reaches.
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys

from mutation_equivalents import EQUIVALENT

STATUSES = ("killed", "timeout", "survived", "no tests", "suspicious", "segfault", "not checked")


def results() -> list[tuple[str, str]]:
    out = subprocess.run(["mutmut", "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    pairs = []
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(":")
        if sep and name:
            pairs.append((name.strip(), status.strip()))
    return pairs


def module_of(name: str) -> str:
    return re.sub(r"\.x[_ǁ].*", "", name)


def folder_of(name: str) -> str:
    """``tinygrad_edu.ops``, ``tinygrad_edu.autograd``, ``tinygrad_edu.kernels`` or ``tinygrad_edu.promotion``."""
    return ".".join(module_of(name).split(".")[:2])


def main() -> int:
    pairs = results()
    by_module = collections.defaultdict(collections.Counter)
    for name, status in pairs:
        by_module[module_of(name)][status] += 1
    print("| module | " + " | ".join(STATUSES) + " | caught of run |")
    print("|---|" + "---|" * (len(STATUSES) + 1))
    total = collections.Counter()
    for module in sorted(by_module):
        counts = by_module[module]
        total.update(counts)
        print(f"| `{module}` | " + " | ".join(str(counts[s]) for s in STATUSES) + f" | {_score(counts)} |")
    print("| all | " + " | ".join(str(total[s]) for s in STATUSES) + f" | {_score(total)} |")
    print()
    left = [n for n, s in pairs if s in ("survived", "no tests")]
    reasons = {f"tinygrad_edu.{name}": group for group, (_, names) in EQUIVALENT.items() for name in names}
    equivalent = [n for n in left if n in reasons]
    print()
    print("| folder | run | caught | equivalent (justified) | unexplained | killed or justified |")
    print("|---|---|---|---|---|---|")
    for folder in sorted({folder_of(n) for n, _ in pairs}):
        mine = [(n, s) for n, s in pairs if folder_of(n) == folder and s != "not checked"]
        caught = sum(1 for _, s in mine if s in ("killed", "timeout", "segfault", "suspicious"))
        justified = sum(1 for n, _ in mine if n in equivalent)
        unexplained = sum(1 for n, s in mine if s in ("survived", "no tests") and n not in reasons)
        share = f"{100 * (caught + justified) / len(mine):.1f}%" if mine else "—"
        print(f"| `{folder}` | {len(mine)} | {caught} | {justified} | {unexplained} | {share} |")
    run = sum(total[s] for s in STATUSES if s != "not checked")
    caught = total["killed"] + total["timeout"] + total["segfault"] + total["suspicious"]
    print(f"- **Raw score:** caught {caught:,} of {run:,} = **{100 * caught / run:.1f}%**.")
    print(
        f"- **Of the mutants that are not equivalent:** {caught:,} of {run - len(equivalent):,} = "
        f"**{100 * caught / (run - len(equivalent)):.1f}%** ({len(equivalent)} survivors are equivalent, listed below)."
    )
    print()
    for group, (why, _) in EQUIVALENT.items():
        members = [n for n in equivalent if reasons[n] == group]
        if members:
            print(f"**{group}** ({len(members)}): {why}\n")
            for name in members:
                print(f"- `{name.removeprefix('tinygrad_edu.')}`: {_change(name)}")
            print()
    unexplained = [n for n in left if n not in reasons]
    print(f"**Not yet explained** ({len(unexplained)}): each needs a test that kills it, or a reason above\n")
    for name in unexplained:
        print(f"- `{name.removeprefix('tinygrad_edu.')}` ({dict(pairs)[name]}): {_change(name)}")
    return 0


def _change(name: str) -> str:
    """The mutated line as ``before → after`` (mutmut show's diff, trimmed)."""
    diff = subprocess.run(["mutmut", "show", name], capture_output=True, text=True).stdout.splitlines()
    before = next((line[1:].strip() for line in diff if line.startswith("-") and not line.startswith("---")), "")
    after = next((line[1:].strip() for line in diff if line.startswith("+") and not line.startswith("+++")), "")
    return f"`{before[:110]}` → `{after[:110]}`"


def _score(counts) -> str:
    run = sum(counts[s] for s in STATUSES if s != "not checked")
    caught = counts["killed"] + counts["timeout"] + counts["segfault"] + counts["suspicious"]
    return f"{caught}/{run} = {100 * caught / run:.1f}%" if run else "—"


if __name__ == "__main__":
    sys.exit(main())
