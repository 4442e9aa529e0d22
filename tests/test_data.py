"""Tests for gpt.data: tokenizer, dataset preparation, loading and batching (no network access)."""

import hashlib
import io
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpt.data import (
    TINYSHAKESPEARE_SHA256,
    TINYSHAKESPEARE_SIZE,
    TINYSHAKESPEARE_URL,
    CharTokenizer,
    batch_from_offsets,
    default_data_dir,
    load_dataset,
    load_split,
    prepare_shakespeare,
    prepare_text,
    prepare_text_file,
)

VOCAB = "\n !&',-.:;?ABCXYZabcdefghijklmnopqrstuvwxyz"
TOK = CharTokenizer.from_text(VOCAB)


def shakespeare_path() -> Path:
    env = os.environ.get("TINYSHAKESPEARE")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared/data/tinyshakespeare.txt"
    if not path.is_file():
        pytest.skip(f"tinyshakespeare not available at {path} (set TINYSHAKESPEARE to a local copy)")
    return path


# --- CharTokenizer ---------------------------------------------------------------------------------


def test_from_text_builds_sorted_vocabulary():
    tok = CharTokenizer.from_text("hello world")
    assert tok.chars == sorted(set("hello world"))
    assert tok.vocab_size == 8
    assert tok.stoi["d"] == 1 and tok.itos[1] == "d"


@given(st.text(alphabet=st.sampled_from(VOCAB)))
def test_encode_decode_round_trip(text):
    ids = TOK.encode(text)
    assert TOK.decode(ids) == text
    assert TOK.decode(np.array(ids, dtype=np.uint16)) == text
    assert TOK.encode_array(text).tolist() == ids


@given(st.text(min_size=1))
def test_round_trip_any_unicode(text):
    tok = CharTokenizer.from_text(text)
    ids = tok.encode_array(text)
    assert ids.dtype == np.uint16
    assert ids.tolist() == tok.encode(text)
    assert tok.decode(ids) == text


def test_encode_array_handles_surrogates_and_large_code_points():
    text = "a\ud800b\U0001f600"
    tok = CharTokenizer.from_text(text)
    assert tok.decode(tok.encode_array(text)) == text
    # code points far beyond the vocabulary's largest one are unknown, not an IndexError
    assert tok.encode_array("\U0010ffff", errors="replace", replacement="a").tolist() == [tok.stoi["a"]]


@pytest.mark.parametrize("encode", [TOK.encode, TOK.encode_array])
def test_unknown_character_error_names_char_and_position(encode):
    expected = rf"character 'Q' at position 12 is not in the vocabulary \({len(VOCAB)} characters\)"
    with pytest.raises(ValueError, match=expected):
        encode("hello world Q")
    with pytest.raises(ValueError, match="errors='replace'"):
        encode("Q")


@pytest.mark.parametrize("encode", [TOK.encode, TOK.encode_array])
def test_replace_mode(encode):
    assert list(encode("aQb", errors="replace")) == TOK.encode("a b")
    assert list(encode("aQb", errors="replace", replacement="z")) == TOK.encode("azb")
    with pytest.raises(ValueError, match="replacement '~' is not in the vocabulary"):
        encode("a", errors="replace", replacement="~")
    with pytest.raises(ValueError, match="errors must be"):
        encode("a", errors="ignore")
    no_space = CharTokenizer.from_text("ab")
    with pytest.raises(ValueError, match="' ' is not in the vocabulary"):
        no_space.encode("aQ", errors="replace")


def test_decode_out_of_range():
    n = TOK.vocab_size
    with pytest.raises(ValueError, match=rf"token id {n} is out of range .*0\.\.{n - 1}"):
        TOK.decode([0, 1, n])
    with pytest.raises(ValueError, match="token id -1"):
        TOK.decode(np.array([-1, 0]))
    with pytest.raises(TypeError):
        TOK.decode([1.5])
    assert TOK.decode(iter([TOK.stoi["h"], TOK.stoi["i"]])) == "hi"


def test_vocabulary_validation():
    with pytest.raises(ValueError, match="uint16"):
        CharTokenizer(chr(i) for i in range(2**16 + 1))
    assert CharTokenizer(chr(i) for i in range(2**16)).vocab_size == 2**16
    with pytest.raises(ValueError, match="duplicate"):
        CharTokenizer(["a", "a"])
    with pytest.raises(ValueError, match="single characters"):
        CharTokenizer(["ab"])
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer.from_text("")


def test_save_load_round_trip(tmp_path):
    tok = CharTokenizer.from_text('a"\\\n\té\U0001f600 ')
    path = tmp_path / "vocab.json"
    tok.save(path)
    assert json.loads(path.read_text()) == {"type": "char", "chars": tok.chars}
    assert CharTokenizer.load(path) == tok
    assert tok != CharTokenizer.from_text("ab")
    assert os.listdir(tmp_path) == ["vocab.json"]
    path.write_text('{"type": "bpe"}')
    with pytest.raises(ValueError, match="not a character vocabulary"):
        CharTokenizer.load(path)


# --- Atomic writes ---------------------------------------------------------------------------------


def test_an_interrupted_prepare_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    """prepare writes through gpt.files: a write that fails before its rename leaves the old bytes, no temp file."""
    text = "abcdefghij" * 10
    prepare_text(text, tmp_path / "tiny")
    (tmp_path / "tiny" / "train.bin").write_bytes(b"damaged")  # preparing the same text again repairs it...

    def interrupted(fd):  # the moment before gpt.files renames the new file over the old one
        raise RuntimeError("interrupted")

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(RuntimeError, match="interrupted"):
        prepare_text(text, tmp_path / "tiny")  # ...but this attempt is interrupted before the rename
    assert (tmp_path / "tiny" / "train.bin").read_bytes() == b"damaged"
    assert sorted(os.listdir(tmp_path / "tiny")) == ["meta.json", "train.bin", "val.bin", "vocab.json"]


# --- prepare_text / prepare_text_file --------------------------------------------------------------


def test_prepare_text_split_and_files(tmp_path):
    text = "to be or not to be, that is the question\n" * 25  # 1025 characters
    out = tmp_path / "nested" / "tiny"
    meta = prepare_text(text, out)
    n = int(0.9 * len(text))
    assert meta == {
        "tokenizer": "char",
        "vocab_size": len(set(text)),
        "train_tokens": n,
        "val_tokens": len(text) - n,
        "train_chars": n,
        "val_chars": len(text) - n,
        "source": "text",
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "files_sha256": {
            name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in ("train.bin", "val.bin")
        },
    }
    assert sorted(os.listdir(out)) == ["meta.json", "train.bin", "val.bin", "vocab.json"]  # no temp files
    assert json.loads((out / "meta.json").read_text()) == meta
    tok = CharTokenizer.load(out / "vocab.json")
    assert tok == CharTokenizer.from_text(text)
    assert np.fromfile(out / "train.bin", dtype=np.uint16).tolist() == tok.encode(text[:n])
    assert np.fromfile(out / "val.bin", dtype=np.uint16).tolist() == tok.encode(text[n:])
    assert prepare_text("abcdefghijkl", tmp_path / "q", train_fraction=0.75)["train_tokens"] == 9
    with pytest.raises(ValueError, match="too short"):
        prepare_text("a", tmp_path / "short")
    # a corrupted token file is named when the dataset is opened, not trained on
    damaged = np.fromfile(out / "train.bin", dtype=np.uint16)
    damaged[3] ^= 1
    damaged.tofile(out / "train.bin")
    with pytest.raises(ValueError, match=r"train\.bin is corrupted \(its sha256 differs"):
        load_dataset(out)
    # refused when prepared, not only when training starts: 5 characters leave the val part a single token
    with pytest.raises(
        ValueError, match=r"5 characters is too short to train on: .* hold 4 and 1 tokens .* at least 3"
    ):
        prepare_text("hello", tmp_path / "five")


def test_prepare_text_file(tmp_path):
    src = tmp_path / "corpus.txt"
    src.write_text("héllo wörld\n" * 10, encoding="utf-8")
    meta = prepare_text_file(src, "corpus", data_dir=tmp_path / "data")
    assert meta["train_tokens"] + meta["val_tokens"] == 120
    assert meta["source"] == str(src)
    ds = load_dataset("corpus", data_dir=tmp_path / "data")
    assert ds.tokenizer.decode(ds.train) + ds.tokenizer.decode(ds.val) == src.read_text(encoding="utf-8")


def test_prepare_text_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.txt"):
        prepare_text_file(tmp_path / "missing.txt", "x", data_dir=tmp_path)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"abc\xffdef")
    with pytest.raises(ValueError, match=r"latin1\.txt is not valid UTF-8: byte offset 3"):
        prepare_text_file(bad, "x", data_dir=tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.txt is empty"):
        prepare_text_file(empty, "x", data_dir=tmp_path)
    with pytest.raises(ValueError, match="plain directory name"):
        prepare_text_file(bad, "../escape", data_dir=tmp_path)


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("GPT_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv("GPT_DATA_DIR")
    assert default_data_dir() == Path(__file__).resolve().parents[1] / "data"


# --- prepare_shakespeare ---------------------------------------------------------------------------


def test_prepare_shakespeare_local_file(tmp_path):
    path = shakespeare_path()
    meta = prepare_shakespeare(input_path=path, data_dir=tmp_path)
    assert (meta["vocab_size"], meta["train_tokens"], meta["val_tokens"]) == (65, 1_003_854, 111_540)
    assert meta["sha256"] == TINYSHAKESPEARE_SHA256
    ds = load_dataset("shakespeare", data_dir=tmp_path)
    assert ds.path == tmp_path / "shakespeare" and ds.meta == meta
    assert len(ds.train) == 1_003_854 and len(ds.val) == 111_540
    text = path.read_text(encoding="utf-8")
    assert ds.tokenizer.decode(ds.val[:200]) == text[1_003_854:1_004_054]


def test_prepare_shakespeare_corrupted_copy(tmp_path):
    data = bytearray(shakespeare_path().read_bytes())
    data[1000] ^= 1  # one byte changed: same size, different hash
    corrupt = tmp_path / "corrupt.txt"
    corrupt.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"corrupt\.txt.*{TINYSHAKESPEARE_SHA256}") as excinfo:
        prepare_shakespeare(input_path=corrupt, data_dir=tmp_path)
    assert hashlib.sha256(data).hexdigest() in str(excinfo.value)
    corrupt.write_bytes(bytes(data[:-1]))
    with pytest.raises(ValueError, match=f"expected {TINYSHAKESPEARE_SIZE:,} bytes.*got 1,115,393 bytes"):
        prepare_shakespeare(input_path=corrupt, data_dir=tmp_path)


def test_prepare_shakespeare_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYSHAKESPEARE", str(tmp_path / "nowhere.txt"))
    with pytest.raises(FileNotFoundError, match=r"nowhere\.txt"):
        prepare_shakespeare(data_dir=tmp_path)


def test_prepare_shakespeare_download_and_cache(tmp_path, monkeypatch):
    data = shakespeare_path().read_bytes()
    monkeypatch.delenv("TINYSHAKESPEARE", raising=False)
    calls = []

    def fake_urlopen(url, timeout):
        calls.append((url, timeout))
        return io.BytesIO(data)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    meta = prepare_shakespeare(data_dir=tmp_path)
    assert calls == [(TINYSHAKESPEARE_URL, 30)]
    assert (tmp_path / "shakespeare" / "input.txt").read_bytes() == data
    assert meta["train_tokens"] == 1_003_854 and meta["source"] == TINYSHAKESPEARE_URL
    prepare_shakespeare(data_dir=tmp_path)  # second run reuses the verified cache
    assert len(calls) == 1


def test_prepare_shakespeare_download_failure(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYSHAKESPEARE", raising=False)

    def failing_urlopen(url, timeout):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(urllib.request, "urlopen", failing_urlopen)
    with pytest.raises(RuntimeError) as excinfo:
        prepare_shakespeare(data_dir=tmp_path)
    message = str(excinfo.value)
    for part in (
        TINYSHAKESPEARE_URL,
        "no network in tests",
        "gpt prepare shakespeare --input PATH",
        "TINYSHAKESPEARE environment variable",
    ):
        assert part in message
    with pytest.raises(FileNotFoundError, match="download=False"):
        prepare_shakespeare(data_dir=tmp_path, download=False)


def test_bad_download_is_rejected_and_not_cached(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYSHAKESPEARE", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"<html>rate limited"))
    with pytest.raises(ValueError, match=r"downloaded from .* is not the tinyshakespeare corpus"):
        prepare_shakespeare(data_dir=tmp_path)
    assert not (tmp_path / "shakespeare" / "input.txt").exists()


# --- Loading ---------------------------------------------------------------------------------------


def test_missing_dataset_error_names_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope[/\\]meta\.json not found.*gpt prepare shakespeare"):
        load_dataset("nope", data_dir=tmp_path)
    prepare_text("abcdefghij" * 10, tmp_path / "tiny")
    (tmp_path / "tiny" / "val.bin").unlink()
    with pytest.raises(FileNotFoundError, match=r"val\.bin not found.*gpt prepare text --input FILE"):
        load_dataset(tmp_path / "tiny")
    with pytest.raises(ValueError, match="split must be"):
        load_split(tmp_path / "tiny", "test")


def test_load_dataset_by_name_or_path(tmp_path):
    prepare_text("abcdefghij" * 10, tmp_path / "tiny")
    by_name = load_dataset("tiny", data_dir=tmp_path)
    by_path = load_dataset(str(tmp_path / "tiny"))
    assert by_name.path == by_path.path == tmp_path / "tiny"
    assert isinstance(by_name.train, np.memmap) and by_name.train.dtype == np.uint16
    assert by_name.train.tolist() == by_path.train.tolist() and len(by_name.val) == 10
    (tmp_path / "tiny" / "val.bin").write_bytes(b"\0\0")
    with pytest.raises(ValueError, match="inconsistent"):
        load_dataset("tiny", data_dir=tmp_path)


# --- Batching --------------------------------------------------------------------------------------


def test_batch_from_offsets():
    data = np.arange(100, 150, dtype=np.uint16)
    offsets = np.array([0, 7, 39])
    x, y = batch_from_offsets(data, offsets, block_size=10)
    assert x.shape == y.shape == (3, 10) and x.dtype == y.dtype == np.int64
    for b, o in enumerate(offsets):
        assert x[b].tolist() == data[o : o + 10].tolist()
        assert y[b].tolist() == data[o + 1 : o + 11].tolist()
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # y is x shifted by one


def test_batch_from_offsets_errors():
    data = np.arange(20, dtype=np.uint16)
    with pytest.raises(ValueError, match=r"block_size 20 .*\(20\)"):
        batch_from_offsets(data, [0], block_size=20)
    with pytest.raises(ValueError, match=r"offset 10 is out of range.*\[0, 9\]"):
        batch_from_offsets(data, [0, 10], block_size=10)
    with pytest.raises(ValueError, match="offset -1"):
        batch_from_offsets(data, [-1], block_size=10)
    x, y = batch_from_offsets(data, [9], block_size=10)  # the last valid window
    assert (x[0, 0], y[0, -1]) == (9, 19)
