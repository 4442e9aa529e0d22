"""The exercise's "swole doge project": a GPT calculator for + − × ÷ (``gpt experiment calculator``).

Integers 0..999, every problem in one layout: operands zero-padded to three digits, the operator between them,
``=``, then what the model writes, ending with ``$``. Answers are written right to left (least significant
digit first), as in the addition experiment, because that is the order in which carries and borrows travel::

    123+456=9750$            579, reversed and padded to 4 digits
    123-456=-333$            the sign first (it needs only a comparison), then |a - b| reversed
    123*456=880650$          56088, reversed and padded to 6 digits (direct)
    123/045=200r330$         quotient 2, remainder 33: both reversed, 3 digits each (direct)

× and ÷ are the hard ones: every digit of a product depends on every digit of the operands, and a quotient
digit needs a comparison against multiples of the divisor. With ``traces`` (chain of thought, written before
``>`` and trained like the answer) the model writes the schoolbook algorithm, so each character it writes
depends on only a few characters already on the page:

* ``a × b``: the partial products p_i = a × b_i for each digit of b from the right (4 digits reversed), with
  the running sum s_1 = p_0 + 10 p_1 (5 digits) in between; the answer is s_1 + 100 p_2::

      123*456=8370,5160,88860,2940>880650$

* ``a ÷ b``, long division: for each digit of a from the left, the number brought down R = 10 r + that digit
  (r the remainder so far; 4 digits), the quotient digit q = R // b, the product q·b (4 digits) and the new
  remainder r = R − q·b (3 digits), all reversed; the answer is the quotient's digits and the last remainder::

      123/045=1000,0,0000,100,2100,0,0000,210,3210,2,0900,330>200r330$

The loss is masked on the prompt (targets −1), so the model learns to answer, not to guess operands; the
problems held out for testing (drawn first, per operation and size) never appear in training, which draws
fresh problems every step from the rest. ``digits`` in the table is the number of digits of the larger
operand. Exact match means the answer after the trace (or after ``=``) up to ``$`` is right; the trace itself
is not scored, only what it leads to.
"""

from __future__ import annotations

import time

import numpy as np

import tinygrad_edu as torch

from ..data import CharTokenizer
from ..model import GPT, GPTConfig, eval_mode
from . import common

NAME = "calculator"
END, PAD, TRACE_END = "$", " ", ">"
VOCAB = "0123456789+-*/=,>r" + END + PAD
TOKENIZER = CharTokenizer(VOCAB)
OPERATIONS = ("+", "-", "*", "/")
OP_NAMES = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}
FORMATS = ("traces", "direct")
WIDTH = 3  # operand digits
OP_WEIGHTS = {"+": 1, "-": 1, "*": 2, "/": 3}  # the harder ones get more of the problems


def rev(n: int, width: int) -> str:
    """``n`` zero-padded to ``width`` digits, least significant first."""
    return str(n).zfill(width)[::-1]


def trace(op: str, a: int, b: int) -> list[str]:
    """The scratch-pad steps of the schoolbook algorithm for × and ÷ (none for + and −)."""
    if op == "*":
        p = [a * int(d) for d in str(b).zfill(WIDTH)[::-1]]  # partial products, units digit of b first
        return [rev(p[0], 4), rev(p[1], 4), rev(p[0] + 10 * p[1], 5), rev(p[2], 4)]
    if op == "/":
        steps, r = [], 0
        for digit in str(a).zfill(WIDTH):  # long division, most significant digit first
            brought_down = 10 * r + int(digit)
            q = brought_down // b
            r = brought_down - q * b
            steps += [rev(brought_down, 4), str(q), rev(q * b, 4), rev(r, 3)]
        return steps
    return []


def answer_of(op: str, a: int, b: int) -> str:
    """The answer as the model must write it (without the ``$``)."""
    if op == "+":
        return rev(a + b, 4)
    if op == "-":
        return ("-" if a < b else "+") + rev(abs(a - b), 3)
    if op == "*":
        return rev(a * b, 6)
    return rev(a // b, 3) + "r" + rev(a % b, 3)


def format_problem(op: str, a: int, b: int, traces: bool) -> tuple[str, str]:
    """(prompt, completion): ``"123*456="`` and what follows it, the trace (when asked, for × and ÷), the
    answer, and ``$``."""
    if op not in OPERATIONS:
        raise ValueError(f"operation must be one of {OPERATIONS}, got {op!r}")
    if not (0 <= a < 10**WIDTH and 0 <= b < 10**WIDTH) or (op == "/" and b == 0):
        raise ValueError(f"operands must be in 0..999 (and a divisor at least 1), got {a}{op}{b}")
    steps = trace(op, a, b) if traces else []
    scratch = ",".join(steps) + TRACE_END if steps else ""
    return f"{a:0{WIDTH}d}{op}{b:0{WIDTH}d}=", scratch + answer_of(op, a, b) + END


def sequence_length(traces: bool) -> int:
    """Characters in the longest problem (a division with its trace, or a direct product)."""
    return max(len("".join(format_problem(op, 999, 999, traces))) for op in OPERATIONS)


def num_digits(a: int, b: int) -> int:
    return len(str(max(a, b)))


def draw(rng: np.random.Generator, n: int) -> list[tuple[str, int, int]]:
    """``n`` random problems: an operation by ``OP_WEIGHTS``, then each operand's digit count uniform in
    1..3 and the operand uniform among numbers of that many digits (so small numbers are not drowned by the
    900 three-digit ones); divisors are at least 1."""
    ops = list(OP_WEIGHTS)
    weights = np.array([OP_WEIGHTS[o] for o in ops], dtype=np.float64)
    op_idx = rng.choice(len(ops), size=n, p=weights / weights.sum())
    digits = rng.integers(1, WIDTH + 1, size=(n, 2))
    low = np.where(digits == 1, 0, 10 ** (digits - 1))
    values = low + (rng.random((n, 2)) * (10**digits - low)).astype(np.int64)
    out = []
    for k, (a, b) in zip(op_idx, values):
        op = ops[k]
        out.append((op, int(a), max(int(b), 1) if op == "/" else int(b)))
    return out


def training_problems(rng: np.random.Generator, n: int, excluded: set) -> list[tuple[str, int, int]]:
    """``n`` fresh problems from ``draw``, none of them in ``excluded`` (the held-out set): redrawn until
    enough are left."""
    out: list = []
    while len(out) < n:
        out += [p for p in draw(rng, 2 * (n - len(out))) if p not in excluded]
    return out[:n]


def held_out(n_per_cell: int, rng: np.random.Generator) -> dict[tuple[str, int], list[tuple[str, int, int]]]:
    """Test problems per (operation, digits of the larger operand), distinct, ``n_per_cell`` each (fewer where
    the pool is smaller: there are only 100 one-digit additions)."""
    cells: dict = {(op, d): [] for op in OPERATIONS for d in range(1, WIDTH + 1)}
    seen = set()
    while any(len(v) < min(n_per_cell, _pool(op, d) // 5) for (op, d), v in cells.items()):
        for problem in draw(rng, 4096):
            op, a, b = problem
            cell = cells[(op, num_digits(a, b))]
            if problem not in seen and len(cell) < min(n_per_cell, _pool(op, num_digits(a, b)) // 5):
                seen.add(problem)
                cell.append(problem)
    return cells


def _pool(op: str, d: int) -> int:
    """How many problems have ``d`` digits in the larger operand (divisors of 0 excluded)."""
    below, upto = (10 ** (d - 1) if d > 1 else 0), 10**d
    pairs = upto * upto - below * below
    return pairs - (upto - below) if op == "/" else pairs


def encode(problems, traces: bool) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (N, L-1) token ids and ``y`` (N, L-1) next-token targets, L = ``sequence_length``: padded on the
    right, targets −1 on the prompt and the padding, so only the trace and the answer are learned."""
    length = sequence_length(traces)
    seqs = np.full((len(problems), length), TOKENIZER.stoi[PAD], dtype=np.int64)
    y = np.full((len(problems), length - 1), -1, dtype=np.int64)
    for i, (op, a, b) in enumerate(problems):
        prompt, completion = format_problem(op, a, b, traces)
        ids = TOKENIZER.encode(prompt + completion)
        seqs[i, : len(ids)] = ids
        y[i, len(prompt) - 1 : len(ids) - 1] = ids[len(prompt) :]
    return seqs[:, :-1], y


def final_answer(completion: str) -> str | None:
    """The answer in a completion: what follows the trace (if any) up to and including the first ``$``."""
    cut = completion.find(END)
    if cut < 0:
        return None
    return completion[: cut + 1].rsplit(TRACE_END, 1)[-1]


def solve(model, problems, traces: bool, device: str, batch: int = 2048) -> list[str]:
    """Greedy completions of every problem (every prompt has the same length, so batches need no padding)."""
    out = []
    steps = sequence_length(traces) - len(format_problem("+", 0, 0, traces)[0])
    for start in range(0, len(problems), batch):
        chunk = problems[start : start + batch]
        prompts = np.array([TOKENIZER.encode(format_problem(*p, traces)[0]) for p in chunk], dtype=np.int64)
        tokens = model.generate(torch.from_numpy(prompts).to(device), steps, top_k=1).cpu().numpy()
        out += [TOKENIZER.decode(row[prompts.shape[1] :]) for row in tokens]
    return out


def exact_match(model, cells: dict, traces: bool, device: str) -> dict:
    """Per cell of ``cells`` ({key: problems}), the fraction of problems whose final answer (after the trace)
    is exactly right, ``$`` included. All cells are solved together: every prompt has the same length."""
    problems = [p for cell in cells.values() for p in cell]
    right = iter(
        final_answer(c) == answer_of(*p) + END for c, p in zip(solve(model, problems, traces, device), problems)
    )
    return {key: float(np.mean([next(right) for _ in cell])) if cell else float("nan") for key, cell in cells.items()}


# -- the experiment ----------------------------------------------------------------------------------------------

MODEL = dict(n_layer=4, n_head=4, n_embd=64)
DEFAULT = common.Budget(
    steps=3500, batch_size=64, learning_rate=2e-3, min_lr=1e-4, warmup=100, weight_decay=0.1, eval_interval=500
)
QUICK = common.Budget(steps=4, batch_size=16, warmup=1, eval_interval=2, eval_iters=1)


def add_arguments(p) -> None:
    """The flags of ``gpt experiment calculator`` (also ``python -m gpt.experiments.calculator``)."""
    common.add_common_arguments(p, NAME, default_seeds=(1,))
    p.add_argument("--n-test", type=int, default=200, help="held-out problems per operation and size (default 200)")
    p.add_argument("--curve-test", type=int, default=50, help="held-out problems per cell scored during training")
    p.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    common.add_model_arguments(p, MODEL)


def main(argv: list[str] | None = None) -> int:
    return common.run_standalone(NAME, __doc__, add_arguments, run, argv)


def run(args, argv: list[str]) -> int:
    """Run the experiment with parsed ``args``; ``argv`` (the command line) is recorded with the results."""
    budget = common.budget_from_args(args, DEFAULT, QUICK)
    if args.quick:
        args.n_test, args.curve_test = min(args.n_test, 10), 3
    results = common.Results(NAME, argv, common.out_dir(args, NAME))
    test = held_out(args.n_test, np.random.default_rng(0))  # a data seed only: every run sees the same test
    excluded = {p for cell in test.values() for p in cell}
    print(
        f"calculator: held out {sum(map(len, test.values()))} problems; formats {args.formats}, seeds {args.seeds}, "
        f"{budget.steps} steps x {budget.batch_size}, model {MODEL | {k: getattr(args, k) for k in MODEL}}; e.g. "
        f"{''.join(format_problem('/', 123, 45, True))!r}"
    )
    runs, curve_rows = [], []
    for fmt in args.formats:
        for seed in args.seeds:
            run_row, curve = train_one(fmt, seed, args, test, excluded, budget)
            runs.append(run_row)
            curve_rows += curve

    cells = list(test)
    headers = ["format", "operation"] + [f"{d}-digit" for d in range(1, WIDTH + 1)] + ["all", "seconds"]
    rows = []
    for fmt in args.formats:
        mine = [r for r in runs if r["format"] == fmt]
        for op in OPERATIONS:
            accs = [common.fmt_mean_spread([100 * r[f"{op}{d}"] for r in mine], 1) + "%" for d in range(1, WIDTH + 1)]
            overall = [100 * np.mean([r[f"{op}{d}"] for d in range(1, WIDTH + 1)]) for r in mine]
            seconds = np.mean([r["seconds"] for r in mine])
            rows.append([fmt, OP_NAMES[op], *accs, common.fmt_mean_spread(overall, 1) + "%", f"{seconds:.0f}"])
    table = common.markdown_table(headers, rows)
    table += "\n" + "; ".join(f"{op}{d}: n={len(test[(op, d)])}" for op, d in cells) + " held-out problems\n"
    summary = dict(
        budget=budget,
        seeds=args.seeds,
        device=args.device,
        model={k: getattr(args, k) for k in MODEL},
        n_test={f"{op}{d}": len(v) for (op, d), v in test.items()},
        examples={fmt: ["".join(format_problem(op, 123, 45, fmt == "traces")) for op in OPERATIONS] for fmt in FORMATS},
        runs=runs,
    )
    results.write(runs, summary, table, lambda fig: _draw(fig, args.formats, curve_rows), curves_rows=curve_rows)
    return 0


def train_one(fmt: str, seed: int, args, test, excluded: set, budget) -> tuple[dict, list[dict]]:
    """Train one calculator on fresh problems every step (none of the held-out ones); returns its exact match
    on every held-out cell and its curve (on the first ``curve_test`` problems of each cell)."""
    traces = fmt == "traces"
    device = args.device
    config = GPTConfig(
        vocab_size=TOKENIZER.vocab_size,
        block_size=sequence_length(traces) - 1,
        dropout=0.0,
        **{k: getattr(args, k) for k in MODEL},
    )

    def batch(rng):
        x, y = encode(training_problems(rng, budget.batch_size, excluded), traces)
        return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)

    def evaluate(model, n=args.curve_test):
        return exact_match(model, {f"{op}{d}": cell[:n] for (op, d), cell in test.items()}, traces, device)

    rng = common.seed_everything(seed)
    model = GPT(config).to(device)
    t0 = time.perf_counter()
    curve = common.train(model, batch, budget, rng, evaluate, log=lambda line: print(f"  [{fmt}]" + line))
    seconds = time.perf_counter() - t0
    with eval_mode(model), torch.no_grad():
        final = evaluate(model, n=None)
    print(f"  {fmt} seed {seed}: " + ", ".join(f"{k} {v:.1%}" for k, v in final.items()) + f" ({seconds:.0f} s)")
    params = sum(p.numel() for p in model.parameters())
    run_row = dict(format=fmt, seed=seed, **final, steps=budget.steps, params=params, seconds=round(seconds, 1))
    return run_row, [dict(format=fmt, seed=seed, **c) for c in curve]


def _draw(fig, formats, curve_rows) -> None:
    """Held-out exact match during training: one panel per operation, one line per size, solid with traces and
    dashed without."""
    axes = fig.subplots(1, len(OPERATIONS), sharey=True)
    for ax, op in zip(axes, OPERATIONS):
        for d in range(1, WIDTH + 1):
            for fmt, style in zip(formats, ("-", "--")):
                points = [r for r in curve_rows if r["format"] == fmt]
                steps = sorted({r["step"] for r in points})
                acc = [100 * np.mean([r[f"{op}{d}"] for r in points if r["step"] == s]) for s in steps]
                ax.plot(steps, acc, style, color=f"C{d - 1}", label=f"{d}-digit, {fmt}")
        ax.set_title(OP_NAMES[op])
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("held-out exact match (%)")
    axes[-1].legend(fontsize=7)


if __name__ == "__main__":  # as `gpt experiment NAME ...`: one line for an error, never a traceback
    raise SystemExit(common.as_command(NAME))
