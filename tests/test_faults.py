"""Training survives kill -9: killed at random moments, during a checkpoint write and during an evaluation, and
resumed each time, a run ends with the same log, row for row, as a run that was never interrupted."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpt import checkpoint as ckpt
from gpt.cli import main

REPO = Path(__file__).resolve().parents[1]
SETTINGS = ["--preset", "tiny", "--max-iters", "600", "--eval-interval", "20", "--eval-iters", "4"]
SETTINGS += ["--progress", "false", "--sample-chars", "0"]

# Runs `gpt train` in a child process; FAULT makes the child SIGKILL itself at the Nth checkpoint write (half a
# temporary file written, not yet renamed) or right after the Nth evaluation (before its log row is written).
CHILD = r"""
import os, signal, sys
import numpy as np
from gpt import checkpoint, train
from gpt.cli import main

fault, nth = sys.argv[1], int(sys.argv[2])
calls = [0]

def die_on_nth():
    calls[0] += 1
    return calls[0] == nth

if fault == "checkpoint":
    real_savez = np.savez
    def savez(f, **arrays):
        if die_on_nth():
            f.write(b"PK half a checkpoint")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return real_savez(f, **arrays)
    checkpoint.np.savez = savez
elif fault == "evaluation":
    real_estimate = train.estimate_loss
    def estimate_loss(*args, **kwargs):
        losses = real_estimate(*args, **kwargs)
        if die_on_nth():
            os.kill(os.getpid(), signal.SIGKILL)
        return losses
    train.estimate_loss = estimate_loss
sys.exit(main(sys.argv[3:]))
"""

# What kills each attempt: the child itself at its Nth checkpoint write or evaluation, or the parent, at a random
# moment (up to 20 ms) after the child has logged N evaluations: wherever training, evaluation or a write is then.
FAULTS = [
    ("checkpoint", 2), ("moment", 2), ("evaluation", 3), ("moment", 1), ("checkpoint", 1), ("moment", 3),
    ("evaluation", 1), ("moment", 2), ("checkpoint", 3), ("moment", 1), ("evaluation", 2), ("moment", 2),
]  # fmt: skip


def rows(out_dir: Path) -> list[dict]:
    """The log without its timings (which differ between runs, by nature)."""
    keep = ("iter", "train_loss", "val_loss", "lr")
    lines = (out_dir / "log.jsonl").read_text().splitlines()
    return [{k: json.loads(line)[k] for k in keep} for line in lines]


def test_training_survives_repeated_kill_9(prepared_shakespeare, tmp_path):
    data_dir = str(prepared_shakespeare[0])
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert main(["train", *SETTINGS, "--data-dir", data_dir, "--out-dir", str(straight)]) == 0

    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    rng = random.Random(7)
    kills, attempts = 0, 0
    schedule = list(FAULTS)
    while True:
        attempts += 1
        assert attempts < 40, "the run never finished"
        fault, when = schedule.pop(0) if schedule else ("none", 0)
        resume = ["--resume"] if (killed / ckpt.FILENAME).exists() else []
        args = [*SETTINGS, "--data-dir", data_dir, "--out-dir", str(killed), *resume]
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, fault, str(when if fault != "moment" else 0), "train", *args],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        if fault == "moment":
            logged = 0
            for line in child.stdout:
                logged += line.startswith("step ")
                if logged == when:
                    time.sleep(rng.random() * 0.02)
                    child.send_signal(signal.SIGKILL)
                    break
        _, errors = child.communicate(timeout=120)
        if child.returncode == -signal.SIGKILL:
            kills += 1
            if (killed / ckpt.FILENAME).exists():
                ckpt.read_checkpoint(killed)  # after every kill, the checkpoint on disk loads
            continue
        assert child.returncode == 0, errors
        if not schedule:
            break
    assert kills >= 10, f"only {kills} of the {len(FAULTS)} faults killed the run"
    assert rows(killed) == rows(straight)  # no row lost, none repeated, every loss the same
    assert not list(killed.glob("*.tmp"))  # a killed writer's temporary file is cleaned up
    header, _ = ckpt.read_checkpoint(killed)
    assert header["iter"] == 600
    print(f"{kills} kills survived in {attempts} attempts")


@pytest.fixture(scope="module", autouse=True)
def _posix_only():
    if os.name != "posix":
        pytest.skip("SIGKILL is POSIX")
