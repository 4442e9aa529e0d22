"""The lecture's numbers, reproduced (``gpt experiment lecture-ladder``): each rung of "Let's build GPT" at the
lecture's own settings, trained by this engine and by PyTorch from the same model code.

The rungs are ``gpt.lecture.RUNGS``: bigram; one self-attention head; 4 heads; + feed-forward; 3 blocks;
+ residual (with the attention projection and the 4x feed-forward); + LayerNorm. Each is trained the way the
lecture's script trains it: batch 32, context 8, width 32, AdamW at a constant learning rate (1e-2 for 3000
steps for the bigram, 1e-3 for 5000 steps after it), no clipping, no schedule, PyTorch's default initialisation
(``nn.Linear``'s Kaiming-uniform, ``nn.Embedding``'s N(0, 1)), and the loss is the mean over 200 batches of each
split, evaluated every ``eval_interval`` steps and at the last one, as ``estimate_loss`` does.

Both libraries run ``gpt/lecture.py`` itself (``gpt.library.module_on``), with the same training batches and the
same evaluation windows for a given seed; only the initial weights differ (each library draws its own from
the seed). So the rows compare the engines, and the seed spread says how far apart two runs of the same
engine land. How to read the table: ``lecture`` is the validation loss the video shows for the rung (read off
its printed log; one seed); ``tinygrad_edu`` and ``PyTorch`` are mean ± sample standard deviation over seeds;
``Δ`` is ours minus PyTorch's, and ``agree`` says whether it is inside the 95% margin of Welch's t-test
(``t·sqrt(s₁²/n₁ + s₂²/n₂)``, t at Welch's degrees of freedom): the test of "within the seed spread".

The lecture's last rung, the scaled-up network (val 1.48), is 10.8M parameters at context 256 for 5000 steps:
``gpt experiment lecture-ladder --rungs "scaled up" --device cuda`` runs it with the lecture's recipe (batch 64,
3e-4, dropout 0.2); on a 2-core CPU it would take days.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import time
from dataclasses import dataclass

import numpy as np

from ..data import batch_from_offsets
from ..lecture import RUNGS
from ..library import LIBRARIES, module_on
from . import common

NAME = "lecture-ladder"
SCALED_UP = "scaled up"
SHAPE = dict(n_embd=32, n_head=4, n_layer=3, block_size=8)  # the lecture's small setting
SCALED_SHAPE = dict(n_embd=384, n_head=6, n_layer=6, block_size=256, dropout=0.2)


@dataclass(frozen=True)
class Recipe:
    """How the lecture trains one rung, and the validation loss it reports."""

    learning_rate: float
    max_iters: int
    eval_interval: int
    lecture_val: float | None  # None: the video prints no loss for this rung
    batch_size: int = 32
    eval_iters: int = 200


RECIPES = {
    "bigram": Recipe(1e-2, 3000, 300, 2.49),
    "single head": Recipe(1e-3, 5000, 500, 2.40),
    "multi-head": Recipe(1e-3, 5000, 500, 2.28),
    "+ feed-forward": Recipe(1e-3, 5000, 500, 2.24),
    "3 blocks": Recipe(1e-3, 5000, 500, None),  # the video only says deeper without residuals trains poorly
    "+ residual": Recipe(1e-3, 5000, 500, 2.08),
    "+ LayerNorm": Recipe(1e-3, 5000, 500, 2.06),
    SCALED_UP: Recipe(3e-4, 5000, 500, 1.48, batch_size=64),
}
QUICK = dict(max_iters=12, eval_interval=6, eval_iters=2)
LIBRARY_LABEL = {"tinygrad_edu": "tinygrad_edu", "torch": "PyTorch"}


def add_arguments(p) -> None:
    """The flags of ``gpt experiment lecture-ladder`` (also ``python -m gpt.experiments.lecture_ladder``)."""
    common.add_common_arguments(p, NAME, default_seeds=(1337, 1338, 1339))
    common.add_data_flags(p)
    p.add_argument(
        "--rungs",
        nargs="+",
        default=list(RUNGS),
        choices=[*RUNGS, SCALED_UP],
        metavar="RUNG",
        help=f"which rungs (default: all of {', '.join(RUNGS)}; {SCALED_UP!r} is the GPU-sized last one)",
    )
    p.add_argument(
        "--libraries",
        nargs="+",
        default=list(LIBRARIES),
        choices=LIBRARIES,
        help="train on these (default: both; PyTorch is skipped with a note when it is not installed)",
    )

    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for each library's math (default 1: at width 32 more threads only add overhead, and a "
        "second core stays free)",
    )


@contextlib.contextmanager
def limited_threads(n: int, libraries):
    """Give both libraries ``n`` threads while the experiment runs: PyTorch's intra-op pool, and NumPy's BLAS
    through threadpoolctl; both are put back afterwards. Yields what was set, for the log."""
    done = []
    with contextlib.ExitStack() as stack:
        if "torch" in libraries:
            import torch

            before = torch.get_num_threads()
            torch.set_num_threads(n)
            stack.callback(torch.set_num_threads, before)
            done.append(f"PyTorch {n}")
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            done.append("NumPy's BLAS unchanged (no threadpoolctl; set OMP_NUM_THREADS)")
        else:
            stack.enter_context(threadpool_limits(limits=n, user_api="blas"))
            done.append(f"NumPy's BLAS {n}")
        yield ", ".join(done)


def main(argv: list[str] | None = None) -> int:
    return common.run_standalone(NAME, __doc__, add_arguments, run, argv)


def recipe_for(rung: str, args) -> Recipe:
    """The lecture's recipe for ``rung``, with ``--quick`` and any flag given on the command line applied."""
    recipe = RECIPES[rung]
    changes = dict(QUICK) if args.quick else {}
    flags = dict(
        learning_rate=args.lr,
        max_iters=args.steps,
        eval_interval=args.eval_interval,
        eval_iters=args.eval_iters,
        batch_size=args.batch_size,
    )
    changes.update({k: v for k, v in flags.items() if v is not None})
    fields = {**recipe.__dict__, **changes}
    if min(fields["max_iters"], fields["eval_interval"], fields["eval_iters"], fields["batch_size"]) < 1:
        raise ValueError(f"steps, eval interval, eval iters and batch size must be positive, got {fields}")
    return Recipe(**fields)


def build(lecture, rung: str, vocab_size: int):
    """The rung's model from ``lecture`` (``gpt.lecture`` on one of the libraries)."""
    if rung == SCALED_UP:
        return lecture.LectureGPT(vocab_size, **SCALED_SHAPE)
    return lecture.ladder_model(rung, vocab_size, **SHAPE)


def context_of(rung: str) -> int:
    return (SCALED_SHAPE if rung == SCALED_UP else SHAPE)["block_size"]


def train_rung(library: str, rung: str, seed: int, data, recipe: Recipe, device: str) -> dict:
    """Train one rung on ``library`` with the lecture's loop; returns the curve, final losses, size and time.

    The loop is the lecture's: evaluate at every ``eval_interval``-th step and at the last one (before that
    step's update), draw a random batch, forward, ``zero_grad``, backward, ``step``. Training batches come from
    a NumPy generator seeded with ``seed`` and evaluation windows from a fixed one, so both libraries see the
    same text; the library's own generator, seeded with ``seed``, draws the initial weights.
    """
    lib = importlib.import_module(library)
    lecture = module_on(library, "gpt.lecture")
    block_size = context_of(rung)
    lib.manual_seed(seed)
    model = build(lecture, rung, data.tokenizer.vocab_size).to(device)
    optimizer = lib.optim.AdamW(model.parameters(), lr=recipe.learning_rate)
    evaluate = _evaluator(lib, data, block_size, recipe, device)
    rng = np.random.default_rng(seed)
    train = data.train

    def batch():
        offsets = rng.integers(0, len(train) - block_size, size=recipe.batch_size)
        x, y = batch_from_offsets(train, offsets, block_size)
        return lib.from_numpy(x).to(device), lib.from_numpy(y).to(device)

    curve = []
    t0 = time.perf_counter()
    for step in range(recipe.max_iters):
        if step % recipe.eval_interval == 0 or step == recipe.max_iters - 1:
            model.eval()
            with lib.no_grad():
                losses = evaluate(model)
            model.train()
            curve.append({"step": step, **losses})
        xb, yb = batch()
        _, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    return dict(curve=curve, final=curve[-1], params=params, seconds=seconds)


def _evaluator(lib, data, block_size: int, recipe: Recipe, device: str, chunk: int = 64):
    """Mean loss over ``eval_iters`` fixed batches of each split (the lecture's ``estimate_loss``, on windows
    drawn once from a fixed seed so every rung, seed and library is scored on the same text). The batches are
    run ``chunk`` at a time as one larger batch: every batch has the same size, so the mean of the per-batch
    means is the mean over all windows."""
    splits = {}
    for name, tokens in (("train", data.train), ("val", data.val)):
        rng = np.random.default_rng([12345, len(name), block_size])
        offsets = rng.integers(0, len(tokens) - block_size, size=recipe.eval_iters * recipe.batch_size)
        x, y = batch_from_offsets(tokens, offsets, block_size)
        step = chunk * recipe.batch_size
        splits[name] = [
            (
                lib.from_numpy(x[i : i + step]).to(device),
                lib.from_numpy(y[i : i + step]).to(device),
                len(x[i : i + step]),
            )
            for i in range(0, len(x), step)
        ]

    def evaluate(model) -> dict:
        out = {}
        for name, chunks in splits.items():
            total = sum(model(x, y)[1].item() * n for x, y, n in chunks)
            out[f"{name}_loss"] = total / sum(n for _, _, n in chunks)
        return out

    return evaluate


def available(libraries) -> tuple[list[str], list[str]]:
    """The libraries that can run here, and a note for each one skipped."""
    runnable, notes = [], []
    for library in libraries:
        try:
            importlib.import_module(library)
        except ImportError as error:
            notes.append(f"{LIBRARY_LABEL[library]} skipped: not installed ({error}); `pip install torch` adds it")
            continue
        runnable.append(library)
    return runnable, notes


# Student's t, 97.5% quantiles (two-sided 95%) by degrees of freedom; a df between two rows takes the lower
# row (the usual rounding down, which errs toward a wider margin); above 30, the normal's 1.96
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}  # fmt: skip


def agreement(ours: list[float], theirs: list[float]) -> tuple[float, float | None, str]:
    """Welch's t-test of "same mean": ours minus theirs, the 95% margin of that difference (t quantile at
    Welch's degrees of freedom × its standard error), and "yes" when the difference is inside the margin."""
    (m1, s1), (m2, s2) = common.mean_spread(ours), common.mean_spread(theirs)
    delta = m1 - m2
    if len(ours) < 2 or len(theirs) < 2:
        return delta, None, "n/a (one seed)"
    v1, v2 = s1**2 / len(ours), s2**2 / len(theirs)
    if v1 + v2 == 0:
        return delta, 0.0, "yes" if delta == 0 else "no"
    df = (v1 + v2) ** 2 / (v1**2 / (len(ours) - 1) + v2**2 / (len(theirs) - 1))
    t = 1.96 if df > 30 else T_975[max(k for k in T_975 if k <= max(df, 1))]
    margin = t * math.sqrt(v1 + v2)
    return delta, margin, "yes" if abs(delta) <= margin else "no"


def train_all(args, libraries, data, recipes) -> tuple[list[dict], list[dict]]:
    """Every rung x seed x library, interleaved by library so machine load falls on both alike; returns the
    runs (final losses, size, time) and the curve points."""
    runs, curve_rows = [], []
    width = max(len(r) for r in args.rungs)
    for rung in args.rungs:
        for seed in args.seeds:
            for library in libraries:
                result = train_rung(library, rung, seed, data, recipes[rung], args.device)
                final = result["final"]
                print(
                    f"  {rung:{width}} seed {seed} {LIBRARY_LABEL[library]:12}: val {final['val_loss']:.4f} "
                    f"train {final['train_loss']:.4f} ({result['params']:,} parameters, {result['seconds']:.1f} s)"
                )
                base = dict(rung=rung, seed=seed, library=library)
                runs.append(
                    dict(
                        **base,
                        val_loss=round(final["val_loss"], 5),
                        train_loss=round(final["train_loss"], 5),
                        params=result["params"],
                        seconds=round(result["seconds"], 2),
                    )
                )
                curve_rows += [dict(**base, **point) for point in result["curve"]]
    return runs, curve_rows


def run(args, argv: list[str]) -> int:
    """Run the experiment with parsed ``args``; ``argv`` (the command line) is recorded with the results."""
    results = common.Results(NAME, argv, common.out_dir(args, NAME))
    data = common.load_shakespeare(args.data_dir, args.shakespeare)
    libraries, notes = available(args.libraries)
    for note in notes:
        print(note)
    if not libraries:
        raise SystemExit("lecture-ladder: none of the libraries asked for is installed")
    recipes = {rung: recipe_for(rung, args) for rung in args.rungs}
    with limited_threads(args.threads, libraries) as threads:
        print(
            f"lecture-ladder: {len(args.rungs)} rungs x seeds {args.seeds} x {', '.join(libraries)}; threads: {threads}"
        )
        runs, curve_rows = train_all(args, libraries, data, recipes)

    def finals(rung, library):
        return [r["val_loss"] for r in runs if r["rung"] == rung and r["library"] == library]

    rows, summary = [], []
    for rung in args.rungs:
        recipe = recipes[rung]
        per_library = {lib: finals(rung, lib) for lib in libraries}
        ours = per_library.get("tinygrad_edu")
        theirs = per_library.get("torch")
        delta, bound, agree = agreement(ours, theirs) if ours and theirs else (None, None, "n/a")
        lecture_gap = (
            None if recipe.lecture_val is None or not ours else common.mean_spread(ours)[0] - recipe.lecture_val
        )
        params = next(r["params"] for r in runs if r["rung"] == rung)
        rows.append(
            [
                rung,
                "—" if recipe.lecture_val is None else f"{recipe.lecture_val:.2f}",
                common.fmt_mean_spread(ours) if ours else "not run",
                common.fmt_mean_spread(theirs) if theirs else "not run",
                "" if delta is None else f"{delta:+.3f}",
                "" if bound is None else f"{bound:.3f}",
                agree,
                "" if lecture_gap is None else f"{lecture_gap:+.3f}",
                f"{recipe.learning_rate:g} × {recipe.max_iters}",
                f"{params:,}",
            ]
        )
        summary.append(
            dict(
                rung=rung,
                recipe=recipe,
                lecture_val=recipe.lecture_val,
                **{
                    f"{lib}_val": dict(zip(("mean", "spread"), common.mean_spread(v)), runs=v)
                    for lib, v in per_library.items()
                },
                delta_ours_minus_torch=delta,
                two_standard_errors=bound,
                agree=agree,
                ours_minus_lecture=lecture_gap,
                params=params,
            )
        )
    if SCALED_UP not in args.rungs:
        rows.append(
            [
                SCALED_UP,
                f"{RECIPES[SCALED_UP].lecture_val:.2f}",
                "not run (GPU)",
                "not run (GPU)",
                "",
                "",
                "",
                "",
                f'`gpt experiment {NAME} --rungs "{SCALED_UP}" --device cuda`',
                "10.8M",
            ]
        )
    headers = [
        "rung",
        "lecture",
        "tinygrad_edu",
        "PyTorch",
        "Δ",
        "95% margin",
        "agree",
        "Δ lecture",
        "lr × steps",
        "params",
    ]
    table = common.markdown_table(headers, rows)
    if notes:
        table += "\n" + "\n".join(f"- {note}" for note in notes) + "\n"
    results.write(
        runs,
        dict(
            seeds=args.seeds,
            device=args.device,
            libraries=libraries,
            threads=threads,
            skipped=notes,
            shape=SHAPE,
            rungs=summary,
            spread="sample standard deviation over seeds; agree: |Δ| inside the 95% margin of Welch's t-test",
        ),
        table,
        lambda fig: _draw(fig, args.rungs, libraries, runs, curve_rows),
        curves_rows=curve_rows,
    )
    return 0


def _draw(fig, rungs, libraries, runs, curve_rows) -> None:
    """Left: the final val loss per rung, the lecture's figure beside ours and PyTorch's (mean ± spread over
    seeds). Right: the val-loss curves, mean over seeds, ours solid and PyTorch dashed, one colour per rung."""
    finals, curves = fig.subplots(1, 2)
    x = np.arange(len(rungs))
    lecture = [RECIPES[r].lecture_val for r in rungs]
    finals.scatter(
        [i for i, v in zip(x, lecture) if v is not None],
        [v for v in lecture if v is not None],
        marker="x",
        color="black",
        s=60,
        label="lecture",
        zorder=3,
    )
    for offset, library in zip((-0.12, 0.12), libraries):
        stats = [
            common.mean_spread([r["val_loss"] for r in runs if r["rung"] == g and r["library"] == library])
            for g in rungs
        ]
        finals.errorbar(
            x + offset,
            [m for m, _ in stats],
            yerr=[s for _, s in stats],
            fmt="o" if library == "tinygrad_edu" else "s",
            capsize=3,
            label=LIBRARY_LABEL[library],
        )
    finals.set_xticks(x, rungs, rotation=30, ha="right", fontsize=8)
    finals.set_ylabel("val loss (nats/char)")
    finals.set_title("final val loss per rung")
    finals.legend(fontsize=8)
    for i, rung in enumerate(rungs):
        colour = f"C{i % 10}"
        for library, style in zip(libraries, ("-", "--")):
            pts = [c for c in curve_rows if c["rung"] == rung and c["library"] == library]
            steps = sorted({c["step"] for c in pts})
            mean = [np.mean([c["val_loss"] for c in pts if c["step"] == s]) for s in steps]
            label = rung if library == libraries[0] else None
            curves.plot(steps, mean, style, color=colour, label=label)
    curves.set_xlabel("step")
    curves.set_title("val loss, mean over seeds (solid: ours, dashed: PyTorch)")
    curves.legend(fontsize=7)
    for ax in (finals, curves):
        ax.grid(alpha=0.3)


if __name__ == "__main__":  # as `gpt experiment NAME ...`: one line for an error, never a traceback
    raise SystemExit(common.as_command(NAME))
