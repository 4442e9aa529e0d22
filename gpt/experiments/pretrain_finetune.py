"""EX3: pretrain on a large corpus, then fine-tune on tinyshakespeare (``gpt experiment pretrain-finetune``).

The question: does reading a lot of other English first help a model of Shakespeare? Three numbers answer it,
all measured on tinyshakespeare's validation split (the lecture's last 10%):

1. **pretrained, zero-shot**: a GPT trained only on the large corpus (Project Gutenberg books, with every
   Shakespeare text removed), written in tinyshakespeare's 65-character vocabulary;
2. **pretrained + fine-tuned**: the same model after a short fine-tuning on tinyshakespeare with a lower
   learning rate (it should adapt what it knows, not overwrite it);
3. **from scratch**: a freshly initialised GPT of the same size trained on tinyshakespeare with the same
   fine-tuning budget (same steps; its learning rate is the pretraining one, the fair choice for a fresh model).

How to read the table: val loss in nats per character (lower is better), mean ± spread over seeds. The gap
between rows 2 and 3 is what pretraining bought for that fine-tuning budget; the plot shows both fine-tuning
curves (step 0 of the fine-tuned curve is the zero-shot loss) and the pretraining curve.

The corpus has characters tinyshakespeare never uses. They are mapped by ``char_map`` (documented there); the
JSON reports how many characters were kept, mapped and dropped.
"""

from __future__ import annotations

import lzma
import os
import time
import unicodedata
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..model import GPT, GPTConfig
from ..train import Batches
from . import common

NAME = "pretrain-finetune"

# Replacements applied before the general rules of ``char_map``. Gutenberg writes dialogue with double quotes
# (tinyshakespeare has none: it quotes with '), marks italics with _underscores_, and uses typographic dashes.
CORPUS_MAP = {
    '"': "'",
    "\u201c": "'",
    "\u201d": "'",
    "\u201e": "'",
    "\u00ab": "'",
    "\u00bb": "'",  # double quotes
    "\u2018": "'",
    "\u2019": "'",
    "`": "'",
    "\u00b4": "'",  # curly single quotes, backtick, acute accent
    "\u2014": "-",
    "\u2013": "-",
    "\u2012": "-",
    "\u2015": "-",
    "\u2010": "-",
    "\u2212": "-",  # dashes, minus
    "_": "",  # italics markers
    "(": "",
    ")": "",
    "[": "",
    "]": "",
    "{": "",
    "}": "",  # brackets: their content stays, like an aside
    "\t": " ",
    "\r": "",
    "\u00e6": "ae",
    "\u00c6": "AE",
    "\u0153": "oe",
    "\u0152": "OE",
    "\u00df": "ss",  # no NFKD decomposition
}


def char_map(chars, vocab) -> dict[str, str]:
    """How each character of ``chars`` is written in ``vocab`` ("" means dropped). The rules, in order:

    1. a character of the vocabulary stays itself;
    2. ``CORPUS_MAP``: double and curly quotes -> ``'``, dashes -> ``-``, ``_`` and brackets dropped, æ -> ae ...;
    3. digits are dropped (tinyshakespeare has only the digit 3, in "3 KING HENRY VI"; it is kept by rule 1);
    4. any other whitespace (no-break space, ...) -> a space;
    5. Unicode NFKD compatibility decomposition, keeping what is in the vocabulary: accented letters lose their
       accents (é -> e), ligatures split (ﬁ -> fi), the ellipsis becomes "...";
    6. anything else (£, *, /, +, Greek, ...) is dropped.
    """
    vocab = set(vocab)
    out = {}
    for ch in chars:
        if ch in vocab:
            out[ch] = ch
        elif ch in CORPUS_MAP:
            out[ch] = CORPUS_MAP[ch]
        elif ch.isdigit():
            out[ch] = ""
        elif ch.isspace():
            out[ch] = " "
        else:
            out[ch] = "".join(c for c in unicodedata.normalize("NFKD", ch) if c in vocab)
    return out


def map_corpus(text: str, vocab) -> tuple[str, dict]:
    """Rewrite ``text`` in ``vocab`` with ``char_map``; returns the text and statistics of what happened."""
    codes, counts = np.unique(np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4"), return_counts=True)
    chars = [chr(c) for c in codes]
    table = char_map(chars, vocab)
    mapped = text.translate({ord(c): v for c, v in table.items() if v != c})
    n = max(len(text), 1)
    kept = sum(int(k) for c, k in zip(chars, counts) if table[c] == c)
    dropped = sum(int(k) for c, k in zip(chars, counts) if table[c] == "")
    changed = sorted(((int(k), c) for c, k in zip(chars, counts) if table[c] != c), reverse=True)
    stats = {
        "chars_in": len(text),
        "chars_out": len(mapped),
        "distinct_chars_in": len(chars),
        "kept_fraction": kept / n,
        "mapped_fraction": (n - kept - dropped) / n if text else 0.0,
        "dropped_fraction": dropped / n if text else 0.0,
        "most_frequent_changes": [{"char": c, "count": k, "becomes": table[c]} for k, c in changed[:15]],
    }
    return mapped, stats


def read_corpus(path: str | os.PathLike, max_chars: int | None) -> str:
    """The first ``max_chars`` characters of a UTF-8 text file (``.xz`` is decompressed on the fly, never to disk)."""
    path = Path(path)
    opener = lzma.open if path.suffix == ".xz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.read(max_chars if max_chars else -1)


def default_corpus() -> Path | None:
    env = os.environ.get("GPT_CORPUS")
    for candidate in ([Path(env)] if env else []) + [common.REPO_ROOT.parent / "shared/data/gutenberg-100M.txt.xz"]:
        if candidate.is_file():
            return candidate
    return None


MODEL = dict(n_layer=3, n_head=4, n_embd=96, block_size=64, dropout=0.0)
DEFAULT = common.Budget(
    steps=2000, batch_size=16, learning_rate=2e-3, min_lr=2e-4, warmup=100, eval_interval=100, eval_iters=20
)
QUICK = common.Budget(steps=4, batch_size=4, warmup=1, eval_interval=2, eval_iters=1)


def add_arguments(p) -> None:
    """The flags of ``gpt experiment pretrain-finetune`` (also ``python -m gpt.experiments.pretrain_finetune``)."""
    common.add_common_arguments(p, NAME, default_seeds=(1,))
    common.add_data_flags(p)
    p.add_argument(
        "--corpus",
        default=None,
        help="the pretraining corpus, UTF-8 text or .xz (default: $GPT_CORPUS or ../shared/data/gutenberg-100M.txt.xz)",
    )
    p.add_argument(
        "--corpus-chars",
        type=int,
        default=20_000_000,
        help="read only this many characters of the corpus (default 20M; 0: all of it)",
    )
    p.add_argument("--finetune-steps", type=int, default=500, help="fine-tuning (and from-scratch) steps")
    p.add_argument("--finetune-lr", type=float, default=5e-4, help="fine-tuning peak learning rate")
    common.add_model_arguments(p, MODEL)


def main(argv: list[str] | None = None) -> int:
    return common.run_standalone(NAME, __doc__, add_arguments, run, argv)


def run(args, argv: list[str]) -> int:
    """Run the experiment with parsed ``args``; ``argv`` (the command line) is recorded with the results."""
    pre_budget = common.budget_from_args(args, DEFAULT, QUICK)
    ft_steps = 4 if args.quick else args.finetune_steps
    ft_budget = replace(
        pre_budget,
        steps=ft_steps,
        learning_rate=args.finetune_lr,
        min_lr=args.finetune_lr / 10,
        warmup=min(pre_budget.warmup, 50),
    )
    scratch_budget = replace(pre_budget, steps=ft_steps)
    corpus_path = Path(args.corpus) if args.corpus else default_corpus()
    if corpus_path is None:
        raise FileNotFoundError("no corpus: pass --corpus FILE (UTF-8 text, or .xz) or set GPT_CORPUS")
    results = common.Results(NAME, argv, common.out_dir(args, NAME))
    shakespeare = common.load_shakespeare(args.data_dir, args.shakespeare)
    tokenizer = shakespeare.tokenizer

    t0 = time.perf_counter()
    raw = read_corpus(corpus_path, args.corpus_chars or None)
    text, mapping = map_corpus(raw, tokenizer.chars)
    del raw
    corpus = tokenizer.encode_array(text)
    n_val = max(len(corpus) // 100, args.block_size * 4)  # the last 1% checks pretraining itself
    corpus_train, corpus_val = corpus[:-n_val], corpus[-n_val:]
    prefix = f"the first {mapping['chars_in']:,}" if args.corpus_chars else "all"
    print(
        f"corpus {corpus_path}: read {prefix} characters in {time.perf_counter() - t0:.1f} s; in tinyshakespeare's "
        f"vocabulary: {mapping['kept_fraction']:.2%} kept, {mapping['mapped_fraction']:.2%} mapped, "
        f"{mapping['dropped_fraction']:.2%} dropped; {len(corpus_train):,} train / {len(corpus_val):,} val "
        "tokens"
    )

    cfg = GPTConfig(vocab_size=tokenizer.vocab_size, **{k: getattr(args, k) for k in MODEL})
    evaluate_pre = common.lm_evaluator(
        {"corpus_val": corpus_val, "val": shakespeare.val},
        cfg.block_size,
        pre_budget.batch_size,
        pre_budget.eval_iters,
        args.device,
    )
    evaluate_ft = common.lm_evaluator(
        {"val": shakespeare.val}, cfg.block_size, pre_budget.batch_size, pre_budget.eval_iters, args.device
    )
    runs, curve_rows = [], []
    for seed in args.seeds:
        rng = common.seed_everything(seed)
        model = GPT(cfg).to(args.device)
        print(f"seed {seed}: pretraining {model.num_params():,} parameters for {pre_budget.steps} steps")
        batches = Batches(corpus_train, cfg.block_size, pre_budget.batch_size, args.device).sample
        curve = common.train(model, batches, pre_budget, rng, evaluate_pre, log=print)
        curve_rows += [dict(seed=seed, phase="pretrain", **c) for c in curve]

        batches = Batches(shakespeare.train, cfg.block_size, pre_budget.batch_size, args.device).sample
        for run, start, budget in (("fine-tuned", model, ft_budget), ("scratch", None, scratch_budget)):
            rng = common.seed_everything(seed + 1000)  # both see the same fine-tuning batches
            model = start if start is not None else GPT(cfg).to(args.device)
            print(f"seed {seed}: {run}, {budget.steps} steps on tinyshakespeare at lr {budget.learning_rate:g}")
            curve = common.train(model, batches, budget, rng, evaluate_ft, log=print)
            curve_rows += [dict(seed=seed, phase=run, **c) for c in curve]
        by_phase = {
            ph: [c for c in curve_rows if c["seed"] == seed and c["phase"] == ph]
            for ph in ("pretrain", "fine-tuned", "scratch")
        }
        runs.append(
            dict(
                seed=seed,
                zero_shot_val=by_phase["pretrain"][-1]["val_loss"],
                corpus_val=by_phase["pretrain"][-1]["corpus_val_loss"],
                finetuned_val=by_phase["fine-tuned"][-1]["val_loss"],
                scratch_val=by_phase["scratch"][-1]["val_loss"],
            )
        )

    def col(key):
        return [r[key] for r in runs]

    gain = [r["scratch_val"] - r["finetuned_val"] for r in runs]
    table = common.markdown_table(
        ["model", "steps on tinyshakespeare", "lr", "tinyshakespeare val loss"],
        [
            ["pretrained only (zero-shot)", 0, "", common.fmt_mean_spread(col("zero_shot_val"))],
            [
                "pretrained + fine-tuned",
                ft_budget.steps,
                f"{ft_budget.learning_rate:g}",
                common.fmt_mean_spread(col("finetuned_val")),
            ],
            [
                "from scratch",
                scratch_budget.steps,
                f"{scratch_budget.learning_rate:g}",
                common.fmt_mean_spread(col("scratch_val")),
            ],
            ["gain from pretraining (scratch - fine-tuned)", "", "", common.fmt_mean_spread(gain)],
        ],
    )
    table += (
        f"\nPretraining: {pre_budget.steps} steps at lr {pre_budget.learning_rate:g} on {prefix} characters "
        f"of `{corpus_path.name}` (val loss on held-out corpus text: "
        f"{common.fmt_mean_spread(col('corpus_val'))})."
        f" Characters: {mapping['kept_fraction']:.2%} kept, {mapping['mapped_fraction']:.2%} mapped, "
        f"{mapping['dropped_fraction']:.2%} dropped.\n"
    )
    summary = dict(
        corpus=str(corpus_path),
        corpus_chars_read=mapping["chars_in"],
        corpus_prefix_only=bool(args.corpus_chars),
        char_mapping=mapping,
        corpus_map=CORPUS_MAP,
        model=cfg.to_dict(),
        pretrain_budget=pre_budget,
        finetune_budget=ft_budget,
        scratch_budget=scratch_budget,
        seeds=args.seeds,
        device=args.device,
        runs=runs,
        curves=curve_rows,
    )
    results.write(runs, summary, table, lambda fig: _draw(fig, curve_rows), curves_rows=curve_rows)
    return 0


def _draw(fig, curve_rows) -> None:
    left, right = fig.subplots(1, 2)

    def mean_curve(phase, key):
        pts = [c for c in curve_rows if c["phase"] == phase]
        steps = sorted({c["step"] for c in pts})
        return steps, [np.mean([c[key] for c in pts if c["step"] == s]) for s in steps]

    left.plot(*mean_curve("pretrain", "corpus_val_loss"), label="held-out corpus")
    left.plot(*mean_curve("pretrain", "val_loss"), label="tinyshakespeare val (zero-shot)")
    left.set_title("pretraining on the corpus")
    right.plot(*mean_curve("fine-tuned", "val_loss"), label="pretrained + fine-tuned")
    right.plot(*mean_curve("scratch", "val_loss"), label="from scratch")
    right.set_title("training on tinyshakespeare (same budget)")
    for ax in (left, right):
        ax.set_xlabel("step")
        ax.set_ylabel("val loss")
        ax.grid(alpha=0.3)
        ax.legend()


if __name__ == "__main__":  # as `gpt experiment NAME ...`: one line for an error, never a traceback
    raise SystemExit(common.as_command(NAME))
