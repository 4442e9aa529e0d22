"""Fuzzing the dataset and vocabulary readers: whatever bytes are on disk, ``load_dataset`` and ``load_tokenizer``
either load or raise ``DatasetError`` (gpt/data.py), never a KeyError, a TypeError, a UnicodeDecodeError, ...

Why property-based fuzzing with hypothesis rather than a coverage-guided fuzzer such as atheris: hypothesis is
already a core test dependency and runs wherever the tests run, while atheris is not installed here and has no
wheels for every Python version we support (elsewhere it needs a libFuzzer-enabled clang to build), so a fuzz
test built on it would be skipped on part of CI. The inputs are built to reach deep into the readers rather than
stop at the first check: raw bytes, JSON of every shape, and structured mutations of a valid prepared dataset
(bytes flipped, files cut short or extended, one JSON value swapped for a value of another type).

The pytest tests run each property for a few times the profile's example count (``HYPOTHESIS_PROFILE``:
``ci`` is derandomized, and the whole file takes a few seconds there). For a long run::

    python tests/test_fuzz_readers.py --minutes 3

runs the same properties round after round until the time is up, then prints how many inputs were tried and,
where ``coverage`` is importable, the line coverage of the reader functions.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: import gpt from this checkout

from gpt.bpe import BPETokenizer  # noqa: E402
from gpt.data import DatasetError, load_dataset, load_tokenizer, prepare_text  # noqa: E402

TEXT = "héllo wörld, ça va? 日本語 🙂 the end.\n" * 12
FILES = ("meta.json", "vocab.json", "train.bin", "val.bin")


def _templates() -> dict[str, dict[str, bytes]]:
    """The files of valid prepared datasets of TEXT, one per tokenizer (and one as older versions wrote it): what
    the mutations start from."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, options in (("char", {}), ("bpe", {"tokenizer": "bpe", "vocab_size": 300})):
            prepare_text(TEXT, Path(tmp) / kind, **options)
            out[kind] = {name: (Path(tmp) / kind / name).read_bytes() for name in FILES}
    # as prepared before meta.json had the token files' sha256: a changed token file then meets the other checks
    meta = json.loads(out["char"]["meta.json"])
    del meta["files_sha256"]
    out["char, no sha256"] = {**out["char"], "meta.json": json.dumps(meta).encode()}
    return out


TEMPLATES = _templates()
# a zip archive holding __meta__.npy, as a checkpoint does: the readers ask gpt.files.describe whether a file is a
# checkpoint, which opens it with zipfile (mutations of it found zipfile raising NotImplementedError)
_zip = io.BytesIO()
with zipfile.ZipFile(_zip, "w") as archive:
    archive.writestr("__meta__.npy", b"\x93NUMPY")
ZIP = _zip.getvalue()
# a vocabulary with what prepare never makes, for load_tokenizer alone: no pre-split pattern, a special token
SPECIAL_VOCAB = (
    BPETokenizer.trained(TEXT, 280, pattern=None, special_tokens=["<|endoftext|>"]).to_json().encode("utf-8")
)
TRIED = Counter()  # inputs tried per property, for the long run's report


# --- what must hold for every input -------------------------------------------------------------------------------


def load_or_refuse(files: dict[str, bytes]) -> None:
    """Write ``files`` as a dataset folder and open it: it loads, usable, or raises DatasetError."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        try:
            dataset = load_dataset(Path(tmp))
        except DatasetError:
            return
        # what loads is usable: sizes as meta.json says, ids within the vocabulary, and they decode
        assert (len(dataset.train), len(dataset.val)) == (dataset.meta["train_tokens"], dataset.meta["val_tokens"])
        assert max(int(dataset.train.max()), int(dataset.val.max())) < dataset.tokenizer.vocab_size
        dataset.tokenizer.decode(dataset.val[:64])


def tokenizer_or_refuse(data: bytes) -> None:
    """Write ``data`` as a vocab.json and load it: a tokenizer that decodes every one of its ids, or DatasetError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vocab.json"
        path.write_bytes(data)
        try:
            tokenizer = load_tokenizer(path)
        except DatasetError:
            return
        tokenizer.decode(range(min(tokenizer.vocab_size, 512)))


# --- inputs ---------------------------------------------------------------------------------------------------------

# any JSON value, nested: what a swapped value, or a whole file, may be
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


def json_bytes(values=json_values):
    return values.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass"))


@st.composite
def byte_mutations(draw, data: bytes) -> bytes:
    """``data`` with bytes flipped, cut short, extended, or a slice repeated."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "extend", "repeat"]))
        if op == "flip" and out:
            out[draw(st.integers(0, len(out) - 1))] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del out[draw(st.integers(0, len(out))) :]
        elif op == "extend":
            out += draw(st.binary(max_size=8))
        elif op == "repeat" and out:
            i = draw(st.integers(0, len(out) - 1))
            out[i:i] = out[i : i + draw(st.integers(1, 16))]
    return bytes(out)


@st.composite
def json_mutations(draw, data: bytes) -> bytes:
    """``data`` (a JSON file) with one value somewhere inside it swapped for any JSON value, or a key removed."""
    top = {"file": json.loads(data)}
    parent, key = top, "file"
    while isinstance(parent[key], (dict, list)) and parent[key] and draw(st.booleans()):  # walk down at random
        parent = parent[key]
        key = draw(st.sampled_from(sorted(parent) if isinstance(parent, dict) else range(len(parent))))
    op = draw(st.sampled_from(["swap", "copy", "remove"]) if parent is not top else st.just("swap"))
    if op == "remove" and isinstance(parent, dict):
        del parent[key]
    elif op == "copy":  # a sibling's value in its place: a duplicate character, a pair merged twice
        parent[key] = parent[draw(st.sampled_from(sorted(parent) if isinstance(parent, dict) else range(len(parent))))]
    else:
        parent[key] = draw(json_values)
    return json.dumps(top["file"], ensure_ascii=False).encode("utf-8", "surrogatepass")


def file_contents(name: str, template: bytes):
    """Anything that may be found in the file ``name``: raw bytes, mutations of the valid one and of a zip
    archive, and for JSON files, JSON of any shape and valid JSON with one value changed."""
    strategies = [st.binary(max_size=64), byte_mutations(template), byte_mutations(ZIP)]
    if name.endswith(".json"):
        deep = st.integers(1, 100_000).map(lambda n: b"[" * n + b"]" * n)  # deeper than Python's recursion limit
        strategies += [json_bytes(), json_mutations(template), deep]
    return st.one_of(strategies)


# --- the properties -------------------------------------------------------------------------------------------------


def one_file(kind: str, name: str):
    """A property: the dataset of ``kind`` with the file ``name`` replaced by fuzzed bytes."""

    def check(data: bytes) -> None:
        TRIED[f"{kind} {name}"] += 1
        load_or_refuse({**TEMPLATES[kind], name: data})
        if name == "vocab.json":
            tokenizer_or_refuse(data)

    return file_contents(name, TEMPLATES[kind][name]), check


def several_files(draw_data) -> None:
    """A property: a valid dataset with one to four of its files mutated at once (and a file sometimes gone)."""
    kind = draw_data.draw(st.sampled_from(sorted(TEMPLATES)), label="tokenizer")
    TRIED[f"{kind} several files"] += 1
    files = dict(TEMPLATES[kind])
    for name in draw_data.draw(st.lists(st.sampled_from(FILES), min_size=1, max_size=4, unique=True), label="files"):
        if draw_data.draw(st.integers(0, 9), label="remove?") == 0:
            del files[name]
        else:
            files[name] = draw_data.draw(file_contents(name, TEMPLATES[kind][name]), label=name)
    load_or_refuse(files)


def special_vocab(data: bytes) -> None:
    TRIED["bpe vocab.json, special tokens"] += 1
    tokenizer_or_refuse(data)


PROPERTIES = {
    **{f"{kind} {name}": one_file(kind, name) for kind in ("char", "bpe") for name in FILES},
    **{f"char, no sha256 {name}": one_file("char, no sha256", name) for name in ("train.bin", "val.bin")},
    "several files": (st.data(), several_files),
    "bpe vocab.json, special tokens": (file_contents("vocab.json", SPECIAL_VOCAB), special_vocab),
}


def fuzz(name: str, max_examples: int, **options):
    """The property ``name`` as a runnable hypothesis test."""
    strategy, check = PROPERTIES[name]
    return settings(max_examples=max_examples, deadline=None, **options)(given(strategy)(check))


# a few times the profile's count: each example costs about a millisecond (ci: 25 -> 100 per property)
EXAMPLES = 4 * settings.default.max_examples


@pytest.mark.parametrize("name", PROPERTIES)
def test_the_readers_load_or_raise_dataset_error(name):
    fuzz(name, EXAMPLES)()


# --- the long run ---------------------------------------------------------------------------------------------------

READERS = {  # the functions whose lines the long run reports the coverage of
    "gpt/data.py": (
        "_check_chars",
        "CharTokenizer.__init__",
        "CharTokenizer.from_dict",
        "_require",
        "_foreign_kind",
        "read_json",
        "tokenizer_from_dict",
        "load_tokenizer",
        "_check_meta",
        "_open_split",
        "load_split",
        "load_dataset",
    ),
    "gpt/bpe.py": ("_compile", "BPETokenizer.__init__", "BPETokenizer._add_merge", "BPETokenizer.from_dict"),
}


def reader_lines(path: Path, names) -> set[int]:
    """The line numbers of the bodies of the functions ``names`` (``Class.method`` for methods) in ``path``."""
    import ast

    lines = set()

    def visit(node, prefix=""):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{child.name}.")
            elif isinstance(child, ast.FunctionDef) and prefix + child.name in names:
                lines.update(range(child.body[0].lineno, child.end_lineno + 1))

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return lines


def main(argv: list[str] | None = None) -> int:
    import argparse
    import time

    parser = argparse.ArgumentParser(description="Fuzz the dataset and vocabulary readers for a while.")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--examples-per-round", type=int, default=200, help="per property, before the next one")
    args = parser.parse_args(argv)
    try:
        import coverage
    except ImportError:
        coverage = None
        print("coverage is not importable: no coverage figures (pip install coverage)")
    root = Path(__file__).resolve().parents[1]
    cov = coverage.Coverage(include=[str(root / f) for f in READERS], data_file=None) if coverage else None
    if cov:
        cov.start()
    start, rounds = time.monotonic(), 0
    while time.monotonic() - start < args.minutes * 60:
        for name in PROPERTIES:
            # not derandomized, and no example database: every round tries new inputs, and writes nothing
            fuzz(name, args.examples_per_round, database=None, suppress_health_check=list(HealthCheck))()
        rounds += 1
    minutes = (time.monotonic() - start) / 60
    print(f"{sum(TRIED.values()):,} inputs in {minutes:.1f} minutes ({rounds} rounds), none raised anything but")
    print("DatasetError or loaded a dataset that was not usable:")
    for name, count in sorted(TRIED.items()):
        print(f"  {name:32s} {count:8,}")
    if cov:
        cov.stop()
        for file, names in READERS.items():
            _, statements, _, missing, _ = cov.analysis2(str(root / file))
            lines = reader_lines(root / file, names)
            ours, missed = set(statements) & lines, set(missing) & lines
            print(
                f"line coverage of the readers in {file}: {len(ours) - len(missed)}/{len(ours)} "
                f"({100 * (len(ours) - len(missed)) / len(ours):.1f}%); not reached: {sorted(missed)}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
