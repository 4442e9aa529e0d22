"""The baby training step of two checkouts of this project, interleaved: is a change free on the fast path?

    python -m benchmarks.before_after OLD_TREE [NEW_TREE] [--rounds 7] [--steps 5]

Each round runs, in fresh processes one after the other, the old tree's step, the new tree's, and PyTorch's
(the same model, as the reference every figure is quoted against): 2 warm-up steps, then ``--steps`` timed.
Interleaving rounds spreads the machine's noise over both trees alike. Prints the median ms per step of each,
the new/old ratio with the spread over rounds, and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

WORKER = r"""
import json, sys, time
impl, steps = sys.argv[1], int(sys.argv[2])
from benchmarks import models
setup = models.setup_for("baby")
step = (models.OursStep if impl == "ours" else models.TorchStep)(setup, "cpu")
for _ in range(2):
    step()
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    step()
    times.append((time.perf_counter() - t0) * 1e3)
print(json.dumps(times))
"""


def run(tree: Path, impl: str, steps: int) -> list[float]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run(
        [sys.executable, "-c", WORKER, impl, str(steps)], cwd=tree, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path, nargs="?", default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args(argv)
    samples = {"old": [], "new": [], "torch": []}
    ratios = []
    for r in range(args.rounds):
        old = statistics.median(run(args.old, "ours", args.steps))
        new = statistics.median(run(args.new, "ours", args.steps))
        samples["old"].append(old)
        samples["new"].append(new)
        ratios.append(new / old)
        line = f"round {r + 1}: old {old:.1f} ms, new {new:.1f} ms, new/old {new / old:.3f}"
        if not args.no_torch:
            ref = statistics.median(run(args.new, "torch", args.steps))
            samples["torch"].append(ref)
            line += f", PyTorch {ref:.1f} ms"
        print(line, flush=True)
    summary = {k: statistics.median(v) for k, v in samples.items() if v}
    summary["new_over_old"] = statistics.median(ratios)
    summary["ratio_range"] = (min(ratios), max(ratios))
    print(
        f"median ms per baby step: old {summary['old']:.1f}, new {summary['new']:.1f}"
        + (f", PyTorch {summary['torch']:.1f}" if "torch" in summary else "")
        + f"; new/old {summary['new_over_old']:.3f} (rounds ranged {min(ratios):.3f} to {max(ratios):.3f})"
    )
    return summary


if __name__ == "__main__":
    main()
