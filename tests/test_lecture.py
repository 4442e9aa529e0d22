"""Lecture-style scripts run unchanged: on tinygrad_edu, and on PyTorch when it is installed.

Each script differs from PyTorch code only in its imports (chosen by ``LECTURE_BACKEND``), so the PyTorch run
proves the script is genuine PyTorch code and the tinygrad_edu run proves the engine runs it.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LECTURE = REPO / "tests" / "lecture"
STEP_LINE = re.compile(r"^step (\d+): train loss (\S+), val loss (\S+)$", re.MULTILINE)

# script, printed parameter-count pattern, characters of text it reads, generated tokens, iterations
SCRIPTS = {
    "gpt": ("lecture_gpt.py", r"^\d+\.\d+ M parameters$", 20000, 50, 30),
    "bigram": ("lecture_bigram.py", r"^\d+ parameters$", 50000, 100, 300),
}


def run_lecture(script: str, text_file: Path, backend: str | None, iters: int) -> str:
    env = {k: v for k, v in os.environ.items() if k != "LECTURE_BACKEND"}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["LECTURE_ITERS"] = str(iters)
    if backend is not None:
        env["LECTURE_BACKEND"] = backend
    proc = subprocess.run(
        [sys.executable, str(LECTURE / script), str(text_file)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, f"{script} failed ({backend or 'tinygrad_edu'}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def check_output(out: str, text_file: Path, name: str, iters: int, must_improve: float) -> list[float]:
    """Parameter count, 'step N: train loss X, val loss Y' lines with finite falling losses, then a sample."""
    _, params_pattern, n_chars, n_tokens, _ = SCRIPTS[name]
    lines = out.splitlines()
    assert re.match(params_pattern, lines[0]), f"first line should be the parameter count, got {lines[0]!r}"
    steps = STEP_LINE.findall(out)
    expected_steps = sorted({*range(0, iters, 10 if name == "gpt" else 100), iters - 1})
    assert [int(s) for s, _, _ in steps] == expected_steps
    train = [float(t) for _, t, _ in steps]
    val = [float(v) for _, _, v in steps]
    assert all(math.isfinite(x) and 0 < x < 10 for x in train + val)
    assert all(re.fullmatch(r"\d+\.\d{4}", t) for _, t, _ in steps), "losses are formatted with :.4f"
    assert train[-1] < train[0] - must_improve and val[-1] < val[0] - must_improve
    # the generated sample: everything after the last step line, n_tokens + 1 characters of the text's alphabet
    last_step = list(STEP_LINE.finditer(out))[-1]
    sample = out[last_step.end() + 1 :]
    assert sample.endswith("\n")
    sample = sample[:-1]
    assert len(sample) == n_tokens + 1, f"expected a sample of {n_tokens + 1} characters, got {sample!r}"
    alphabet = set(text_file.read_text(encoding="utf-8")[:n_chars])
    assert set(sample) <= alphabet
    assert len(set(sample)) > 5, "the sample should not be one repeated character"
    return train


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_lecture_script_runs_on_tinygrad_edu(name, shakespeare_file):
    script, _, _, _, iters = SCRIPTS[name]
    out = run_lecture(script, shakespeare_file, None, iters)
    check_output(out, shakespeare_file, name, iters, must_improve=0.2 if name == "gpt" else 1.0)


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_lecture_script_is_genuine_pytorch_code(name, shakespeare_file, torch):
    """The same file under real PyTorch prints the same format and learns as well."""
    script, _, _, _, iters = SCRIPTS[name]
    out = run_lecture(script, shakespeare_file, "torch", iters)
    check_output(out, shakespeare_file, name, iters, must_improve=0.2 if name == "gpt" else 1.0)


def test_lecture_scripts_differ_from_pytorch_only_in_imports():
    """Apart from the import block, nothing in the scripts names tinygrad_edu."""
    for script, *_ in SCRIPTS.values():
        source = (LECTURE / script).read_text(encoding="utf-8")
        body = source.split("from tinygrad_edu.nn import functional as F", 1)[1]
        assert "tinygrad_edu" not in body and "numpy" not in body
