"""Training, checkpoints and the `gpt` command, end to end at a tiny size."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

import tinygrad_edu as torch
from gpt import checkpoint as ckpt
from gpt.cli import main
from gpt.config import PRESETS, RunConfig, TrainConfig, build_config
from gpt.sample import generate_text, load_model
from gpt.train import configure_optimizer, learning_rate, train


@pytest.fixture
def data_dir(prepared_shakespeare):
    return prepared_shakespeare[0]


def tiny_run(data_dir, out_dir, device="cpu", **overrides):
    values = dict(data_dir=str(data_dir), out_dir=str(out_dir), progress=False, sample_chars=0, device=device)
    values.update(overrides)
    return build_config("tiny", values)


def read_log(out_dir):
    return [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]


def test_training_lowers_the_loss_and_logs_each_evaluation(device, data_dir, tmp_path):
    result = train(
        tiny_run(data_dir, tmp_path, device, max_iters=40, eval_interval=20, eval_iters=4), log=lambda *_: None
    )
    log = read_log(tmp_path)
    assert [r["iter"] for r in log] == [0, 20, 40]
    assert set(log[0]) == {"iter", "train_loss", "val_loss", "lr", "elapsed_s", "tokens_per_s"}
    assert abs(log[0]["val_loss"] - math.log(65)) < 0.15  # a fresh model is near-uniform over 65 characters
    assert log[-1]["train_loss"] < log[0]["train_loss"] - 0.1
    assert result.val_loss == pytest.approx(log[-1]["val_loss"], abs=1e-6)
    assert (tmp_path / ckpt.FILENAME).is_file()


def test_the_checkpoint_gives_back_the_run_config(data_dir, tmp_path):
    """The header's model_config and train_config are the RunConfig trained, its vocab_size the dataset's."""
    run = tiny_run(data_dir, tmp_path, max_iters=2, eval_interval=2, eval_iters=1, n_layer=2, bias=False)
    train(run, log=lambda *_: None)
    header, _ = ckpt.read_checkpoint(tmp_path / ckpt.FILENAME)
    assert RunConfig.from_dict(header) == run.with_vocab_size(65)  # tinyshakespeare's 65 characters


def test_resume_gives_the_same_losses_as_an_uninterrupted_run(device, data_dir, tmp_path):
    """Stop at iteration 10, resume to 20: every logged loss equals the run that never stopped."""
    common = dict(lr_decay_iters=20, eval_interval=5, eval_iters=3, dropout=0.1)
    train(tiny_run(data_dir, tmp_path / "straight", device, max_iters=20, **common), log=lambda *_: None)
    train(tiny_run(data_dir, tmp_path / "split", device, max_iters=10, **common), log=lambda *_: None)
    train(tiny_run(data_dir, tmp_path / "split", device, max_iters=20, **common), resume=True, log=lambda *_: None)
    straight, split = read_log(tmp_path / "straight"), read_log(tmp_path / "split")
    assert [r["iter"] for r in split] == [r["iter"] for r in straight] == [0, 5, 10, 15, 20]
    for a, b in zip(straight, split):
        assert (a["train_loss"], a["val_loss"]) == (b["train_loss"], b["val_loss"])


def test_same_seed_same_run_and_other_seed_differs(device, data_dir, tmp_path):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        train(
            tiny_run(data_dir, tmp_path / name, device, max_iters=10, eval_interval=10, seed=seed), log=lambda *_: None
        )
    a, b, c = (read_log(tmp_path / n)[-1]["train_loss"] for n in "abc")
    assert a == b and a != c


def test_gradient_accumulation_matches_one_large_batch(device, data_dir, tmp_path):
    """Two micro-batches of 4 accumulate the same gradient as the mean over the 8 examples."""
    run = tiny_run(data_dir, tmp_path, device, dtype="float64")
    from gpt.model import GPT

    torch.manual_seed(0)
    model = GPT(run.with_vocab_size(65).model).to(device, torch.float64)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.integers(0, 65, size=(8, 16)), device=device)
    y = torch.tensor(rng.integers(0, 65, size=(8, 16)), device=device)
    model(x, y)[1].backward()
    full = {n: p.grad.cpu().numpy().copy() for n, p in model.named_parameters()}
    model.zero_grad()
    for half in (slice(0, 4), slice(4, 8)):
        (model(x[half], y[half])[1] / 2).backward()
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.cpu().numpy(), full[n], rtol=1e-10, atol=1e-14, err_msg=n)


def test_learning_rate_schedule_warms_up_then_decays_to_min_lr():
    cfg = TrainConfig(learning_rate=1e-3, min_lr=1e-4, warmup_iters=10, max_iters=100)
    rates = [learning_rate(i, cfg) for i in range(0, 101)]
    assert rates[0] < rates[5] < rates[9] < 1e-3  # linear warm-up
    assert rates[10] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))  # then never increases
    assert rates[100] == pytest.approx(1e-4)
    assert learning_rate(55, cfg) == pytest.approx(1e-4 + 0.5 * (1e-3 - 1e-4))  # cosine midpoint


def test_weight_decay_applies_to_matrices_only():
    from gpt.model import GPT, GPTConfig

    model = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=8))
    optimizer = configure_optimizer(model, TrainConfig(weight_decay=0.1))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and all(p.dim() >= 2 for p in decayed["params"])
    assert plain["weight_decay"] == 0.0 and all(p.dim() < 2 for p in plain["params"])
    assert len(decayed["params"]) + len(plain["params"]) == len(list(model.parameters()))


def test_checkpoint_is_atomic_and_loads_without_pickle(device, data_dir, tmp_path):
    train(tiny_run(data_dir, tmp_path, device, max_iters=5, eval_interval=5), log=lambda *_: None)
    path = tmp_path / ckpt.FILENAME
    with np.load(path, allow_pickle=False) as archive:  # would raise if any entry needed pickle
        assert "__meta__" in archive.files and any(k.startswith("optim/") for k in archive.files)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    header, _ = ckpt.read_checkpoint(path)
    assert header["iter"] == 5 and header["tokenizer"]["chars"][0] == "\n" and len(header["tokenizer"]["chars"]) == 65


def test_a_failed_write_keeps_the_previous_checkpoint(device, data_dir, tmp_path, monkeypatch):
    train(tiny_run(data_dir, tmp_path, device, max_iters=5, eval_interval=5), log=lambda *_: None)
    path = tmp_path / ckpt.FILENAME
    before = path.read_bytes()

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.np, "savez", broken_savez)
    model, _, header = load_model(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_checkpoint(path, model=model, meta=header)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    # and a training run that meets a full disk says what failed, and keeps that checkpoint
    monkeypatch.setattr(ckpt.np, "savez", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space left on device")))
    with pytest.raises(
        ckpt.CheckpointError, match=r"could not write the checkpoint .*No space left.*previous one is kept"
    ):
        train(tiny_run(data_dir, tmp_path, device, max_iters=10, eval_interval=5), resume=True, log=lambda *_: None)
    assert path.read_bytes() == before


def test_resuming_with_another_model_config_is_a_clear_error(device, data_dir, tmp_path):
    train(tiny_run(data_dir, tmp_path, device, max_iters=5, eval_interval=5), log=lambda *_: None)
    with pytest.raises(ckpt.CheckpointError, match=r"n_embd: 16 -> 32"):
        train(tiny_run(data_dir, tmp_path, device, max_iters=10, n_embd=32), resume=True, log=lambda *_: None)


def test_resuming_with_another_dataset_vocabulary_or_code_version_is_a_clear_error(data_dir, tmp_path, monkeypatch):
    train(tiny_run(data_dir, tmp_path / "run", max_iters=5, eval_interval=5), log=lambda *_: None)
    letters = tmp_path / "letters.txt"
    letters.write_text("abcdefghij " * 500)
    assert main(["prepare", "text", "--input", str(letters), "--name", "letters", "--data-dir", str(data_dir)]) == 0
    with pytest.raises(ckpt.CheckpointError, match="trained on dataset 'shakespeare', not 'letters'"):
        train(tiny_run(data_dir, tmp_path / "run", max_iters=10, dataset="letters"), resume=True, log=lambda *_: None)
    # the same dataset name, prepared again from another text: its vocabulary differs
    train(
        tiny_run(data_dir, tmp_path / "letters", max_iters=5, eval_interval=5, dataset="letters"), log=lambda *_: None
    )
    letters.write_text("klmnopqrst " * 500)
    shutil.move(data_dir / "letters", tmp_path / "letters-old")  # prepare refuses to replace another text's dataset
    assert main(["prepare", "text", "--input", str(letters), "--name", "letters", "--data-dir", str(data_dir)]) == 0
    run = tiny_run(data_dir, tmp_path / "letters", max_iters=10, dataset="letters")
    with pytest.raises(ckpt.CheckpointError, match="another vocabulary"):
        train(run, resume=True, log=lambda *_: None)
    monkeypatch.setattr(torch, "__version__", "9.9.9")
    with pytest.raises(ckpt.CheckpointError, match=r"written by tinygrad_edu 0\.1\.0, this is 9\.9\.9"):
        train(tiny_run(data_dir, tmp_path / "run", max_iters=10), resume=True, log=lambda *_: None)


def test_reading_a_corrupt_or_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint at"):
        ckpt.read_checkpoint(tmp_path)
    bad = tmp_path / ckpt.FILENAME
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ckpt.CheckpointError, match=str(bad)):
        ckpt.read_checkpoint(bad)


def test_a_truncated_or_newer_checkpoint_is_refused_by_name(data_dir, tmp_path):
    train(tiny_run(data_dir, tmp_path, max_iters=2, eval_interval=2, eval_iters=1), log=lambda *_: None)
    good = (tmp_path / ckpt.FILENAME).read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ckpt.CheckpointError, match="truncated.npz is not a readable checkpoint"):
        ckpt.read_checkpoint(truncated)
    header, arrays = ckpt.read_checkpoint(tmp_path)
    # a bit flipped inside an array, written back as a valid archive: only the header's checksum can tell
    name = next(k for k in arrays if k.startswith("model/"))
    flipped = dict(arrays)
    flipped[name] = arrays[name].copy()
    flipped[name].view(np.uint8)[0] ^= 1
    damaged = tmp_path / "damaged.npz"
    with_sum = dict(header, sha256=ckpt._digest(header, arrays))
    np.savez(damaged, __meta__=np.array(json.dumps(with_sum)), **flipped)
    with pytest.raises(ckpt.CheckpointError, match="damaged.npz is corrupted: its header and arrays do not match"):
        ckpt.read_checkpoint(damaged)
    newer = tmp_path / "newer.npz"
    np.savez(newer, __meta__=np.array(json.dumps(dict(header, version=ckpt.VERSION + 1))), **arrays)
    with pytest.raises(ckpt.CheckpointError, match=f"newer version of gpt .*format version {ckpt.VERSION + 1}"):
        ckpt.read_checkpoint(newer)


def test_config_overrides_and_their_errors():
    run = build_config("baby", {"n_layer": 2, "max_iters": 7})
    assert run.model.n_layer == 2 and run.model.n_embd == 128 and run.train.max_iters == 7
    assert set(PRESETS) >= {"baby", "lecture"}
    with pytest.raises(ValueError, match="unknown config field"):
        build_config("baby", {"n_layers": 2})
    with pytest.raises(ValueError, match="unknown preset"):
        build_config("huge")
    with pytest.raises(ValueError, match="vocab_size comes from the dataset"):
        build_config("baby", {"vocab_size": 10})
    with pytest.raises(ValueError, match=r"bias must be bool, got 'false' \(str\)"):
        build_config("baby", {"bias": "false"})  # the API takes values of their types; the command line converts
    run = build_config("baby", {"dropout": 0, "min_lr": 0})  # an int where a float is meant becomes a float
    assert type(run.model.dropout) is type(run.train.min_lr) is float


def test_cli_end_to_end_prepare_train_resume_sample(data_dir, tmp_path, capsys, shakespeare_file):
    out = tmp_path / "run"
    common = [
        "--preset",
        "tiny",
        "--out_dir",
        str(out),
        "--data_dir",
        str(data_dir),
        "--progress",
        "false",
        "--lr-decay-iters",
        "20",
        "--sample_chars",
        "40",
    ]
    assert main(["prepare", "shakespeare", "--input", str(shakespeare_file), "--data-dir", str(data_dir)]) == 0
    assert main(["train", *common, "--max_iters", "10"]) == 0
    assert main(["train", *common, "--max_iters", "20", "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "resuming from" in printed and "step 20: train loss" in printed
    assert main(["sample", "--out-dir", str(out), "--prompt", "ROMEO:", "--max-new-tokens", "30", "--seed", "3"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("ROMEO:") and len(first.rstrip("\n")) >= 36
    main(["sample", "--out-dir", str(out), "--prompt", "ROMEO:", "--max-new-tokens", "30", "--seed", "3"])
    assert capsys.readouterr().out == first  # the same seed samples the same text
    pytest.importorskip("matplotlib", reason="attention maps need matplotlib")
    assert main(["attention", "--out-dir", str(out), "--prompt", "ROMEO: ", "--save-dir", str(tmp_path / "att")]) == 0
    assert sorted(p.name for p in (tmp_path / "att").iterdir()) == ["layer_0.png"]  # the tiny preset: one layer


def test_cli_errors_are_one_clear_line(data_dir, tmp_path, capsys):
    assert main(["sample", "--out-dir", str(tmp_path)]) == 1
    assert "no checkpoint at" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--n_layers", "2"])  # a misspelt config field (n_layer)
    assert exit_info.value.code == 2 and "unrecognized arguments: --n_layers 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--n_lay", "2"])  # no abbreviations: a flag is spelt out, so a typo never picks another


def test_sampling_a_character_outside_the_vocabulary_names_it(data_dir, tmp_path):
    train(tiny_run(data_dir, tmp_path, max_iters=2, eval_interval=2), log=lambda *_: None)
    model, tokenizer, _ = load_model(tmp_path)
    with pytest.raises(ValueError, match="'@' at position 5"):
        generate_text(model, tokenizer, "ROMEO@", max_new_tokens=5)


def test_resuming_a_finished_run_says_so_and_succeeds(device, data_dir, tmp_path, capsys):
    run = tiny_run(data_dir, tmp_path, device, max_iters=4, eval_interval=2, eval_iters=2)
    train(run, log=lambda *_: None)
    before = (tmp_path / ckpt.FILENAME).read_bytes()
    lines = []
    result = train(run, resume=True, log=lines.append)
    assert result.already_complete and result.iterations == 4 and result.val_loss is not None
    assert any("already at iteration 4 of max_iters 4" in line for line in lines)
    assert (tmp_path / ckpt.FILENAME).read_bytes() == before  # nothing was trained or written
    common = ["--data-dir", str(data_dir), "--out-dir", str(tmp_path), "--progress", "false", "--max-iters", "4"]
    assert main(["train", "--preset", "tiny", *common, "--resume"]) == 0
    assert "the run is complete" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow to inf and nan is the point of the test
def test_a_nonfinite_loss_stops_training_and_keeps_the_last_good_checkpoint(device, data_dir, tmp_path):
    from gpt.train import NonFiniteLoss

    settings = dict(max_iters=6, eval_interval=3, eval_iters=2, warmup_iters=0, decay_lr=False)
    train(tiny_run(data_dir, tmp_path, device, **settings), log=lambda *_: None)  # a good run: its checkpoint at 6
    good = (tmp_path / ckpt.FILENAME).read_bytes()
    absurd = dict(settings, max_iters=12, learning_rate=1e30, grad_clip=0.0)  # no clipping: the loss blows up
    with pytest.raises(NonFiniteLoss, match=r"iteration \d+: the (loss|evaluated loss) is .*checkpoint.*is kept"):
        train(tiny_run(data_dir, tmp_path, device, **absurd), resume=True, allow_changes=True, log=lambda *_: None)
    assert (tmp_path / ckpt.FILENAME).read_bytes() == good


def test_on_nonfinite_skip_skips_those_updates_and_keeps_the_weights_finite(device, data_dir, tmp_path):
    import tinygrad_edu as tg

    run = tiny_run(data_dir, tmp_path, device, max_iters=5, eval_interval=5, eval_iters=1, on_nonfinite="skip")
    original = tg.nn.utils.clip_grad_norm_
    calls = []

    def poisoned(parameters, max_norm, *args, **kwargs):  # the third step's gradient is NaN
        calls.append(1)
        norm = original(parameters, max_norm, *args, **kwargs)
        return tg.tensor(float("nan"), device=norm.device) if len(calls) == 3 else norm

    tg.nn.utils.clip_grad_norm_ = poisoned
    try:
        result = train(run, log=lambda *_: None)
    finally:
        tg.nn.utils.clip_grad_norm_ = original
    assert result.skipped_steps == 1 and math.isfinite(result.val_loss)
    assert all(np.isfinite(p.detach().cpu().numpy()).all() for p in result.model.parameters())


def test_sample_refuses_a_negative_length(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "--out-dir", str(tmp_path), "--max-new-tokens", "-5"])
    assert exit_info.value.code == 2 and "must be at least 1, got -5" in capsys.readouterr().err


def test_a_checkpoint_written_on_one_device_samples_the_same_text_on_the_other(device, data_dir, tmp_path):
    """Weights travel as host arrays: a run trained on cuda samples on the CPU, and the reverse, token for token."""
    train(tiny_run(data_dir, tmp_path, device, max_iters=4, eval_interval=4, eval_iters=1), log=lambda *_: None)
    other = "cpu" if device == "cuda" else "cuda"
    texts = []
    for where in (device, other):
        model, tokenizer, _ = load_model(tmp_path, device=where)
        assert next(model.parameters()).device.type == where
        texts.append(generate_text(model, tokenizer, "ROMEO:", max_new_tokens=20, top_k=1, device=where))
    assert texts[0] == texts[1] and len(texts[0]) == len("ROMEO:") + 20
