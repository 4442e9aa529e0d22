"""EX2: a GPT that learns to add (``gpt experiment addition``).

Your own data: problems ``a+b=`` whose answer the model must write, with a delimiter-exact format::

    prompt  "003+459="      answer  "2640$"   (reversed: 0462 written right to left, the way carries travel)
    prompt  "003+459="      answer  "0462$"   (plain: the usual order)

Operands are zero-padded to ``--digits`` digits and the sum to one more, so every problem has the same layout
and digit i of each number always sits at the same position (``--no-pad`` writes numbers as they are: then the
model must also find where the digits are, which this small model does not manage at the default budget).
``$`` ends every answer, so "exact match" is unambiguous: greedy decoding must produce the answer's digits
and then ``$``, nothing more, nothing less. The loss is masked on the prompt (targets there are -1, the
``ignore_index`` of ``GPT.forward``): the model is only trained to answer, not to predict random operands.
Train and test problems are disjoint (the test problems are drawn first and removed from the pool).

Why reversed? Written left to right, the first digit of a sum depends on every carry to its right, which the
model has not produced yet; written right to left, each digit needs only two operand digits and the carry it
has just emitted (Lee et al. 2023, "Teaching Arithmetic to Small Transformers", reach ~100% this way).

How to read the table: exact-match accuracy on held-out problems, by number of digits of the larger
operand, for each answer order (mean ± spread over seeds when several are given); the plot shows accuracy
on a fixed subset of the held-out problems during training.
"""

from __future__ import annotations

import time

import numpy as np

import tinygrad_edu as torch

from ..data import CharTokenizer
from ..model import GPT, GPTConfig, eval_mode
from . import common

NAME = "addition"
END, PAD = "$", " "
VOCAB = "0123456789+=" + END + PAD
TOKENIZER = CharTokenizer(VOCAB)
FORMATS = ("reversed", "plain")


# -- the data ----------------------------------------------------------------------------------------------------


def format_problem(a: int, b: int, reverse: bool, width: int | None = None) -> tuple[str, str]:
    """(prompt, answer): ``"a+b="`` and the sum's digits (right to left when ``reverse``) followed by ``$``.

    With ``width``, the operands are zero-padded to ``width`` digits and the sum to ``width + 1``, so every
    problem has the same layout: the units digits always sit at the same positions."""
    sa, sb, total = str(a), str(b), str(a + b)
    if width is not None:
        sa, sb, total = sa.zfill(width), sb.zfill(width), total.zfill(width + 1)
    return f"{sa}+{sb}=", (total[::-1] if reverse else total) + END


def num_digits(a: int, b: int) -> int:
    """A problem's size: the number of digits of its larger operand."""
    return len(str(max(a, b)))


def sequence_length(max_digits: int) -> int:
    """Characters in the longest problem: two operands, '+', '=', a sum one digit longer, '$'."""
    return 2 * max_digits + 2 + max_digits + 2


def _pool_size(d: int) -> int:
    """How many (a, b) have exactly ``d`` digits in the larger operand."""
    return 100 if d == 1 else 10 ** (2 * d) - 10 ** (2 * (d - 1))


def _sample_pairs(d: int, n: int, rng: np.random.Generator, exclude: set) -> list[tuple[int, int]]:
    """``n`` distinct problems of size ``d`` not in ``exclude``, in random order."""
    if _pool_size(d) <= 200_000:  # small pools: enumerate, shuffle, take
        hi = 10**d
        pairs = [(a, b) for a in range(hi) for b in range(hi) if num_digits(a, b) == d and (a, b) not in exclude]
        order = rng.permutation(len(pairs))[:n]
        return [pairs[i] for i in order]
    out, seen = [], set(exclude)
    while len(out) < n:  # large pools: rejection sampling, duplicates and excluded pairs redrawn
        a, b = (int(v) for v in rng.integers(0, 10**d, size=2))
        if num_digits(a, b) == d and (a, b) not in seen:
            seen.add((a, b))
            out.append((a, b))
    return out


def split_problems(max_digits: int, n_train: int, n_test: int, rng: np.random.Generator):
    """Disjoint train and test problems. Returns ``(train, test)``: a list of (a, b), and {digits: list}.

    The test set of each size is drawn first (``n_test`` problems, at most a fifth of the pool: there are
    only 100 one-digit problems), then the training set from what is left. Each smaller size gets up to
    ``n_train / (2 (max_digits - 1))`` problems and the largest size the rest, so the hard problems make up at
    least half the training set while the easy ones are not forgotten.
    """
    test = {d: _sample_pairs(d, min(n_test, _pool_size(d) // 5), rng, set()) for d in range(1, max_digits + 1)}
    train: list[tuple[int, int]] = []
    quota = n_train // (2 * (max_digits - 1)) if max_digits > 1 else n_train
    for d in range(1, max_digits + 1):
        available = _pool_size(d) - len(test[d])
        want = min(available, quota if d < max_digits else n_train - len(train))
        train += _sample_pairs(d, want, rng, set(test[d]))
    order = rng.permutation(len(train))
    return [train[i] for i in order], test


def encode(problems, reverse: bool, max_digits: int, pad: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Training arrays: ``x`` (N, L-1) token ids and ``y`` (N, L-1) next-token targets, where L is
    ``sequence_length``. Problems are padded on the right; targets are -1 on the prompt (the model is not asked
    to predict the operands) and on the padding, so only the answer and its ``$`` are learned."""
    length = sequence_length(max_digits)
    seqs = np.full((len(problems), length), TOKENIZER.stoi[PAD], dtype=np.int64)
    y = np.full((len(problems), length - 1), -1, dtype=np.int64)
    for i, (a, b) in enumerate(problems):
        prompt, answer = format_problem(a, b, reverse, max_digits if pad else None)
        ids = TOKENIZER.encode(prompt + answer)
        seqs[i, : len(ids)] = ids
        # position t predicts character t+1: the answer starts at character len(prompt)
        y[i, len(prompt) - 1 : len(ids) - 1] = ids[len(prompt) :]
    return seqs[:, :-1], y


def score(predicted: list[str], answers: list[str]) -> np.ndarray:
    """Exact match: the generated text up to and including the first ``$`` must equal the answer."""
    out = []
    for text, answer in zip(predicted, answers):
        cut = text.find(END)
        out.append(cut >= 0 and text[: cut + 1] == answer)
    return np.array(out, dtype=bool)


def answer_problems(model, problems, reverse: bool, max_digits: int, device: str, pad: bool = True) -> list[str]:
    """Greedy decoding of every problem, batched by prompt length (each batch then needs no padding)."""
    by_length: dict[int, list[int]] = {}
    width = max_digits if pad else None
    prompts = [format_problem(a, b, reverse, width)[0] for a, b in problems]
    for i, p in enumerate(prompts):
        by_length.setdefault(len(p), []).append(i)
    out = [""] * len(problems)
    for idx in by_length.values():
        for start in range(0, len(idx), 1024):
            chunk = idx[start : start + 1024]
            tokens = np.array([TOKENIZER.encode(prompts[i]) for i in chunk], dtype=np.int64)
            for _ in range(max_digits + 2):  # up to max_digits + 1 answer digits and '$'
                logits, _ = model(torch.from_numpy(tokens).to(device))
                nxt = logits[:, -1, :].argmax(dim=-1).cpu().numpy().astype(np.int64)
                tokens = np.concatenate([tokens, nxt[:, None]], axis=1)
            for row, i in enumerate(chunk):
                out[i] = TOKENIZER.decode(tokens[row, len(prompts[i]) :])
    return out


def accuracy(model, problems, reverse: bool, max_digits: int, device: str, pad: bool = True) -> float:
    """Exact-match accuracy of greedy answers on ``problems``."""
    answers = [format_problem(a, b, reverse, max_digits if pad else None)[1] for a, b in problems]
    return float(score(answer_problems(model, problems, reverse, max_digits, device, pad), answers).mean())


# -- the experiment ----------------------------------------------------------------------------------------------

DEFAULT = common.Budget(
    steps=1500,
    batch_size=64,
    learning_rate=3e-3,
    min_lr=3e-4,
    warmup=100,
    weight_decay=0.1,
    eval_interval=100,
    eval_iters=1,
)
QUICK = common.Budget(steps=6, batch_size=16, warmup=1, eval_interval=3, eval_iters=1)


def add_arguments(p) -> None:
    """The flags of ``gpt experiment addition`` (also ``python -m gpt.experiments.addition``)."""
    common.add_common_arguments(p, NAME, default_seeds=(1,))
    p.add_argument("--digits", type=int, default=3, help="largest operand size (default 3)")
    p.add_argument("--n-train", type=int, default=20_000, help="training problems (default 20000)")
    p.add_argument("--n-test", type=int, default=1000, help="held-out problems per size (default 1000)")
    p.add_argument("--curve-test", type=int, default=200, help="held-out problems per size scored during training")
    p.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    p.add_argument(
        "--no-pad",
        action="store_true",
        help="write numbers without leading zeros (operands of different lengths, a harder layout)",
    )
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=64)


def main(argv: list[str] | None = None) -> int:
    return common.run_standalone(NAME, __doc__, add_arguments, run, argv)


def run(args, argv: list[str]) -> int:
    """Run the experiment with parsed ``args``; ``argv`` (the command line) is recorded with the results."""
    budget = common.budget_from_args(args, DEFAULT, QUICK)
    if args.quick:
        args.n_train, args.n_test, args.curve_test = min(args.n_train, 200), min(args.n_test, 20), 10
    results = common.Results(NAME, argv, common.out_dir(args, NAME))
    D, pad = args.digits, not args.no_pad
    model_cfg = GPTConfig(
        vocab_size=TOKENIZER.vocab_size,
        block_size=sequence_length(D) - 1,
        n_layer=args.n_layer,
        n_head=args.n_head,
        n_embd=args.n_embd,
        dropout=0.0,
    )
    # the problems depend on a data seed only, so every format and training seed sees the same split
    train_set, test = split_problems(D, args.n_train, args.n_test, np.random.default_rng(0))
    sizes = ", ".join(f"{len(test[d])} {d}-digit" for d in test)
    print(
        f"addition: {len(train_set)} training problems; held out: {sizes}; formats {args.formats}, seeds "
        f"{args.seeds}, {budget.steps} steps, model {args.n_layer}x{args.n_embd}; e.g. "
        f"{''.join(format_problem(3, 459, True, D if pad else None))!r}"
    )

    runs, curve_rows = [], []
    for fmt in args.formats:
        for seed in args.seeds:
            run, curve = train_one(fmt, seed, model_cfg, train_set, test, budget, args.curve_test, pad, args.device)
            runs.append(run)
            curve_rows += curve

    table_rows = []
    for fmt in args.formats:
        mine = [r for r in runs if r["format"] == fmt]
        table_rows.append(
            [fmt]
            + [common.fmt_mean_spread([100 * r[f"acc_{d}d"] for r in mine], 1) + "%" for d in test]
            + [budget.steps, len(mine)]
        )
    headers = ["answer order"] + [f"{d}-digit exact match (n={len(test[d])})" for d in test] + ["steps", "seeds"]
    table = common.markdown_table(headers, table_rows)
    summary = dict(
        budget=budget,
        seeds=args.seeds,
        device=args.device,
        model=model_cfg.to_dict(),
        params=sum(p.numel() for p in GPT(model_cfg).parameters()),
        n_train=len(train_set),
        n_test={d: len(v) for d, v in test.items()},
        zero_padded=pad,
        format_example={f: "".join(format_problem(3, 459, f == "reversed", D if pad else None)) for f in FORMATS},
        runs=runs,
        curves=curve_rows,
    )
    results.write(
        runs, summary, table, lambda fig: _draw(fig, args.formats, list(test), curve_rows), curves_rows=curve_rows
    )
    return 0


def train_one(fmt, seed, model_cfg, train_set, test, budget, curve_test, pad, device) -> tuple[dict, list[dict]]:
    """Train one model on one answer order; returns its final accuracies and its accuracy curve."""
    reverse, D = fmt == "reversed", max(test)
    x_all, y_all = encode(train_set, reverse, D, pad)

    def batch(rng):
        rows = rng.integers(0, len(x_all), size=budget.batch_size)
        return torch.from_numpy(x_all[rows]).to(device), torch.from_numpy(y_all[rows]).to(device)

    def evaluate(model, n=curve_test):
        return {f"acc_{d}d": accuracy(model, test[d][:n], reverse, D, device, pad) for d in test}

    rng = common.seed_everything(seed)
    model = GPT(model_cfg).to(device)
    t0 = time.perf_counter()
    curve = common.train(model, batch, budget, rng, evaluate, log=lambda line: print(f"  [{fmt}]" + line))
    seconds = time.perf_counter() - t0
    with eval_mode(model), torch.no_grad():
        final = evaluate(model, n=None)  # every held-out problem
    print(f"  {fmt} seed {seed}: " + ", ".join(f"{k[4:]} {a:.2%}" for k, a in final.items()) + f" ({seconds:.0f} s)")
    run = dict(
        format=fmt,
        seed=seed,
        **{k: round(a, 5) for k, a in final.items()},
        steps=budget.steps,
        seconds=round(seconds, 1),
    )
    return run, [dict(format=fmt, seed=seed, **c) for c in curve]


def _draw(fig, formats, digits, curve_rows) -> None:
    """Accuracy on the held-out subset against training steps: one panel per problem size, one line per order."""
    axes = fig.subplots(1, len(digits), sharey=True, squeeze=False)[0]
    for ax, d in zip(axes, digits):
        for fmt in formats:
            points = [r for r in curve_rows if r["format"] == fmt]
            steps = sorted({r["step"] for r in points})
            ax.plot(
                steps,
                [100 * np.mean([r[f"acc_{d}d"] for r in points if r["step"] == s]) for s in steps],
                marker="o",
                label=fmt,
            )
        ax.set_title(f"{d}-digit held-out problems")
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0].set_ylabel("exact match (%)")


if __name__ == "__main__":  # as `gpt experiment NAME ...`: one line for an error, never a traceback
    raise SystemExit(common.as_command(NAME))
