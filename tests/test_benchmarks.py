"""The benchmark tools (``python -m benchmarks``): every subcommand runs with ``--quick`` and writes its files, the
tables carry a ratio to PyTorch, the PyTorch-less path works, and the pieces (FLOP count, interleaving, the
profiler's monkeypatching) do what their docstrings say."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from benchmarks import common, models
from benchmarks.__main__ import main

NAMES = ("peak", "ops", "train", "scaling", "profile", "generate", "kernels")
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    """``python -m benchmarks all --quick --threads 1`` once for the module: every subcommand, in order.

    One thread each: on a shared CI machine, 2-thread pools waiting at barriers for descheduled threads make a tiny
    PyTorch step take 0.6 s instead of 3 ms; the thread setting is restored afterwards."""
    out = tmp_path_factory.mktemp("bench")
    before = common.blas_threads()[0]
    assert main(["all", "--quick", "--threads", "1", "--out", str(out)]) == 0
    assert common.blas_threads()[0] == before
    return out


def has_torch() -> bool:
    return common.import_torch() is not None


@pytest.mark.parametrize("name", NAMES)
def test_quick_run_writes_json_markdown_and_plot(quick_results, name):
    payload = json.loads((quick_results / f"{name}.json").read_text())
    assert payload["benchmark"] == name
    machine = payload["machine"]
    for key in ("cpu", "cores_usable", "numpy", "scipy", "python", "blas", "numpy_blas_threads", "date"):
        assert machine[key] not in (None, ""), key
    assert payload["command"] == f"python -m benchmarks all --quick --threads 1 --out {quick_results}"
    assert machine["numpy_blas_threads"] == 1 and machine["torch_threads"] in (1, None)
    md = (quick_results / f"{name}.md").read_text()
    assert "**Command:**" in md and "|---|" in md
    png = quick_results / f"{name}.png"
    if HAS_MATPLOTLIB:
        assert png.stat().st_size > 1000
    else:  # plots are optional (the plot extra): the benchmark says so and draws none
        assert not png.exists()


@pytest.mark.parametrize("name", NAMES)
def test_every_table_has_a_ratio_column_filled_when_torch_is_present(quick_results, name):
    if not has_torch():
        pytest.skip("PyTorch is not installed: no ratio to check")
    md = (quick_results / f"{name}.md").read_text()
    tables = [line for line in md.splitlines() if line.startswith("| ") and "ratio" in line]
    assert tables, f"{name}.md has no table with a ratio column"
    header = [c.strip() for c in tables[0].strip("|").split("|")]
    col = next(i for i, c in enumerate(header) if c.startswith("ratio"))
    lines = md.splitlines()
    start = lines.index(tables[0]) + 2
    rows = []
    for line in lines[start:]:  # the table's rows: up to the first line that is not one
        if not line.startswith("| "):
            break
        rows.append(line)
    cells = [[c.strip() for c in r.strip("|").split("|")][col] for r in rows]
    if name == "train":  # the NumPy-only tracemalloc row has no PyTorch counterpart
        rows_cells = [(r, c) for r, c in zip(rows, cells) if "NumPy arrays only" not in r]
        cells = [c for _, c in rows_cells]
    assert cells and all(c != "—" for c in cells), cells
    assert all(float(c.replace(",", "")) >= 0 for c in cells)  # a tiny model's RSS growth can round to 0


def test_train_result_has_time_memory_flops_and_loss_curves(quick_results):
    result = json.loads((quick_results / "train.json").read_text())["results"][0]
    ours = result["impls"]["ours"]
    assert ours["time"]["median_ms"] > 0 and ours["tokens_per_s"] > 0
    assert ours["memory_method"] == "rss" and ours["peak_bytes"] is not None
    assert "tracemalloc" in ours["memory"] and ours["memory"]["tracemalloc"] > 0
    assert 0 < ours["fraction_of_peak"] < 10
    assert len(ours["losses"]) == result["warmup_steps"] + result["timed_steps"]
    if has_torch():
        # same weights, same batches, no dropout: the loss curves agree to float32 rounding
        assert result["loss_max_abs_diff"] < 1e-3


def test_profile_accounts_for_the_whole_step(quick_results):
    result = json.loads((quick_results / "profile.json").read_text())["results"][0]
    assert sum(r["percent"] for r in result["rows"]) == pytest.approx(100.0)
    ops = {(r["phase"], r["op"]) for r in result["rows"]}
    assert ("forward", "Linear") in ops and ("backward", "Linear") in ops
    assert ("optimizer", "optimizer.step") in ops


def test_without_pytorch_everything_runs_minus_the_torch_columns(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    assert common.import_torch() is None
    for name in ("peak", "ops", "train", "profile"):
        assert main([name, "--quick", "--threads", "1", "--out", str(tmp_path)]) == 0
    assert main(["scaling", "--quick", "--no-memory", "--threads", "1", "--out", str(tmp_path)]) == 0
    train = json.loads((tmp_path / "train.json").read_text())
    assert train["machine"]["torch"] is None
    assert set(train["results"][0]["impls"]) == {"ours"}
    ops = json.loads((tmp_path / "ops.json").read_text())
    assert all("torch" not in row and row["ratio"] is None for row in ops["rows"])
    assert "| — |" in (tmp_path / "ops.md").read_text()


def test_step_flops_formula():
    setup = models.setup_for("baby")  # 4 layers, C=128, T=64, B=12, V=65
    f = models.step_flops(setup)
    tokens, C, L, V, T, B = 12 * 64, 128, 4, 65, 64, 12
    assert f["forward_dense"] == 2 * tokens * (L * 12 * C * C + V * C)
    assert f["forward_attention"] == L * 2 * 2 * B * 4 * T * T * (C // 4)
    assert f["step"] == 3 * (f["forward_dense"] + f["forward_attention"])


def test_interleaved_alternates_and_counts_samples():
    calls = []
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    timings = common.interleaved(fns, repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert all(len(t.samples) == 3 for t in timings.values())
    calls.clear()
    common.interleaved(fns, repeats=4, warmup=0, block=2, rewarm=True)
    assert calls == ["a"] * 3 + ["b"] * 3 + ["a"] * 3 + ["b"] * 3
    s = timings["a"].summary()
    assert s["min_ms"] <= s["q1_ms"] <= s["median_ms"] <= s["q3_ms"] <= s["max_ms"]


def test_profiler_restores_the_engine():
    from benchmarks.profile import OpProfiler
    from tinygrad_edu.autograd import graph
    from tinygrad_edu.autograd.function import Function
    from tinygrad_edu.ops.op import Op

    before = (dict(vars(Op)), dict(vars(Function)))
    with OpProfiler() as prof:
        import tinygrad_edu as tg

        x = tg.randn(4, 3, requires_grad=True)
        (x * 2).sum().backward()
    assert prof.forward and prof.backward
    assert graph.forward_observers == [] and graph.backward_observers == []  # it observed, and stopped
    assert (dict(vars(Op)), dict(vars(Function))) == before  # and patched nothing


def test_gpu_check_rehearses_on_the_cpu_and_writes_its_summary(tmp_path, prepared_shakespeare, monkeypatch):
    """The command a GPU machine runs, at tiny sizes on the stand-in device and the CUDA simulator."""
    monkeypatch.setenv("GPT_DATA_DIR", str(prepared_shakespeare[0]))
    status = main(["gpu-check", "--device", "cpu", "--quick", "--out", str(tmp_path)])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [s["step"] for s in summary["steps"]] == ["tests", "benchmarks", "compiled", "lecture"]
    assert status == 0, [(s["step"], s["status"], s["tail"][-3:]) for s in summary["steps"]]
    assert summary["machine"]["simulated"] is True
    md = (tmp_path / "summary.md").read_text()
    assert "No GPU: a rehearsal on the CPU" in md and "| tests | ok |" in md
    assert (tmp_path / "lecture" / "log.jsonl").is_file() and (tmp_path / "benchmarks" / "ops-cuda.md").is_file()
    assert (tmp_path / "benchmarks" / "compiled.md").is_file()


def test_recipe_times_gpt_train_beside_its_pytorch_peer(tmp_path, prepared_shakespeare, monkeypatch):
    """``recipe --quick``: the real ``gpt train`` and the PyTorch recipe, each whole in its own process; both learn
    (below the uniform guess's loss, ln 65) and the ratio is the wall times'."""
    monkeypatch.setenv("GPT_DATA_DIR", str(prepared_shakespeare[0]))
    assert main(["recipe", "--quick", "--threads", "1", "--out", str(tmp_path)]) == 0
    rows = {r["side"]: r for r in json.loads((tmp_path / "recipe.json").read_text())["rows"]}
    assert set(rows) == ({"ours", "torch"} if has_torch() else {"ours"})
    for row in rows.values():
        assert row["iterations"] == 20 and row["val_loss"][0] < 4.17 and row["wall_s"] > row["loop_s"] >= 0
    if has_torch():
        assert rows["ours"]["ratio_wall"] == pytest.approx(rows["ours"]["wall_s"] / rows["torch"]["wall_s"])
        assert "| ours | 20 |" in (tmp_path / "recipe.md").read_text()
