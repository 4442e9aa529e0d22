"""EX4: one modern change, measured (``gpt experiment modern``).

Two changes that most recent language models make to the GPT-2 recipe, each a ``GPTConfig`` option:

* **RoPE** (``position_embedding="rope"``): no learned position table; queries and keys are rotated by an
  angle proportional to their position, so attention scores depend on relative positions only;
* **SwiGLU** (``mlp="swiglu"``): a gated MLP instead of the GELU one, with its width chosen so that the
  parameter count stays (almost) the same.

Baseline, RoPE, SwiGLU and both are trained on tinyshakespeare with the same budget and the same seeds.

How to read the table: final val loss, mean ± spread (the sample standard deviation over seeds); ``Δ`` is the
difference of means against the baseline. A difference no larger than the seed spread (the larger of the two
rows' spreads) is reported as "no difference": at this budget, a different seed moves the loss as much.
"""

from __future__ import annotations

import numpy as np

from ..model import GPT, CausalSelfAttention, GPTConfig
from ..model import Block as ModelBlock
from . import common

NAME = "modern"

MODEL = dict(n_layer=2, n_head=4, n_embd=64, block_size=32, dropout=0.0)
VARIANTS = {
    "baseline (learned positions, GELU)": {},
    "RoPE": {"position_embedding": "rope"},
    "SwiGLU": {"mlp": "swiglu"},
    "RoPE + SwiGLU": {"position_embedding": "rope", "mlp": "swiglu"},
}
# where each option is read in gpt/model.py, for the table
SWITCHES = {
    "position_embedding": (CausalSelfAttention, r"config\.position_embedding"),
    "mlp": (ModelBlock, r"config\.mlp"),
}

DEFAULT = common.Budget(
    steps=1000, batch_size=16, learning_rate=2e-3, min_lr=2e-4, warmup=100, eval_interval=100, eval_iters=20
)
QUICK = common.Budget(steps=4, batch_size=4, warmup=1, eval_interval=2, eval_iters=1)


def verdict(base: list[float], other: list[float]) -> str:
    """ "better" / "worse" when the means differ by more than the seed spread, else "no difference"."""
    (m0, s0), (m1, s1) = common.mean_spread(base), common.mean_spread(other)
    if len(base) < 2 or len(other) < 2:
        return "n/a (one seed: no spread to compare with)"
    if abs(m1 - m0) <= max(s0, s1):
        return "no difference (within seed spread)"
    return "better" if m1 < m0 else "worse"


def add_arguments(p) -> None:
    """The flags of ``gpt experiment modern`` (also ``python -m gpt.experiments.modern``)."""
    common.add_common_arguments(p, NAME, default_seeds=(1, 2, 3))
    common.add_data_flags(p)
    common.add_model_arguments(p, MODEL)


def main(argv: list[str] | None = None) -> int:
    return common.run_standalone(NAME, __doc__, add_arguments, run, argv)


def run(args, argv: list[str]) -> int:
    """Run the experiment with parsed ``args``; ``argv`` (the command line) is recorded with the results."""
    budget = common.budget_from_args(args, DEFAULT, QUICK)
    results = common.Results(NAME, argv, common.out_dir(args, NAME))
    data = common.load_shakespeare(args.data_dir, args.shakespeare)
    base = dict(vocab_size=data.tokenizer.vocab_size, **{k: getattr(args, k) for k in MODEL})
    print(f"modern: {len(VARIANTS)} variants x seeds {args.seeds}, {budget.steps} steps, model {MODEL}")
    variants = {
        name: (base["block_size"], lambda vocab, change=change: GPT(GPTConfig(**base, **change)))
        for name, change in VARIANTS.items()
    }
    runs, curve_rows = common.train_variants(variants, data, budget, args.seeds, args.device)
    params = {r["variant"]: r["params"] for r in runs}  # RoPE saves the position table

    finals = {name: [r["val_loss"] for r in runs if r["variant"] == name] for name in VARIANTS}
    baseline = next(iter(VARIANTS))
    rows, summary = [], []
    for name, change in VARIANTS.items():
        mean, spread = common.mean_spread(finals[name])
        delta = mean - common.mean_spread(finals[baseline])[0]
        is_base = name == baseline
        where = "; ".join(
            f"{k}={v!r} at {':'.join(map(str, common.source_line(*SWITCHES[k])[:2]))}" for k, v in change.items()
        )
        call = "" if is_base else verdict(finals[baseline], finals[name])
        rows.append(
            [
                name,
                common.fmt_mean_spread(finals[name]),
                f"{spread:.3f}",
                "" if is_base else f"{delta:+.3f}",
                call,
                f"{params[name]:,}",
                where,
            ]
        )
        summary.append(
            dict(
                variant=name,
                config=change,
                val_loss_mean=mean,
                val_loss_spread=spread,
                delta_vs_baseline=None if is_base else delta,
                verdict=call or None,
                params=params[name],
                switch=where,
            )
        )
    table = common.markdown_table(
        ["variant", "val loss", "spread", "Δ vs baseline", "verdict", "params", "switch"], rows
    )
    results.write(
        runs,
        dict(
            budget=budget,
            seeds=args.seeds,
            device=args.device,
            model=base,
            variants=summary,
            curves=curve_rows,
            spread="sample standard deviation over seeds",
        ),
        table,
        lambda fig: _draw(fig, curve_rows),
        curves_rows=curve_rows,
    )
    return 0


def _draw(fig, curve_rows) -> None:
    """Mean val loss over seeds with a band of ± one spread, one line per variant; the right panel zooms in."""
    full, zoom = fig.subplots(1, 2)
    for name in VARIANTS:
        pts = [r for r in curve_rows if r["variant"] == name]
        steps = sorted({r["step"] for r in pts})
        per_step = [[r["val_loss"] for r in pts if r["step"] == s] for s in steps]
        mean = np.array([np.mean(v) for v in per_step])
        spread = np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in per_step])
        for ax in (full, zoom):
            (line,) = ax.plot(steps, mean, label=name)
            ax.fill_between(steps, mean - spread, mean + spread, color=line.get_color(), alpha=0.2)
    half = len(steps) // 2
    finals = [r["val_loss"] for r in curve_rows if r["step"] >= steps[half]]
    zoom.set_xlim(steps[half], steps[-1])
    zoom.set_ylim(min(finals) - 0.02, max(finals) + 0.02)
    full.set_title("val loss (mean ± spread over seeds)")
    zoom.set_title("second half of training")
    for ax in (full, zoom):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)


if __name__ == "__main__":  # as `gpt experiment NAME ...`: one line for an error, never a traceback
    raise SystemExit(common.as_command(NAME))
