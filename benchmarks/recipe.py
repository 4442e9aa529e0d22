"""``python -m benchmarks recipe``: the README's main command, ``gpt train --preset baby``, timed whole beside the
same recipe in PyTorch (``benchmarks/recipe_torch.py``).

Each side is a fresh process, timed from start to exit as a user would time it: start-up and imports (our
compiled kernels load from numba's cache), the training loop, its evaluations and checkpoints, and the final
sample. The sides alternate over ``--repeats`` rounds (default 1: a baby run takes minutes); the table gives the
median wall time per side, the ratio ours / PyTorch, and each side's final validation loss. The dataset is
prepared once, before any timing. The preset is the first of ``--presets`` (baby by default); ``--steps N``
shortens both runs to N iterations; ``--quick`` runs the tiny preset.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import common

DONE = re.compile(r"done: (\d+) iterations in ([\d.]+)s.*?val loss ([\d.]+)")


def run(args, torch) -> int:
    preset = "tiny" if args.quick else args.presets[0]  # the first of --presets: baby by default
    rounds = args.repeats or 1
    from gpt.data import prepare_shakespeare, resolve_dataset_dir

    if not (resolve_dataset_dir("shakespeare") / "meta.json").exists():
        prepare_shakespeare()
    sides = {"ours": _ours_command} | ({"torch": _torch_command} if torch is not None else {})
    samples: dict = {side: [] for side in sides}
    print(f"recipe: `gpt train --preset {preset}` and its PyTorch peer, {rounds} round(s), a fresh process each")
    with tempfile.TemporaryDirectory() as scratch:
        for k in range(rounds):
            for side, command in sides.items():
                out_dir = Path(scratch) / f"{side}-{k}"
                t0 = time.perf_counter()
                done = subprocess.run(
                    command(preset, out_dir, args), capture_output=True, text=True, env=_env(args), check=False
                )
                wall = time.perf_counter() - t0
                if done.returncode != 0:
                    raise RuntimeError(f"recipe: the {side} run failed ({done.returncode}):\n{done.stderr[-3000:]}")
                match = DONE.search(done.stdout)
                if match is None:
                    raise RuntimeError(f"recipe: no 'done:' line in the {side} run's output:\n{done.stdout[-3000:]}")
                iterations, loop_s, val_loss = int(match[1]), float(match[2]), float(match[3])
                samples[side].append({"wall_s": wall, "loop_s": loop_s, "val_loss": val_loss, "iters": iterations})
                print(f"  round {k + 1} {side}: {wall:.1f} s wall ({loop_s:.1f} s in its loop), val {val_loss:.4f}")
    rows = []
    for side, runs in samples.items():
        rows.append(
            {
                "side": side,
                "iterations": runs[0]["iters"],
                "wall_s": statistics.median(r["wall_s"] for r in runs),
                "loop_s": statistics.median(r["loop_s"] for r in runs),
                "val_loss": [r["val_loss"] for r in runs],
                "runs": runs,
            }
        )
    theirs = next((r for r in rows if r["side"] == "torch"), None)
    for row in rows:
        row["ratio_wall"] = common.ratio(row["wall_s"], theirs["wall_s"] if theirs else None)
    headers = ["side", "iterations", "wall s (median)", "training loop s", "final val loss", "ratio ours/torch (wall)"]
    table = [
        [r["side"], r["iterations"], r["wall_s"], r["loop_s"], ", ".join(f"{v:.4f}" for v in r["val_loss"]),
         r["ratio_wall"]]
        for r in rows
    ]  # fmt: skip
    md = (
        f"## `gpt train --preset {preset}` beside the same recipe in PyTorch\n\n"
        + common.markdown_table(headers, table)
        + "\n\nWall: the whole command in a fresh process (start-up, training, evaluations, checkpoints, the sample). "
        "The two sides start from different random weights (each library's generator), so their losses agree "
        "only as two seeds of one recipe do.\n"
    )
    payload = common.payload("recipe", args, {"preset": preset, "rounds": rounds, "steps": args.steps}, rows=rows)
    common.write_results(Path(args.out), "recipe", payload, md)
    return 0


def _ours_command(preset: str, out_dir: Path, args) -> list[str]:
    command = [sys.executable, "-m", "gpt", "train", "--preset", preset, "--out_dir", str(out_dir)]
    command += ["--progress", "false"]
    return command + (["--max_iters", str(args.steps)] if args.steps else [])


def _torch_command(preset: str, out_dir: Path, args) -> list[str]:
    command = [sys.executable, "-m", "benchmarks.recipe_torch", "--preset", preset, "--out-dir", str(out_dir)]
    command += ["--threads", str(args.threads)] if args.threads else []
    return command + (["--max-iters", str(args.steps)] if args.steps else [])


def _env(args) -> dict:
    env = dict(os.environ)
    if args.threads:  # our BLAS reads it at start-up; PyTorch is given --threads
        env["OPENBLAS_NUM_THREADS"] = str(args.threads)
    return env
