"""Ablation: which parts of the GPT matter? (``gpt experiment ablation``)

The lecture's assignment: identify the key pieces, perform code surgery, plot the results, and interpret the
graph by naming the line of code. Two families of models are trained on tinyshakespeare, each with the same
budget and the same seeds, on the lecture's small setting (context 8, width 32, 4 heads, batch 32):

* the lecture's **ladder**, each rung adding one piece: bigram -> one attention head -> four heads ->
  + feed-forward (MLP) -> + residual connections (3 blocks) -> + LayerNorm -> scaled up (wider, deeper,
  longer context, dropout);
* **code surgery** on the full model (3 blocks, dropout 0.1): each variant flips one ``GPTConfig`` switch
  (no residual, no LayerNorm, no position embeddings, one head, no MLP, no 1/sqrt(head_size), no dropout).

How to read the table: ``val loss`` is the final validation loss (nats per character, lower is better),
mean ± sample standard deviation over seeds; ``Δ`` is the change against the reference row of the family
(the previous rung for the ladder, the full model for the switches). A difference smaller than the seed
spread is noise. ``switch`` names the file and line of ``gpt/model.py`` whose branch the variant takes: that is
the line of code responsible for the gap in the plot. ``lecture`` is the loss the lecture reports for the rung
(its runs are 5000 steps, so expect ours to be higher at the default budget; the ordering is what to compare).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..lecture import BigramLanguageModel
from ..model import GPT, Block, CausalSelfAttention, GPTConfig
from . import common
from .lecture_ladder import RECIPES

NAME = "ablation"

# the lecture's figures, one table for both experiments (gpt/experiments/lecture_ladder.py says where they come from)
LECTURE = {rung: recipe.lecture_val for rung, recipe in RECIPES.items()}

# The lecture's small setting; the "scaled up" rung changes it.
SMALL = dict(block_size=8, n_embd=32, n_head=4)


@dataclass
class Variant:
    name: str
    family: str  # "ladder" or "switch"
    config: dict | None = None  # GPTConfig fields (without vocab_size); None for the bigram model
    switch: tuple | None = None  # (object whose source holds the switch, regex of the switch), for the table
    lecture: float | None = None  # the lecture's val loss for this rung
    note: str = ""
    reference: str | None = None  # the row Δ is measured against
    extra: dict = field(default_factory=dict)

    @property
    def block_size(self) -> int:
        return (self.config or SMALL)["block_size"]

    def build(self, vocab_size: int):
        if self.config is None:
            return BigramLanguageModel(vocab_size)
        return GPT(GPTConfig(vocab_size=vocab_size, **self.config))


def _heads_switch():
    return (GPTConfig.heads.fget, r"self\.single_head")


def variants() -> list[Variant]:
    """Every model the experiment trains, in table order."""
    # the ladder follows the lecture: untied output layer, no dropout, the pieces switched on one at a time
    rung = dict(SMALL, n_layer=1, tie_weights=False, dropout=0.0, residual=False, layer_norm=False, mlp="none")
    ladder = [
        Variant("bigram", "ladder", config=None, switch=(BigramLanguageModel, r"self\.token_embedding_table ="),
                note="a (vocab x vocab) table of next-character logits"),
        Variant("single head", "ladder", config=dict(rung, single_head=True), switch=_heads_switch(),
                lecture=LECTURE["single head"], note="one head of size 32", reference="bigram"),
        Variant("multi-head", "ladder", config=dict(rung), switch=_heads_switch(), lecture=LECTURE["multi-head"],
                note="4 heads of size 8", reference="single head"),
        Variant("+ feed forward", "ladder", config=dict(rung, mlp="gelu"), switch=(Block, r"config\.mlp"),
                lecture=LECTURE["+ feed-forward"], note="MLP after attention", reference="multi-head"),
        Variant("+ residual", "ladder", config=dict(rung, mlp="gelu", n_layer=3, residual=True),
                switch=(Block, r"self\.residual"), lecture=LECTURE["+ residual"],
                note="3 blocks with residual connections", reference="+ feed forward"),
        Variant("+ LayerNorm", "ladder", config=dict(rung, mlp="gelu", n_layer=3, residual=True, layer_norm=True),
                switch=(Block, r"config\.layer_norm"), lecture=LECTURE["+ LayerNorm"],
                note="pre-LN in every block and before the head", reference="+ residual"),
        Variant("scaled up", "ladder",
                config=dict(block_size=16, n_embd=64, n_head=4, n_layer=4, tie_weights=False, dropout=0.1),
                switch=(GPTConfig, r"n_embd: int"), reference="+ LayerNorm",
                note="context 16, width 64, 4 blocks, dropout 0.1 (the lecture's 1.48 is with 256/384/6 blocks)"),
    ]  # fmt: skip
    full = dict(SMALL, n_layer=3, dropout=0.1)
    surgery = [  # (name, what changes against the full model, where that switch is read, note)
        ("full model", {}, None, "3 blocks, 4 heads, GELU MLP, learned positions, dropout 0.1"),
        ("no residual", {"residual": False}, (Block, r"self\.residual"), "each sub-layer replaces x"),
        ("no LayerNorm", {"layer_norm": False}, (Block, r"config\.layer_norm"), "LayerNorms become identities"),
        ("no position embedding", {"position_embedding": "none"}, (GPT, r"config\.position_embedding"),
         "the model sees a bag of previous characters"),
        ("one head", {"single_head": True}, _heads_switch(), "one head of size 32 instead of 4 of size 8"),
        ("no MLP", {"mlp": "none"}, (Block, r"config\.mlp"), "attention only"),
        ("no attention scaling", {"attention_scale": False}, (CausalSelfAttention, r"config\.attention_scale"),
         "scores not divided by sqrt(head_size)"),
        ("no dropout", {"dropout": 0.0}, (GPT, r"config\.dropout"), "dropout 0"),
    ]  # fmt: skip
    switches = [
        Variant(name, "switch", config=dict(full, **change), switch=where, note=note,
                reference=None if name == "full model" else "full model")
        for name, change, where, note in surgery
    ]  # fmt: skip
    switches = [
        Variant(name, "switch", dict(full, **change), where, None, note, None if name == "full model" else "full model")
        for name, change, where, note in surgery
    ]
    return ladder + switches


def switch_location(variant: Variant) -> str:
    """``file:line  code`` of the branch a variant switches, found in the source (never hard-coded)."""
    if variant.switch is None:
        return ""
    path, line, text = common.source_line(*variant.switch)
    return f"{path}:{line} `{text}`"


# 15 variants x 2 seeds in about 10 minutes on a 2-core CPU. The lecture trains 5000 steps at a constant 1e-3;
# with fewer steps a higher peak rate and a cosine decay get further.
DEFAULT = common.Budget(
    steps=1200, batch_size=32, learning_rate=2e-3, min_lr=2e-4, warmup=100, eval_interval=100, eval_iters=30
)
QUICK = common.Budget(steps=4, batch_size=4, warmup=1, eval_interval=2, eval_iters=1)


def add_arguments(p) -> None:
    """The flags of ``gpt experiment ablation`` (also ``python -m gpt.experiments.ablation``)."""
    common.add_common_arguments(p, NAME, default_seeds=(1, 2))
    common.add_data_flags(p)
    p.add_argument("--variants", nargs="+", default=None, help="train only these variants (names as in the table)")
    p.add_argument("--list", action="store_true", help="list the variants and their switches, then exit")


def main(argv: list[str] | None = None) -> int:
    return common.run_standalone(NAME, __doc__, add_arguments, run, argv)


def run(args, argv: list[str]) -> int:
    """Run the experiment with parsed ``args``; ``argv`` (the command line) is recorded with the results."""
    all_variants = variants()
    if args.list:
        for v in all_variants:
            print(f"{v.family:7} {v.name:24} {switch_location(v)}")
        return 0
    chosen = all_variants
    if args.variants:
        known = {v.name for v in all_variants}
        unknown = [n for n in args.variants if n not in known]
        if unknown:
            raise ValueError(f"unknown variant(s) {unknown}; choose from {sorted(known)}")
        chosen = [v for v in all_variants if v.name in args.variants]
    budget = common.budget_from_args(args, DEFAULT, QUICK)
    results = common.Results(NAME, argv, common.out_dir(args, NAME))
    data = common.load_shakespeare(args.data_dir, args.shakespeare)
    print(f"ablation: {len(chosen)} variants x seeds {args.seeds}, {budget.steps} steps each, on {args.device}")

    builds = {v.name: (v.block_size, v.build) for v in chosen}
    runs, curve_rows = common.train_variants(builds, data, budget, args.seeds, args.device)
    family = {v.name: v.family for v in chosen}
    runs = [
        dict(variant=r["variant"], family=family[r["variant"]], **{k: x for k, x in r.items() if k != "variant"})
        for r in runs
    ]

    summary_rows, table_rows = _summarise(chosen, runs)
    table = common.markdown_table(
        ["family", "variant", "val loss", "Δ", "vs", "lecture", "params", "switch", "what changes"], table_rows
    )
    results.write(
        runs,
        dict(
            budget=budget,
            seeds=args.seeds,
            device=args.device,
            small_setting=SMALL,
            variants=summary_rows,
            curves=curve_rows,
            spread="sample standard deviation over seeds",
        ),
        table,
        lambda fig: _draw(fig, chosen, curve_rows),
        curves_rows=curve_rows,
    )
    return 0


def _summarise(chosen: list[Variant], runs: list[dict]):
    finals = {v.name: [r["val_loss"] for r in runs if r["variant"] == v.name] for v in chosen}
    summary, rows = [], []
    for v in chosen:
        mean, spread = common.mean_spread(finals[v.name])
        ref = finals.get(v.reference) if v.reference else None
        delta = mean - common.mean_spread(ref)[0] if ref else None
        where = switch_location(v)
        params = next(r["params"] for r in runs if r["variant"] == v.name)
        summary.append(
            dict(
                variant=v.name,
                family=v.family,
                val_loss_mean=mean,
                val_loss_spread=spread,
                seeds=len(finals[v.name]),
                delta=delta,
                reference=v.reference,
                lecture=v.lecture,
                switch=where,
                params=params,
                config=v.config,
                note=v.note,
            )
        )
        rows.append(
            [
                v.family,
                v.name,
                common.fmt_mean_spread(finals[v.name]),
                "" if delta is None else f"{delta:+.3f}",
                (v.reference or "") if ref else "",
                "" if v.lecture is None else f"{v.lecture:.2f}",
                f"{params:,}",
                where,
                v.note,
            ]
        )
    return summary, rows


def _draw(fig, chosen: list[Variant], curve_rows: list[dict]) -> None:
    """One figure, two panels (ladder, surgery): mean val loss over seeds against steps, one line per variant."""
    import numpy as np

    families = [f for f in ("ladder", "switch") if any(v.family == f for v in chosen)]
    axes = fig.subplots(1, len(families), sharey=True, squeeze=False)[0]
    for ax, family in zip(axes, families):
        for v in (v for v in chosen if v.family == family):
            points = [r for r in curve_rows if r["variant"] == v.name]
            steps = sorted({r["step"] for r in points})
            mean = [np.mean([r["val_loss"] for r in points if r["step"] == s]) for s in steps]
            style = "--" if v.name in ("full model", "bigram") else "-"
            ax.plot(steps, mean, style, label=v.name)
        ax.set_title("the lecture's ladder" if family == "ladder" else "code surgery on the full model")
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("val loss (mean over seeds)")
    # the first evaluations (~4.2 = ln 65) would squash the interesting range: cut the axis a little above the
    # worst final loss, so every line's end stays visible
    values = [r["val_loss"] for r in curve_rows]
    last = max(r["step"] for r in curve_rows)
    worst_final = max(r["val_loss"] for r in curve_rows if r["step"] == last)
    axes[0].set_ylim(min(values) - 0.05, min(max(values), worst_final + 0.25) + 0.02)


if __name__ == "__main__":  # as `gpt experiment NAME ...`: one line for an error, never a traceback
    raise SystemExit(common.as_command(NAME))
