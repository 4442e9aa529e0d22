"""The checkpoint reader under fuzzing: any bytes either load as a checkpoint or raise ``CheckpointError``.

The fuzzer is hypothesis over bytes and over JSON: it is already the suite's property-based engine, runs on every
Python the project supports, and shrinks a failure to a small input. atheris (libFuzzer's coverage guidance) has
no wheels for every Python and platform here and would be a second fuzzing engine to install; hypothesis
searches the structure directly instead: the archive's bytes (flipped, cut, spliced), the .npy headers inside
it, and the JSON header, whose values are replaced by other JSON at any depth and then re-hashed so that the
schema check, not the checksum, has to catch them. Whatever loads must also be usable: ``load_model`` builds the
model and loads its weights, or raises the same one error.

``python tests/test_fuzz_checkpoint.py --minutes N`` runs the same properties for N minutes and prints how many
inputs were tried and the line coverage of ``gpt/checkpoint.py`` (when ``coverage`` is installed).
"""

from __future__ import annotations

import inspect
import io
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpt import checkpoint as ckpt

EXAMPLES = settings().max_examples  # the profile's count: 25 in CI, 500 under `thorough`
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


def make_valid_checkpoint() -> tuple[dict, dict]:
    """A small, real checkpoint's (header, arrays): a 1-layer GPT with its AdamW state."""
    import tinygrad_edu as torch
    from gpt.config import build_config
    from gpt.data import CharTokenizer
    from gpt.model import GPT
    from gpt.train import configure_optimizer

    torch.manual_seed(0)
    run = build_config("tiny", {"n_embd": 8, "block_size": 8, "n_head": 2})
    tokenizer = CharTokenizer(list("abcdefgh"))
    model = GPT(run.with_vocab_size(8).model)
    optimizer = configure_optimizer(model, run.train)
    meta = {
        "iter": 2,
        "elapsed_s": 1.0,
        "best_val_loss": 2.0,
        "val_loss": 2.0,
        "model_config": model.config.to_dict(),
        "train_config": run.train.to_dict(),
        "tokenizer": tokenizer.to_dict(),
        "rng": {"engine": torch.get_rng_state(), "batches": np.random.default_rng(0).bit_generator.state},
    }
    with tempfile.TemporaryDirectory() as folder:
        path = ckpt.save_checkpoint(Path(folder) / ckpt.FILENAME, model=model, optimizer=optimizer, meta=meta)
        return ckpt.read_checkpoint(path)


VALID_HEADER, VALID_ARRAYS = make_valid_checkpoint()


def archive_bytes(header, arrays: dict) -> bytes:
    """A checkpoint's bytes, its sha256 recomputed over whatever header is given (so only the schema can refuse)."""
    if isinstance(header, dict):
        header = dict(header, format=ckpt.FORMAT, version=ckpt.VERSION)
        header.pop("sha256", None)
        header = json.loads(json.dumps(header))
        header["sha256"] = ckpt._digest(header, arrays)
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.array(json.dumps(header)), **arrays)
    return buffer.getvalue()


VALID_BYTES = archive_bytes(VALID_HEADER, VALID_ARRAYS)


def load_or_refuse(data: bytes) -> None:
    """The property: the bytes load and the model is built from them, or ``CheckpointError`` says why."""
    from gpt.sample import load_model

    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / ckpt.FILENAME).write_bytes(data)
        try:
            ckpt.read_checkpoint(Path(folder))
            load_model(folder)
        except ckpt.CheckpointError as exc:
            assert folder in str(exc) or "checkpoint" in str(exc)
            assert "pickle" not in str(exc)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@st.composite
def edited_headers(draw):
    """The valid header with one value, at any depth, replaced by any JSON value (or deleted)."""
    header = json.loads(json.dumps(VALID_HEADER))
    node, path = header, []
    while isinstance(node, (dict, list)) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
        if not isinstance(node[key], (dict, list)) or not node[key]:
            break
        node, path = node[key], [*path, key]
    if isinstance(node, dict) and node:
        key = draw(st.sampled_from(sorted(node)))
        if draw(st.booleans()):
            del node[key]
        else:
            node[key] = draw(json_values)
    elif isinstance(node, list) and node:
        node[draw(st.integers(0, len(node) - 1))] = draw(json_values)
    return header


def changed_bytes(changes):
    data = bytearray(VALID_BYTES)
    for position, value in changes:
        data[position] = value
    load_or_refuse(bytes(data))


def spliced(position, inserted, removed):
    load_or_refuse(VALID_BYTES[:position] + inserted + VALID_BYTES[position + removed :])


def header_of(header):
    load_or_refuse(archive_bytes(header, VALID_ARRAYS))


npy_headers = st.fixed_dictionaries(
    {
        "descr": st.sampled_from(["<f4", "<f8", "|b1", "<i8", "|O", "<U3", "|V4", ">f4", "<c8"]),
        "fortran_order": st.booleans(),
        "shape": st.lists(st.integers(0, 2**40), max_size=3).map(tuple),
    }
)


def entry_with_npy_header(name, npy_header, payload):
    """An entry's .npy header may claim any shape and dtype: nothing larger than the file may be allocated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, zipfile.ZipFile(io.BytesIO(VALID_BYTES)) as valid:
        for info in valid.infolist():
            if info.filename == f"{name}.npy":
                with archive.open(info.filename, "w") as f:
                    np.lib.format.write_array_header_1_0(f, npy_header)
                    f.write(payload)
            else:
                archive.writestr(info.filename, valid.read(info))
    load_or_refuse(buffer.getvalue())


# (what is fuzzed, its strategies, the property): each row is a test, and the long run's rotation
PROPERTIES = {
    "any bytes": ((st.binary(max_size=2048),), load_or_refuse),
    "bytes changed": (
        (st.lists(st.tuples(st.integers(0, len(VALID_BYTES) - 1), st.integers(0, 255)), min_size=1, max_size=8),),
        changed_bytes,
    ),
    "cut or spliced": ((st.integers(0, len(VALID_BYTES)), st.binary(max_size=64), st.integers(0, 64)), spliced),
    "a header value changed, rehashed": ((edited_headers(),), header_of),
    "a header of any JSON, rehashed": ((json_values,), header_of),
    "an entry's .npy header": (
        (st.sampled_from(sorted(VALID_ARRAYS)), npy_headers, st.binary(max_size=256)),
        entry_with_npy_header,
    ),
}


@pytest.mark.parametrize("what", PROPERTIES)
def test_the_reader_loads_or_raises_checkpoint_error(what):
    strategies, check = PROPERTIES[what]
    FUZZ(given(*strategies)(check))()


def test_the_valid_checkpoint_loads():
    load_or_refuse(VALID_BYTES)
    header, _ = ckpt.read_checkpoint(_written(VALID_BYTES))
    assert header["iter"] == 2


def _written(data: bytes) -> Path:
    folder = Path(tempfile.mkdtemp())
    (folder / ckpt.FILENAME).write_bytes(data)
    return folder


def long_run(minutes: float) -> None:
    """Run every property in turn, 500 examples at a time, until the time is up; print the figures."""
    try:
        import coverage
    except ImportError:
        coverage = None
    source = str(Path(ckpt.__file__))
    cov = coverage.Coverage(include=[source]) if coverage else None
    if cov:
        cov.start()
    tried, start = 0, time.monotonic()
    while time.monotonic() < start + 60 * minutes:
        for strategies, check in PROPERTIES.values():

            def counted(args):
                nonlocal tried
                tried += 1
                args[-1](*args[:-1])

            many = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            many(given(st.tuples(*strategies, st.just(check)))(counted))()
    print(f"{tried:,} inputs in {(time.monotonic() - start) / 60:.1f} minutes: each loaded or raised CheckpointError")
    if cov:
        cov.stop()
        _, statements, _, missing, _ = cov.analysis2(source)
        reader = set()  # the reader's own lines (the module's top level ran before coverage started)
        for function in (ckpt.read_checkpoint, ckpt._read_archive, ckpt._read_npy, ckpt._read_header):
            lines, first = inspect.getsourcelines(function)
            reader.update(range(first, first + len(lines)))
        lines, first = inspect.getsourcelines(ckpt.validate_header)
        reader.update(range(first, first + len(lines)))
        statements, missing = reader & set(statements), reader & set(missing)
        covered = 1 - len(missing) / len(statements)
        print(f"line coverage of the checkpoint reader: {covered:.0%} of {len(statements)} lines")
        print(f"lines never reached: {sorted(missing)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--minutes"]:
        long_run(float(sys.argv[2]))
    else:
        pytest.main([__file__, "-q"])
