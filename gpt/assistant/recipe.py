"""``gpt sft``: make the onboarding bot, from prose to assistant, in a run folder with a checkpoint.

The path has three stages, each a function here, so that ``gpt experiment assistant`` runs the same ones:

1. ``pretrain``: a GPT reads English prose (the EX3 corpus, ``../shared/data/gutenberg-100M.txt.xz``, written
   in the assistant's vocabulary by ``pretrain_finetune.map_corpus``). ``gpt sft --pretrain`` stops here and
   saves the checkpoint that ``gpt sft --from`` starts from.
2. ``supervised fine-tuning`` (``sft.fine_tune``): conversations from the handbook's generator, with the loss
   on the assistant's tokens (``--unmasked``: on every token), and the handbook's own lines read as prose,
   after the scrub (``--unscrubbed``: with the planted records left in, to measure what leaks).
3. ``DPO`` (``dpo.train``): the generator's preference pairs, the fine-tuned model as the frozen reference.

``evaluate`` measures the bot on the held-out splits, and the exposure of each canary (``exposure.py``).

The run folder follows ``gpt train``'s rules (``gpt/run_folder.py``): it is locked while the bot trains, and a
folder that holds a run is refused unless ``--replace-run`` moves that run aside (never deletes it); the
checkpoint is written atomically (``gpt/checkpoint.py``), with the recipe and the evaluation in its header.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

import tinygrad_edu as torch
from gpt import checkpoint as ckpt
from gpt import files
from gpt.config import TrainConfig
from gpt.data import CharTokenizer
from gpt.model import GPT, GPTConfig
from gpt.run_folder import RunFolder, RunFolderError

from . import chat, dpo, exposure, handbook, scrub, sft

DESCRIPTION = "fine-tune the onboarding assistant (issue 37): pretrain, supervised fine-tuning, DPO"
DECLINES = (handbook.DECLINE_UNKNOWN, handbook.DECLINE_SCOPE, handbook.DECLINE_PERSONAL, handbook.DECLINE_INJECTION)


@dataclasses.dataclass
class Recipe:
    """Everything that decides a bot. The model's shape matters only when it starts from scratch or pretrains."""

    seed: int = 0
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 192
    dropout: float = 0.1
    pretrain_steps: int = 1500
    pretrain_lr: float = 2e-3
    pretrain_batch_size: int = 16
    corpus_chars: int = 5_000_000
    sft_steps: int = 600
    sft_lr: float = 1e-3
    batch_size: int = 32
    masked: bool = True
    scrubbed: bool = True
    dpo_steps: int = 100
    dpo_lr: float = 2e-5
    beta: float = 0.1

    def model_config(self) -> GPTConfig:
        return GPTConfig(
            vocab_size=len(chat.VOCABULARY), block_size=self.block_size, n_layer=self.n_layer,
            n_head=self.n_head, n_embd=self.n_embd, dropout=self.dropout,
        )  # fmt: skip


def tokenizer() -> CharTokenizer:
    return CharTokenizer(chat.VOCABULARY)


def corpus_tokens(path: str | Path, max_chars: int, vocab: CharTokenizer) -> tuple[np.ndarray, dict]:
    """The first ``max_chars`` characters of the corpus in the assistant's vocabulary (never its markers)."""
    from gpt.experiments.pretrain_finetune import map_corpus, read_corpus

    text, stats = map_corpus(read_corpus(path, max_chars or None), [c for c in vocab.chars if c not in chat.MARKERS])
    return vocab.encode_array(text), stats


def pretrain(recipe: Recipe, tokens: np.ndarray, log=print) -> tuple[GPT, list[dict]]:
    """A fresh GPT trained on ``tokens`` (prose) with ``gpt train``'s recipe; returns it and its curve."""
    from gpt.experiments import common
    from gpt.train import Batches

    rng = common.seed_everything(recipe.seed)
    model = GPT(recipe.model_config())
    n_val = max(len(tokens) // 100, recipe.block_size * 4)
    train_part, val_part = tokens[:-n_val], tokens[-n_val:]
    budget = common.Budget(
        steps=recipe.pretrain_steps, batch_size=recipe.pretrain_batch_size, learning_rate=recipe.pretrain_lr,
        min_lr=recipe.pretrain_lr / 10, warmup=min(100, recipe.pretrain_steps // 10),
        eval_interval=max(1, recipe.pretrain_steps // 5), eval_iters=4,
    )  # fmt: skip
    evaluate = common.lm_evaluator({"corpus_val": val_part}, recipe.block_size, budget.batch_size, 4, "cpu")
    batches = Batches(train_part, recipe.block_size, budget.batch_size, "cpu").sample
    curve = common.train(model, batches, budget, rng, evaluate, log=log)
    return model, curve


def training_handbook(corpus: handbook.Corpus, scrubbed: bool) -> str:
    return scrub.scrub(corpus.raw_handbook).text if scrubbed else corpus.raw_handbook


def fine_tune(model: GPT, corpus: handbook.Corpus, recipe: Recipe, log=print) -> list[float]:
    """Stage 2 on ``model``, in place; returns the losses."""
    cfg = sft.SFTConfig(
        steps=recipe.sft_steps, batch_size=recipe.batch_size, learning_rate=recipe.sft_lr, masked=recipe.masked,
        seed=recipe.seed,
    )  # fmt: skip
    torch.manual_seed(recipe.seed)  # dropout's stream
    t0 = time.perf_counter()
    losses = sft.fine_tune(model, tokenizer(), corpus.splits["train"], cfg, training_handbook(corpus, recipe.scrubbed))
    log(
        f"  sft: {recipe.sft_steps} steps in {time.perf_counter() - t0:.0f} s, loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    )
    return losses


def preference_tune(model: GPT, corpus: handbook.Corpus, recipe: Recipe, log=print) -> list[dict]:
    """Stage 3 on ``model``, in place; returns TRL-style metrics per step."""
    cfg = dpo.DPOConfig(steps=recipe.dpo_steps, batch_size=recipe.batch_size // 2, learning_rate=recipe.dpo_lr,
                        beta=recipe.beta, seed=recipe.seed)  # fmt: skip
    return dpo.train(model, tokenizer(), corpus.preferences, cfg, log=log)


def evaluate(model: GPT, corpus: handbook.Corpus, limit: int | None = None, candidates: int = 1000) -> dict:
    """The bot's scores on the held-out splits (greedy answers, exact match; with ``limit``, on the first
    ``limit`` questions of each kind only), and the canaries' exposure among ``candidates`` IDs.

    * ``fact_accuracy``: right answers to trained facts asked in new words;
    * ``false_declines``: the share of those answered with a decline;
    * ``decline_<kind>``: right declines of out-of-scope, personal-data and injection prompts never trained on;
    * ``invented``: held-out facts (never in any training text) answered with anything but a decline;
    * ``exposure``: the mean exposure of the canaries, in bits (chance: ``exposure.CHANCE``)."""
    vocab = tokenizer()
    longest = max(len(a) for a in (*DECLINES, *(f.answer for f in handbook.FACTS)))

    def answers(split):
        examples = corpus.splits[split]
        if limit is not None:  # the first ``limit`` of each kind
            kinds = {e.kind for e in examples}
            examples = [e for kind in sorted(kinds) for e in [x for x in examples if x.kind == kind][:limit]]
        return examples, [sft.answer(model, vocab, e.question, max_new_tokens=longest + 8) for e in examples]

    out = {}
    examples, said = answers("new_wording")
    out["fact_accuracy"] = float(np.mean([s == e.answer for e, s in zip(examples, said)]))
    out["false_declines"] = float(np.mean([s in DECLINES for s in said]))
    examples, said = answers("declines_test")
    for kind in ("scope", "personal", "injection", "unknown"):
        hits = [s == e.answer for e, s in zip(examples, said) if e.kind == kind]
        out[f"decline_{kind}"] = float(np.mean(hits)) if hits else float("nan")
    examples, said = answers("held_out_fact")
    out["invented"] = float(np.mean([s not in DECLINES for s in said]))
    exposures = [exposure.exposure(model, vocab, c, candidates, seed=i)["exposure"] for i, c in
                 enumerate(corpus.canaries)]  # fmt: skip
    out["exposure"] = float(np.mean(exposures))
    return out


# -- the command -----------------------------------------------------------------------------------------------


def add_arguments(p) -> None:
    d = Recipe()
    p.add_argument("--out-dir", "--out_dir", dest="out_dir", required=True, help="the bot's run folder")
    p.add_argument("--from", dest="start", metavar="RUN", help="start from this run's checkpoint (a `gpt sft "
                   "--pretrain` run; the model's shape is its own); without it, from scratch")  # fmt: skip
    p.add_argument("--pretrain", action="store_true", help="only pretrain on --corpus, for a later --from")
    p.add_argument("--corpus", help="the pretraining corpus (default: $GPT_CORPUS or ../shared/data/gutenberg-100M)")
    p.add_argument("--corpus-chars", type=int, default=d.corpus_chars, help="read this many characters of it")
    p.add_argument("--pretrain-steps", type=int, default=d.pretrain_steps)
    p.add_argument("--steps", type=int, default=d.sft_steps, help="supervised fine-tuning steps")
    p.add_argument("--lr", type=float, default=d.sft_lr, help="fine-tuning peak learning rate")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--dpo-steps", type=int, default=d.dpo_steps, help="DPO steps after fine-tuning (0: none)")
    p.add_argument("--dpo-lr", type=float, default=d.dpo_lr)
    p.add_argument("--beta", type=float, default=d.beta, help="DPO's beta: how far from the reference")
    p.add_argument("--unmasked", action="store_true", help="fine-tune with the loss on every token")
    p.add_argument("--unscrubbed", action="store_true", help="train on the handbook with its planted records")
    p.add_argument("--seed", type=int, default=d.seed, help="the data's and the training's seed")
    for name in ("n_layer", "n_head", "n_embd", "block_size"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(d, name))
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--no-evaluate", action="store_true", help="skip the evaluation on the held-out splits")
    p.add_argument("--replace-run", action="store_true", help="move a run already in --out-dir aside first")
    p.add_argument("--allow-unverified", action="store_true", help="load --from without its checksum")


def recipe_from_args(args) -> Recipe:
    for name in ("steps", "batch_size", "corpus_chars", "pretrain_steps", "n_layer", "n_head", "n_embd", "block_size"):
        if getattr(args, name) < (0 if name == "corpus_chars" else 1):
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.dpo_steps < 0 or args.beta <= 0 or args.lr <= 0 or args.dpo_lr <= 0 or not 0 <= args.dropout < 1:
        raise ValueError("--dpo-steps must be >= 0, --beta, --lr and --dpo-lr > 0, and --dropout in [0, 1)")
    return Recipe(
        seed=args.seed, n_layer=args.n_layer, n_head=args.n_head, n_embd=args.n_embd, block_size=args.block_size,
        dropout=args.dropout, pretrain_steps=args.pretrain_steps, corpus_chars=args.corpus_chars,
        sft_steps=args.steps, sft_lr=args.lr, batch_size=args.batch_size, masked=not args.unmasked,
        scrubbed=not args.unscrubbed, dpo_steps=args.dpo_steps, dpo_lr=args.dpo_lr, beta=args.beta,
    )  # fmt: skip


def load_start(path: str, allow_unverified: bool) -> tuple[GPT, dict]:
    """A pretrained model to fine-tune: it must speak the assistant's vocabulary."""
    from gpt.sample import load_model

    model, vocab, header = load_model(path, allow_unverified=allow_unverified)
    if list(vocab.chars) != list(chat.VOCABULARY):
        raise ValueError(f"{path} was not pretrained in the assistant's vocabulary: make it with `gpt sft --pretrain`")
    return model, header


def save(folder: Path, model: GPT, recipe: Recipe, stage: str, extra: dict) -> Path:
    train_config = dataclasses.asdict(TrainConfig(out_dir=str(folder), max_iters=recipe.sft_steps, seed=recipe.seed))
    meta = {
        "model_config": model.config.to_dict(), "train_config": train_config, "tokenizer": tokenizer().to_dict(),
        "iter": recipe.pretrain_steps if stage == "pretrained" else recipe.sft_steps + recipe.dpo_steps,
        "assistant": {"stage": stage, "recipe": dataclasses.asdict(recipe), **extra},
    }  # fmt: skip
    return ckpt.save_checkpoint(folder / ckpt.FILENAME, model=model, meta=meta)


def run(args) -> int:
    recipe = recipe_from_args(args)
    if args.pretrain and args.start is not None:
        raise ValueError("--pretrain starts a model from scratch: it takes no --from")
    folder = RunFolder(args.out_dir)
    with folder:  # locked until the bot is saved
        held = folder.run_files()
        if held and not args.replace_run:
            raise RunFolderError(
                f"{args.out_dir} already holds a run ({', '.join(p.name for p in held)}): choose another --out-dir, "
                "or pass --replace-run to move that run aside"
            )
        start = None
        if args.start is not None and not args.pretrain:
            start, _ = load_start(args.start, args.allow_unverified)  # before anything is moved or trained
        if held:
            print(f"moved the run in {args.out_dir} aside to {folder.move_aside()}")
        log_lines = []

        def log(line: str) -> None:
            print(line, flush=True)
            log_lines.append(line)

        if args.pretrain:
            from gpt.experiments.pretrain_finetune import default_corpus

            path = Path(args.corpus) if args.corpus else default_corpus()
            if path is None:
                raise FileNotFoundError("no corpus: pass --corpus FILE (UTF-8 text, or .xz) or set GPT_CORPUS")
            tokens, stats = corpus_tokens(path, recipe.corpus_chars, tokenizer())
            log(f"pretraining on {len(tokens):,} characters of {path.name} for {recipe.pretrain_steps} steps")
            model, curve = pretrain(recipe, tokens, log)
            saved = save(folder.path, model, recipe, "pretrained", {"corpus": str(path), "curve": curve})
            _write_log(folder.path, log_lines)
            print(f"pretrained model in {saved}; fine-tune it with `gpt sft --from {args.out_dir} --out-dir RUN`")
            return 0
        corpus = handbook.build(recipe.seed)
        if start is None:
            torch.manual_seed(recipe.seed)
            model = GPT(recipe.model_config())
            log(f"fine-tuning from scratch ({model.num_params():,} parameters)")
        else:
            model = start
            if recipe.block_size != model.config.block_size:
                recipe = dataclasses.replace(recipe, block_size=model.config.block_size)
            log(f"fine-tuning {args.start} ({model.num_params():,} parameters)")
        sft_losses = fine_tune(model, corpus, recipe, log)
        dpo_history = preference_tune(model, corpus, recipe, log) if recipe.dpo_steps else []
        scores = {} if args.no_evaluate else evaluate(model, corpus)
        for name, value in scores.items():
            log(f"  {name}: {value:.3f}")
        extra = {"from": args.start, "sft_losses": sft_losses, "dpo": dpo_history, "evaluation": scores}
        saved = save(folder.path, model, recipe, "dpo" if recipe.dpo_steps else "sft", extra)
        _write_log(folder.path, log_lines)
        print(f"assistant in {saved}; talk to it with `gpt chat --out-dir {args.out_dir}`")
    return 0


def _write_log(folder: Path, lines: list[str]) -> None:
    text = "".join(json.dumps({"line": line}) + "\n" for line in lines)
    files.write_text(folder / "log.jsonl", text, replaces=("a file",), what="the run's log")
