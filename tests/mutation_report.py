"""Print mutmut's results as the markdown tables of tests/README.md: per module, and the survivors per function.

Run from the project root after ``mutmut run`` (tests/README.md, "Mutation score"):

    python tests/mutation_report.py > /tmp/report.md

A timeout counts as caught, as mutmut counts it; "no tests" are mutants no selected test reaches.
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys

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


def function_of(name: str) -> str:
    return re.sub(r"__mutmut_\d+$", "", name).replace("ǁ", ".").replace(".x_", ".").replace(".x.", ".")


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
    survivors = collections.Counter(function_of(n) for n, s in pairs if s == "survived")
    print("| function | survivors |")
    print("|---|---|")
    for function, count in survivors.most_common():
        print(f"| `{function}` | {count} |")
    return 0


def _score(counts) -> str:
    run = sum(counts[s] for s in STATUSES if s != "not checked")
    caught = counts["killed"] + counts["timeout"]
    return f"{caught}/{run} = {100 * caught / run:.1f}%" if run else "—"


if __name__ == "__main__":
    sys.exit(main())
