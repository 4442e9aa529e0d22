"""Data-parallel training over MPI (gpt/distributed.py): 2 ranks train as 1 process with twice the batch.

The end-to-end tests launch real ranks with ``mpiexec -n 2`` (Open MPI's wheel, from the test extra) and
skip, saying why, where mpi4py or mpiexec is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpt import distributed
from gpt.checkpoint import read_checkpoint
from gpt.train import Batches

TINY = ["--preset", "tiny", "--progress", "false", "--sample_chars", "0", "--eval_interval", "5"]
SCRIPT = Path(__file__).with_name("distributed_fault.py")


def mpiexec() -> str:
    found = distributed.find_mpiexec()
    if found is None:
        pytest.skip("mpiexec not found: pip install -e '.[dist]' installs Open MPI's wheel")
    pytest.importorskip("mpi4py", reason="mpi4py is not installed: pip install -e '.[dist]'")
    return found


def launch(arguments: list[str], data_dir: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    # CI runs as root, which Open MPI refuses unless told (docs/distributed.md: running as root)
    env = distributed.launcher_environment({**os.environ, "GPT_DATA_DIR": str(data_dir)})
    return subprocess.run(arguments, capture_output=True, text=True, env=env, timeout=timeout)


def gpt_train(*flags: str) -> list[str]:
    return [sys.executable, "-m", "gpt", "train", *TINY, *flags]


def on_ranks(run: str, n: int, *flags: str) -> list[str]:
    return [run, "-n", str(n), *gpt_train(*flags)]


def log_rows(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]


def assert_same_run(a: Path, b: Path) -> None:
    """The same evaluated losses at every evaluation, and the same weights at the end (to float32 sums)."""
    rows_a, rows_b = log_rows(a), log_rows(b)
    assert [r["iter"] for r in rows_a] == [r["iter"] for r in rows_b]
    for ra, rb in zip(rows_a, rows_b):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], abs=2e-6), ra["iter"]
        assert ra["val_loss"] == pytest.approx(rb["val_loss"], abs=2e-6), ra["iter"]
    _, weights_a = read_checkpoint(a / "ckpt.npz")
    _, weights_b = read_checkpoint(b / "ckpt.npz")
    assert weights_a.keys() == weights_b.keys()
    for name in weights_a:
        np.testing.assert_allclose(weights_a[name], weights_b[name], rtol=1e-4, atol=1e-6, err_msg=name)


def test_two_ranks_train_as_one_process_with_twice_the_batch(prepared_shakespeare, tmp_path):
    data_dir, _ = prepared_shakespeare
    run = mpiexec()
    one = launch(gpt_train("--batch_size", "8", "--max_iters", "15", "--out_dir", str(tmp_path / "one")), data_dir)
    assert one.returncode == 0, one.stderr
    two = launch(
        on_ranks(run, 2, "--batch_size", "4", "--max_iters", "15", "--out_dir", str(tmp_path / "two")), data_dir
    )
    assert two.returncode == 0, two.stderr
    assert "data parallel: 2 ranks x batch_size 4 = global batch 8" in two.stdout
    assert two.stdout.count("step 15:") == 1  # rank 0 alone prints
    assert_same_run(tmp_path / "one", tmp_path / "two")
    header, _ = read_checkpoint(tmp_path / "two" / "ckpt.npz")
    assert header["world_size"] == 2 and len(header["rng"]["engine_by_rank"]) == 2


def test_two_ranks_resume_exactly_with_dropout(prepared_shakespeare, tmp_path):
    """Each rank's dropout stream is its own and is saved: 10 steps, then --resume to 20 == 20 at once."""
    data_dir, _ = prepared_shakespeare
    run = mpiexec()
    common = ["--batch_size", "2", "--dropout", "0.1"]
    straight = launch(on_ranks(run, 2, *common, "--max_iters", "20", "--out_dir", str(tmp_path / "a")), data_dir)
    assert straight.returncode == 0, straight.stderr
    halfway = ["--max_iters", "10", "--lr_decay_iters", "20", "--out_dir", str(tmp_path / "b")]
    first = launch(on_ranks(run, 2, *common, *halfway), data_dir)
    assert first.returncode == 0, first.stderr
    resumed = launch(
        on_ranks(run, 2, *common, "--max_iters", "20", "--out_dir", str(tmp_path / "b"), "--resume"), data_dir
    )
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(tmp_path / "a", tmp_path / "b")

    # the same checkpoint with another number of processes: refused, saying why and what to run
    other = launch(gpt_train(*common, "--max_iters", "30", "--out_dir", str(tmp_path / "b"), "--resume"), data_dir)
    assert other.returncode == 1
    assert "written by a run of 2 process(es)" in other.stderr and "mpiexec -n 2" in other.stderr


def test_ranks_that_disagree_stop_at_once_naming_the_difference(prepared_shakespeare, tmp_path):
    data_dir, _ = prepared_shakespeare
    run = mpiexec()
    out = ["--max_iters", "5", "--out_dir", str(tmp_path / "run")]
    mpmd = [*on_ranks(run, 1, *out, "--seed", "1"), ":", *on_ranks(run, 1, *out, "--seed", "2")[1:]]
    result = launch(mpmd, data_dir)
    assert result.returncode != 0
    assert "ranks disagree on the training config's seed (rank 0: 1, rank 1: 2)" in result.stderr
    assert not (tmp_path / "run" / "ckpt.npz").exists()


def test_an_error_in_one_rank_stops_every_rank_with_its_message(tmp_path):
    """Rank 1 fails while rank 0 waits in a collective call: MPI_Abort ends both, no hang."""
    run = mpiexec()
    result = launch([run, "-n", "2", sys.executable, str(SCRIPT)], tmp_path, timeout=60)
    assert result.returncode != 0
    assert "gpt test: error on rank 1 of 2: the disk of rank 1 is full" in result.stderr
    assert "rank 0 finished" not in result.stdout


# ---- without MPI: the pieces ----


def test_each_rank_takes_its_slice_of_the_batch_one_process_would_draw():
    data = np.arange(1000, dtype=np.uint16)
    whole = Batches(data, 8, 6, "cpu")
    parts = [Batches(data, 8, 3, "cpu", rank=r, world_size=2) for r in range(2)]
    x_whole, y_whole = whole.sample(np.random.default_rng(5))
    for r, part in enumerate(parts):
        x, y = part.sample(np.random.default_rng(5))
        np.testing.assert_array_equal(x.numpy(), x_whole.numpy()[3 * r : 3 * r + 3])
        np.testing.assert_array_equal(y.numpy(), y_whole.numpy()[3 * r : 3 * r + 3])


def test_a_single_process_is_a_world_of_one(monkeypatch):
    for name in distributed.LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not distributed.launched_by_mpi()
    world = distributed.World()
    assert (world.rank, world.size, world.is_main) == (0, 1, True)
    assert world.mean(2.5) == 2.5 and world.gather("x") == ["x"] and world.broadcast(3) == 3
    distributed.agree(world, {"anything": 1})  # nothing to compare with
    assert distributed.limit_blas_threads(world) is None
    assert distributed.blas_threads(world) >= 1


def test_the_gradient_average_leaves_one_process_untouched():
    import tinygrad_edu as torch

    w = torch.nn.Parameter(torch.ones(3))
    (w * 2).sum().backward()
    distributed.GradientAverager([w], distributed.SINGLE)()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0, 2.0])


def test_a_launched_process_without_mpi4py_is_told_what_to_install(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import fails as if it were not installed
    distributed.world.cache_clear()
    try:
        with pytest.raises(distributed.DistributedError, match=r"mpi4py is not installed: pip install -e '\.\[dist\]'"):
            distributed.world()
    finally:
        distributed.world.cache_clear()


def test_digests_see_a_changed_byte():
    a = np.arange(100, dtype=np.uint16)
    b = a.copy()
    b[50] += 1
    assert distributed.data_digest(a) != distributed.data_digest(b)
    assert distributed.data_digest(a) == distributed.data_digest(a.copy())
    assert len(distributed.code_digest()) == 16


def test_distributed_benchmark_times_both_world_sizes_and_writes_the_paper_model(tmp_path):
    """``python -m benchmarks distributed --quick``: 1 and 2 ranks, each step's phases, an allreduce sweep, and
    the paper model whose allreduce is the ring's 2(N−1)/N × bytes / bandwidth."""
    from benchmarks.__main__ import main
    from benchmarks.distributed import LINKS

    mpiexec()  # skips, saying why, without Open MPI
    assert main(["distributed", "--quick", "--threads", "1", "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "distributed.json").read_text())
    assert payload["settings"]["steps"] == 3 and payload["settings"]["rounds"] == 1  # what ran, not None
    rows = {row["name"]: row for row in payload["steps"]}
    assert all(row["steps"] == 3 for row in rows.values())
    assert {"ours 1×2", "ours 1×4", "ours 2×2"} <= set(rows)
    two = rows["ours 2×2"]
    assert two["ranks"] == 2 and two["global_batch"] == 4 and two["allreduce_ms"] > 0
    assert rows["ours 1×2"]["allreduce_ms"] < two["allreduce_ms"]  # one process averages nothing
    assert two["throughput_vs_1_process_same_global_batch"] > 0
    assert [r["bytes"] for r in payload["allreduce"]] == [4096, 16384, 65536]
    assert all(r["mpi"] > 0 for r in payload["allreduce"])
    for row in payload["paper"]:
        link = LINKS[row["where"]]
        n = link["gpus"]
        expected = link["latency"] + 2 * (n - 1) / n * row["grad_MB"] * 1e6 / link["busbw"]
        assert row["allreduce_ms"] == pytest.approx(1e3 * expected)
        assert 0 < row["efficiency"] < 1
    assert row["grad_MB"] == pytest.approx(4 * 10_770_816 / 1e6)  # the lecture preset: 10.77M parameters
    md = (tmp_path / "distributed.md").read_text()
    assert "On paper" in md and "ours 2×2" in md


def test_nccl_allreduce_sums_on_the_gpu():
    """The NCCL path of ``GradientAverager`` on one GPU (a world of one rank): the unique id, the communicator
    and the in-place allReduce on CuPy's stream. Runs in ``python -m benchmarks gpu-check``; skips without a
    GPU. Two ranks need two GPUs (NCCL refuses two ranks on one device), so the sum over ranks itself stays
    unverified until a multi-GPU machine runs ``mpiexec -n 2 gpt train --device cuda``."""
    cupy = pytest.importorskip("cupy", reason="needs CuPy and a GPU")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("needs a GPU")
        from cupy.cuda import nccl  # noqa: F401
    except Exception as error:  # no driver, no device, or CuPy built without NCCL
        pytest.skip(f"needs a GPU with NCCL (cupy.cuda.nccl): {error}")

    class OneRank:
        rank, size, is_main = 0, 1, True

        def broadcast(self, obj, root=0):
            return obj

    averager = distributed.GradientAverager([], OneRank())
    flat = cupy.arange(1000, dtype=cupy.float32)
    averager._nccl_sum_(flat, cupy)
    cupy.cuda.get_current_stream().synchronize()
    np.testing.assert_array_equal(cupy.asnumpy(flat), np.arange(1000, dtype=np.float32))
