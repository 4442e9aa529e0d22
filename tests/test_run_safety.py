"""No ordinary mistake loses a run: the run folder is owned by one process, a finished run is not started over by
accident, a resumed run stays the run it claims to continue, signals and closed pipes end training with its
checkpoint, and a checkpoint is checked (hash over header and arrays, schema, sizes) before it is used."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gpt import checkpoint as ckpt
from gpt.cli import main
from gpt.config import build_config
from gpt.run_folder import RunFolder, RunFolderError
from gpt.train import train

REPO = Path(__file__).resolve().parents[1]
QUIET = ["--progress", "false", "--sample-chars", "0"]


@pytest.fixture
def data_dir(prepared_shakespeare):
    return prepared_shakespeare[0]


def tiny(data_dir, out_dir, *extra):
    return ["train", "--preset", "tiny", "--data-dir", str(data_dir), "--out-dir", str(out_dir), *QUIET, *extra]


def digests(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def child_env():
    path = str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")
    return dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1")


# -- the run folder -------------------------------------------------------------------------------------------


def test_a_finished_run_is_not_started_over_without_a_flag(data_dir, tmp_path, capsys):
    run = tmp_path / "R"
    assert main(tiny(data_dir, run, "--max-iters", "4", "--eval-interval", "2")) == 0
    before = digests(run)
    assert main(tiny(data_dir, run, "--max-iters", "4")) == 1
    err = capsys.readouterr().err
    assert "already holds a run (ckpt.npz, log.jsonl): pass --resume" in err and "--replace-run" in err
    assert digests(run) == before  # byte for byte


def test_replace_run_moves_the_old_run_aside(data_dir, tmp_path, capsys):
    run = tmp_path / "R"
    assert main(tiny(data_dir, run, "--max-iters", "4", "--eval-interval", "2")) == 0
    old = digests(run)
    assert main(tiny(data_dir, run, "--max-iters", "2", "--eval-interval", "2", "--replace-run")) == 0
    (aside,) = run.glob("replaced-*")
    assert digests(aside) == old  # the old run is all there, moved, not deleted
    assert [json.loads(line)["iter"] for line in (run / "log.jsonl").read_text().splitlines()] == [0, 2]
    assert "moved the previous run" in capsys.readouterr().out


def test_resume_and_replace_run_together_are_refused(data_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(tiny(data_dir, tmp_path / "R", "--resume", "--replace-run"))
    assert caught.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "R").exists()


def test_a_second_process_is_refused_naming_the_holder(data_dir, tmp_path):
    run = tmp_path / "R"
    holder = RunFolder(run).claim()  # this process holds the folder, as a training run does
    try:
        child = subprocess.run(
            [sys.executable, "-m", "gpt", *tiny(data_dir, run, "--max-iters", "2")],
            env=child_env(), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        holder.release()
    assert child.returncode == 1
    assert f"is in use by process {os.getpid()}" in child.stderr and "Traceback" not in child.stderr
    assert not (run / "log.jsonl").exists()


def test_the_lock_dies_with_its_process(tmp_path):
    """kill -9 leaves no stale lock: the OS releases it with the process."""
    code = f"from gpt.run_folder import RunFolder; held = RunFolder({str(tmp_path)!r}).claim()"
    code += "; print('held', flush=True); input()"
    child = subprocess.Popen(
        [sys.executable, "-c", code], env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "held"
    with pytest.raises(RunFolderError, match=f"in use by process {child.pid}"):
        RunFolder(tmp_path).claim()
    child.kill()
    child.wait(timeout=30)
    RunFolder(tmp_path).claim().release()


def test_an_out_dir_that_is_a_file_or_empty_is_refused(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("mine")
    with pytest.raises(RunFolderError, match="file.txt is a file, not a folder"):
        RunFolder(target).claim()
    with pytest.raises(RunFolderError, match="--out_dir is empty"):
        RunFolder("")
    assert target.read_text() == "mine"


# -- resuming is continuing -----------------------------------------------------------------------------------


def test_resume_with_changed_settings_is_refused_then_recorded_when_meant(data_dir, tmp_path, capsys):
    run = tmp_path / "R"
    assert main(tiny(data_dir, run, "--max-iters", "4", "--eval-interval", "2")) == 0
    before = digests(run)
    changed = tiny(data_dir, run, "--max-iters", "8", "--resume", "--learning-rate", "0.5", "--batch-size", "8")
    assert main(changed) == 1
    err = capsys.readouterr().err
    assert "--batch-size: 4 -> 8" in err and "--learning-rate: 0.001 -> 0.5" in err and "--allow-changes" in err
    assert digests(run) == before
    assert main([*changed, "--allow-changes"]) == 0
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    (event,) = [row for row in rows if "event" in row]
    assert event["iter"] == 4 and "--learning-rate: 0.001 -> 0.5" in event["changes"]


def test_resume_takes_the_runs_own_settings(data_dir, tmp_path):
    """`--resume` with nothing but the folder continues the run with its own settings, not the defaults."""
    run = tmp_path / "R"
    assert main(tiny(data_dir, run, "--max-iters", "4", "--eval-interval", "2", "--n-embd", "32")) == 0
    argv = ["train", "--out-dir", str(run), "--data-dir", str(data_dir), "--resume", "--max-iters", "6"]
    assert main(argv) == 0
    header, _ = ckpt.read_checkpoint(run)
    assert header["iter"] == 6 and header["model_config"]["n_embd"] == 32


# -- signals and pipes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_finishes_the_step_writes_the_checkpoint_and_resume_is_exact(data_dir, tmp_path, signum):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    settings = ["--max-iters", "1000", "--eval-interval", "250", "--eval-iters", "2", "--log-interval", "1"]
    assert main(tiny(data_dir, straight, *settings)) == 0
    child = subprocess.Popen(
        [sys.executable, "-m", "gpt", *tiny(data_dir, stopped, *settings)],
        env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    while not child.stdout.readline().startswith("step 0"):  # training has begun
        pass
    time.sleep(0.5)
    child.send_signal(signum)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 128 + signum, err
    assert "Traceback" not in err and f"stopped by {signal.Signals(signum).name} after iteration" in err
    header, _ = ckpt.read_checkpoint(stopped)
    assert 0 < header["iter"] < 1000 and header["evaluated"] is False
    assert main([*tiny(data_dir, stopped, *settings), "--resume"]) == 0
    keep = ("iter", "train_loss", "val_loss", "lr")
    logs = [(d / "log.jsonl").read_text().splitlines() for d in (straight, stopped)]
    rows = [[{k: json.loads(r)[k] for k in keep} for r in log] for log in logs]
    assert rows[0] == rows[1]  # the evaluations after the stop are not lost, nor any other
    weights = [ckpt.read_checkpoint(d)[1] for d in (straight, stopped)]
    assert all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_a_closed_stdout_does_not_stop_training(data_dir, tmp_path):
    run = tmp_path / "R"
    argv = " ".join(tiny(data_dir, run, "--max-iters", "40", "--sample-chars", "200"))
    shell = f"{sys.executable} -m gpt {argv} | head -c 10"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", shell], env=child_env(), capture_output=True, text=True, timeout=300
    )
    assert len(done.stdout) == 10 and "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
    assert done.returncode == 0, done.stderr
    assert ckpt.read_checkpoint(run)[0]["iter"] == 40


def test_sample_into_head_exits_quietly(data_dir, tmp_path):
    run = tmp_path / "R"
    assert main(tiny(data_dir, run, "--max-iters", "2", "--eval-interval", "2")) == 0
    shell = f"{sys.executable} -m gpt sample --out-dir {run} --max-new-tokens 5000 | head -n 2"
    done = subprocess.run(["bash", "-c", shell], env=child_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr  # head's status; nothing on stderr


# -- checkpoints are validated before use ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_checkpoint(prepared_shakespeare, tmp_path_factory):
    run = tmp_path_factory.mktemp("good") / "run"
    argv = tiny(prepared_shakespeare[0], run, "--max-iters", "2", "--eval-interval", "2", "--eval-iters", "1")
    assert main(argv) == 0
    return run / ckpt.FILENAME


def rewrite(source: Path, target: Path, edit_header=None, edit_arrays=None, rehash=False, drop_hash=False):
    """A copy of a checkpoint with its header or arrays edited, written as a valid archive."""
    with np.load(source, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    header = json.loads(str(arrays.pop("__meta__")))
    if edit_header is not None:
        header = edit_header(header)
    if edit_arrays is not None:
        arrays = edit_arrays(arrays)
    if isinstance(header, dict):
        header.pop("sha256", None)
        if rehash:
            header["sha256"] = ckpt._digest(header, arrays)
        elif not drop_hash:
            header["sha256"] = json.loads(str(np.load(source)["__meta__"]))["sha256"]
    np.savez(target, __meta__=np.array(json.dumps(header)), **arrays)
    return target


def swap_two_characters(header):
    chars = header["tokenizer"]["chars"]
    chars[10], chars[11] = chars[11], chars[10]
    return header


CORRUPTIONS = [
    # (what, how the file is made, the message the error must contain)
    ("no sha256", lambda s, t: rewrite(s, t, drop_hash=True), "cannot be verified: it carries no sha256"),
    ("two vocabulary characters swapped", lambda s, t: rewrite(s, t, swap_two_characters), "do not match the sha256"),
    ("iter edited", lambda s, t: rewrite(s, t, lambda h: dict(h, iter=3)), "do not match the sha256"),
    ("a JSON list as header", lambda s, t: rewrite(s, t, lambda h: [h]), "is a JSON list, not an object"),
    (
        "no model_config",
        lambda s, t: rewrite(s, t, lambda h: {k: v for k, v in h.items() if k != "model_config"}, rehash=True),
        "'model_config' is missing",
    ),  # fmt: skip
    (
        "a string where a number belongs",
        lambda s, t: rewrite(s, t, lambda h: dict(h, model_config=dict(h["model_config"], n_layer="2")), rehash=True),
        "n_layer must be a positive int",
    ),  # fmt: skip
    (
        "iter -50",
        lambda s, t: rewrite(s, t, lambda h: dict(h, iter=-50), rehash=True),
        "'iter' is -50, expected an integer >= 0",
    ),  # fmt: skip
    (
        "vocabulary and model disagree",
        lambda s, t: rewrite(
            s, t, lambda h: dict(h, tokenizer=dict(h["tokenizer"], chars=h["tokenizer"]["chars"][:-1])), rehash=True
        ),
        "vocabulary has 64 tokens but its model_config's vocab_size is 65",
    ),  # fmt: skip
    ("an object array", lambda s, t: _object_array(t), "holds object data"),
    (
        "a text file",
        lambda s, t: (t.write_text("hello, I am not a checkpoint\n"), t)[1],
        "is not a readable checkpoint: it is a file",
    ),  # fmt: skip
    ("a truncated file", lambda s, t: (t.write_bytes(s.read_bytes()[:-300]), t)[1], "truncated or damaged"),
    ("a zip bomb", lambda s, t: _zip_bomb(t), "claim more bytes than the file holds"),
    ("a .npy header claiming a huge shape", lambda s, t: _huge_shape(s, t), "need 800000000000"),
    ("a newer format", lambda s, t: rewrite(s, t, lambda h: dict(h, version=99), rehash=True), "newer version of gpt"),
    (
        "a stray array",
        lambda s, t: rewrite(s, t, edit_arrays=lambda a: dict(a, extra=np.zeros(2)), rehash=True),
        "neither a model weight nor optimizer state",
    ),  # fmt: skip
]


def _object_array(target):
    with zipfile.ZipFile(target, "w") as archive:
        with archive.open("__meta__.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": (1,)})
            f.write(b"\x80\x04N.")  # a pickle: must never be unpickled
    return target


def _zip_bomb(target):
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("model/x.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (2**27,)})
            zeros = bytes(2**20)
            for _ in range(2**10):  # 1 GiB of zeros, about 1 MB on disk
                f.write(zeros)
    return target


def _huge_shape(source, target):
    with zipfile.ZipFile(target, "w") as archive:
        with archive.open("__meta__.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (10**11,)})
            f.write(bytes(64))
    return target


@pytest.mark.parametrize("what, make, message", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_a_bad_checkpoint_is_one_checkpoint_error(good_checkpoint, tmp_path, what, make, message):
    path = make(good_checkpoint, tmp_path / "ckpt.npz")
    with pytest.raises(ckpt.CheckpointError) as caught:
        ckpt.read_checkpoint(path)
    assert message in str(caught.value) and str(path) in str(caught.value)
    assert "pickle" not in str(caught.value)


def test_an_unhashed_checkpoint_loads_only_when_the_user_says_so(good_checkpoint, tmp_path, capsys):
    path = rewrite(good_checkpoint, tmp_path / "ckpt.npz", drop_hash=True)
    header, _ = ckpt.read_checkpoint(path, allow_unverified=True)
    assert header["unverified"] is True


def test_the_checkpoint_writer_replaces_only_checkpoints(good_checkpoint, tmp_path):
    header, arrays = ckpt.read_checkpoint(good_checkpoint)
    page = tmp_path / "page.html"
    page.write_text("<html>mine</html>")
    with pytest.raises(RuntimeError, match="holds an HTML page"):
        ckpt.write_checkpoint(page, header, arrays)
    assert page.read_text() == "<html>mine</html>" and [p.name for p in tmp_path.iterdir()] == ["page.html"]
    copy = tmp_path / "copy.npz"
    ckpt.write_checkpoint(copy, header, arrays)
    ckpt.write_checkpoint(copy, header, arrays)  # a checkpoint may replace a checkpoint
    assert ckpt.read_checkpoint(copy)[0]["iter"] == header["iter"]


def test_a_config_from_the_python_api_is_checked_too(tmp_path):
    with pytest.raises(ValueError, match="grad_clip must be >= 0"):
        build_config("tiny", {"grad_clip": -1.0})
    with pytest.raises(RunFolderError, match="pass one"):
        train(build_config("tiny", {"out_dir": str(tmp_path)}), resume=True, replace_run=True)
