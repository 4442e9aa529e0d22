"""Watching runs and the engine in Jupyter: loss curves (loss.png, `gpt plot`), TensorBoard event files (the
SummaryWriter, `gpt train --tensorboard`) read back with TensorBoard's own reader, a Tensor's repr against
PyTorch's, and the inline displays (graph drawings, the explorer, tqdm's notebook bar)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import tinygrad_edu as tg
from gpt import explore, loss_curves
from gpt.cli import main
from gpt.config import build_config
from gpt.data import CharTokenizer
from gpt.model import GPT, GPTConfig
from gpt.train import _progress_bar, train
from tinygrad_edu.utils.tensorboard import SummaryWriter


def events(folder):
    """TensorBoard's own reader over every event file in ``folder``."""
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    reader = accumulator.EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0, "histograms": 0})
    reader.Reload()
    return reader


def without_tensorboard(monkeypatch):
    """As if the tensorboard package were not installed (its modules already imported hidden too)."""
    for name in [n for n in sys.modules if n == "tensorboard" or n.startswith("tensorboard.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "tensorboard", None)


def scalars(reader, tag):
    return [(e.step, e.value) for e in reader.Scalars(tag)]


@pytest.fixture
def data_dir(prepared_shakespeare):
    return prepared_shakespeare[0]


def tiny_run(data_dir, out_dir, **overrides):
    values = dict(data_dir=str(data_dir), out_dir=str(out_dir), progress=False, sample_chars=0, eval_iters=2)
    return build_config("tiny", {**values, **overrides})


# --- SummaryWriter --------------------------------------------------------------------------------------------


def write_the_same(writer_class, module, log_dir):
    """The same calls, made through PyTorch's writer or ours (``module``: torch or tinygrad_edu)."""
    module.manual_seed(0)
    weights = module.randn(200) * 0.5
    with writer_class(log_dir) as writer:
        for step in range(3):
            writer.add_scalar("loss/train", module.tensor(2.0 / (step + 1)), step)
            writer.add_scalar("lr", 1e-3 * step, step)
        writer.add_histogram("weights", weights, 0)
        writer.add_histogram("weights_10", weights, 0, bins=10)
        writer.add_text("notes", "a *Markdown* note", 0)
        writer.add_scalars("split", {"train": 1.5, "val": 1.75}, 2)


def test_summary_writer_writes_what_pytorchs_writes(tmp_path, torch):
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    write_the_same(SummaryWriter, tg, tmp_path / "ours")
    write_the_same(TorchWriter, torch, tmp_path / "theirs")
    ours, theirs = events(tmp_path / "ours"), events(tmp_path / "theirs")
    assert ours.Tags()["scalars"] == theirs.Tags()["scalars"] == ["loss/train", "lr"]
    assert ours.Tags()["tensors"] == theirs.Tags()["tensors"] == ["notes/text_summary"]
    for tag in ("loss/train", "lr"):
        assert scalars(ours, tag) == scalars(theirs, tag)
    for tag in ("weights", "weights_10"):
        a, b = ours.Histograms(tag)[0].histogram_value, theirs.Histograms(tag)[0].histogram_value
        assert (a.min, a.max, a.num) == (b.min, b.max, b.num)
        assert a.sum == pytest.approx(b.sum, abs=1e-4) and a.sum_squares == pytest.approx(b.sum_squares, rel=1e-5)
        assert sum(a.bucket) == sum(b.bucket) == 200
        if tag == "weights_10":  # numpy's edges on both sides: the same buckets
            assert list(a.bucket) == list(b.bucket)
            np.testing.assert_allclose(a.bucket_limit, b.bucket_limit, rtol=1e-6)
    text = ours.Tensors("notes/text_summary")[0].tensor_proto
    assert text.string_val == theirs.Tensors("notes/text_summary")[0].tensor_proto.string_val
    assert sorted(p.name for p in (tmp_path / "ours").iterdir() if p.is_dir()) == ["split_train", "split_val"]
    for curve, value in (("split_train", 1.5), ("split_val", 1.75)):
        assert scalars(events(tmp_path / "ours" / curve), "split") == [(2, value)]
        assert scalars(events(tmp_path / "theirs" / curve), "split") == [(2, value)]


def test_add_graph_records_the_autograd_graph(tmp_path):
    model = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.Tanh(), tg.nn.Linear(4, 1))
    with SummaryWriter(tmp_path) as writer:
        writer.add_graph(model, tg.randn(2, 3))
    graph = events(tmp_path).Graph()
    nodes = {node.name: (node.op, list(node.input)) for node in graph.node}
    assert nodes["0/weight"][0] == "Parameter" and nodes["input_0"][0] == "Input"
    ops = [name for name, (op, _) in nodes.items() if op not in ("Parameter", "Input")]
    assert [nodes[name][0] for name in ops] == ["Linear", "Tanh", "Linear"]
    assert nodes[ops[0]][1] == ["input_0", "0/weight", "0/bias"] and nodes[ops[1]][1] == [ops[0]]


def test_default_log_dir_and_purge_step(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with SummaryWriter(comment="-lr3") as writer:
        writer.add_scalar("x", 1.0, 5)
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.endswith("-lr3") and writer.get_logdir() == str(run.relative_to(tmp_path))
    with SummaryWriter(tmp_path / "purged") as writer:
        for step in range(6):
            writer.add_scalar("x", float(step), step)
    with SummaryWriter(tmp_path / "purged", purge_step=3) as writer:  # a restart from step 3
        writer.add_scalar("x", 30.0, 3)
    assert scalars(events(tmp_path / "purged"), "x") == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 30.0)]


def test_summary_writer_errors_are_clear(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        SummaryWriter(tmp_path / "file")
    with SummaryWriter(tmp_path / "w") as writer:
        with pytest.raises(ValueError, match="expected one number, got 3 values"):
            writer.add_scalar("x", tg.ones(3))
        with pytest.raises(ValueError, match="values is empty"):
            writer.add_histogram("h", tg.zeros(0))
        with pytest.raises(ValueError, match="NaN or inf"):
            writer.add_histogram("h", tg.tensor([1.0, float("nan")]))
        with pytest.raises(TypeError, match="must be a str"):
            writer.add_text("t", 3)
    with pytest.raises(RuntimeError, match="is closed"):
        writer.add_scalar("x", 1.0)
    without_tensorboard(monkeypatch)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[tensorboard\]"'):
        SummaryWriter(tmp_path / "w2")


# --- gpt train: loss.png and --tensorboard ---------------------------------------------------------------------


def test_train_draws_loss_png_and_writes_tensorboard_events_and_a_resume_purges(data_dir, tmp_path):
    run = tiny_run(data_dir, tmp_path, max_iters=20, eval_interval=10, log_interval=5, tensorboard=True)
    train(run, log=lambda *_: None)
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert loss_curves.MARK.encode() in (tmp_path / "loss.png").read_bytes()
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    reader = events(tmp_path / "tensorboard")
    assert set(reader.Tags()["scalars"]) == {
        "loss/train", "loss/val", "train/loss", "train/learning_rate", "train/grad_norm", "train/tokens_per_s",
    }  # fmt: skip
    assert [(s, round(v, 4)) for s, v in scalars(reader, "loss/val")] == [
        (r["iter"], round(r["val_loss"], 4)) for r in log
    ]
    assert [s for s, _ in scalars(reader, "train/loss")] == [0, 5, 10, 15]
    assert all(v > 0 for _, v in scalars(reader, "train/grad_norm"))
    lr = dict(scalars(reader, "train/learning_rate"))
    assert lr[10] == pytest.approx(next(r["lr"] for r in log if r["iter"] == 10), rel=1e-6)

    resumed = tiny_run(data_dir, tmp_path, max_iters=30, eval_interval=10, log_interval=5, tensorboard=True)
    train(resumed, resume=True, log=lambda *_: None)
    reader = events(tmp_path / "tensorboard")
    assert [s for s, _ in scalars(reader, "loss/val")] == [0, 10, 20, 30]  # once each: the purge at 20 held
    assert [s for s, _ in scalars(reader, "train/loss")] == [0, 5, 10, 15, 20, 25]


def test_train_refuses_a_loss_png_it_did_not_draw_before_training(data_dir, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    mine = tmp_path / "run" / "loss.png"
    mine.write_bytes(b"\x89PNG\r\n\x1a\n my own picture")
    code = main(["train", "--preset", "tiny", "--out-dir", str(tmp_path / "run"), "--data-dir", str(data_dir),
                 "--progress", "false", "--sample-chars", "0", "--max-iters", "2"])  # fmt: skip
    assert code == 1
    assert "a PNG image that gpt did not draw" in capsys.readouterr().err
    assert mine.read_bytes() == b"\x89PNG\r\n\x1a\n my own picture"
    assert not (tmp_path / "run" / "ckpt.npz").exists()


def test_without_matplotlib_train_says_so_once_and_goes_on(data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(loss_curves, "matplotlib_available", lambda: False)
    lines = []
    train(tiny_run(data_dir, tmp_path, max_iters=4, eval_interval=2), log=lines.append)
    assert sum("matplotlib is not installed" in line for line in lines) == 1
    assert (tmp_path / "ckpt.npz").exists() and not (tmp_path / "loss.png").exists()


def test_tensorboard_flag_without_the_package_is_one_line_before_training(data_dir, tmp_path, monkeypatch, capsys):
    without_tensorboard(monkeypatch)
    code = main(["train", "--preset", "tiny", "--out-dir", str(tmp_path), "--data-dir", str(data_dir),
                 "--progress", "false", "--tensorboard", "true"])  # fmt: skip
    assert code == 1
    assert 'pip install -e ".[tensorboard]"' in capsys.readouterr().err
    assert not (tmp_path / "ckpt.npz").exists()


def test_gpt_plot_overlays_runs_and_refuses_other_files(data_dir, tmp_path, capsys):
    for name, lr in (("a", "1e-3"), ("b", "3e-3")):
        assert main(["train", "--preset", "tiny", "--out-dir", str(tmp_path / name), "--data-dir", str(data_dir),
                     "--progress", "false", "--sample-chars", "0", "--max-iters", "4", "--eval-interval", "2",
                     "--eval-iters", "1", "--learning-rate", lr]) == 0  # fmt: skip
    out = tmp_path / "both.png"
    assert main(["plot", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
    assert loss_curves.MARK.encode() in out.read_bytes()
    assert main(["plot", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0  # ours: replaced
    (tmp_path / "notes.png").write_text("my notes")
    capsys.readouterr()
    assert main(["plot", str(tmp_path / "a"), "--out", str(tmp_path / "notes.png")]) == 1
    assert "refusing to write the loss curves" in capsys.readouterr().err
    assert (tmp_path / "notes.png").read_text() == "my notes"
    assert main(["plot", str(tmp_path / "nowhere")]) == 1
    assert "name a run folder that `gpt train` wrote" in capsys.readouterr().err


# --- at home in Jupyter ---------------------------------------------------------------------------------------

REPR_CASES = [
    lambda m: m.tensor([1.0, 2.5, 3.0]),
    lambda m: m.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True),
    lambda m: m.tensor([1, 2, 300]),
    lambda m: m.tensor(3.5),
    lambda m: m.tensor([True, False]),
    lambda m: m.tensor([1.0, 2.0], dtype=m.float64),
    lambda m: m.tensor([1e-5, 1.0]),
    lambda m: m.tensor([123456.0, 1.0]),
    lambda m: m.tensor([1e10, -1.0]),
    lambda m: m.tensor([float("nan"), float("inf"), 1.0]),
    lambda m: m.tensor([float("nan"), -float("inf"), 1.5]),
    lambda m: m.tensor([-1.5, 2.0, 0.0]),
    lambda m: m.zeros(0),
    lambda m: m.zeros(2, 0),
    lambda m: m.arange(2000.0),
    lambda m: m.arange(3000).reshape(30, 100),
    lambda m: m.linspace(-3, 3, 100),
    lambda m: m.ones(2, 3, 4),
    lambda m: m.tensor(np.random.default_rng(0).standard_normal((5, 6, 7, 8)).astype(np.float32)),
    lambda m: m.tensor(np.random.default_rng(1).standard_normal((40, 50)).astype(np.float32)),
    lambda m: m.tensor([1.5, 2.0], dtype=m.float16),
]


@pytest.mark.parametrize("case", range(len(REPR_CASES)))
def test_tensor_repr_reads_as_pytorchs(case, torch):
    theirs = repr(REPR_CASES[case](torch)).replace("torch.", "tinygrad_edu.")
    assert repr(REPR_CASES[case](tg)) == theirs


def test_repr_of_a_result_names_its_backward_as_pytorch_does(torch):
    ours = tg.tensor([1.0, 2.0], requires_grad=True) * 2
    theirs = torch.tensor([1.0, 2.0], requires_grad=True) * 2
    assert repr(ours) == repr(theirs) == "tensor([2., 4.], grad_fn=<MulBackward0>)"


def test_graph_drawings_render_inline():
    pytest.importorskip("graphviz")
    from tinygrad_edu.viz import dot_available, draw_graph

    if not dot_available():
        pytest.skip("graphviz's dot program is not installed (apt-get install graphviz)")
    x = tg.ones(3, requires_grad=True)
    bundle = draw_graph((x * 2).tanh().sum())._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml") and "Tanh" in bundle["image/svg+xml"]


def test_explorer_shows_inline_as_an_iframe_of_the_whole_page():
    text = "hello world\nhow are you"
    tg.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(set(text)), block_size=16, n_layer=1, n_head=2, n_embd=8))
    page = explore.show(model, CharTokenizer.from_text(text), "hello", steps=1, height=500)
    html = page._repr_html_()
    assert html.startswith("<iframe srcdoc=") and "height: 500px" in html
    assert "&lt;html" in html.lower() and "<script" not in html  # the page is inside the attribute, escaped
    with pytest.raises(ValueError, match="--prompt is empty"):
        explore.show(model, CharTokenizer.from_text(text), "")


def test_the_progress_bar_is_tqdms_automatic_choice():
    from tqdm.auto import tqdm

    bar = _progress_bar(build_config("tiny").train, 0)
    try:
        assert isinstance(bar, tqdm)  # the notebook widget in Jupyter, the text bar in a terminal
    finally:
        bar.close()
