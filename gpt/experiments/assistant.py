"""The onboarding assistant (issue 37): from prose to a bot, and what each step buys (``gpt experiment assistant``).

For each seed a GPT is pretrained on English prose (the EX3 corpus), then made into the bot of a fictional
college (``gpt/assistant/``) five ways, each scored on data it never trained on:

* **pretrained, SFT + DPO** (the main row): supervised fine-tuning with the loss on the assistant's tokens, on
  the scrubbed handbook, then preference tuning by DPO;
* **pretrained, SFT**: the same bot before DPO;
* **from scratch, SFT**: no pretraining, the same fine-tuning;
* **pretrained, SFT, unmasked loss**: the loss on every token (the user's questions too);
* **pretrained, SFT, unscrubbed**: the handbook with its planted personal records left in.

How to read the table (mean ± spread over seeds; greedy answers, exact match): ``facts, new wording`` is the
share of right answers to trained facts asked in words never trained on; ``declines`` the share of right
declines of out-of-scope, personal-data and injection prompts never trained on; ``false declines`` the share of
in-scope questions declined; ``invented`` the share of questions about held-out facts (in no training text)
answered with anything but a decline; ``exposure`` the canaries' mean exposure in bits (Carlini et al.'s
secret sharer, ``gpt/assistant/exposure.py``: 1.44 is chance, log2(candidates) a secret ranked first).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from ..assistant import exposure, handbook, recipe
from ..model import GPT
from . import common

NAME = "assistant"
VARIANTS = (
    ("pretrained, SFT + DPO", dict(start="pretrained", dpo=True)),
    ("pretrained, SFT", dict(start="pretrained")),
    ("from scratch, SFT", dict(start="scratch")),
    ("pretrained, SFT, unmasked loss", dict(start="pretrained", masked=False)),
    ("pretrained, SFT, unscrubbed", dict(start="pretrained", scrubbed=False)),
)
COLUMNS = (
    ("fact_accuracy", "facts, new wording"),
    ("decline_scope", "declines: out of scope"),
    ("decline_personal", "declines: personal data"),
    ("decline_injection", "declines: injection"),
    ("false_declines", "false declines"),
    ("invented", "invented (held-out facts)"),
    ("exposure", "canary exposure (bits)"),
)
MODEL = dict(n_layer=4, n_head=4, n_embd=128, block_size=192, dropout=0.1)
QUICK_MODEL = dict(n_layer=1, n_head=2, n_embd=16, block_size=192, dropout=0.0)


def add_arguments(p) -> None:
    """The flags of ``gpt experiment assistant``."""
    common.add_common_arguments(p, NAME, default_seeds=(1, 2, 3))
    p.add_argument("--corpus", help="the pretraining corpus (default: $GPT_CORPUS or ../shared/data/gutenberg-100M)")
    p.add_argument("--corpus-chars", type=int, default=None, help="read this many characters of it (default 5M)")
    p.add_argument("--pretrain-steps", type=int, default=None, help="pretraining steps (default 1500)")
    p.add_argument("--dpo-steps", type=int, default=None, help="DPO steps of the main row (default 100)")
    p.add_argument("--beta", type=float, default=recipe.Recipe.beta, help="DPO's beta")
    p.add_argument("--candidates", type=int, default=None, help="IDs each canary is ranked among (default 1000)")
    p.add_argument("--variants", nargs="+", type=int, default=None,
                   help="only these rows (1-based, in the table's order; the main row is 1)")  # fmt: skip
    p.add_argument("--combine", nargs="+", metavar="DIR",
                   help="write one table from the results in these folders (runs made apart, a seed each)")  # fmt: skip
    for name, value in MODEL.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=None)


def main(argv: list[str] | None = None) -> int:
    return common.run_standalone(NAME, __doc__, add_arguments, run, argv)


def recipe_for(args, seed: int) -> recipe.Recipe:
    base = recipe.Recipe()
    model = {k: getattr(args, k) if getattr(args, k) is not None else v
             for k, v in (QUICK_MODEL if args.quick else MODEL).items()}  # fmt: skip

    def given(value, default, quick):
        return value if value is not None else (quick if args.quick else default)

    return recipe.Recipe(
        seed=seed, **model,
        pretrain_steps=given(args.pretrain_steps, base.pretrain_steps, 3),
        corpus_chars=given(args.corpus_chars, base.corpus_chars, 100_000),
        sft_steps=given(args.steps, base.sft_steps, 3), sft_lr=given(args.lr, base.sft_lr, base.sft_lr),
        batch_size=given(args.batch_size, base.batch_size, 4),
        dpo_steps=given(args.dpo_steps, base.dpo_steps, 2), beta=args.beta,
    )  # fmt: skip


def run(args, argv: list[str]) -> int:
    from .pretrain_finetune import default_corpus

    if args.combine:
        return combine(args, argv)
    results = common.Results(NAME, argv, common.out_dir(args, NAME))
    corpus_path = Path(args.corpus) if args.corpus else default_corpus()
    if corpus_path is None:
        raise FileNotFoundError("no corpus: pass --corpus FILE (UTF-8 text, or .xz) or set GPT_CORPUS")
    for flag in ("pretrain_steps", "dpo_steps", "corpus_chars", "candidates"):
        value = getattr(args, flag)
        if value is not None and value < (2 if flag == "candidates" else 0):
            raise ValueError(
                f"--{flag.replace('_', '-')} is {value}: it must be at least {2 if flag == 'candidates' else 0}"
            )
    chosen = sorted(set(args.variants or range(1, len(VARIANTS) + 1)))
    if not set(chosen) <= set(range(1, len(VARIANTS) + 1)):
        raise ValueError(f"--variants are row numbers from 1 to {len(VARIANTS)}, got {chosen}")
    limit = 3 if args.quick else None
    candidates = args.candidates or (20 if args.quick else 1000)
    first = recipe_for(args, args.seeds[0])
    tokens, stats = recipe.corpus_tokens(corpus_path, first.corpus_chars, recipe.tokenizer())
    print(f"corpus {corpus_path.name}: {len(tokens):,} characters, {stats['kept_fraction']:.2%} kept as they were")

    runs, curves = [], []
    for seed in args.seeds:
        base = recipe_for(args, seed)
        corpus = handbook.build(seed)
        needs_pretrained = any(VARIANTS[i - 1][1]["start"] == "pretrained" for i in chosen)
        pretrained, seconds_pre = None, 0.0
        if needs_pretrained:
            t0 = time.perf_counter()
            print(f"seed {seed}: pretraining for {base.pretrain_steps} steps")
            pretrained, curve = recipe.pretrain(base, tokens, log=print)
            seconds_pre = time.perf_counter() - t0
            curves += [dict(seed=seed, phase="pretrain", step=c["step"], loss=c["corpus_val_loss"]) for c in curve]
        sft_only_of_main = None
        for index in chosen:
            name, how = VARIANTS[index - 1]
            r = dataclasses.replace(base, masked=how.get("masked", True), scrubbed=how.get("scrubbed", True))
            t0 = time.perf_counter()
            if index == 2 and sft_only_of_main is not None:  # the main row's bot before DPO: scored already
                runs.append(dict(sft_only_of_main, variant=name))
                continue
            model = GPT(pretrained.config) if how["start"] == "pretrained" else None
            if model is not None:
                model.load_state_dict(pretrained.state_dict())
            else:
                common.seed_everything(seed)
                model = GPT(r.model_config())
            print(f"seed {seed}: {name}")
            losses = recipe.fine_tune(model, corpus, r, log=print)
            curves += [dict(seed=seed, phase=name, step=i, loss=v) for i, v in enumerate(losses)]
            if how.get("dpo"):
                if 2 in chosen:
                    scores = recipe.evaluate(model, corpus, limit, candidates)
                    sft_only_of_main = dict(seed=seed, seconds=round(seconds_pre + time.perf_counter() - t0, 1),
                                            **scores)  # fmt: skip
                history = recipe.preference_tune(model, corpus, r, log=print)
                curves += [dict(seed=seed, phase="dpo", step=h["step"], loss=h["loss"],
                                reward_margin=h["rewards/margins"], reward_accuracy=h["rewards/accuracies"])
                           for h in history]  # fmt: skip
            scores = recipe.evaluate(model, corpus, limit, candidates)
            seconds = seconds_pre * (how["start"] == "pretrained") + time.perf_counter() - t0
            print("  " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()) + f" ({seconds:.0f} s)")
            runs.append(dict(variant=name, seed=seed, seconds=round(seconds, 1), **scores))

    summary = dict(
        corpus=str(corpus_path), corpus_chars=len(tokens), recipe=dataclasses.asdict(first), seeds=list(args.seeds),
        candidates=candidates, evaluation_limit=limit, chance_exposure=exposure.CHANCE,
        variants=[VARIANTS[i - 1][0] for i in chosen], runs=runs,
    )  # fmt: skip
    write(results, summary, curves)
    return 0


def write(results: common.Results, summary: dict, curves: list[dict]) -> None:
    """The table, the plot and the files of ``summary`` (its runs, seeds and settings)."""
    names, runs, first, candidates = summary["variants"], summary["runs"], summary["recipe"], summary["candidates"]
    rows = []
    for name in names:
        mine = [r for r in runs if r["variant"] == name]
        rows.append([name, *(common.fmt_mean_spread([r[key] for r in mine], 2) for key, _ in COLUMNS),
                     f"{np.mean([r['seconds'] for r in mine]):.0f}"])  # fmt: skip
    table = common.markdown_table(
        ["bot", *(title for _, title in COLUMNS), "wall s per seed (pretraining included)"], rows
    )
    seeds, limit = summary["seeds"], summary["evaluation_limit"]
    table += (
        f"\n{len(seeds)} seed(s) ({' '.join(map(str, seeds))}), mean ± spread (sample std). Model "
        f"{first['n_layer']} layers × {first['n_embd']}, context {first['block_size']}; pretraining "
        f"{first['pretrain_steps']} steps on {summary['corpus_chars']:,} characters of "
        f"`{Path(summary['corpus']).name}`; SFT {first['sft_steps']} steps, batch {first['batch_size']}; DPO "
        f"{first['dpo_steps']} steps, β {first['beta']:g}. Exposure among {candidates} candidate IDs: chance "
        f"{exposure.CHANCE:.2f} bits, most {np.log2(candidates):.2f}."
        + (f" Evaluation on the first {limit} questions of each kind only (--quick)." if limit else "")
        + "\n"
    )
    results.write(runs, summary, table, lambda fig: _draw(fig, runs, names), curves_rows=curves)


def combine(args, argv: list[str]) -> int:
    """One table from runs of this experiment made apart (a seed each, say, on several cores): their settings
    must agree but for the seed, and their seeds must differ."""
    results = common.Results(NAME, argv, common.out_dir(args, NAME))
    parts = []
    for folder in args.combine:
        path = Path(folder) / f"{NAME}.json"
        try:
            part = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"--combine {folder}: cannot read {path} ({exc})") from None
        if not isinstance(part, dict) or part.get("experiment") != NAME:
            raise ValueError(f"--combine {folder}: {path} holds no results of `gpt experiment {NAME}`")
        parts.append((folder, part))
    same = ("corpus", "corpus_chars", "candidates", "evaluation_limit", "variants")
    _, first = parts[0]
    for folder, part in parts[1:]:
        differ = [k for k in same if part.get(k) != first.get(k)]
        differ += [
            f"recipe.{k}" for k in first["recipe"] if k != "seed" and part["recipe"].get(k) != first["recipe"][k]
        ]
        if differ:
            raise ValueError(f"--combine: {folder} differs from {parts[0][0]} in {', '.join(differ)}")
    seeds = [s for _, part in parts for s in part["seeds"]]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--combine: a seed appears twice among {seeds}")
    curves = []
    for folder, _ in parts:
        with open(Path(folder) / f"{NAME}_curves.csv", newline="", encoding="utf-8") as f:
            curves += list(csv.DictReader(f))
    summary = {k: first[k] for k in (*same, "recipe", "chance_exposure")}
    summary.update(seeds=seeds, runs=[r for _, part in parts for r in part["runs"]],
                   parts={str(folder): part["command"] for folder, part in parts})  # fmt: skip
    write(results, summary, curves)
    return 0


def _draw(fig, runs, names) -> None:
    left, right = fig.subplots(1, 2, width_ratios=(2, 1))
    keys = [key for key, _ in COLUMNS if key != "exposure"]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        mine = [r for r in runs if r["variant"] == name]
        stats = [common.mean_spread([r[k] for r in mine]) for k in keys]
        left.bar(np.arange(len(keys)) + i * width, [m for m, _ in stats], width, yerr=[s for _, s in stats],
                 label=name, capsize=2)  # fmt: skip
    left.set_xticks(np.arange(len(keys)) + 0.4 - width / 2, [title for k, title in COLUMNS if k != "exposure"],
                    rotation=20, ha="right")  # fmt: skip
    left.set_ylim(0, 1.05)
    left.set_ylabel("share of held-out prompts")
    left.legend(fontsize=7)
    left.set_title("the bot on prompts it never trained on (mean ± std over seeds)")
    for i, name in enumerate(names):
        mine = [r["exposure"] for r in runs if r["variant"] == name]
        right.bar(i, np.mean(mine), yerr=common.mean_spread(mine)[1], capsize=3)
    right.axhline(exposure.CHANCE, color="gray", linestyle="--", label="chance")
    right.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=7)
    right.set_ylabel("bits")
    right.set_title("canary exposure")
    right.legend()


if __name__ == "__main__":  # as `gpt experiment NAME ...`: one line for an error, never a traceback
    raise SystemExit(common.as_command(NAME))
