"""What every experiment shares: command-line flags, seeding, a small in-memory training loop, evaluation on
fixed batches, statistics over seeds, and writing results (CSV, JSON, a markdown table and a PNG plot): each
atomically, and only over the same experiment's earlier results (``check_results``).

An experiment trains several small models with the same budget and compares them. To make such comparisons
fair and repeatable, the loop here is deliberately plain: no checkpoints, no progress bar; a seed fixes the
initial weights (``tinygrad_edu.manual_seed``), the training batches and dropout (a NumPy generator and the
engine's generator), and evaluation always uses the same fixed batches, so two variants are scored on exactly
the same text.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import io
import json
import math
import os
import re
import shlex
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

import tinygrad_edu as torch
from tinygrad_edu import nn

from .. import files
from ..arguments import ArgumentParser, positive_float, positive_int
from ..config import TrainConfig
from ..data import Dataset, batch_from_offsets, load_dataset, prepare_shakespeare
from ..model import eval_mode
from ..train import Batches, configure_optimizer, learning_rate

REPO_ROOT = Path(__file__).resolve().parents[2]
PLOT_HINT = 'pip install -e ".[plot]"'


# -- budgets and the command line ------------------------------------------------------------------------------


@dataclass
class Budget:
    """How long and how hard one model is trained. Every variant of an experiment gets the same budget."""

    steps: int = 1000
    batch_size: int = 32
    learning_rate: float = 1e-3
    min_lr: float = 1e-4  # the cosine schedule ends here
    warmup: int = 100  # linear warm-up steps
    weight_decay: float = 0.1  # on matrices only (see gpt.train.configure_optimizer)
    grad_clip: float = 1.0  # 0 disables clipping
    eval_interval: int = 100  # evaluate every this many steps (and at the last one)
    eval_iters: int = 40  # fixed evaluation batches

    def train_config(self) -> TrainConfig:
        """The same schedule and optimizer settings as ``gpt train``, so ``learning_rate`` and
        ``configure_optimizer`` from ``gpt/train.py`` can be reused unchanged."""
        return TrainConfig(
            max_iters=self.steps,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            min_lr=min(self.min_lr, self.learning_rate),
            warmup_iters=min(self.warmup, max(self.steps - 1, 0)),
            weight_decay=self.weight_decay,
            grad_clip=self.grad_clip,
            eval_iters=max(1, self.eval_iters),
            checkpoint=False,
            progress=False,
        )


def add_common_arguments(p: argparse.ArgumentParser, name: str, default_seeds: Sequence[int]) -> None:
    """The flags every experiment understands; each experiment adds its own after these."""
    p.add_argument(
        "--out-dir",
        default=None,
        help=f"where results go (default: out/experiments/{name}); earlier results of this experiment there are "
        "replaced, any other file under their names is refused",
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(default_seeds),
        help=f"one training run per seed and variant (default: {' '.join(map(str, default_seeds))})",
    )
    p.add_argument(
        "--steps", type=positive_int, default=None, help="training steps per run (default: the experiment's)"
    )
    p.add_argument("--lr", type=positive_float, default=None, help="peak learning rate (default: the experiment's)")
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--eval-interval", type=positive_int, default=None)
    p.add_argument("--eval-iters", type=positive_int, default=None, help="fixed batches per evaluation")
    p.add_argument("--quick", action="store_true", help="a tiny budget that finishes in seconds (used by the tests)")


def run_standalone(name: str, description: str, add_arguments, run, argv) -> int:
    """``python -m gpt.experiments.<name>``: the same flags as ``gpt experiment <name>``, parsed, then ``run``."""
    argv = list(argv or [])
    p = ArgumentParser(prog=f"gpt experiment {name}", description=description)
    add_arguments(p)
    return run(p.parse_args(argv), argv)


def as_command(name: str) -> int:
    """``python -m gpt.experiments.<module> ARGS`` runs ``gpt experiment <name> ARGS``, with its error handling."""
    from ..cli import main

    return main(["experiment", name, *sys.argv[1:]])


def add_model_arguments(p: argparse.ArgumentParser, model: dict) -> None:
    """A flag per model field of an experiment (``--n-layer`` ...), defaulting to the experiment's value."""
    for name, value in model.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)


def budget_from_args(args: argparse.Namespace, default: Budget, quick: Budget) -> Budget:
    """The experiment's default (or ``--quick``) budget, with any flag given on the command line applied."""
    budget = quick if args.quick else default
    overrides = {
        "steps": args.steps,
        "learning_rate": args.lr,
        "batch_size": args.batch_size,
        "eval_interval": args.eval_interval,
        "eval_iters": args.eval_iters,
    }
    budget = replace(budget, **{k: v for k, v in overrides.items() if v is not None})
    if budget.steps < 1 or budget.batch_size < 1 or budget.eval_interval < 1 or budget.eval_iters < 1:
        raise ValueError(f"steps, batch size, eval interval and eval iters must be positive, got {budget}")
    return budget


def out_dir(args: argparse.Namespace, name: str) -> Path:
    """The results folder of experiment ``name``, checked now, before any training: a refusal after an hour of
    training would cost the hour (``check_results``). The folder itself is made when the results are written."""
    if args.out_dir is not None and args.out_dir.strip() == "":  # Path("") would quietly mean the current folder
        raise ValueError("--out-dir is empty: name a folder, or leave --out-dir out for its default")
    path = Path(args.out_dir) if args.out_dir is not None else Path("out") / "experiments" / name
    check_results(path, name)
    return path


# -- seeding and training --------------------------------------------------------------------------------------


def seed_everything(seed: int) -> np.random.Generator:
    """Seed the engine (initial weights, dropout) and return the NumPy generator that draws training batches.
    Build the model *after* calling this, so its initial weights depend on the seed."""
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


BatchFn = Callable[[np.random.Generator], tuple]
EvalFn = Callable[[nn.Module], dict]


def train(
    model: nn.Module,
    batch_fn: BatchFn,
    budget: Budget,
    rng: np.random.Generator,
    evaluate: EvalFn,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Train ``model`` for ``budget.steps`` steps; returns the learning curve.

    ``batch_fn(rng)`` gives one training batch ``(x, y)``; ``evaluate(model)`` gives a dict of metrics (it is
    called in eval mode, without a graph, at step 0, every ``eval_interval`` steps and after the last step).
    Each curve point is ``{"step": s, "lr": ..., **metrics}``. The recipe is ``gpt train``'s: AdamW with weight
    decay on matrices only, linear warm-up then cosine decay, gradient clipping.
    """
    cfg = budget.train_config()
    optimizer = configure_optimizer(model, cfg)
    curve = []
    model.train()
    for step in range(budget.steps + 1):
        lr = learning_rate(step, cfg)
        if step % budget.eval_interval == 0 or step == budget.steps:
            with eval_mode(model), torch.no_grad():
                metrics = evaluate(model)
            curve.append({"step": step, "lr": lr, **metrics})
            if log is not None:
                log(f"  step {step:>5}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        if step == budget.steps:
            break
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = batch_fn(rng)
        _, loss = model(x, y)
        loss.backward()
        if budget.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), budget.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return curve


# -- language-model data: random training windows, fixed evaluation windows -----------------------------------


def train_variants(variants: dict, data: Dataset, budget: Budget, seeds, device: str) -> tuple[list, list]:
    """Train every variant with every seed on ``data`` (a language-model dataset): the loop the ablation study
    and the modern-architecture experiment share.

    ``variants`` maps a name to ``(block_size, build)``, where ``build(vocab_size)`` returns a fresh model. Each
    run draws its own training batches and reports its validation loss on fixed windows (``lm_evaluator``).
    Returns the runs (variant, seed, final val loss, parameter count, seconds) and the curve points."""
    evaluators: dict = {}
    runs, curve_rows = [], []
    width = max(len(name) for name in variants)
    for name, (block_size, build) in variants.items():
        if block_size not in evaluators:
            evaluators[block_size] = lm_evaluator(
                {"val": data.val}, block_size, budget.batch_size, budget.eval_iters, device
            )
        for seed in seeds:
            rng = seed_everything(seed)
            model = build(data.tokenizer.vocab_size).to(device)
            batches = Batches(data.train, block_size, budget.batch_size, device).sample
            t0 = time.perf_counter()
            curve = train(model, batches, budget, rng, evaluators[block_size])
            seconds = time.perf_counter() - t0
            final = curve[-1]["val_loss"]
            params = sum(p.numel() for p in model.parameters())
            print(f"  {name:{width}} seed {seed}: val loss {final:.4f} ({params:,} parameters, {seconds:.1f} s)")
            runs.append(
                dict(variant=name, seed=seed, val_loss=round(final, 5), params=params, seconds=round(seconds, 2))
            )
            curve_rows += [dict(variant=name, seed=seed, step=c["step"], val_loss=c["val_loss"]) for c in curve]
    return runs, curve_rows


def lm_evaluator(
    splits: dict[str, np.ndarray], block_size: int, batch_size: int, eval_iters: int, device: str
) -> EvalFn:
    """Mean loss over ``eval_iters`` fixed batches of each split, reported as ``<split>_loss``.

    The windows are drawn once, from a generator with a fixed seed, so every evaluation of every variant and
    seed sees the same text: the differences in the table come from the models, not from the evaluation draw.
    """
    fixed = {}
    for name, data in splits.items():
        rng = np.random.default_rng([12345, zlib.crc32(name.encode())])  # a split's windows depend on its name only
        offsets = rng.integers(0, len(data) - block_size, size=(eval_iters, batch_size))
        fixed[name] = [batch_from_offsets(data, row, block_size) for row in offsets]

    def evaluate(model) -> dict:
        out = {}
        for name, batches in fixed.items():
            losses = [
                model(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))[1].item() for x, y in batches
            ]
            out[f"{name}_loss"] = float(np.mean(losses))
        return out

    return evaluate


def shakespeare_input() -> Path | None:
    """A local tinyshakespeare: $TINYSHAKESPEARE, else the shared data folder beside the repository."""
    env = os.environ.get("TINYSHAKESPEARE")
    for candidate in ([Path(env)] if env else []) + [REPO_ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"]:
        if candidate.is_file():
            return candidate
    return None


def load_shakespeare(data_dir: str | None = None, input_path: str | None = None) -> Dataset:
    """The prepared tinyshakespeare dataset (the lecture's 90/10 split), prepared on first use."""
    root = Path(data_dir) if data_dir else None
    target = (root if root is not None else REPO_ROOT / "data") / "shakespeare"
    if not (target / "meta.json").exists():
        source = input_path or shakespeare_input()  # None: prepare_shakespeare downloads it
        print(f"preparing tinyshakespeare in {target} ...")
        prepare_shakespeare(input_path=source, data_dir=target.parent)
    return load_dataset(target)


def add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None, help="where prepared datasets live (default: $GPT_DATA_DIR or ./data)")
    p.add_argument("--shakespeare", default=None, help="tinyshakespeare's input.txt (default: $TINYSHAKESPEARE)")


# -- statistics over seeds -------------------------------------------------------------------------------------


def mean_spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and spread over seeds; the spread is the sample standard deviation (0 for a single seed)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def fmt_mean_spread(values: Sequence[float], digits: int = 3) -> str:
    mean, spread = mean_spread(values)
    return f"{mean:.{digits}f} ± {spread:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


# -- where a switch lives in the source ------------------------------------------------------------------------


def source_line(obj, pattern: str) -> tuple[str, int, str]:
    """Where ``pattern`` (a regex) first occurs in the source of ``obj`` (a class or function), preferring a line
    that branches on it (contains ``if``): returns (file relative to the repository, line number, the line).

    Found by reading the source with ``inspect``, so the numbers stay right when the file is edited.
    """
    lines, start = inspect.getsourcelines(obj)
    regex = re.compile(pattern)
    hits = [(start + i, line.strip()) for i, line in enumerate(lines) if regex.search(line)]
    if not hits:
        raise LookupError(f"{pattern!r} does not occur in the source of {obj.__qualname__}")
    branching = [h for h in hits if re.search(r"\bif\b", h[1])]
    lineno, text = (branching or hits)[0]
    path = Path(inspect.getsourcefile(obj)).resolve()
    try:
        rel = path.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        rel = path.name
    return rel, lineno, text


# -- writing results -------------------------------------------------------------------------------------------


# What each result file may replace (kinds as gpt/files.py's ``describe`` names them). A CSV, a markdown table
# and a JSON file are all "a file" by their content; what makes them this experiment's is its JSON file, which
# names the experiment (``"experiment": name``): see ``check_results``.
RESULT_FILES = {".json": "a file", ".csv": "a file", "_curves.csv": "a file", ".md": "a file", ".png": "a PNG image"}


def check_results(directory: Path, name: str) -> None:
    """Refuse to write experiment ``name``'s results in ``directory`` if that would replace anything but its own
    earlier results: ``directory`` must be a folder (or nothing yet), and any ``<name>.csv`` / ``.md`` / ``.png``
    there is replaced only beside a ``<name>.json`` that names this experiment. A checkpoint, a training log, a
    folder or someone's notes under one of these names stay as they are."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise files.WriteRefused(
            f"--out-dir {directory} is {files.describe(directory)}, not a folder: name a folder for the results"
        )
    ours = _names_experiment(directory / f"{name}.json", name)
    for suffix, kind in RESULT_FILES.items():
        path = directory / f"{name}{suffix}"
        if files.describe(path) == kind and not ours:  # the right kind of file, but nothing says it is ours
            why = "it does not name" if suffix == ".json" else f"there is no {name}.json beside it that names"
            raise files.WriteRefused(
                f"refusing to write the results of {name} at {path}: {why} the experiment {name} as earlier "
                "results do; choose another --out-dir, or move that file away yourself"
            )
        files.check_target(path, (kind,), f"the results of {name}")  # another kind of file, a folder, ...


def _names_experiment(path: Path, name: str) -> bool:
    """True if ``path`` is a JSON file of results of experiment ``name`` (as ``Results.write`` writes them)."""
    if files.describe(path) != "a file":
        return False
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # unreadable, not UTF-8, not JSON: not ours
        return False
    return isinstance(content, dict) and content.get("experiment") == name


class Results:
    """Collects an experiment's outputs under one directory: ``<name>.csv`` (one row per run or per curve point),
    ``<name>.json`` (everything, plus the command line and elapsed time), ``<name>.md`` (the table) and
    ``<name>.png`` (the plot, when matplotlib is installed). Each is written atomically, and only over the same
    experiment's earlier results (``check_results``)."""

    def __init__(self, name: str, argv: Sequence[str], directory: Path):
        self.name, self.dir = name, directory
        self.command = shlex.join(["gpt", "experiment", name, *argv])
        self.t0 = time.perf_counter()

    def path(self, suffix: str) -> Path:
        return self.dir / f"{self.name}{suffix}"

    def write(
        self, rows: list[dict], summary: dict, table: str, draw: Callable | None, curves_rows: list[dict] | None = None
    ) -> dict:
        """Write every file; ``draw(fig)`` fills a matplotlib ``Figure``. Returns {kind: path}."""
        check_results(self.dir, self.name)  # again: the folder may have changed while the models trained
        elapsed = time.perf_counter() - self.t0
        payload = {"experiment": self.name, "command": self.command, "elapsed_s": round(elapsed, 2), **summary}
        paths = {"json": self.path(".json"), "csv": self.path(".csv"), "md": self.path(".md")}
        # the JSON first: it is what marks the other files as this experiment's, so that a run stopped halfway
        # through writing can be run again
        files.write_text(
            paths["json"],
            json.dumps(payload, indent=2, default=_jsonable) + "\n",
            replaces=(RESULT_FILES[".json"],),
            what=f"the results of {self.name}",
        )
        write_csv(paths["csv"], rows)
        if curves_rows is not None:
            paths["curves_csv"] = self.path("_curves.csv")
            write_csv(paths["curves_csv"], curves_rows)
        header = f"# {self.name}\n\n`{self.command}` ({elapsed:.0f} s)\n\n"
        files.write_text(
            paths["md"],
            header + table.rstrip() + "\n",
            replaces=(RESULT_FILES[".md"],),
            what=f"the results table of {self.name}",
        )
        if draw is not None and save_plot(self.path(".png"), draw):
            paths["png"] = self.path(".png")
        print(table)
        print(f"wrote {', '.join(str(p) for p in paths.values())} in {elapsed:.0f} s")
        return paths


def _jsonable(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_csv(path: Path, rows: list[dict]) -> None:
    """``rows`` as a CSV file, written atomically over nothing but a plain file (see ``check_results``)."""
    columns: list[str] = []
    for row in rows:  # the union of all keys, in first-seen order
        columns += [k for k in row if k not in columns]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    files.write_text(path, text.getvalue(), replaces=(RESULT_FILES[".csv"],), what="the results (CSV)")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub-flavoured markdown table; floats are written with 3 decimals, ``|`` in cells is escaped."""

    def cell(v) -> str:
        if isinstance(v, float):
            v = "nan" if math.isnan(v) else f"{v:.3f}"
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, headers)) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def save_plot(path: Path, draw: Callable) -> bool:
    """Draw into a matplotlib ``Figure`` and save it as a PNG; matplotlib is optional (the ``plot`` extra).

    ``Figure`` is used directly rather than ``pyplot``: no GUI backend, no global state, safe in tests."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print(f"plot skipped: matplotlib is not installed (install it with `{PLOT_HINT}`)")
        return False
    fig = Figure(figsize=(11, 5), layout="constrained")
    draw(fig)
    with files.atomic_writer(path, replaces=(RESULT_FILES[".png"],), what="the plot") as f:
        fig.savefig(f, format="png", dpi=110)
    return True
