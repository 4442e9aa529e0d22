"""``save`` and ``load`` in PyTorch's file format: files go both ways, PyTorch's own loader reads ours with
``weights_only=True``, ours reads PyTorch's without PyTorch, and a hostile file never runs code."""

from __future__ import annotations

import ast
import collections
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import nn, serialization

ROOT = Path(__file__).resolve().parent.parent
TORCH_DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


def torch_of(torch, t):
    """Our tensor's values as a PyTorch tensor (through NumPy), for comparisons."""
    return torch.from_numpy(np.array(t.numpy()))


def assert_same_tensor(torch, ours, theirs):
    assert str(theirs.dtype) == f"torch.{ours.dtype.name}"
    assert tuple(theirs.shape) == tuple(ours.shape)
    assert torch.equal(theirs, torch_of(torch, ours))


def strides(t) -> tuple:
    return tuple(s // t._data.itemsize for s in t._data.strides)


# ----------------------------------------------------------------------------------------------------------
# ours -> PyTorch


def test_state_dict_and_optimizer_state_open_in_pytorch(torch, tmp_path):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Embedding(5, 4), nn.LayerNorm(4), nn.Linear(4, 3))
    optimizer = tg.optim.AdamW(model.parameters(), lr=1e-3)
    model(tg.tensor([[1, 2, 3]])).sum().backward()
    optimizer.step()
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "model_args": {"n_layer": 1, "bias": True, "dropout": 0.0, "name": "tiny", "nothing": None},
        "iter_num": 7,
        "best_val_loss": tg.tensor(1.5),
        "list": [1, 2.5, "x", (3, 4), b"\x00\xff", {5, 6}],
    }
    tg.save(checkpoint, tmp_path / "ckpt.pt")
    loaded = torch.load(tmp_path / "ckpt.pt", weights_only=True)

    assert isinstance(loaded["model"], collections.OrderedDict)
    assert list(loaded["model"]) == list(checkpoint["model"])
    for name, ours in checkpoint["model"].items():
        assert_same_tensor(torch, ours, loaded["model"][name])
    for index, entry in checkpoint["optimizer"]["state"].items():
        for key, value in entry.items():
            if isinstance(value, tg.Tensor):
                assert_same_tensor(torch, value, loaded["optimizer"]["state"][index][key])
            else:
                assert loaded["optimizer"]["state"][index][key] == value
    assert loaded["optimizer"]["param_groups"] == checkpoint["optimizer"]["param_groups"]
    assert loaded["model_args"] == checkpoint["model_args"]
    assert loaded["iter_num"] == 7 and loaded["list"] == checkpoint["list"]
    assert loaded["best_val_loss"].item() == 1.5 and loaded["best_val_loss"].shape == ()
    # PyTorch's own model loads the state_dict saved here
    twin = torch.nn.Sequential(torch.nn.Embedding(5, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 3))
    twin.load_state_dict(loaded["model"])
    expected = model(tg.tensor([[1, 2, 3]])).detach()
    assert torch.allclose(twin(torch.tensor([[1, 2, 3]])).detach(), torch_of(torch, expected), atol=1e-6)


@pytest.mark.parametrize("dtype", TORCH_DTYPES)
def test_every_dtype_opens_in_pytorch_and_comes_back(torch, dtype):
    values = tg.tensor(np.arange(-3, 9).reshape(3, 4) % (2 if dtype == "bool" else 100)).to(getattr(tg, dtype))
    buffer = io.BytesIO()
    tg.save({"x": values}, buffer)
    theirs = torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)["x"]
    assert_same_tensor(torch, values, theirs)
    back = tg.load(io.BytesIO(buffer.getvalue()))["x"]
    assert back.dtype == values.dtype and np.array_equal(back.numpy(), values.numpy())


def test_views_keep_strides_offsets_and_shared_storage(torch, tmp_path):
    base = tg.arange(24.0).reshape(4, 6)
    views = {"base": base, "t": base.t(), "row": base[2], "block": base[1:3, 2:5], "scalar": base[3, 5]}
    tied = nn.Linear(6, 4, bias=False)
    views["tied_a"] = views["tied_b"] = tied.weight.detach()
    tg.save(views, tmp_path / "views.pt")
    theirs = torch.load(tmp_path / "views.pt", weights_only=True)
    for name, ours in views.items():
        assert_same_tensor(torch, ours, theirs[name])
        assert theirs[name].stride() == strides(ours), name
    assert theirs["row"].storage_offset() == 12 and theirs["block"].storage_offset() == 8
    pointer = theirs["base"].untyped_storage().data_ptr()
    assert all(theirs[k].untyped_storage().data_ptr() == pointer for k in ("t", "row", "block", "scalar"))
    assert theirs["tied_a"] is theirs["tied_b"]
    # here too: one storage, so a write through one view shows in the others
    back = tg.load(tmp_path / "views.pt")
    assert strides(back["t"]) == (1, 6) and strides(back["block"]) == (6, 1)
    back["base"][2, 3] = -1.0
    assert back["t"][3, 2].item() == -1.0 and back["row"][3].item() == -1.0 and back["block"][1, 1].item() == -1.0


def test_a_parameter_and_sizes_devices_dtypes(torch, tmp_path):
    obj = {
        "p": nn.Parameter(tg.ones(2, 3)),
        "size": tg.zeros(2, 3).shape,
        "device": tg.device("cpu"),
        "dtype": tg.int16,
    }
    tg.save(obj, tmp_path / "misc.pt")
    theirs = torch.load(tmp_path / "misc.pt", weights_only=True)
    assert isinstance(theirs["p"], torch.nn.Parameter) and theirs["p"].requires_grad
    assert theirs["size"] == torch.Size([2, 3]) and isinstance(theirs["size"], torch.Size)
    assert theirs["device"] == torch.device("cpu") and theirs["dtype"] is torch.int16
    back = tg.load(tmp_path / "misc.pt")
    assert isinstance(back["p"], nn.Parameter) and back["p"].requires_grad
    assert back["size"] == (2, 3) and isinstance(back["size"], tg.Size)
    assert back["device"] == tg.device("cpu") and back["dtype"] is tg.int16


def test_the_archive_is_laid_out_as_pytorchs(torch, tmp_path):
    tg.save({"w": tg.ones(2), "v": tg.zeros(3, dtype=tg.int64)}, tmp_path / "ours.pt")
    torch.save({"w": torch.ones(2), "v": torch.zeros(3, dtype=torch.int64)}, tmp_path / "theirs.pt")

    def entries(path):
        with zipfile.ZipFile(path) as archive:
            return {i.filename.partition("/")[2]: i for i in archive.infolist()}, archive.read(
                archive.namelist()[0].partition("/")[0] + "/version"
            )

    ours, our_version = entries(tmp_path / "ours.pt")
    theirs, their_version = entries(tmp_path / "theirs.pt")
    assert set(ours) == set(theirs)
    assert our_version.strip() == their_version.strip()
    raw = (tmp_path / "ours.pt").read_bytes()
    for name, info in ours.items():
        assert info.compress_type == zipfile.ZIP_STORED
        name_length, extra_length = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
        assert (info.header_offset + 30 + name_length + extra_length) % 64 == 0, name
    with zipfile.ZipFile(tmp_path / "ours.pt") as archive:
        assert archive.read("archive/byteorder") == b"little"
        assert archive.read("archive/data/0") == np.ones(2, np.float32).tobytes()


def test_save_refuses_what_no_safe_loader_could_read():
    for obj in ({"a": np.ones(2)}, [lambda: 0], {"f": frozenset()}, object()):
        with pytest.raises(TypeError, match="cannot save an object of type"):
            tg.save(obj, io.BytesIO())


# ----------------------------------------------------------------------------------------------------------
# PyTorch -> ours


def write_torch_files(torch, folder: Path) -> dict:
    """Files written by PyTorch, and what each should load as (lists, for JSON)."""
    expected = {}
    by_dtype = {}
    for name in TORCH_DTYPES:
        t = (torch.arange(-3, 9).reshape(3, 4) % (2 if name == "bool" else 100)).to(getattr(torch, name))
        by_dtype[name] = t
    torch.save(by_dtype, folder / "dtypes.pt")
    expected["dtypes.pt"] = {k: [str(v.dtype), v.tolist()] for k, v in by_dtype.items()}
    base = torch.arange(20.0, dtype=torch.float64).reshape(4, 5)
    views = {
        "base": base,
        "t": base.t(),
        "slice": base[1:, ::2],
        "row": base[3],
        "expanded": torch.ones(3).expand(2, 3),
    }
    torch.save(views, folder / "views.pt")
    expected["views.pt"] = {k: [str(v.dtype), v.tolist(), list(v.stride())] for k, v in views.items()}
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(2, 3)).sum().backward()
    optimizer.step()
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "model_args": {"n_layer": 2, "bias": False, "dropout": 0.1},
        "iter_num": 250,
        "best_val_loss": torch.tensor(1.25),
        "config": {"dataset": "shakespeare_char", "compile": True, "nested": [(1, 2), {"a": None}]},
    }
    torch.save(checkpoint, folder / "nanogpt.pt")
    expected["nanogpt.pt"] = {
        "model": {k: [str(v.dtype), v.tolist()] for k, v in checkpoint["model"].items()},
        "exp_avg": checkpoint["optimizer"]["state"][0]["exp_avg"].tolist(),
        "param_groups": [
            {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
            for g in checkpoint["optimizer"]["param_groups"]
        ],
    }
    torch.save(torch.ones(2, dtype=torch.bfloat16), folder / "bfloat16.pt")
    return expected


LOAD_WITHOUT_TORCH = r"""
import json, sys
sys.modules["torch"] = None  # any import of PyTorch now fails
import tinygrad_edu as tg
folder = sys.argv[1]
out = {}
d = tg.load(folder + "/dtypes.pt")
out["dtypes.pt"] = {k: ["torch." + v.dtype.name, v.tolist()] for k, v in d.items()}
v = tg.load(folder + "/views.pt")
out["views.pt"] = {k: ["torch." + t.dtype.name, t.tolist(), [s // t._data.itemsize for s in t._data.strides]]
                   for k, t in v.items()}
v["base"][0, 2] = -7.0
out["shared"] = [v["t"][2, 0].item(), v["slice"][0, 1].item() == v["base"][1, 2].item()]
c = tg.load(folder + "/nanogpt.pt", map_location="cpu")
out["nanogpt.pt"] = {
    "model": {k: ["torch." + t.dtype.name, t.tolist()] for k, t in c["model"].items()},
    "exp_avg": c["optimizer"]["state"][0]["exp_avg"].tolist(),
    "param_groups": [{k: (list(x) if isinstance(x, tuple) else x) for k, x in g.items()}
                     for g in c["optimizer"]["param_groups"]],
}
out["rest"] = [c["iter_num"], c["best_val_loss"].item(), c["config"], type(c["model"]).__name__]
try:
    tg.load(folder + "/bfloat16.pt")
except Exception as exc:
    out["bfloat16"] = [type(exc).__name__, str(exc)]
out["torch_imported"] = "torch" in sys.modules and sys.modules["torch"] is not None
print(json.dumps(out))
"""


def test_pytorch_files_load_without_pytorch(torch, tmp_path):
    expected = write_torch_files(torch, tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", LOAD_WITHOUT_TORCH, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["dtypes.pt"] == expected["dtypes.pt"]
    assert got["views.pt"] == expected["views.pt"]
    assert got["shared"] == [-7.0, True]  # the views share their storage, as in PyTorch
    assert got["nanogpt.pt"] == json.loads(json.dumps(expected["nanogpt.pt"]))
    config = {"dataset": "shakespeare_char", "compile": True, "nested": [[1, 2], {"a": None}]}
    assert got["rest"] == [250, 1.25, config, "OrderedDict"]
    assert got["bfloat16"][0] == "UnpicklingError" and "bfloat16" in got["bfloat16"][1]
    assert got["torch_imported"] is False


def test_a_pytorch_checkpoint_loads_into_our_modules(torch, tmp_path):
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.GELU(), torch.nn.Linear(4, 2))
    torch.save(theirs.state_dict(), tmp_path / "m.pt")
    ours = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2))
    ours.load_state_dict(tg.load(tmp_path / "m.pt"))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours(tg.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_the_engine_never_imports_pytorch():
    tree = ast.parse((ROOT / "tinygrad_edu" / "serialization.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(name.split(".")[0] == "torch" for name in imported)


# ----------------------------------------------------------------------------------------------------------
# restricted loading and bad files


def archive_with_pickle(data: bytes) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", data)
        archive.writestr("archive/version", "3\n")
    buffer.seek(0)
    return buffer


class RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_file_that_asks_for_any_other_global_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    hostile = pickle.dumps({"x": RunsACommand(marker)}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"the global (os|posix)\.system, which is not allowed"):
        tg.load(archive_with_pickle(hostile))
    for payload, name in (
        (pickle.dumps(eval, protocol=2), "builtins.eval"),
        (pickle.dumps(np.ones(2), protocol=2), "numpy"),
        (b"\x80\x02csubprocess\nPopen\nq\x00.", "subprocess.Popen"),
    ):
        with pytest.raises(pickle.UnpicklingError, match=name):
            tg.load(archive_with_pickle(payload))
        with pytest.raises(pickle.UnpicklingError, match=name):
            tg.load(archive_with_pickle(payload), weights_only=False)  # never runs code, even when asked to
    assert not marker.exists()


def test_build_may_only_set_an_ordereddicts_attributes(torch):
    # GLOBAL torch float32, then BUILD with {"name": "evil"}: would rename the engine's float32 dtype
    hostile = b"\x80\x02ctorch\nfloat32\nq\x00}q\x01X\x04\x00\x00\x00nameq\x02X\x04\x00\x00\x00evilq\x03sb."
    with pytest.raises(pickle.UnpicklingError, match="only an OrderedDict"):
        tg.load(archive_with_pickle(hostile))
    assert tg.float32.name == "float32"
    state = torch.nn.Linear(2, 2).state_dict()  # PyTorch keeps its _metadata as an attribute of the OrderedDict
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    assert tg.load(buffer)._metadata == state._metadata


def test_legacy_truncated_and_corrupt_files_get_clear_errors(torch, tmp_path):
    torch.save({"w": torch.ones(3)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(RuntimeError, match="legacy format"):
        tg.load(tmp_path / "legacy.pt")
    tg.save({"w": tg.ones(100)}, tmp_path / "good.pt")
    raw = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(RuntimeError, match="truncated or corrupt"):
        tg.load(tmp_path / "truncated.pt")
    flipped = bytearray(raw)
    offset = raw.index(np.ones(100, np.float32).tobytes())
    flipped[offset + 5] ^= 0xFF  # a changed byte in the tensor's data: the zip's CRC catches it
    (tmp_path / "flipped.pt").write_bytes(bytes(flipped))
    with pytest.raises(RuntimeError, match="truncated or corrupt"):
        tg.load(tmp_path / "flipped.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(RuntimeError, match="not a file written by torch.save"):
        tg.load(tmp_path / "text.pt")
    with pytest.raises(RuntimeError, match="corrupt"):  # a view that reaches past the end of its storage
        tg.load(archive_with_pickle(_pickle_of_view_past_end()))


def _pickle_of_view_past_end() -> bytes:
    """A data.pkl whose one tensor claims 10 elements of a 2-element storage (written by hand, with its data)."""
    buffer = io.BytesIO()
    tg.save(tg.ones(2), buffer)
    with zipfile.ZipFile(buffer) as archive:
        data = archive.read("archive/data.pkl")
    return data.replace(b"K\x02\x85", b"K\x0a\x85", 1)


def test_map_location(torch, tmp_path):
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buffer)
    # the same file as if saved on a GPU: only the location tag differs
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        records = {name: archive.read(name) for name in archive.namelist()}
    pickle_name = next(n for n in records if n.endswith("/data.pkl"))
    records[pickle_name] = records[pickle_name].replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
    with zipfile.ZipFile(tmp_path / "gpu.pt", "w") as archive:
        for name, data in records.items():
            archive.writestr(name, data)
    path = tmp_path / "gpu.pt"
    if not tg.backend.cuda_available():
        with pytest.raises(RuntimeError, match="map_location='cpu'"):
            tg.load(path)
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            tg.load(path, map_location=lambda storage, location: None)  # None: the default place
    seen = []

    def keep_on_cpu(storage, location):
        seen.append(location)
        return storage

    for where in ("cpu", tg.device("cpu"), {"cuda:0": "cpu"}, keep_on_cpu):
        w = tg.load(path, map_location=where)["w"]
        assert w.device == tg.device("cpu") and w.tolist() == [1.0, 1.0]
    assert seen == ["cuda:0"]
    with pytest.raises(TypeError, match="map_location"):
        tg.load(path, map_location=3)


def test_file_objects_and_paths(tmp_path):
    value = {"w": tg.arange(4.0)}
    tg.save(value, str(tmp_path / "a.pt"))
    with open(tmp_path / "b.pt", "wb") as f:
        tg.save(value, f)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()  # the same bytes, however written
    with open(tmp_path / "b.pt", "rb") as f:
        assert tg.load(f)["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert tg.load(Path(tmp_path / "a.pt"))["w"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_a_plain_pickle_loads_and_refuses_code():
    meta = {"vocab_size": 3, "itos": {0: "a", 1: "b", 2: "\n"}, "stoi": {"a": 0, "b": 1, "\n": 2}}
    assert serialization.load_plain_pickle(pickle.dumps(meta)) == meta
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        serialization.load_plain_pickle(pickle.dumps(RunsACommand("/nonexistent/x")), "meta.pkl")


# ----------------------------------------------------------------------------------------------------------
# gpt sample / gpt explore on a nanoGPT checkpoint


def nanogpt_in_pytorch(torch, n_layer=2, n_head=2, n_embd=16, block_size=16, vocab_size=5, bias=True):
    """nanoGPT's model.py, its module names and forward, in a few lines of PyTorch (weights tied as there)."""
    nn_ = torch.nn

    class Block(nn_.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn_.LayerNorm(n_embd, bias=bias), nn_.LayerNorm(n_embd, bias=bias)
            self.attn = nn_.Module()
            self.attn.c_attn = nn_.Linear(n_embd, 3 * n_embd, bias=bias)
            self.attn.c_proj = nn_.Linear(n_embd, n_embd, bias=bias)
            self.mlp = nn_.Module()
            self.mlp.c_fc = nn_.Linear(n_embd, 4 * n_embd, bias=bias)
            self.mlp.c_proj = nn_.Linear(4 * n_embd, n_embd, bias=bias)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.attn.c_attn(self.ln_1(x)).split(n_embd, dim=2)
            q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
            y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn.c_proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.mlp.c_proj(torch.nn.functional.gelu(self.mlp.c_fc(self.ln_2(x))))

    class GPT(nn_.Module):
        def __init__(self):
            super().__init__()
            self.transformer = nn_.ModuleDict(
                dict(
                    wte=nn_.Embedding(vocab_size, n_embd),
                    wpe=nn_.Embedding(block_size, n_embd),
                    h=nn_.ModuleList([Block() for _ in range(n_layer)]),
                    ln_f=nn_.LayerNorm(n_embd, bias=bias),
                )
            )
            self.lm_head = nn_.Linear(n_embd, vocab_size, bias=False)
            self.transformer.wte.weight = self.lm_head.weight

        def forward(self, idx):
            t = self.transformer
            x = t.wte(idx) + t.wpe(torch.arange(idx.shape[1]))
            for block in t.h:
                x = block(x)
            return self.lm_head(t.ln_f(x))

    args = dict(
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        block_size=block_size,
        bias=bias,
        vocab_size=vocab_size,
        dropout=0.0,
    )
    return GPT(), args


@pytest.mark.parametrize("compiled", [False, True], ids=["plain", "compiled"])
def test_gpt_sample_and_explore_read_a_nanogpt_checkpoint(torch, tmp_path, compiled, capsys):
    from gpt import cli
    from gpt.sample import load_model

    torch.manual_seed(0)
    model, args = nanogpt_in_pytorch(torch, bias=not compiled)
    for p in model.parameters():  # away from nanoGPT's init, so that every weight matters to the comparison
        torch.nn.init.normal_(p, std=0.3)
    state = model.state_dict()
    if compiled:  # torch.compile's wrapper prefixes every name, as nanoGPT's train.py saves it
        state = collections.OrderedDict((f"_orig_mod.{k}", v) for k, v in state.items())
    optimizer = torch.optim.AdamW(model.parameters())
    run = tmp_path / "out-shakespeare-char"
    run.mkdir()
    checkpoint = {
        "model": state,
        "optimizer": optimizer.state_dict(),
        "model_args": args,
        "iter_num": 5000,
        "best_val_loss": torch.tensor(1.47),
        "config": {"dataset": "shakespeare_char"},
    }
    torch.save(checkpoint, run / "ckpt.pt")
    chars = ["\n", " ", "a", "b", "c"]
    meta = {"vocab_size": 5, "itos": dict(enumerate(chars)), "stoi": {c: i for i, c in enumerate(chars)}}
    (tmp_path / "meta.pkl").write_bytes(pickle.dumps(meta))

    ours, tokenizer, header = load_model(run, meta=tmp_path / "meta.pkl")
    assert header["iter"] == 5000 and tokenizer.chars == chars
    assert ours.lm_head.weight is ours.wte.weight  # tied, as nanoGPT's
    idx = [[2, 3, 4, 1, 0, 2, 2, 3]]
    expected = model(torch.tensor(idx)).detach().numpy()
    logits, _ = ours(tg.tensor(idx))
    np.testing.assert_allclose(logits.detach().numpy(), expected, rtol=1e-4, atol=1e-4)

    assert (
        cli.main(
            [
                "sample",
                "--out-dir",
                str(run / "ckpt.pt"),
                "--meta",
                str(tmp_path / "meta.pkl"),
                "--prompt",
                "ab",
                "--max-new-tokens",
                "20",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert text.startswith("ab") and len(text.rstrip("\n")) >= 2 and set(text) <= set(chars)
    assert (
        cli.main(
            ["explore", "--out-dir", str(run), "--meta", str(tmp_path / "meta.pkl"), "--prompt", "ab", "--steps", "2"]
        )
        == 0
    )
    assert (run / "explore.html").stat().st_size > 0


def test_a_nanogpt_checkpoint_without_its_vocabulary_says_what_to_give(torch, tmp_path, capsys):
    from gpt import cli

    model, args = nanogpt_in_pytorch(torch)
    torch.save({"model": model.state_dict(), "model_args": args}, tmp_path / "ckpt.pt")
    assert cli.main(["sample", "--out-dir", str(tmp_path), "--max-new-tokens", "3"]) != 0
    assert "--meta" in capsys.readouterr().err
    (tmp_path / "meta.pkl").write_bytes(pickle.dumps(RunsACommand(tmp_path / "ran")))
    assert cli.main(["sample", "--out-dir", str(tmp_path), "--max-new-tokens", "3"]) != 0
    assert "not allowed" in capsys.readouterr().err and not (tmp_path / "ran").exists()


def test_damaged_files_raise_only_the_documented_errors():
    """A changed, cut or random byte anywhere loads or raises RuntimeError / UnpicklingError, never anything
    from deep inside zipfile or pickle (a seeded sample of damage; both the pickle and the whole file)."""
    import random

    buffer = io.BytesIO()
    state = {"m": nn.Linear(3, 2).state_dict(), "t": tg.arange(6.0).reshape(2, 3).t(), "l": [1, "a", b"b", (2.5,)]}
    tg.save(state, buffer)
    raw = buffer.getvalue()
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    rng = random.Random(0)
    for trial in range(400):
        damaged = dict(entries)
        pickled = bytearray(entries["archive/data.pkl"])
        for _ in range(rng.randint(1, 4)):
            pickled[rng.randrange(len(pickled))] = rng.randrange(256)
        damaged["archive/data.pkl"] = bytes(pickled[: rng.randrange(len(pickled) + 1)] if trial % 3 == 0 else pickled)
        file = io.BytesIO()
        with zipfile.ZipFile(file, "w") as archive:
            for name, data in damaged.items():
                archive.writestr(name, data)
        whole = bytearray(raw)
        whole[rng.randrange(len(whole))] ^= 1 + rng.randrange(255)
        for candidate in (file.getvalue(), bytes(whole)):
            try:
                tg.load(io.BytesIO(candidate))
            except (RuntimeError, pickle.UnpicklingError):
                pass


def test_an_untied_nanogpt_checkpoint_keeps_both_matrices(torch, tmp_path):
    from gpt.sample import load_model

    torch.manual_seed(1)
    model, args = nanogpt_in_pytorch(torch)
    model.lm_head.weight = torch.nn.Parameter(torch.randn(5, 16))  # an lm_head edited apart from wte
    torch.save({"model": model.state_dict(), "model_args": args}, tmp_path / "ckpt.pt")
    chars = ["\n", " ", "a", "b", "c"]
    (tmp_path / "meta.pkl").write_bytes(pickle.dumps({"itos": dict(enumerate(chars))}))
    ours, _, _ = load_model(tmp_path)  # finds ckpt.pt and the meta.pkl beside it
    assert ours.lm_head.weight is not ours.wte.weight
    logits, _ = ours(tg.tensor([[2, 3, 4]]))
    expected = model(torch.tensor([[2, 3, 4]])).detach().numpy()
    np.testing.assert_allclose(logits.detach().numpy(), expected, rtol=1e-4, atol=1e-4)


CUDA_ROUND_TRIP = r"""
import sys
import tinygrad_edu as tg
x = tg.arange(6.0).reshape(2, 3).to("cuda")
tg.save({"x": x, "xt": x.t(), "cpu": tg.ones(2)}, sys.argv[1])
on_gpu = tg.load(sys.argv[1])
on_cpu = tg.load(sys.argv[1], map_location="cpu")
moved = tg.load(sys.argv[1], map_location=lambda storage, location: storage.cuda())
print([str(on_gpu["x"].device), str(on_gpu["cpu"].device), str(on_cpu["xt"].device), str(moved["cpu"].device)])
print(on_gpu["xt"].tolist() == on_cpu["xt"].tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]])
"""


def test_cuda_tensors_through_the_cuda_stand_in(torch, tmp_path):
    """On the strict CuPy stand-in (TINYGRAD_EDU_CUDA=sim): tensors saved on CUDA are tagged cuda:0, come back
    there, or where map_location sends them; PyTorch reads the file with map_location='cpu'."""
    path = tmp_path / "gpu.pt"
    env = dict(os.environ, TINYGRAD_EDU_CUDA="sim")
    result = subprocess.run(
        [sys.executable, "-c", CUDA_ROUND_TRIP, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["['cuda:0', 'cpu', 'cpu', 'cuda']", "True"]
    theirs = torch.load(path, map_location="cpu", weights_only=True)
    assert theirs["xt"].tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]] and theirs["cpu"].tolist() == [1.0, 1.0]
