"""Every user-facing entry point, tried with bad input: each gets a clear message that names the problem, no
traceback, and exit code 2 for a usage error on the command line. The README's "Bad inputs" table lists these
cases with their messages; ``test_the_readme_lists_every_case`` keeps the two in step.
"""

from __future__ import annotations

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

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


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
    (["train", "--n-layer", "two"], 2, "gpt train: error: --n_layer expects int, got 'two'"),
    (["experiment", "nope"], 2, "invalid choice: 'nope'"),
    (["sample", "--max-new-tokens", "-5"], 2, "must be at least 1, got -5"),
    (["sample", "--out-dir", "{tmp}"], 1, "no checkpoint at"),
    (["prepare", "text", "--input", "{tmp}/missing.txt", "--name", "x"], 1, "missing.txt"),
    (["train", "--preset", "tiny", "--block-size", "100000", "--data-dir", "{data}"], 1, "this run needs about"),
]


@pytest.mark.parametrize("where, what, run, message", CASES, ids=[c[1] for c in CASES])
def test_a_bad_input_gets_a_message_that_names_the_problem(where, what, run, message, monkeypatch):
    if "without a GPU" in what:  # make the machine GPU-less even where CUDA (or its stand-in) is there
        monkeypatch.setattr(tg.backend, "_cupy", lambda: None)
    with pytest.raises((ValueError, TypeError, RuntimeError, IndexError, MemoryError)) as caught:
        run()
    assert message in str(caught.value)


@pytest.mark.parametrize("argv, code, message", CLI_CASES, ids=[" ".join(c[0][:3]) for c in CLI_CASES])
def test_a_bad_command_line_gets_one_clear_line(argv, code, message, tmp_path, capsys, prepared_shakespeare):
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{data}", str(prepared_shakespeare[0])) for a in argv]
    try:
        result = main(argv)
    except SystemExit as exit_info:
        result = exit_info.code
    err = capsys.readouterr().err
    assert result == code and message in err
    assert "Traceback" not in err


def test_a_corrupt_checkpoint_is_named(tmp_path):
    (tmp_path / ckpt.FILENAME).write_bytes(b"garbage")
    with pytest.raises(ckpt.CheckpointError, match="is not a readable checkpoint"):
        ckpt.read_checkpoint(tmp_path)


def test_the_readme_lists_every_case():
    """The README's table has a row per case with its message, so a user can look an error up."""
    missing = [what for _, what, _, message in CASES if f"| {what} | {message}" not in README]
    missing += [" ".join(argv) for argv, _, message in CLI_CASES if f"`gpt {' '.join(argv)}`" not in README]
    assert missing == []


def render_readme_rows() -> str:
    """The table's rows (``python -c "from test_bad_inputs import *; print(render_readme_rows())"`` in tests/)."""
    rows = [f"| {where} | {what} | {message} |" for where, what, _, message in CASES]
    rows += [f"| `gpt` | `gpt {' '.join(argv)}` (exit {code}) | {message} |" for argv, code, message in CLI_CASES]
    return "\n".join(rows)
