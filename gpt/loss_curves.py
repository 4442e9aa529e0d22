"""Loss curves: train and val loss against iterations, the learning rate on a second axis, read from log.jsonl.

``gpt train`` redraws ``OUT_DIR/loss.png`` after every evaluation (``TrainingCurves``); ``gpt plot RUN [RUN ...]``
draws one or several runs in one picture. Drawing needs matplotlib (the ``plot`` extra): without it training
says once that no picture is written and goes on.

A picture is written atomically, and only over a picture this module drew (its PNG carries ``MARK`` in its
text metadata): a user's own ``loss.png`` in a run folder is refused, never replaced.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from . import files

FILENAME = "loss.png"
MARK = "gpt loss curves"  # written into the PNG's metadata: how a picture of ours is told from anyone else's
MATPLOTLIB_HINT = 'loss curves are drawn with matplotlib: pip install -e ".[plot]" (or pip install matplotlib)'
DESCRIPTION = "Loss curves of one or several runs (train and val loss, the learning rate on a second axis)."


def matplotlib_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def read_evaluations(run: str | Path) -> list[dict]:
    """The evaluation rows (iter, train_loss, val_loss, lr) of a run folder's log.jsonl (or of that file)."""
    path = Path(run)
    log = path / "log.jsonl" if path.is_dir() else path
    if not log.is_file():
        where = f"{path} is {files.describe(path)}" if not path.is_dir() else f"{path} has no log.jsonl"
        raise ValueError(f"cannot plot {run}: {where}; name a run folder that `gpt train` wrote")
    rows = []
    for number, line in enumerate(log.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise ValueError(
                f"{log}, line {number}: not a JSON object; is this a log that `gpt train` wrote?"
            ) from None
        if isinstance(row, dict) and "train_loss" in row and "val_loss" in row:
            rows.append(row)
    return rows


def check_target(path: str | Path) -> Path:
    """Refuse to draw at ``path`` unless nothing is there or a picture of ours is (never a user's own file)."""
    path = files.check_target(path, ("a PNG image",), "the loss curves")
    if path.exists() and not _drawn_here(path):
        raise files.WriteRefused(
            f"refusing to write the loss curves at {path}: it holds a PNG image that gpt did not draw; choose "
            "another path, or move that file away yourself"
        )
    return path


def draw(runs: dict[str, list[dict]], title: str | None = None):
    """A matplotlib ``Figure``: for each run (label -> evaluation rows) its val loss (solid) and train loss
    (dashed) against iterations, and its learning rate (dotted, right axis)."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend needed
    except ImportError:
        raise ImportError(MATPLOTLIB_HINT) from None

    fig = Figure(figsize=(8, 4.5))
    # fixed margins rather than a layout engine: redrawn at every evaluation, the picture should cost little
    fig.subplots_adjust(left=0.09, right=0.88, bottom=0.11, top=0.92)
    ax = fig.subplots()
    lr_axis = ax.twinx()
    several = len(runs) > 1
    for k, (label, rows) in enumerate(runs.items()):
        iters = [row["iter"] for row in rows]
        color = f"C{k % 10}"
        name = f"{label}: " if several else ""
        ax.plot(iters, [row["val_loss"] for row in rows], "-", color=color, marker=".", label=f"{name}val loss")
        train_color = color if several else "C1"
        ax.plot(iters, [row["train_loss"] for row in rows], "--", color=train_color, label=f"{name}train loss")
        if any("lr" in row for row in rows):
            lr_axis.plot(iters, [row.get("lr") for row in rows], ":", color=color if several else "C2", alpha=0.7)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (mean over eval_iters batches)")
    lr_axis.set_ylabel("learning rate (dotted)")
    lr_axis.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or ("loss curves" if several else f"loss curves: {next(iter(runs), '')}"))
    return fig


def save(fig, path: str | Path) -> Path:
    """Write ``fig`` at ``path`` atomically, over nothing but an earlier picture of ours."""
    path = check_target(path)
    with files.atomic_writer(path, replaces=("a PNG image",), what="the loss curves") as f:
        fig.savefig(f, format="png", dpi=100, metadata={"Software": MARK})
    return path


def plot_runs(runs: list[str | Path], out: str | Path, title: str | None = None) -> Path:
    """Draw the runs (folders or log.jsonl files) into one picture at ``out``."""
    check_target(out)  # before any reading or drawing
    data = {}
    for run in runs:
        label = _label(Path(run))
        while label in data:  # two runs of the same name (a/baby, b/baby): keep both apart
            label += "'"
        data[label] = read_evaluations(run)
    return save(draw(data, title), out)


class TrainingCurves:
    """``OUT_DIR/loss.png``, redrawn from ``log.jsonl`` after every evaluation of a training run."""

    def __init__(self, out_dir: str | Path, log=print):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / FILENAME
        self.enabled = matplotlib_available()
        if not self.enabled:
            log(f"matplotlib is not installed: no {self.path} is written ({MATPLOTLIB_HINT})")
            return
        check_target(self.path)  # refused before training, not after the first evaluation

    def update(self) -> None:
        if self.enabled:
            save(draw({_label(self.out_dir): read_evaluations(self.out_dir)}), self.path)


def _drawn_here(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)  # matplotlib writes its text chunks before the image data
    except OSError:
        return False
    return MARK.encode() in head


def _label(run: Path) -> str:
    return (run.parent if run.name == "log.jsonl" else run).name or str(run)


def add_arguments(parser) -> None:
    """The flags of ``gpt plot``."""
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders (each holds the log.jsonl of gpt train)")
    parser.add_argument(
        "--out",
        help=f"the picture to write (default: RUN/{FILENAME} for one run, {FILENAME} here for several); a picture "
        "gpt drew there is replaced, any other file is refused",
    )
    parser.add_argument("--title", help="the picture's title")


def run(args) -> int:
    if not matplotlib_available():
        raise RuntimeError(MATPLOTLIB_HINT)
    for value in [*args.runs, args.out]:
        if value is not None and str(value).strip() == "":
            raise ValueError("an empty path was given: name a run folder (and, with --out, a PNG file)")
    first = Path(args.runs[0])
    folder = first.parent if first.name == "log.jsonl" else first
    out = args.out or (folder / FILENAME if len(args.runs) == 1 else Path(FILENAME))
    written = plot_runs(args.runs, out, args.title)
    print(f"wrote {written}", file=sys.stderr)
    return 0
