"""Every user-facing entry point, tried with bad input: each gets a clear message that names the problem, no
traceback, and exit code 2 for a usage error on the command line. docs/bad-inputs.md's table lists these
cases with their messages; ``test_the_readme_lists_every_case`` keeps the two in step.
"""

from __future__ import annotations

import hashlib
import importlib
import shutil
from pathlib import Path

import numpy as np
import pytest

import tinygrad_edu as tg
from gpt import checkpoint as ckpt
from gpt.cli import main
from gpt.config import TrainConfig
from gpt.data import prepare_text
from gpt.model import GPTConfig
from tinygrad_edu.nn import functional as F

TABLE_PAGE = Path(__file__).resolve().parents[1] / "docs" / "bad-inputs.md"
TABLE = TABLE_PAGE.read_text(encoding="utf-8")  # the page whose table lists these cases
CLI_CASE_MODULES = sorted(p.stem for p in Path(__file__).parent.glob("bad_inputs_cli_*.py"))


def _load_cases(module: str, name: str) -> list:
    try:
        return list(getattr(importlib.import_module(module), name))
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return []


def leaf_then_write():
    x = tg.ones(2, requires_grad=True)
    x[0] = 5.0


def modified_after_use():
    x = tg.ones(3, requires_grad=True)
    y = x * 2
    z = y * y  # saves y for its backward
    with tg.no_grad():
        y.add_(1)
    z.sum().backward()


def backward_twice():
    y = (tg.ones(2, requires_grad=True) * 2).sum()
    y.backward()
    y.backward()


def hook_changing_dtype():
    def to_float64(grad):
        return grad.double()

    x = tg.ones(2, requires_grad=True)
    x.register_hook(to_float64)
    (x * 2).sum().backward()


# (entry point, the bad input, what runs it, the message it must contain)
CASES = [
    ("tensor", "ragged nested lists", lambda: tg.tensor([[1, 2], [3]]), "the nested lists are ragged"),
    ("tensor", "an unsupported dtype", lambda: tg.tensor(np.zeros(2, np.complex64)), "unsupported array dtype complex64"),
    ("tensor", "an int tensor that requires grad", lambda: tg.tensor([1, 2]).requires_grad_(), "only floating point tensors can require gradients"),
    ("tensor", "device 'cuda' without a GPU", lambda: tg.zeros(2, device="cuda"), "device 'cuda' was requested but CUDA is not available"),
    ("tensor", "an unknown device", lambda: tg.ones(2).to("tpu"), "unknown device 'tpu'"),
    ("ops", "shapes that do not broadcast", lambda: tg.ones(2, 3) + tg.ones(4), "Add: operands could not be broadcast"),
    ("ops", "matmul of (2, 3) and (4, 5)", lambda: tg.ones(2, 3) @ tg.ones(4, 5), "matmul: shapes (2, 3) and (4, 5) cannot be multiplied (3 != 4)"),
    ("ops", "matmul of a 0-d tensor", lambda: tg.tensor(2.0) @ tg.ones(2), "matmul: both arguments need at least 1 dimension"),
    ("ops", "reshape to the wrong size", lambda: tg.zeros(2).reshape(3), "Reshape: cannot reshape array of size 2 into shape (3,)"),
    ("ops", "view of a transposed tensor", lambda: tg.ones(2, 3).t().view(6), "view: cannot view a tensor of shape (3, 2)"),
    ("ops", "a dim out of range", lambda: tg.ones(2, 3).sum(dim=2), "dimension out of range (expected to be in range of [-2, 1], but got 2)"),
    ("ops", "an index out of range", lambda: tg.ones(2, 3)[5], "index out of range for a tensor of shape (2, 3)"),
    ("ops", "a float tensor as an index", lambda: tg.ones(3)[tg.tensor([0.0])], "tensors used as indices must be long, int or bool, got tinygrad_edu.float32"),
    ("ops", "a permutation that is not one", lambda: tg.ones(2, 3).permute(0, 0), "is not a permutation of the 2 dims"),
    ("ops", "expand to an incompatible shape", lambda: tg.ones(2, 3).expand(4, 3), "expand: cannot expand shape (2, 3) to (4, 3)"),
    ("ops", "cat of mismatched sizes", lambda: tg.cat([tg.ones(2, 3), tg.ones(2, 4)]), "cat: sizes of tensors must match except in dimension 0"),
    ("ops", "a non-bool mask", lambda: tg.ones(2).masked_fill(tg.tensor([1, 0]), 0.0), "masked_fill: the mask must be a bool tensor, got tinygrad_edu.int64"),
    ("ops", "mean of an int tensor", lambda: tg.tensor([1, 2]).mean(), "mean(): input dtype must be floating point, got tinygrad_edu.int64"),
    ("ops", "item() of 2 elements", lambda: tg.ones(2).item(), "item() needs a tensor with one element, got shape (2,)"),
    ("ops", "numpy() of a tensor that requires grad", lambda: tg.ones(2, requires_grad=True).numpy(), "can't call numpy() on a tensor that requires grad"),
    ("nn", "Linear given the wrong width", lambda: tg.nn.Linear(3, 2)(tg.ones(2, 4)), "linear: input has 4 features (shape (2, 4)) but the weight expects 3"),
    ("nn", "a class index out of range", lambda: F.cross_entropy(tg.ones(2, 5), tg.tensor([1, 7])), "cross_entropy: target 7 is out of range for 5 classes (targets must be in [0, 4] or equal ignore_index=-100)"),
    ("nn", "a target of the wrong shape", lambda: F.cross_entropy(tg.ones(2, 5), tg.tensor([1, 2, 3])), "cross_entropy: input of shape (2, 5) needs target of shape (2,), got (3,)"),
    ("nn", "an embedding id out of range", lambda: F.embedding(tg.tensor([9]), tg.ones(4, 2)), "embedding: index 9 is out of range for an embedding of 4 rows"),
    ("autograd", "backward of a non-scalar without gradient", lambda: (tg.ones(2, requires_grad=True) * 2).backward(), "grad can be created implicitly only for scalar outputs"),
    ("autograd", "backward through a freed graph", backward_twice, "trying to run backward through the graph a second time"),
    ("autograd", "an in-place write to a leaf that requires grad", leaf_then_write, "in-place write to a tensor that requires grad"),
    ("autograd", "a saved tensor modified in place", modified_after_use, "was modified in place after it was used"),
    ("autograd", "a hook that changes the gradient's dtype", hook_changing_dtype, "hook 'to_float64' has changed the type of value (was tinygrad_edu.float32, got tinygrad_edu.float64)"),
    ("gpt model", "n_embd not divisible by n_head", lambda: GPTConfig(vocab_size=65, n_embd=30, n_head=4), "n_embd (30) must be divisible by n_head (4)"),
    ("gpt model", "a zero-layer model", lambda: GPTConfig(vocab_size=65, n_layer=0), "GPTConfig.n_layer must be a positive int, got 0"),
    ("gpt model", "a sequence longer than the context", lambda: __import__("gpt.model").model.GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4))(tg.zeros(1, 9, dtype=tg.long)), "cannot forward a sequence of length 9: the block size (context length) is only 4"),
    ("gpt train", "a batch size of 0", lambda: TrainConfig(batch_size=0), "batch_size must be >= 1, got 0"),
    ("gpt prepare", "a 5-character text", lambda: prepare_text("hello", Path("/nonexistent/five")), "a text of 5 characters is too short to train on"),
]  # fmt: skip

CLI_CASES = [
    # (the command line, the exit code, the message on stderr); {tmp} is a fresh empty folder
    (["train", "--n_layers", "2"], 2, "unrecognized arguments: --n_layers 2"),
    (["train", "--preset", "huge"], 2, "argument --preset: invalid choice: 'huge'"),
    (["train", "--n-layer", "two"], 2, "gpt train: error: argument --n-layer/--n_layer: expects an integer, got 'two'"),
    (["experiment", "nope"], 2, "invalid choice: 'nope'"),
    (["bench", "peak", "--quick"], 2, "`gpt bench` is gone: run `python -m benchmarks peak --quick` instead"),
    (["sample", "--max-new-tokens", "-5"], 2, "must be at least 1, got -5"),
    (["sample", "--out-dir", "{tmp}"], 1, "no checkpoint at"),
    (["prepare", "text", "--input", "{tmp}/missing.txt", "--name", "x"], 1, "missing.txt"),
    (["train", "--preset", "tiny", "--block-size", "100000", "--data-dir", "{data}"], 1, "this run needs about"),
    # every flag has a domain, checked before any work; the message names the flag
    (["train", "--grad-clip", "-1"], 2, "--grad-clip: grad_clip must be >= 0 (0 turns clipping off), got -1.0"),
    (["train", "--grad-clip", "nan"], 2, "grad_clip must be >= 0"),
    (["train", "--min-lr", "5"], 2, "--min-lr: min_lr must be in [0, learning_rate = 0.001]"),
    (["train", "--min_lr=-1e-4"], 2, "--min-lr: min_lr must be in [0, learning_rate"),
    (["train", "--weight-decay", "-5"], 2, "--weight-decay: weight_decay must be >= 0, got -5.0"),
    (["train", "--lr-decay-iters", "-10"], 2, "--lr-decay-iters: lr_decay_iters must be >= 0, got -10"),
    (["train", "--lr-decay-iters", "5", "--warmup-iters", "50"], 2, "lr_decay_iters must be 0 (decay over max_iters) or >= warmup_iters (50)"),
    (["train", "--sample-chars", "-5"], 2, "--sample-chars: sample_chars must be >= 0, got -5"),
    (["train", "--out_dir", ""], 2, "--out-dir: out_dir is empty"),
    (["train", "--dataset", " "], 2, "--dataset: dataset is empty"),
    (["train", "--data-dir", ""], 2, "--data-dir: data_dir is empty"),
    (["train", "--learning-rate", "0"], 2, "--learning-rate: learning_rate must be > 0, got 0.0"),
    (["train", "--learning-rate", "nan"], 2, "learning_rate must be a finite number, got nan"),
    (["train", "--learning-rate", "inf"], 2, "learning_rate must be a finite number, got inf"),
    (["train", "--learning-rate", "fast"], 2, "argument --learning-rate/--learning_rate: expects a number, got 'fast'"),
    (["train", "--beta1", "1"], 2, "--beta1: beta1 must be in [0, 1), got 1.0"),
    (["train", "--beta2", "-0.1"], 2, "--beta2: beta2 must be in [0, 1), got -0.1"),
    (["train", "--seed", str(2**64)], 2, "--seed: seed must be an integer in [-2**63, 2**64)"),
    (["train", "--seed", "1.5"], 2, "argument --seed: expects an integer, got '1.5'"),
    (["train", "--max-iters", "-1"], 2, "--max-iters: max_iters must be >= 0, got -1"),
    (["train", "--warmup-iters", "-1"], 2, "--warmup-iters: warmup_iters must be >= 0, got -1"),
    (["train", "--eval-iters", "0"], 2, "--eval-iters: eval_iters must be >= 1, got 0"),
    (["train", "--eval-interval", "0"], 2, "--eval-interval: eval_interval must be >= 1, got 0"),
    (["train", "--log-interval", "0"], 2, "--log-interval: log_interval must be >= 1, got 0"),
    (["train", "--gradient-accumulation-steps", "0"], 2, "gradient_accumulation_steps must be >= 1, got 0"),
    (["train", "--dropout", "1.5"], 2, "--dropout: GPTConfig.dropout must be in [0, 1), got 1.5"),
    (["train", "--preset", "tiny", "--n-head", "3"], 2, "n_embd (16) must be divisible by n_head (3)"),
    (["train", "--n-embd", "0"], 2, "--n-embd: GPTConfig.n_embd must be a positive int, got 0"),
    (["train", "--block-size", "-4"], 2, "--block-size: GPTConfig.block_size must be a positive int, got -4"),
    (["train", "--dtype", "float16"], 2, "--dtype: dtype must be 'float32' or 'float64', got 'float16'"),
    (["train", "--on-nonfinite", "ignore"], 2, "on_nonfinite must be 'stop' or 'skip', got 'ignore'"),
    (["train", "--position-embedding", "sinusoidal"], 2, "GPTConfig.position_embedding must be one of"),
    (["train", "--mlp", "relu"], 2, "GPTConfig.mlp must be one of"),
    (["train", "--decay-lr", "maybe"], 2, "argument --decay-lr/--decay_lr: expects true or false, got 'maybe'"),
    (["train", "--resume", "--replace-run"], 2, "argument --replace-run/--replace_run: not allowed with argument --resume"),
    (["train", "--preset", "tiny", "--device", "tpu", "--data-dir", "{data}", "--out-dir", "{tmp}/r"], 1, "unknown device 'tpu'"),
    # a run folder is owned; resuming is continuing
    (["train", "--preset", "tiny", "--out-dir", "{run}"], 1, "already holds a run (ckpt.npz, log.jsonl): pass --resume"),
    (["train", "--out-dir", "{run}/ckpt.npz"], 1, "ckpt.npz is a checkpoint, not a folder"),
    (["train", "--out-dir", "{run}/log.jsonl/sub"], 1, "log.jsonl is a training log, not a folder"),
    (["train", "--resume", "--out-dir", "{tmp}"], 1, "no checkpoint at"),
    (["train", "--resume", "--out-dir", "{run}", "--learning-rate", "0.5", "--batch-size", "8"], 1, "--resume would change the run"),
    (["train", "--resume", "--out-dir", "{run}", "--n-layer", "3"], 1, "another model config; differences (checkpoint -> now): n_layer: 1 -> 3"),
    (["train", "--resume", "--out-dir", "{run}", "--dataset", "nope"], 1, "nope/meta.json not found"),
    # sampling
    (["sample", "--top-k", "-5"], 2, "argument --top-k/--top_k: must be at least 1 (or 'all' for no cut), got -5"),
    (["sample", "--top-k", "0"], 2, "argument --top-k/--top_k: must be at least 1"),
    (["sample", "--top-k", "many"], 2, "argument --top-k/--top_k: expects an integer >= 1 or 'all', got 'many'"),
    (["sample", "--temperature", "0"], 2, "argument --temperature: must be a finite number > 0, got 0"),
    (["sample", "--temperature", "-1"], 2, "argument --temperature: must be a finite number > 0, got -1"),
    (["sample", "--temperature", "nan"], 2, "argument --temperature: must be a finite number > 0, got nan"),
    (["sample", "--temperature", "hot"], 2, "argument --temperature: expects a number, got 'hot'"),
    (["sample", "--seed", str(-(2**63) - 1)], 2, "argument --seed: must be in [-2**63, 2**64)"),
    (["sample", "--num-samples", "0"], 2, "argument --num-samples/--num_samples: must be at least 1, got 0"),
    (["sample", "--max-new-tokens", "ten"], 2, "argument --max-new-tokens/--max_new_tokens: expects an integer, got 'ten'"),
    (["sample", "--window", "wrap"], 2, "argument --window: invalid choice: 'wrap'"),
    (["sample", "--out-dir", "{run}", "--prompt", "caf\u00e9 \u20ac"], 1, "is not in the vocabulary"),
    (["sample", "--out-dir", "{run}", "--device", "tpu"], 1, "unknown device 'tpu'"),
    (["sample", "--out-dir", "{run}/log.jsonl"], 1, "log.jsonl is not a readable checkpoint: it is a training log"),
    (["sample", "--out-dir", "{run}/missing"], 1, "no checkpoint at"),
]  # fmt: skip


# More cases live beside the code they probe, in the same two formats: the engine's API (tests/bad_inputs_api.py)
# and the command line's areas (tests/bad_inputs_cli_*.py, each a CLI_CASES list). All of them are run here and
# listed in docs/bad-inputs.md's table.
CASES += _load_cases("bad_inputs_api", "API_CASES")
CLI_CASES += [case for module in CLI_CASE_MODULES for case in _load_cases(module, "CLI_CASES")]


@pytest.mark.parametrize("where, what, run, message", CASES, ids=[c[1] for c in CASES])
def test_a_bad_input_gets_a_message_that_names_the_problem(where, what, run, message, monkeypatch):
    if "without a GPU" in what:  # make the machine GPU-less even where CUDA (or its stand-in) is there
        monkeypatch.setattr(tg.backend, "_cupy", lambda: None)
    with pytest.raises((ValueError, TypeError, RuntimeError, IndexError, MemoryError)) as caught:
        run()
    assert message in str(caught.value)


@pytest.fixture(scope="session")
def finished_run(prepared_shakespeare, tmp_path_factory):
    """A finished tiny training run (checkpoint, log), made once; each case gets its own copy."""
    run = tmp_path_factory.mktemp("finished") / "run"
    data = str(prepared_shakespeare[0])
    argv = ["train", "--preset", "tiny", "--max-iters", "4", "--eval-interval", "2", "--eval-iters", "1"]
    assert main([*argv, "--progress", "false", "--sample-chars", "0", "--data-dir", data, "--out-dir", str(run)]) == 0
    return run


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` and its bytes' sha256: what a refused command must leave as it was."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.mark.parametrize("argv, code, message", CLI_CASES, ids=[" ".join(c[0][:4]) for c in CLI_CASES])
def test_a_bad_command_line_gets_one_clear_line(argv, code, message, tmp_path, capsys, prepared_shakespeare, request):
    """{tmp}: an empty folder; {data}: the prepared datasets; {run}: a copy of a finished run. The command
    must fail with its code and message, one line and no traceback, and leave every file of {tmp} and {run}
    byte for byte as it was."""
    run = tmp_path / "run"
    if any("{run}" in a for a in argv):
        shutil.copytree(request.getfixturevalue("finished_run"), run)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    argv = [
        a.replace("{tmp}", str(scratch)).replace("{data}", str(prepared_shakespeare[0])).replace("{run}", str(run))
        for a in argv
    ]
    before = snapshot(tmp_path), snapshot(prepared_shakespeare[0])
    try:
        result = main(argv)
    except SystemExit as exit_info:
        result = exit_info.code
    err = capsys.readouterr().err
    assert (result, message in err) == (code, True), err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("usage:", " "))]
    assert "Traceback" not in err and len(lines) == 1, err  # argparse's usage, then one line
    assert (snapshot(tmp_path), snapshot(prepared_shakespeare[0])) == before


def test_a_corrupt_checkpoint_is_named(tmp_path):
    (tmp_path / ckpt.FILENAME).write_bytes(b"garbage")
    with pytest.raises(ckpt.CheckpointError, match="is not a readable checkpoint"):
        ckpt.read_checkpoint(tmp_path)


BEGIN, END = (
    "<!-- bad-inputs table: generated by `python tests/test_bad_inputs.py` -->",
    "<!-- end of bad-inputs table -->",
)


def test_the_readme_table_is_generated_from_these_cases():
    """docs/bad-inputs.md's table is these cases, row for row, so a user can look an error up; regenerate it with
    ``python tests/test_bad_inputs.py`` after adding a case."""
    assert BEGIN in TABLE and END in TABLE
    assert TABLE.split(BEGIN)[1].split(END)[0].strip() == render_table().strip()


def render_table() -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = ["| where | bad input | message |", "|---|---|---|"]
    rows += [f"| {where} | {cell(what)} | {cell(message)} |" for where, what, _, message in CASES]
    rows += [
        f"| `gpt` | `gpt {cell(' '.join(argv))}` (exit {code}) | {cell(message)} |" for argv, code, message in CLI_CASES
    ]
    return "\n".join(rows)


if __name__ == "__main__":  # rewrite docs/bad-inputs.md's table from the cases
    readme_path = TABLE_PAGE
    before, rest = TABLE.split(BEGIN)
    after = rest.split(END)[1]
    readme_path.write_text(f"{before}{BEGIN}\n{render_table()}\n{END}{after}", encoding="utf-8")
    print(f"wrote {len(CASES) + len(CLI_CASES)} rows into {readme_path}")
