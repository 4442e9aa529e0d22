"""Data layer for the char-level GPT: tokenizer, dataset preparation and batching.

The pipeline mirrors the "Let's build GPT" lecture:

1. ``prepare_*`` turns a text corpus into ``train.bin`` / ``val.bin`` (raw uint16 token ids),
   ``vocab.json`` (the tokenizer) and ``meta.json`` (sizes and provenance) in one directory.
2. ``load_dataset`` memory-maps those files, so even a 100M-token corpus costs no RAM up front.
3. ``batch_from_offsets`` cuts (x, y) training windows at offsets the caller draws with its own RNG.

Only the standard library and numpy are used; the autograd engine is not imported here.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import operator
import os
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# the fewest tokens a split may have: a context of block_size tokens needs block_size + 2 (a window, its
# targets shifted by one, and one more so that windows can differ), so block_size 1 needs 3
MIN_SPLIT_TOKENS = 3

TINYSHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINYSHAKESPEARE_SIZE = 1115394  # characters; the file is pure ASCII, so this is also its size in bytes
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"

MAX_VOCAB_SIZE = 2**16  # token ids are stored as uint16 on disk
_ENCODE_CHUNK = 1 << 24  # characters per vectorised step: bounds the temporary arrays to ~100 MB
_PREPARE_HINT = "run `gpt prepare shakespeare` (or `gpt prepare text --input FILE --name NAME`) first"


class CharTokenizer:
    """Maps each character of a fixed vocabulary to an integer id (its index in ``chars``)."""

    def __init__(self, chars: Iterable[str]):
        chars = list(chars)
        for ch in chars:
            if not isinstance(ch, str) or len(ch) != 1:
                raise ValueError(f"vocabulary entries must be single characters, got {ch!r}")
        if not chars:
            raise ValueError("the vocabulary is empty")
        if len(set(chars)) != len(chars):
            raise ValueError("the vocabulary contains duplicate characters")
        if len(chars) > MAX_VOCAB_SIZE:
            raise ValueError(
                f"the vocabulary has {len(chars):,} characters, but token ids are stored as "
                f"uint16, which holds at most {MAX_VOCAB_SIZE:,}"
            )
        self.chars = chars
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.itos = dict(enumerate(chars))
        # Lookup table indexed by code point, for encode_array. -1 marks "not in the vocabulary"; the
        # table has one spare slot at the end so that larger code points can be clipped onto it.
        codes = np.array([ord(ch) for ch in chars], dtype=np.int64)
        self._table = np.full(int(codes.max()) + 2, -1, dtype=np.int32)
        self._table[codes] = np.arange(len(chars), dtype=np.int32)

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """Build the vocabulary from a corpus: every distinct character, sorted by code point."""
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str, errors: str = "strict", replacement: str | None = None) -> list[int]:
        """Text -> list of ids. ``errors="replace"`` maps unknown characters to ``replacement``."""
        replacement_id = self._replacement_id(errors, replacement)
        if replacement_id is not None:
            return [self.stoi.get(ch, replacement_id) for ch in text]
        try:
            return [self.stoi[ch] for ch in text]
        except KeyError:
            # Rare path: scan again only to report where the first unknown character is.
            position = next(i for i, ch in enumerate(text) if ch not in self.stoi)
            raise self._unknown_error(text, position) from None

    def encode_array(self, text: str, errors: str = "strict", replacement: str | None = None) -> np.ndarray:
        """Like ``encode`` but returns a uint16 array; fast enough for corpora of 100M characters.

        UTF-32 stores every character as one 4-byte code point, so ``np.frombuffer`` turns the text
        into an array of code points without a Python-level loop; the lookup table does the rest.
        """
        replacement_id = self._replacement_id(errors, replacement)
        ids_out = np.empty(len(text), dtype=np.uint16)
        for start in range(0, len(text), _ENCODE_CHUNK):
            chunk = text[start : start + _ENCODE_CHUNK]
            # "surrogatepass" lets lone surrogates (legal in Python strings) through as plain code points.
            codes = np.frombuffer(chunk.encode("utf-32-le", "surrogatepass"), dtype="<u4")
            ids = self._table[np.minimum(codes, len(self._table) - 1)]
            unknown = ids < 0
            if unknown.any():
                if replacement_id is None:
                    raise self._unknown_error(text, start + int(np.argmax(unknown)))
                ids[unknown] = replacement_id
            ids_out[start : start + len(chunk)] = ids
        return ids_out

    def decode(self, ids: Iterable[int]) -> str:
        """Ids (list, numpy array or any iterable of ints) -> text."""
        if isinstance(ids, np.ndarray):
            ids = ids.tolist()  # numpy scalars -> Python ints, which are much faster to loop over
        out = []
        for token_id in ids:
            token_id = operator.index(token_id)  # accepts Python/NumPy integers, rejects floats
            if not 0 <= token_id < len(self.chars):  # explicit: a negative index would silently wrap
                raise ValueError(
                    f"token id {token_id} is out of range for a vocabulary of "
                    f"{self.vocab_size} characters (valid ids: 0..{self.vocab_size - 1})"
                )
            out.append(self.chars[token_id])
        return "".join(out)

    def to_dict(self) -> dict:
        return {"type": "char", "chars": self.chars}

    @classmethod
    def from_dict(cls, obj: dict, where: str = "vocabulary") -> CharTokenizer:
        if not isinstance(obj, dict) or obj.get("type") != "char" or not isinstance(obj.get("chars"), list):
            raise ValueError(f'{where} is not a character vocabulary: expected {{"type": "char", "chars": [...]}}')
        return cls(obj["chars"])

    def save(self, path: str | os.PathLike) -> None:
        _write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharTokenizer:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")), str(path))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CharTokenizer):
            return NotImplemented
        return self.chars == other.chars

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"

    def _replacement_id(self, errors: str, replacement: str | None) -> int | None:
        """The id unknown characters map to, or None in strict mode."""
        if errors == "strict":
            return None
        if errors != "replace":
            raise ValueError(f"errors must be 'strict' or 'replace', got {errors!r}")
        if replacement is None:
            if " " not in self.stoi:
                raise ValueError(
                    "errors='replace' needs a replacement character, and the default ' ' is "
                    "not in the vocabulary; pass replacement=<a vocabulary character>"
                )
            replacement = " "
        if not isinstance(replacement, str) or replacement not in self.stoi:
            raise ValueError(f"replacement {replacement!r} is not in the vocabulary")
        return self.stoi[replacement]

    def _unknown_error(self, text: str, position: int) -> ValueError:
        return ValueError(
            f"character {text[position]!r} at position {position} is not in the vocabulary "
            f"({self.vocab_size} characters); pass errors='replace' to map unknown characters "
            f"to a replacement character (default ' ')"
        )


# --- Atomic file writes --------------------------------------------------------------------------
# Every file is written to a temporary name in the same directory and then renamed over the target.
# os.replace is atomic, so an interrupted run never leaves a half-written train.bin that looks valid.


def tokenizer_from_dict(obj: dict, where: str = "tokenizer"):
    """A tokenizer from its JSON form: ``{"type": "char", ...}`` or ``{"type": "bpe", ...}``."""
    kind = obj.get("type") if isinstance(obj, dict) else None
    if kind == "char":
        return CharTokenizer.from_dict(obj, where)
    if kind == "bpe":
        from .bpe import BPETokenizer

        return BPETokenizer.from_dict(obj)
    raise ValueError(f"{where}: unknown tokenizer type {kind!r} (expected 'char' or 'bpe')")


def load_tokenizer(path: str | os.PathLike):
    return tokenizer_from_dict(json.loads(Path(path).read_text(encoding="utf-8")), str(path))


def encode_to_array(tokenizer, text: str) -> np.ndarray:
    """Token ids as uint16 (the on-disk format), with a check that they fit."""
    if isinstance(tokenizer, CharTokenizer):
        return tokenizer.encode_array(text)
    if tokenizer.vocab_size > MAX_VOCAB_SIZE:
        raise ValueError(f"vocabulary of {tokenizer.vocab_size} tokens does not fit uint16 ids")
    return np.asarray(tokenizer.encode(text), dtype=np.uint16)


@contextlib.contextmanager
def _atomic_open(path: str | os.PathLike):
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")  # same dir: rename stays atomic
    try:
        with open(tmp, "xb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # data on disk before the rename makes it visible
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_json(path: str | os.PathLike, obj: object) -> None:
    with _atomic_open(path) as f:
        f.write((json.dumps(obj, indent=2) + "\n").encode("utf-8"))


# --- Preparing datasets --------------------------------------------------------------------------


def default_data_dir() -> Path:
    """``$GPT_DATA_DIR`` if set, else ``<repo root>/data`` (the repo root holds the ``gpt/`` package)."""
    env = os.environ.get("GPT_DATA_DIR")
    return Path(env).expanduser() if env else Path(__file__).resolve().parent.parent / "data"


def _data_dir(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir) if data_dir is not None else default_data_dir()


def prepare_text(
    text: str,
    out_dir: str | os.PathLike,
    *,
    train_fraction: float = 0.9,
    source: str = "text",
    tokenizer: str = "char",
    vocab_size: int | None = None,
) -> dict:
    """Tokenize ``text`` and write train.bin, val.bin, vocab.json and meta.json into ``out_dir``.

    The split is the lecture's: the first ``train_fraction`` of the characters train, the rest validate. The
    text is split before tokenizing, so a char and a BPE dataset of one text validate on the same characters
    (``val_chars`` in meta.json converts a loss per token into a loss per character). ``tokenizer="bpe"``
    trains a byte-level BPE of ``vocab_size`` tokens on the train part only. Returns the meta dict.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be between 0 and 1, got {train_fraction}")
    n = int(train_fraction * len(text))
    train_text, val_text = text[:n], text[n:]
    if tokenizer == "char":
        tok = CharTokenizer.from_text(text)  # the lecture's vocabulary: every character of the corpus
    elif tokenizer == "bpe":
        if vocab_size is None:
            raise ValueError("a BPE tokenizer needs vocab_size (e.g. --vocab-size 512)")
        from .bpe import BPETokenizer

        tok = BPETokenizer.trained(train_text, vocab_size)
    else:
        raise ValueError(f"tokenizer must be 'char' or 'bpe', got {tokenizer!r}")
    train, val = encode_to_array(tok, train_text), encode_to_array(tok, val_text)
    if min(len(train), len(val)) < MIN_SPLIT_TOKENS:
        raise ValueError(
            f"a text of {len(text)} characters is too short to train on: its train and val parts hold "
            f"{len(train)} and {len(val)} tokens (train_fraction={train_fraction}); training with a context of "
            f"block_size tokens needs block_size + 2 in each, so at least {MIN_SPLIT_TOKENS}"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, split in (("train.bin", train), ("val.bin", val)):
        with _atomic_open(out_dir / name) as f:
            split.tofile(f)
    tok.save(out_dir / "vocab.json")
    meta = {
        "tokenizer": tokenizer,
        "vocab_size": tok.vocab_size,
        "train_tokens": len(train),
        "val_tokens": len(val),
        "train_chars": len(train_text),
        "val_chars": len(val_text),
        "source": source,
        "sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
        # of the token files themselves: load_dataset checks them, so a corrupted file is named, not trained on
        "files_sha256": {
            name: hashlib.sha256(split.tobytes()).hexdigest()
            for name, split in (("train.bin", train), ("val.bin", val))
        },
    }
    _write_json(out_dir / "meta.json", meta)  # written last: its presence means the dataset is complete
    return meta


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None


def _decode_utf8(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not valid UTF-8: byte offset {e.start}: {e.reason}") from None


def prepare_text_file(
    path: str | os.PathLike,
    name: str,
    data_dir: str | os.PathLike | None = None,
    tokenizer: str = "char",
    vocab_size: int | None = None,
) -> dict:
    """Prepare a UTF-8 text file as the dataset ``name`` in ``data_dir/name``; returns the meta dict."""
    if not name or name in (".", "..") or Path(name).name != name:
        raise ValueError(f"dataset name must be a plain directory name, got {name!r}")
    path = Path(path)
    text = _decode_utf8(_read_bytes(path, "input file"), path)
    if not text:
        raise ValueError(f"{path} is empty")
    return prepare_text(text, _data_dir(data_dir) / name, source=str(path), tokenizer=tokenizer, vocab_size=vocab_size)


def _check_shakespeare(data: bytes, where: str) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != TINYSHAKESPEARE_SIZE or digest != TINYSHAKESPEARE_SHA256:
        raise ValueError(
            f"{where} is not the tinyshakespeare corpus: expected {TINYSHAKESPEARE_SIZE:,} "
            f"bytes with sha256 {TINYSHAKESPEARE_SHA256}, "
            f"got {len(data):,} bytes with sha256 {digest}"
        )


def _download_shakespeare() -> bytes:
    try:
        with urllib.request.urlopen(TINYSHAKESPEARE_URL, timeout=30) as response:
            return response.read()
    except (OSError, http.client.HTTPException) as e:  # URLError, timeouts and HTTP errors are OSErrors
        reason = getattr(e, "reason", None) or e
        raise RuntimeError(
            f"download of tinyshakespeare from {TINYSHAKESPEARE_URL} failed ({reason}); "
            f"to use a local copy, run `gpt prepare shakespeare --input PATH` or set the "
            f"TINYSHAKESPEARE environment variable to its path"
        ) from e


def prepare_shakespeare(
    input_path: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None, download: bool = True
) -> dict:
    """Prepare tinyshakespeare into ``data_dir/shakespeare``; returns the meta dict.

    The source is ``input_path``, else ``$TINYSHAKESPEARE``, else a cached or freshly downloaded copy in
    ``data_dir/shakespeare/input.txt``. Whatever the source, its size and sha256 are verified.
    """
    out_dir = _data_dir(data_dir) / "shakespeare"
    local = input_path if input_path is not None else os.environ.get("TINYSHAKESPEARE") or None
    if local is not None:
        path = Path(local)
        data = _read_bytes(path, "tinyshakespeare file")
        _check_shakespeare(data, str(path))
        source = str(path)
    else:
        cache = out_dir / "input.txt"
        data = cache.read_bytes() if cache.is_file() else b""
        if hashlib.sha256(data).hexdigest() != TINYSHAKESPEARE_SHA256:  # no valid cache: fetch it
            if not download:
                raise FileNotFoundError(
                    f"no valid tinyshakespeare copy at {cache} and download=False; run "
                    f"`gpt prepare shakespeare --input PATH` or set TINYSHAKESPEARE"
                )
            data = _download_shakespeare()
            _check_shakespeare(data, f"the file downloaded from {TINYSHAKESPEARE_URL}")
            out_dir.mkdir(parents=True, exist_ok=True)
            with _atomic_open(cache) as f:
                f.write(data)
        source = TINYSHAKESPEARE_URL
    return prepare_text(data.decode("utf-8"), out_dir, source=source)


# --- Loading datasets ----------------------------------------------------------------------------


@dataclass
class Dataset:
    """A prepared dataset: memory-mapped token ids plus the tokenizer that produced them."""

    path: Path
    train: np.ndarray
    val: np.ndarray
    tokenizer: CharTokenizer  # or a gpt.bpe.BPETokenizer: both have encode, decode, vocab_size, to_dict
    meta: dict


def resolve_dataset_dir(name_or_path: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Path:
    """A plain name means ``data_dir/name``; anything else (or a name only found as a directory) is a path."""
    as_path = Path(name_or_path)
    is_plain_name = isinstance(name_or_path, str) and as_path.name == name_or_path
    if is_plain_name and name_or_path not in ("", ".."):
        candidate = _data_dir(data_dir) / name_or_path
        if candidate.is_dir() or not as_path.is_dir():
            return candidate
    return as_path


def _require(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; {_PREPARE_HINT}")
    return path


def load_split(dataset_dir: str | os.PathLike, split: str) -> np.ndarray:
    """Memory-map ``train.bin`` or ``val.bin`` of a prepared dataset directory (read-only uint16)."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    return np.memmap(_require(Path(dataset_dir) / f"{split}.bin"), dtype=np.uint16, mode="r")


def load_dataset(name_or_path: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Open a prepared dataset by name (``data_dir/name``) or by directory path."""
    path = resolve_dataset_dir(name_or_path, data_dir)
    meta = json.loads(_require(path / "meta.json").read_text(encoding="utf-8"))
    tokenizer = load_tokenizer(_require(path / "vocab.json"))
    train, val = load_split(path, "train"), load_split(path, "val")
    # Cheap consistency check: catches files left over from a different corpus or an interrupted run.
    found = {"vocab_size": tokenizer.vocab_size, "train_tokens": len(train), "val_tokens": len(val)}
    for key, value in found.items():
        if meta.get(key) != value:
            raise ValueError(
                f"dataset {path} is inconsistent: meta.json says {key}={meta.get(key)} but the "
                f"files have {value}; prepare it again"
            )
    for name, split in (("train.bin", train), ("val.bin", val)):
        expected = meta.get("files_sha256", {}).get(name)  # absent in datasets prepared before it was added
        if expected is not None and hashlib.sha256(np.asarray(split).tobytes()).hexdigest() != expected:
            raise ValueError(f"{path / name} is corrupted (its sha256 differs from meta.json's): prepare it again")
    return Dataset(path=path, train=train, val=val, tokenizer=tokenizer, meta=meta)


# --- Batching ------------------------------------------------------------------------------------


def batch_from_offsets(data: np.ndarray, offsets, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut training windows: ``x[b] = data[o:o+block_size]`` and ``y[b] = data[o+1:o+1+block_size]``.

    ``y`` is ``x`` shifted by one token, so position t of ``y`` is the target for the prefix x[:t+1].
    Offsets must lie in ``[0, len(data) - block_size - 1]``; the caller draws them with its own RNG.
    Returns two int64 arrays of shape (len(offsets), block_size).
    """
    data = data if isinstance(data, np.ndarray) else np.asarray(data)
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    if block_size >= len(data):
        raise ValueError(
            f"block_size {block_size} must be smaller than the number of tokens ({len(data)}): "
            f"a window needs block_size + 1 tokens"
        )
    offsets = np.asarray(offsets, dtype=np.int64)
    if offsets.ndim != 1:
        raise ValueError(f"offsets must be a 1-D sequence, got shape {offsets.shape}")
    max_offset = len(data) - block_size - 1
    if offsets.size and (offsets.min() < 0 or offsets.max() > max_offset):
        bad = int(offsets[(offsets < 0) | (offsets > max_offset)][0])
        raise ValueError(
            f"offset {bad} is out of range: offsets must lie in [0, {max_offset}] "
            f"for {len(data)} tokens and block_size {block_size}"
        )
    # One fancy-indexing gather per array: row b holds the indices o_b, o_b + 1, ..., o_b + block_size - 1.
    index = offsets[:, None] + np.arange(block_size)
    x = np.asarray(data[index], dtype=np.int64)
    y = np.asarray(data[index + 1], dtype=np.int64)
    return x, y
