"""int8 weight-only quantization (Q8_0-style): bounded rounding error, the size it saves, and a quantized run
that `gpt sample` loads like any other, with its validation loss within 0.01 of the float32 run's."""

from __future__ import annotations

import numpy as np
import pytest

from gpt import checkpoint as ckpt
from gpt import int8
from gpt.cli import main
from gpt.config import build_config
from gpt.quantize import quantize_run
from gpt.sample import generate_text, load_model
from gpt.train import train


@pytest.mark.parametrize("shape", [(8, 64), (3, 5, 96), (4, 10)])  # (4, 10): 32 does not divide 10, one group a row
def test_rounding_error_is_at_most_half_a_scale(shape):
    weight = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 0.1
    values, scales = int8.quantize(weight)
    assert values.dtype == np.int8 and scales.dtype == np.float16 and np.abs(values).max() <= 127
    group = shape[-1] // scales.shape[-1]
    assert group == (32 if shape[-1] % 32 == 0 else shape[-1])
    error = np.abs(int8.dequantize(values, scales) - weight).reshape(-1, group)
    assert (error <= scales.reshape(-1, 1).astype(np.float32) / 2 + 1e-7).all()


def test_an_all_zero_group_stays_zero_and_the_size_shrinks_3_5x():
    weight = np.zeros((4, 64), np.float32)
    weight[1] = np.linspace(-1, 1, 64)
    values, scales = int8.quantize(weight)
    assert (int8.dequantize(values, scales)[0] == 0).all()
    assert weight.nbytes / (values.nbytes + scales.nbytes) >= 3.5


def test_a_quantized_run_samples_like_any_other(prepared_shakespeare, tmp_path, capsys):
    values = dict(data_dir=str(prepared_shakespeare[0]), out_dir=str(tmp_path / "run"), progress=False,
                  sample_chars=0, max_iters=40, eval_interval=20, eval_iters=2, n_embd=32)  # fmt: skip
    train(build_config("tiny", values), log=lambda *_: None)
    report = quantize_run(tmp_path / "run", eval_iters=8, log=lambda *_: None)
    assert report["out_dir"] == str(tmp_path / "run-q8") and report["ratio"] > 3
    assert abs(report["quantized_val_loss"] - report["val_loss"]) < 0.01
    model, tokenizer, header = load_model(tmp_path / "run-q8")
    assert header["quantization"]["scheme"] == "q8_0"
    assert generate_text(model, tokenizer, "ROMEO:", 20, seed=1).startswith("ROMEO:")
    assert main(["sample", "--out-dir", str(tmp_path / "run-q8"), "--max-new-tokens", "5"]) == 0
    with pytest.raises(ckpt.CheckpointError, match="already quantized"):
        quantize_run(tmp_path / "run-q8", log=lambda *_: None)
    capsys.readouterr()
    resume = ["train", "--preset", "tiny", "--data-dir", values["data_dir"], "--out-dir", str(tmp_path / "run-q8")]
    assert main([*resume, "--n-embd", "32", "--max-iters", "60", "--resume", "--progress", "false"]) == 1
    assert "no optimizer state" in capsys.readouterr().err  # an int8 run is for sampling, not for training on
