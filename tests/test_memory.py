"""The memory estimate refuses a run that cannot fit, before spending any memory, and says what would fit."""

from __future__ import annotations

import re

import pytest

from gpt.cli import main
from gpt.config import PRESETS
from gpt.memory import check_fits, training_bytes

GIB = 2**30


@pytest.mark.parametrize("preset, measured_mb", [("baby", 67.6), ("lecture", 7457)])
def test_the_estimate_is_near_the_measured_peaks(preset, measured_mb):
    """benchmarks/results/train.md: peak RSS of two training steps, measured in fresh processes."""
    model = PRESETS[preset]
    estimate = sum(training_bytes(model, 65, model["batch_size"]).values())
    assert 0.85 < estimate / (measured_mb * 1e6) < 1.15


def test_a_run_that_cannot_fit_is_refused_with_what_would_fit():
    model = dict(PRESETS["tiny"], block_size=100_000)
    with pytest.raises(MemoryError) as refused:
        check_fits(model, 65, 4, 4, "cpu", available=GIB)
    message = str(refused.value)
    assert re.search(r"needs about [\d.]+ GiB.*causal masks [\d.]+ GiB.*cpu has 1\.0 GiB free", message)
    largest = int(re.search(r"--block-size (\d+)", message).group(1))
    check_fits(dict(model, block_size=largest), 65, 4, 4, "cpu", available=GIB)  # the suggestion fits
    with pytest.raises(MemoryError):
        check_fits(dict(model, block_size=largest + 1), 65, 4, 4, "cpu", available=GIB)  # and is the largest


def test_a_run_that_fits_passes_and_an_unknown_amount_is_not_guessed(monkeypatch):
    check_fits(PRESETS["baby"], 65, 12, 4, "cpu", available=GIB)  # 67 MiB of 1 GiB: no error
    from gpt import memory

    monkeypatch.setattr(memory, "available_bytes", lambda device: None)  # a machine that does not say
    check_fits(dict(PRESETS["tiny"], block_size=10**6), 65, 4, 4, "cpu")  # not refused on a guess


def test_gpt_train_refuses_a_huge_context_at_once(prepared_shakespeare, tmp_path, capsys):
    args = ["train", "--preset", "tiny", "--data-dir", str(prepared_shakespeare[0]), "--out-dir", str(tmp_path)]
    assert main([*args, "--block-size", "100000", "--progress", "false"]) == 1
    assert "this run needs about" in capsys.readouterr().err
    assert not (tmp_path / "ckpt.npz").exists()
