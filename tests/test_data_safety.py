"""No ordinary mistake loses a dataset, and no damaged dataset gets past the reader.

``gpt prepare`` never overwrites what it did not make: the same text again writes nothing, while another text,
other tokenizer settings, or a file of another kind where a dataset file belongs is refused before anything is
written. The readers name the file and what is wrong with it, with one error type (``DatasetError``), whatever
has been done to the files: each case here is set up on disk, run through the ``gpt`` command where a user
would meet it, and must leave every file byte for byte as it was. (Cases that need no set-up are in
tests/bad_inputs_cli_data.py; tests/test_fuzz_readers.py throws random bytes at the readers.)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import urllib.request
from pathlib import Path

import pytest

from gpt import checkpoint as ckpt
from gpt import files
from gpt.bpe import BPETokenizer
from gpt.cli import main
from gpt.data import (
    DatasetError,
    DatasetNotFound,
    load_dataset,
    load_tokenizer,
    prepare_shakespeare,
    prepare_text,
    prepare_text_file,
)
from gpt.model import GPT, GPTConfig

TEXT = "Before we proceed any further, hear me speak.\nSpeak, speak.\n" * 30
OTHER_TEXT = "You are all resolved rather to die than to famish?\n" * 30


def snapshot(folder: Path) -> dict:
    """Every file under ``folder``, with its bytes' sha256 (temporary files included: none may be left)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def gpt(argv: list[str], capsys) -> tuple[int, str]:
    """Run the ``gpt`` command; return its exit code and what it said on stderr: one line at most."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and len(lines) <= 1, err
    return code, "".join(lines)


@pytest.fixture
def data(tmp_path) -> Path:
    """A data folder holding a char dataset ``tiny`` and a BPE dataset ``tinybpe`` of TEXT."""
    prepare_text(TEXT, tmp_path / "data" / "tiny", source="TEXT")
    prepare_text(TEXT, tmp_path / "data" / "tinybpe", tokenizer="bpe", vocab_size=270, source="TEXT")
    return tmp_path / "data"


def refused_unchanged(argv: list[str], folder: Path, capsys, message: str) -> str:
    """The command fails with exit 1 and ``message`` on its one line, and ``folder`` is byte for byte as it was."""
    before = snapshot(folder)
    code, line = gpt(argv, capsys)
    assert (code, message in line) == (1, True), line
    assert snapshot(folder) == before
    return line


# --- gpt prepare: never over what it did not make ---------------------------------------------------------------


def test_preparing_the_same_text_again_writes_nothing(data, tmp_path, capsys):
    source = tmp_path / "text.txt"
    source.write_text(TEXT, encoding="utf-8")
    before = snapshot(data)
    times = {p.name: p.stat().st_mtime_ns for p in (data / "tiny").iterdir()}
    assert gpt(["prepare", "text", "--input", source, "--name", "tiny", "--data-dir", data], capsys)[0] == 0
    assert snapshot(data) == before  # meta.json too: it still names the source it was first prepared from
    assert {p.name: p.stat().st_mtime_ns for p in (data / "tiny").iterdir()} == times


def test_preparing_the_same_text_again_repairs_a_damaged_file(data):
    good = (data / "tiny" / "val.bin").read_bytes()
    (data / "tiny" / "val.bin").write_bytes(good[:-2] + b"\xff\xff")
    with pytest.raises(DatasetError, match=r"val\.bin is corrupted"):
        load_dataset("tiny", data)
    prepare_text(TEXT, data / "tiny")
    assert (data / "tiny" / "val.bin").read_bytes() == good
    load_dataset("tiny", data)


def test_a_dataset_of_another_text_is_refused(data, tmp_path, capsys):
    source = tmp_path / "other.txt"
    source.write_text(OTHER_TEXT, encoding="utf-8")
    line = refused_unchanged(
        ["prepare", "text", "--input", source, "--name", "tiny", "--data-dir", data],
        data,
        capsys,
        "it holds the dataset of another text (TEXT, sha256",
    )
    assert str(data / "tiny") in line and "choose another --name" in line and "checkpoint may depend on it" in line


def test_the_same_text_with_other_settings_is_refused(data, tmp_path, capsys):
    source = tmp_path / "text.txt"
    source.write_text(TEXT, encoding="utf-8")
    argv = ["prepare", "text", "--input", source, "--data-dir", data]
    line = refused_unchanged([*argv, "--name", "tiny", "--tokenizer", "bpe", "--vocab-size", "270"], data, capsys, "")
    assert "made with other settings (tokenizer 'char' there, 'bpe' now" in line
    line = refused_unchanged([*argv, "--name", "tinybpe"], data, capsys, "made with other settings")
    assert "tokenizer 'bpe' there, 'char' now" in line
    with pytest.raises(files.WriteRefused, match="train_chars 1620 there, 1440 now"):  # another split
        prepare_text(TEXT, data / "tiny", train_fraction=0.8)


def test_a_checkpoint_where_train_bin_belongs_is_refused_and_nothing_is_written(tmp_path, capsys):
    """No meta.json (an interrupted preparation, say), and a checkpoint named train.bin: refused up front, so
    vocab.json and val.bin are not written either."""
    target = tmp_path / "data" / "tiny"
    target.mkdir(parents=True)
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4))
    ckpt.save_checkpoint(target / "train.bin", model=model, meta={"iter": 0})
    source = tmp_path / "text.txt"
    source.write_text(TEXT, encoding="utf-8")
    refused_unchanged(
        ["prepare", "text", "--input", source, "--name", "tiny", "--data-dir", tmp_path / "data"],
        tmp_path,
        capsys,
        "train.bin: it holds a checkpoint, and only a dataset file may be replaced there",
    )
    assert sorted(os.listdir(target)) == ["train.bin"]


def test_a_folder_where_a_dataset_file_belongs_is_refused(tmp_path, capsys):
    (tmp_path / "data" / "tiny" / "vocab.json").mkdir(parents=True)
    source = tmp_path / "text.txt"
    source.write_text(TEXT, encoding="utf-8")
    refused_unchanged(
        ["prepare", "text", "--input", source, "--name", "tiny", "--data-dir", tmp_path / "data"],
        tmp_path,
        capsys,
        "vocab.json: it holds a folder",
    )


def test_a_dataset_whose_meta_json_cannot_be_read_is_not_overwritten(data, tmp_path, capsys):
    (data / "tiny" / "meta.json").write_text("{not json", encoding="utf-8")
    source = tmp_path / "text.txt"
    source.write_text(TEXT, encoding="utf-8")
    line = refused_unchanged(
        ["prepare", "text", "--input", source, "--name", "tiny", "--data-dir", data], data, capsys, "what it holds is"
    )
    assert "meta.json is not valid JSON" in line and "choose another --name" in line


def test_an_interrupted_preparation_is_prepared_over(tmp_path):
    """Token files without meta.json (written last) are an unfinished dataset of ours: prepared over."""
    prepare_text(OTHER_TEXT, tmp_path / "tiny")
    (tmp_path / "tiny" / "meta.json").unlink()
    prepare_text(TEXT, tmp_path / "tiny")
    assert load_dataset(tmp_path / "tiny").tokenizer.decode(load_dataset(tmp_path / "tiny").val) == TEXT[1620:]


def test_other_files_in_a_dataset_folder_are_left_alone(tmp_path):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "notes.txt").write_text("mine", encoding="utf-8")
    prepare_text(TEXT, tmp_path / "tiny")
    assert (tmp_path / "tiny" / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_prepare_shakespeare_refuses_a_folder_of_another_dataset_before_downloading(tmp_path, monkeypatch):
    prepare_text(TEXT, tmp_path / "shakespeare")
    monkeypatch.delenv("TINYSHAKESPEARE", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("downloaded for a refused folder"))
    before = snapshot(tmp_path)
    with pytest.raises(files.WriteRefused, match="it holds the dataset of another text"):
        prepare_shakespeare(data_dir=tmp_path)
    assert snapshot(tmp_path) == before


def test_a_download_does_not_replace_an_input_txt_that_is_not_tinyshakespeare(tmp_path, monkeypatch, shakespeare_file):
    (tmp_path / "shakespeare").mkdir()
    (tmp_path / "shakespeare" / "input.txt").write_text("my own notes", encoding="utf-8")
    monkeypatch.delenv("TINYSHAKESPEARE", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: io.BytesIO(shakespeare_file.read_bytes()))
    with pytest.raises(files.WriteRefused, match=r"input\.txt: it holds a file"):
        prepare_shakespeare(data_dir=tmp_path)
    assert (tmp_path / "shakespeare" / "input.txt").read_text(encoding="utf-8") == "my own notes"


def test_bad_paths_and_settings_of_prepare(tmp_path, monkeypatch):
    source = tmp_path / "text.txt"
    source.write_text(TEXT, encoding="utf-8")
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    with pytest.raises(files.WriteRefused, match=r"afile is a file, not a folder; choose another --data-dir"):
        prepare_text_file(source, "tiny", data_dir=tmp_path / "afile")
    with pytest.raises(files.WriteRefused, match=r"text\.txt: it is a file, not a folder; choose another --name"):
        prepare_text_file(source, "text.txt", data_dir=tmp_path)
    for name, why in (("", "empty"), (".", "not a folder"), ("a/b", "separator"), (str(tmp_path), "absolute")):
        with pytest.raises(ValueError, match=f"plain directory name, got .*{why}"):
            prepare_text_file(source, name, data_dir=tmp_path)
    for size in (256, 2**16 + 1, 300.0, True):
        with pytest.raises(ValueError, match="between 257 .* and 65,536"):
            prepare_text_file(source, "b", data_dir=tmp_path, tokenizer="bpe", vocab_size=size)
    with pytest.raises(ValueError, match="vocab_size .* is for the BPE tokenizer"):
        prepare_text_file(source, "c", data_dir=tmp_path, tokenizer="char", vocab_size=300)
    with pytest.raises(ValueError, match=r"input file .* is a folder, not a file"):
        prepare_text_file(tmp_path, "d", data_dir=tmp_path)

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)  # root reads any file: the refusal is simulated
    with pytest.raises(PermissionError, match="input file cannot be read"):
        prepare_text_file(source, "e", data_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "text.txt"]  # nothing written by any of them


def test_an_unreadable_input_gets_one_line(tmp_path, monkeypatch, capsys):
    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    code, line = gpt(["prepare", "text", "--input", tmp_path / "x.txt", "--name", "x", "--data-dir", tmp_path], capsys)
    assert code == 1 and line == f"gpt prepare: error: input file cannot be read (Permission denied): {tmp_path}/x.txt"


# --- the readers: one error type, naming the file, through `gpt train` and `gpt sample` ---------------------------


def edit_json(path: Path, change) -> None:
    obj = json.loads(path.read_text(encoding="utf-8"))
    change(obj)
    path.write_text(json.dumps(obj), encoding="utf-8")


def drop_files_sha256(meta: dict) -> None:
    del meta["files_sha256"]  # so that a change to a token file is checked by what follows, not by its sha256


DAMAGE = {
    # name: (dataset, file, what is done to it, the message)
    "meta.json not JSON": (
        "tiny",
        "meta.json",
        b"{'vocab_size': 5}",
        "meta.json is not valid JSON: Expecting property name",
    ),
    "meta.json a list": ("tiny", "meta.json", b"[1, 2]", "meta.json holds a list, not the object of a dataset's sizes"),
    "meta.json nested deep": (
        "tiny",
        "meta.json",
        b"[" * 100_000,
        "meta.json is not usable JSON: it is nested too deeply",
    ),
    "meta.json in UTF-16": (
        "tiny",
        "meta.json",
        '{"a": 1}'.encode("utf-16"),
        "meta.json is not UTF-8 text: byte offset 0",
    ),
    "meta.json missing a key": ("tiny", "meta.json", lambda m: m.pop("val_tokens"), "meta.json has no 'val_tokens'"),
    "a negative count": (
        "tiny",
        "meta.json",
        lambda m: m.update(train_tokens=-4),
        "'train_tokens' is -4, expected a count",
    ),
    "a count that is a string": (
        "tiny",
        "meta.json",
        lambda m: m.update(vocab_size="13"),
        "'vocab_size' is '13', expected a count",
    ),
    "vocab_size disagreeing": (
        "tiny",
        "meta.json",
        lambda m: m.update(vocab_size=99),
        "meta.json says a char vocabulary of 99 tokens but vocab.json holds a char vocabulary of",
    ),
    "the wrong tokenizer": (
        "tiny",
        "meta.json",
        lambda m: m.update(tokenizer="bpe"),
        "meta.json says a bpe vocabulary",
    ),
    "files_sha256 a list": (
        "tiny",
        "meta.json",
        lambda m: m.update(files_sha256=[]),
        "'files_sha256' is [], expected an object",
    ),
    "duplicate characters": (
        "tiny",
        "vocab.json",
        lambda v: v["chars"].__setitem__(1, v["chars"][0]),
        "holds duplicate characters: '\\n' appears more than once",
    ),
    "an entry of two characters": (
        "tiny",
        "vocab.json",
        lambda v: v["chars"].__setitem__(0, "ab"),
        "entry 0 is 'ab'; vocabulary entries must be single characters",
    ),
    "chars not a list": ("tiny", "vocab.json", lambda v: v.update(chars="abc"), "is not a character vocabulary"),
    "an empty vocabulary": (
        "tiny",
        "vocab.json",
        lambda v: v.update(chars=[]),
        "holds no characters: the vocabulary is empty",
    ),
    "vocab.json not UTF-8": (
        "tiny",
        "vocab.json",
        b'{"type": "char", "chars": ["\xe9"]}',
        "vocab.json is not UTF-8 text: byte offset 28",
    ),
    "an unknown tokenizer": (
        "tiny",
        "vocab.json",
        lambda v: v.update(type="wordpiece"),
        "unknown tokenizer type 'wordpiece'",
    ),
    "a merge of three": (
        "tinybpe",
        "vocab.json",
        lambda v: v["merges"].__setitem__(0, [1, 2, 3]),
        "merge 0 is [1, 2, 3], expected a pair of token ids",
    ),
    "a merge of a later token": (
        "tinybpe",
        "vocab.json",
        lambda v: v["merges"].__setitem__(0, [300, 97]),
        "merge 0 (300, 97) uses a token that does not exist yet",
    ),
    "a merge of floats": (
        "tinybpe",
        "vocab.json",
        lambda v: v["merges"].__setitem__(0, [97.0, 98]),
        "merge 0 is [97.0, 98], expected a pair",
    ),
    "a pair merged twice": (
        "tinybpe",
        "vocab.json",
        lambda v: v["merges"].__setitem__(1, v["merges"][0]),
        "is merged twice",
    ),
    "merges that spell too much": (
        "tinybpe",
        "vocab.json",
        lambda v: v.update(merges=[[97, 97]] + [[256 + i, 256 + i] for i in range(40)]),
        "its tokens spell more than",
    ),
    "special tokens a list": (
        "tinybpe",
        "vocab.json",
        lambda v: v.update(special_tokens=["<s>"]),
        "'special_tokens' is a list, expected an object",
    ),
    "a special token out of order": (
        "tinybpe",
        "vocab.json",
        lambda v: v.update(special_tokens={"<s>": 5}),
        "special token '<s>' has id 5",
    ),
    "a pattern that is no regex": (
        "tinybpe",
        "vocab.json",
        lambda v: v.update(pattern="(unclosed"),
        "its pre-split pattern '(unclosed' cannot be used",
    ),
    "a newer version": ("tinybpe", "vocab.json", lambda v: v.update(version=2), "version 2, this code reads version 1"),
    "an odd byte count": (
        "tiny",
        "train.bin",
        lambda b: b + b"\x00",
        "bytes, an odd number: it cannot hold uint16 token ids",
    ),
    "fewer tokens than meta says": (
        "tiny",
        "val.bin",
        lambda b: b[:-2],
        "meta.json says val_tokens=180 but val.bin holds 179 tokens",
    ),
    "a token past the vocabulary": (
        "tiny",
        "train.bin",
        lambda b: b[:8] + b"\xff\x00" + b[10:],
        "train.bin: token id 255 at position 4 is out of range for the vocabulary of 23 tokens",
    ),
    "a corrupted token file": (
        "tiny",
        "train.bin",
        lambda b: b[:8] + b"\x01\x00" + b[10:],
        "train.bin is corrupted (its sha256 differs",
    ),
    "a split too short": ("tiny", "val.bin", lambda b: b[:4], "val.bin holds 2 tokens, and a split needs at least 3"),
}


@pytest.mark.parametrize("name", DAMAGE)
def test_a_damaged_dataset_is_named_by_gpt_train(name, data, tmp_path, capsys):
    dataset, filename, damage, message = DAMAGE[name]
    path = data / dataset / filename
    if isinstance(damage, bytes):
        path.write_bytes(damage)
    elif filename.endswith(".json"):
        edit_json(path, damage)
    else:
        path.write_bytes(damage(path.read_bytes()))
        if name in ("a token past the vocabulary", "a split too short"):
            edit_json(data / dataset / "meta.json", drop_files_sha256)
            if name == "a split too short":
                edit_json(data / dataset / "meta.json", lambda m: m.update(val_tokens=2))
    out = tmp_path / "out"
    argv = ["train", "--preset", "tiny", "--dataset", dataset, "--data-dir", data, "--out-dir", out]
    line = refused_unchanged(argv, data, capsys, message)
    assert line.startswith("gpt train: error: ") and (str(data / dataset) in line)
    with pytest.raises(DatasetError):  # the one error type, for every case
        load_dataset(dataset, data)


def test_a_checkpoint_copied_over_train_bin_is_named(data, tmp_path, capsys):
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4))
    (data / "tiny" / "train.bin").unlink()
    ckpt.save_checkpoint(data / "tiny" / "train.bin", model=model, meta={"iter": 0})
    argv = ["train", "--preset", "tiny", "--dataset", "tiny", "--data-dir", data, "--out-dir", tmp_path / "out"]
    refused_unchanged(argv, data, capsys, "train.bin is a checkpoint, not the token ids of a dataset")


@pytest.mark.parametrize("file", ["meta.json", "vocab.json", "train.bin", "val.bin"])
def test_a_missing_file_or_a_folder_in_its_place_is_named(file, data, tmp_path, capsys):
    argv = ["train", "--preset", "tiny", "--dataset", "tiny", "--data-dir", data, "--out-dir", tmp_path / "out"]
    (data / "tiny" / file).unlink()
    refused_unchanged(argv, data, capsys, f"{file} not found; run `gpt prepare shakespeare`")
    with pytest.raises(DatasetNotFound):
        load_dataset("tiny", data)
    (data / "tiny" / file).mkdir()
    refused_unchanged(argv, data, capsys, f"{file} is a folder where a file belongs")


def test_a_bad_vocabulary_in_a_checkpoint_is_named_by_gpt_sample(tmp_path, capsys):
    model = GPT(GPTConfig(vocab_size=3, block_size=4, n_layer=1, n_head=1, n_embd=4))
    meta = {
        "iter": 0,
        "model_config": model.config.to_dict(),
        "train_config": {},
        "tokenizer": {"type": "char", "chars": ["a", "b", "a"]},
    }
    ckpt.save_checkpoint(tmp_path / ckpt.FILENAME, model=model, meta=meta)
    refused_unchanged(["sample", "--out-dir", tmp_path], tmp_path, capsys, "holds duplicate characters: 'a'")


def test_load_tokenizer_names_the_file(tmp_path):
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps({"type": "bpe", "merges": [[97, 98]], "special_tokens": {"<s>": "257"}}))
    with pytest.raises(DatasetError, match=rf"{path}: special token '<s>' has the id '257'"):
        load_tokenizer(path)
    with pytest.raises(DatasetError, match=rf"{path}: special token '<s>' has the id '257'"):
        BPETokenizer.load(path)
