"""Data layer for the char-level GPT: tokenizer, dataset preparation and batching.

The pipeline mirrors the "Let's build GPT" lecture:

1. ``prepare_*`` turns a text corpus into ``train.bin`` / ``val.bin`` (raw uint16 token ids),
   ``vocab.json`` (the tokenizer) and ``meta.json`` (sizes and provenance) in one directory.
2. ``load_dataset`` memory-maps those files, so even a 100M-token corpus costs no RAM up front.
3. ``batch_from_offsets`` cuts (x, y) training windows at offsets the caller draws with its own RNG.

Two promises, since a training run's checkpoint depends on its data:

- ``prepare_*`` never overwrites what it did not make: preparing the same text again is a no-op (or repairs a
  damaged file), but a folder holding the dataset of another text, or of other tokenizer settings, is refused,
  and so is a file of another kind (a checkpoint, a folder) where a dataset file belongs. Every file is written
  atomically by ``gpt.files``.
- The readers (``load_dataset``, ``load_tokenizer``, ``CharTokenizer.load``, ``tokenizer_from_dict``) either load
  or raise ``DatasetError`` naming the file and what is wrong with it: any bytes on disk, nothing else escapes
  (tests/test_fuzz_readers.py fuzzes them to keep it so).

Only the standard library and numpy are used; the autograd engine is not imported here.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import operator
import os
import reprlib
import urllib.request
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import files

# the fewest tokens a split may have: a context of block_size tokens needs block_size + 2 (a window, its
# targets shifted by one, and one more so that windows can differ), so block_size 1 needs 3
MIN_SPLIT_TOKENS = 3

TINYSHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINYSHAKESPEARE_SIZE = 1115394  # characters; the file is pure ASCII, so this is also its size in bytes
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"

MAX_VOCAB_SIZE = 2**16  # token ids are stored as uint16 on disk: ids 0..65535, so at most 65,536 tokens
MIN_BPE_VOCAB_SIZE = 257  # the 256 byte tokens and at least one merge
MAX_JSON_BYTES = 64 << 20  # far more than any meta.json or vocab.json we write (a 65,536-token BPE is ~5 MB)
_ENCODE_CHUNK = 1 << 24  # characters per vectorised step: bounds the temporary arrays to ~100 MB
_PREPARE_HINT = "run `gpt prepare shakespeare` (or `gpt prepare text --input FILE --name NAME`) first"
# what prepare may replace: its own files, as gpt.files.describe names them (a checkpoint renamed train.bin is not)
DATASET_KINDS = ("a dataset file",)


class DatasetError(ValueError):
    """The one error of the dataset and vocabulary readers: a prepared dataset or a vocabulary that cannot be
    used, with a message naming the file and what is wrong. A ValueError, so code that catches ValueError (and
    the ``gpt`` command, which prints it on one line) keeps working."""


class DatasetNotFound(DatasetError, FileNotFoundError):
    """A dataset file that is not there. Also a FileNotFoundError, for callers that ask only that."""


# Error messages quote values from files, which may be megabytes long or nested thousands deep: reprlib cuts
# them short (and never recurses deeper than a few levels).
_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxlevel = 40, 40, 4, 4, 2


def _short(value) -> str:
    return _SHORT.repr(value)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON's true is a Python int: not a count


def _json_kind(value) -> str:
    """A JSON value's type in words, for messages such as "'merges' is a string, expected a list"."""
    if value is None:
        return "null"
    for kind, words in ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string")):
        if isinstance(value, kind):
            return words
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__


def _check_chars(chars: list, where: str) -> None:
    """Every way a list can fail to be a character vocabulary, as one DatasetError naming ``where``."""
    if len(chars) > MAX_VOCAB_SIZE:  # first: it bounds the work of the checks below
        raise DatasetError(
            f"{where} has {len(chars):,} characters, but token ids are stored as uint16, which holds at most "
            f"{MAX_VOCAB_SIZE:,}"
        )
    if not chars:
        raise DatasetError(f"{where} holds no characters: the vocabulary is empty")
    for i, ch in enumerate(chars):
        if not isinstance(ch, str) or len(ch) != 1:
            raise DatasetError(f"{where}: entry {i} is {_short(ch)}; vocabulary entries must be single characters")
    if len(set(chars)) != len(chars):
        twice = next(ch for ch, n in Counter(chars).items() if n > 1)
        raise DatasetError(f"{where} holds duplicate characters: {twice!r} appears more than once")


class CharTokenizer:
    """Maps each character of a fixed vocabulary to an integer id (its index in ``chars``)."""

    def __init__(self, chars: Iterable[str]):
        chars = list(chars)
        _check_chars(chars, "the vocabulary")
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

    def to_json(self) -> str:
        """vocab.json's text."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, obj: dict, where: str = "vocabulary") -> CharTokenizer:
        if not isinstance(obj, dict) or obj.get("type") != "char" or not isinstance(obj.get("chars"), list):
            raise DatasetError(
                f'{where} is not a character vocabulary: expected {{"type": "char", "chars": [...]}}, got {_short(obj)}'
            )
        _check_chars(obj["chars"], where)
        return cls(obj["chars"])

    def save(self, path: str | os.PathLike) -> None:
        # "a file": a vocabulary saved under a name of the user's choosing is one (a checkpoint there is not)
        files.write_text(path, self.to_json(), replaces=(*DATASET_KINDS, "a file"), what="the vocabulary")

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharTokenizer:
        return cls.from_dict(read_json(path), str(path))

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


# --- Reading the files of a dataset ----------------------------------------------------------------
# Whatever bytes are on disk, these raise DatasetError (never a KeyError, a UnicodeDecodeError, ...) with the
# file's path in the message: a user who edited, truncated or swapped a file learns which one and how.


def _require(path: Path) -> Path:
    """``path`` if it is a regular file, else a DatasetError saying what is there instead."""
    if path.is_file():
        return path
    if path.is_symlink() and not path.exists():
        raise DatasetError(f"{path} is a symbolic link to nothing; {_PREPARE_HINT}")
    if not path.exists():
        raise DatasetNotFound(f"{path} not found; {_PREPARE_HINT}")
    raise DatasetError(f"{path} is {files.describe(path)} where a file belongs; {_PREPARE_HINT}")


# kinds of file that gpt.files.describe recognises by content no dataset file starts with ("a zip archive" is
# not one: describe says it of any file starting with "PK", as a train.bin whose first token id is 19280 does)
_FOREIGN_KINDS = ("a checkpoint", "a training log", "a page made by gpt explore", "an HTML page")


def _foreign_kind(path: Path) -> str | None:
    """What the file ``path`` holds if it is another kind of file that we know (a checkpoint, a log), else None."""
    try:
        kind = files.describe(path.resolve())  # resolved: a dataset file may well be a symbolic link to one
    except Exception:  # a damaged zip archive can make zipfile raise more than BadZipFile (NotImplementedError)
        return None  # only a better message is lost: the checks that follow name what is wrong
    return kind if kind in _FOREIGN_KINDS else None


def read_json(path: str | os.PathLike) -> object:
    """The JSON value in the file ``path`` (UTF-8, as we write it), or a DatasetError that says why not."""
    path = _require(Path(path))
    kind = _foreign_kind(path)  # a checkpoint or a log copied over it is named as such, not as bad JSON
    if kind is not None:
        raise DatasetError(f"{path} is {kind}, not a JSON file of a dataset; {_PREPARE_HINT}")
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise DatasetError(f"{path} is {size:,} bytes, far larger than any file `gpt prepare` writes")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path} cannot be read: {files.os_error_message(e)}") from None
    try:
        text = data.decode("utf-8")  # strict: json.loads would also guess UTF-16 or UTF-32 from raw bytes
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path} is not UTF-8 text: byte offset {e.start} ({e.reason})") from None
    try:
        return json.loads(text)
    except RecursionError:  # "[[[[...": json recurses once per level
        raise DatasetError(f"{path} is not usable JSON: it is nested too deeply") from None
    except ValueError as e:  # a JSONDecodeError, or an integer of more digits than Python converts
        raise DatasetError(f"{path} is not valid JSON: {e}") from None


def tokenizer_from_dict(obj: dict, where: str = "tokenizer"):
    """A tokenizer from its JSON form: ``{"type": "char", ...}`` or ``{"type": "bpe", ...}``."""
    if not isinstance(obj, dict):
        raise DatasetError(f"{where} holds {_json_kind(obj)}, not a vocabulary (a JSON object with a 'type')")
    kind = obj.get("type")
    if kind == "char":
        return CharTokenizer.from_dict(obj, where)
    if kind == "bpe":
        from .bpe import BPETokenizer

        return BPETokenizer.from_dict(obj, where)
    raise DatasetError(f"{where}: unknown tokenizer type {_short(kind)} (expected 'char' or 'bpe')")


def load_tokenizer(path: str | os.PathLike):
    """The tokenizer saved in ``path`` (a vocab.json); raises DatasetError for anything else."""
    return tokenizer_from_dict(read_json(path), str(path))


def _check_meta(meta: object, path: Path) -> dict:
    """meta.json's schema: the keys every reader relies on, with their types and ranges."""
    if not isinstance(meta, dict):
        raise DatasetError(f"{path} holds {_json_kind(meta)}, not the object of a dataset's sizes; {_PREPARE_HINT}")
    for key in ("tokenizer", "vocab_size", "train_tokens", "val_tokens"):
        if key not in meta:
            raise DatasetError(f"{path} has no {key!r}: it is not the meta.json of a prepared dataset")
    if meta["tokenizer"] not in ("char", "bpe"):
        raise DatasetError(f"{path}: 'tokenizer' is {_short(meta['tokenizer'])}, expected 'char' or 'bpe'")
    for key in ("vocab_size", "train_tokens", "val_tokens", "train_chars", "val_chars"):
        if key in meta and not (_is_int(meta[key]) and meta[key] >= 0):
            raise DatasetError(f"{path}: {key!r} is {_short(meta[key])}, expected a count (an integer >= 0)")
    for key in ("source", "sha256"):
        if key in meta and not isinstance(meta[key], str):
            raise DatasetError(f"{path}: {key!r} is {_json_kind(meta[key])}, expected a string")
    digests = meta.get("files_sha256", {})  # absent in datasets prepared before it was added
    if not (isinstance(digests, dict) and all(isinstance(digests.get(n, ""), str) for n in ("train.bin", "val.bin"))):
        raise DatasetError(f"{path}: 'files_sha256' is {_short(digests)}, expected an object of sha256 strings")
    return meta


def _open_split(path: Path, split: str, meta: dict, vocab_size: int) -> np.ndarray:
    """One split's token file, memory-mapped, after checking it against meta.json and the vocabulary."""
    file = _require(path / f"{split}.bin")
    kind = _foreign_kind(file)
    if kind is not None:  # a checkpoint copied over it, say: named as such, not as a size mismatch
        raise DatasetError(f"{file} is {kind}, not the token ids of a dataset; prepare it again")
    size = file.stat().st_size
    if size % 2:
        raise DatasetError(
            f"{file} has {size:,} bytes, an odd number: it cannot hold uint16 token ids; prepare it again"
        )
    key = f"{split}_tokens"
    if meta[key] != size // 2:
        raise DatasetError(
            f"dataset {path} is inconsistent: meta.json says {key}={meta[key]} but {file.name} holds "
            f"{size // 2} tokens; prepare it again"
        )
    if size // 2 < MIN_SPLIT_TOKENS:
        raise DatasetError(
            f"{file} holds {size // 2} tokens, and a split needs at least {MIN_SPLIT_TOKENS}: prepare the dataset "
            "from a longer text"
        )
    tokens = load_split(path, split)
    expected = meta.get("files_sha256", {}).get(file.name)
    if expected is not None and hashlib.sha256(np.asarray(tokens).tobytes()).hexdigest() != expected:
        raise DatasetError(f"{file} is corrupted (its sha256 differs from meta.json's): prepare it again")
    if int(tokens.max()) >= vocab_size:  # one vectorised pass: an id past the vocabulary would fail mid-training
        position = int(np.argmax(tokens >= vocab_size))
        raise DatasetError(
            f"{file}: token id {int(tokens[position])} at position {position:,} is out of range for the "
            f"vocabulary of {vocab_size} tokens; prepare the dataset again"
        )
    return tokens


def encode_to_array(tokenizer, text: str) -> np.ndarray:
    """Token ids as uint16 (the on-disk format), with a check that they fit."""
    if isinstance(tokenizer, CharTokenizer):
        return tokenizer.encode_array(text)
    if tokenizer.vocab_size > MAX_VOCAB_SIZE:
        raise ValueError(f"vocabulary of {tokenizer.vocab_size} tokens does not fit uint16 ids")
    return np.asarray(tokenizer.encode(text), dtype=np.uint16)


# --- Preparing datasets --------------------------------------------------------------------------


def default_data_dir() -> Path:
    """``$GPT_DATA_DIR`` if set, else ``<repo root>/data`` (the repo root holds the ``gpt/`` package)."""
    env = os.environ.get("GPT_DATA_DIR")
    return Path(env).expanduser() if env else Path(__file__).resolve().parent.parent / "data"


def _data_dir(data_dir: str | os.PathLike | None) -> Path:
    return Path(data_dir) if data_dir is not None else default_data_dir()


def _check_tokenizer_settings(tokenizer: str, vocab_size: int | None) -> None:
    if tokenizer not in ("char", "bpe"):
        raise ValueError(f"tokenizer must be 'char' or 'bpe', got {tokenizer!r}")
    if tokenizer == "char":
        if vocab_size is not None:  # silently ignoring it would leave the user believing it applied
            raise ValueError(
                f"vocab_size ({vocab_size}) is for the BPE tokenizer: a char vocabulary is the text's own "
                "characters; leave --vocab-size out, or pass --tokenizer bpe"
            )
        return
    if vocab_size is None:
        raise ValueError("a BPE tokenizer needs vocab_size (e.g. --vocab-size 512)")
    if not _is_int(vocab_size) or not MIN_BPE_VOCAB_SIZE <= vocab_size <= MAX_VOCAB_SIZE:
        raise ValueError(
            f"a BPE vocab_size must be between {MIN_BPE_VOCAB_SIZE} (the 256 byte tokens and one merge) and "
            f"{MAX_VOCAB_SIZE:,} (token ids are stored as uint16), got {vocab_size!r}"
        )


_CHOOSE_ANOTHER = "choose another --name, or move that folder away yourself"


def _existing_dataset(out_dir: Path, text_sha256: str) -> dict | None:
    """The meta of the dataset already in ``out_dir`` if it was prepared from the same text, None if there is no
    dataset there; refuses (``files.WriteRefused``) a folder that holds another text's dataset, or a dataset
    whose meta.json cannot be read: a training run's checkpoint may depend on that data."""
    for folder in (out_dir, *out_dir.parents):  # the first that exists must be a folder
        if folder.exists() or folder.is_symlink():
            if folder.is_dir():
                break
            if folder == out_dir:
                what, fix = f"it is {files.describe(folder)}", "choose another --name"
            else:
                what, fix = f"{folder} is {files.describe(folder)}", "choose another --data-dir"
            raise files.WriteRefused(f"cannot prepare a dataset in {out_dir}: {what}, not a folder; {fix}")
    meta_path = out_dir / "meta.json"
    if not (meta_path.exists() or meta_path.is_symlink()):
        return None  # no dataset, or one whose preparation was interrupted (meta.json is written last)
    try:
        meta = _check_meta(read_json(meta_path), meta_path)
    except DatasetError as e:
        raise files.WriteRefused(
            f"refusing to prepare a dataset in {out_dir}: what it holds is unknown ({e}); {_CHOOSE_ANOTHER}"
        ) from None
    if meta.get("sha256") != text_sha256:
        theirs = f"sha256 {meta['sha256'][:12]}..." if "sha256" in meta else "no sha256 recorded"
        raise files.WriteRefused(
            f"refusing to prepare a dataset in {out_dir}: it holds the dataset of another text "
            f"({meta.get('source', 'source unknown')}, {theirs}; this text's sha256 is {text_sha256[:12]}...); "
            f"a training run's checkpoint may depend on it: {_CHOOSE_ANOTHER}"
        )
    return meta


def _refuse_other_settings(out_dir: Path, existing: dict, meta: dict) -> None:
    """The same text, prepared with other settings (tokenizer, vocabulary size, split) is another dataset."""
    keys = ("tokenizer", "vocab_size", "train_chars", "val_chars", "train_tokens", "val_tokens")
    differences = [
        f"{k} {existing[k]!r} there, {meta[k]!r} now" for k in keys if k in existing and existing[k] != meta[k]
    ]
    if not differences and existing.get("files_sha256", meta["files_sha256"]) != meta["files_sha256"]:
        differences.append("other token ids")
    if differences:
        raise files.WriteRefused(
            f"refusing to prepare a dataset in {out_dir}: it holds a dataset of this text made with other settings "
            f"({'; '.join(differences)}); a training run's checkpoint may depend on it: {_CHOOSE_ANOTHER}"
        )


def _holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a file holding exactly ``data`` (then there is nothing to write)."""
    try:
        return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


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

    Preparing the same text with the same settings again writes nothing (a file that was damaged is written
    anew); a folder holding a dataset of another text or other settings, or a file of another kind where one
    of ours belongs, is refused with ``gpt.files.WriteRefused`` before anything is written.
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be between 0 and 1, got {train_fraction}")
    _check_tokenizer_settings(tokenizer, vocab_size)
    out_dir = Path(out_dir)
    text_sha256 = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    existing = _existing_dataset(out_dir, text_sha256)  # refused now, before the work of tokenizing
    n = int(train_fraction * len(text))
    train_text, val_text = text[:n], text[n:]
    if tokenizer == "char":
        tok = CharTokenizer.from_text(text)  # the lecture's vocabulary: every character of the corpus
    else:
        from .bpe import BPETokenizer

        tok = BPETokenizer.trained(train_text, vocab_size)
    train, val = encode_to_array(tok, train_text), encode_to_array(tok, val_text)
    if min(len(train), len(val)) < MIN_SPLIT_TOKENS:
        raise ValueError(
            f"a text of {len(text)} characters is too short to train on: its train and val parts hold "
            f"{len(train)} and {len(val)} tokens (train_fraction={train_fraction}); training with a context of "
            f"block_size tokens needs block_size + 2 in each, so at least {MIN_SPLIT_TOKENS}"
        )
    meta = {
        "tokenizer": tokenizer,
        "vocab_size": tok.vocab_size,
        "train_tokens": len(train),
        "val_tokens": len(val),
        "train_chars": len(train_text),
        "val_chars": len(val_text),
        "source": source,
        "sha256": text_sha256,
        # of the token files themselves: load_dataset checks them, so a corrupted file is named, not trained on
        "files_sha256": {
            name: hashlib.sha256(split.tobytes()).hexdigest()
            for name, split in (("train.bin", train), ("val.bin", val))
        },
    }
    contents = {"train.bin": train.tobytes(), "val.bin": val.tobytes(), "vocab.json": tok.to_json().encode()}
    if existing is None:
        contents["meta.json"] = (json.dumps(meta, indent=2) + "\n").encode()  # last: it marks the dataset complete
    else:
        _refuse_other_settings(out_dir, existing, meta)
        meta = existing  # the same dataset: its meta.json (and the source it names) stays as it is
    to_write = {name: data for name, data in contents.items() if not _holds(out_dir / name, data)}
    for name in to_write:  # every target checked before the first is written: a refusal leaves nothing half done
        files.check_target(out_dir / name, DATASET_KINDS, f"the dataset's {name}")
    for name, data in to_write.items():
        files.write_bytes(out_dir / name, data, replaces=DATASET_KINDS, what=f"the dataset's {name}")
    return meta


def _read_bytes(path: Path, what: str) -> bytes:
    """An input file's bytes, or one clear error: it is not there, it is a folder, or it cannot be read."""
    if path.is_dir():
        raise ValueError(f"{what} {path} is a folder, not a file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except OSError as e:  # permission denied, an I/O error: the CLI prints "<what> cannot be read (...): <path>"
        raise OSError(e.errno, f"{what} cannot be read ({e.strerror or e})", str(path)) from None


def _decode_utf8(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path} is not valid UTF-8: byte offset {e.start} (0x{data[e.start]:02x}): {e.reason}; "
            "convert it to UTF-8 first"
        ) from None


def _check_name(name: str) -> None:
    """A dataset's name is one folder under the data directory: nothing that could reach outside it."""
    why = None
    if not name:
        why = "it is empty"
    elif name in (".", ".."):
        why = f"{name!r} is not a folder of its own"
    elif os.path.isabs(name):
        why = "it is an absolute path"
    elif "/" in name or "\\" in name or os.sep in name:
        why = "it contains a path separator"
    elif "\0" in name:
        why = "it contains a NUL character"
    if why is not None:
        raise ValueError(f"dataset name must be a plain directory name, got {name!r}: {why}")


def prepare_text_file(
    path: str | os.PathLike,
    name: str,
    data_dir: str | os.PathLike | None = None,
    tokenizer: str = "char",
    vocab_size: int | None = None,
) -> dict:
    """Prepare a UTF-8 text file as the dataset ``name`` in ``data_dir/name``; returns the meta dict."""
    _check_name(name)
    _check_tokenizer_settings(tokenizer, vocab_size)  # the cheap refusals first, before reading a large file
    path = Path(path)
    text = _decode_utf8(_read_bytes(path, "input file"), path)
    if not text:
        raise ValueError(f"input file {path} is empty: there is nothing to prepare")
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
    _existing_dataset(out_dir, TINYSHAKESPEARE_SHA256)  # a folder that cannot take it is refused before a download
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
            # replaces nothing: an input.txt that is not tinyshakespeare is not known to be ours
            files.write_bytes(cache, data, replaces=(), what="the downloaded tinyshakespeare")
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


def load_split(dataset_dir: str | os.PathLike, split: str) -> np.ndarray:
    """Memory-map ``train.bin`` or ``val.bin`` of a prepared dataset directory (read-only uint16)."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    path = _require(Path(dataset_dir) / f"{split}.bin")
    try:
        return np.memmap(path, dtype=np.uint16, mode="r")
    except (OSError, ValueError) as e:  # an empty or odd-sized file, or one that cannot be mapped
        raise DatasetError(f"{path} cannot be read as uint16 token ids: {e}") from None


def load_dataset(name_or_path: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Open a prepared dataset by name (``data_dir/name``) or by directory path.

    Every file is checked against the others (sizes, vocabulary, token ids, sha256s): a dataset that does not
    hold together raises ``DatasetError`` naming the file, rather than failing somewhere in training."""
    path = resolve_dataset_dir(name_or_path, data_dir)
    try:
        if path.exists() and not path.is_dir():
            raise DatasetError(f"{path} is {files.describe(path)}, not a dataset folder; {_PREPARE_HINT}")
        if not (path / "meta.json").exists() and any((path / name).is_file() for name in ("ckpt.npz", "log.jsonl")):
            raise DatasetNotFound(
                f"{path} is a training run's folder, not a dataset: --dataset names a prepared dataset (a name under "
                f"--data-dir, or its folder); {_PREPARE_HINT}"
            )
        meta = _check_meta(read_json(path / "meta.json"), path / "meta.json")
        tokenizer = load_tokenizer(path / "vocab.json")
        kind = "char" if isinstance(tokenizer, CharTokenizer) else "bpe"
        if (meta["tokenizer"], meta["vocab_size"]) != (kind, tokenizer.vocab_size):
            raise DatasetError(
                f"dataset {path} is inconsistent: meta.json says a {meta['tokenizer']} vocabulary of "
                f"{meta['vocab_size']} tokens but vocab.json holds a {kind} vocabulary of {tokenizer.vocab_size}; "
                "prepare it again"
            )
        train = _open_split(path, "train", meta, tokenizer.vocab_size)
        val = _open_split(path, "val", meta, tokenizer.vocab_size)
    except DatasetError:
        raise
    except OSError as e:  # a folder that cannot be listed, a file that vanished meanwhile
        raise DatasetError(f"dataset {path} cannot be read: {files.os_error_message(e)}") from None
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
