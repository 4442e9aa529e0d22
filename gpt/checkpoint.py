"""Checkpoints: one ``.npz`` file of plain arrays plus a JSON header, written atomically, loaded without pickle.

Layout inside the archive:
  ``__meta__``          the JSON header (format, model and training configs, vocabulary, iteration, RNG states,
                        optimizer hyper-parameters), stored as a unicode string array;
  ``model/<name>``      every entry of ``model.state_dict()``;
  ``optim/<i>/<key>``   the optimizer's per-parameter arrays (Adam's moments), ``i`` in parameter order.

Writing goes to a temporary file in the same directory, is flushed to disk, then renamed over the old file:
a crash at any moment leaves either the old checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from . import int8

FORMAT = "tinygrad_edu-gpt-checkpoint"
VERSION = 1
FILENAME = "ckpt.npz"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or made for another model or vocabulary."""


def save_checkpoint(path: str | os.PathLike, *, model, optimizer=None, meta: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"model/{name}": _host(t) for name, t in model.state_dict().items()}
    header = dict(meta, format=FORMAT, version=VERSION)
    if optimizer is not None:
        state = optimizer.state_dict()
        header["optimizer"] = {"param_groups": state["param_groups"], "scalars": {}}
        for index, entry in state["state"].items():
            for key, value in entry.items():
                if hasattr(value, "shape"):
                    arrays[f"optim/{index}/{key}"] = _host(value)
                else:
                    header["optimizer"]["scalars"].setdefault(str(index), {})[key] = value
    return write_checkpoint(path, header, arrays)


def write_checkpoint(path: str | os.PathLike, header: dict, arrays: dict) -> Path:
    """Write ``arrays`` and ``header`` (with their checksum) as a checkpoint, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = dict(arrays)
    header = dict(header, format=FORMAT, version=VERSION)
    header["sha256"] = _digest(arrays)  # of every array: read_checkpoint recomputes it
    arrays["__meta__"] = np.array(json.dumps(header))
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for stale in path.parent.glob(f"{path.name}.*.tmp"):  # left by a writer that was killed mid-write
        stale.unlink(missing_ok=True)
    return path


def read_checkpoint(path: str | os.PathLike) -> tuple[dict, dict]:
    """(header, arrays) of a checkpoint; a clear ``CheckpointError`` when it is missing or not ours."""
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: train first with `gpt train --out_dir {path.parent}`")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except Exception as exc:  # zipfile.BadZipFile, ValueError, EOFError: all mean the file is not a checkpoint
        raise CheckpointError(f"{path} is not a readable checkpoint ({exc.__class__.__name__}: {exc})") from None
    if "__meta__" not in arrays:
        raise CheckpointError(f"{path} has no __meta__ header: not a {FORMAT} file")
    header = json.loads(str(arrays.pop("__meta__")))
    version = header.get("version")
    if header.get("format") == FORMAT and isinstance(version, int) and version > VERSION:
        raise CheckpointError(
            f"{path} was written by a newer version of gpt (checkpoint format version {version}; this code reads "
            f"version {VERSION}): update tinygrad_edu/gpt to load it"
        )
    if header.get("format") != FORMAT or version != VERSION:
        raise CheckpointError(
            f"{path}: format {header.get('format')!r} version {header.get('version')!r}, "
            f"expected {FORMAT!r} version {VERSION}"
        )
    expected = header.pop("sha256", None)  # absent in checkpoints written before it was added
    if expected is not None and _digest(arrays) != expected:
        raise CheckpointError(f"{path} is corrupted: its arrays do not match the sha256 in its header")
    return header, arrays


def _digest(arrays: dict) -> str:
    """sha256 over every array's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def load_model_state(model, arrays: dict, path="checkpoint") -> None:
    """Load the weights; int8 ones (``gpt quantize``) are expanded back to floats on the way."""
    from tinygrad_edu import tensor

    arrays = int8.dequantize_arrays(arrays)
    state = {k[len("model/") :]: tensor(v) for k, v in arrays.items() if k.startswith("model/")}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{path} does not fit this model: {exc}") from None


def load_optimizer_state(optimizer, header: dict, arrays: dict) -> None:
    from tinygrad_edu import tensor

    saved = header.get("optimizer")
    if saved is None:
        raise CheckpointError("the checkpoint has no optimizer state, so the run cannot be resumed exactly")
    state: dict = {}
    for key, value in arrays.items():
        if key.startswith("optim/"):
            _, index, name = key.split("/", 2)
            state.setdefault(int(index), {})[name] = tensor(value)
    for index, scalars in saved["scalars"].items():
        state.setdefault(int(index), {}).update(scalars)
    optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})


def config_differences(saved: dict, current: dict) -> list[str]:
    """Human-readable ``name: saved -> current`` lines for every field that differs."""
    keys = sorted(set(saved) | set(current))
    return [f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)]


def _host(t) -> np.ndarray:
    """A tensor's values as a NumPy array, copied from whichever device holds it."""
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
