"""Checkpoints: one ``.npz`` file of plain arrays plus a JSON header, written atomically, loaded without pickle.

Layout inside the archive:
  ``__meta__``          the JSON header (format, model and training configs, vocabulary, iteration, RNG states,
                        optimizer hyper-parameters), stored as a unicode string array;
  ``model/<name>``      every entry of ``model.state_dict()``;
  ``optim/<i>/<key>``   the optimizer's per-parameter arrays (Adam's moments), ``i`` in parameter order.

Writing goes to a temporary file of this process in the same directory, is flushed to disk, then renamed over
the old file (``gpt/files.py``): a crash at any moment leaves either the old checkpoint or the new one, never a
torn file, and nothing but a checkpoint is ever replaced. Reading checks everything before anything is used:
entry sizes before any byte is read, the sha256 over the header and the arrays, the header's schema.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from . import files, int8

FORMAT = "tinygrad_edu-gpt-checkpoint"
VERSION = 2  # 2: the sha256 covers the header too (version 1's covered the arrays only)
FILENAME = "ckpt.npz"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt, or made for another model or vocabulary: the one error of the
    checkpoint reader, whatever is wrong with the file."""


def save_checkpoint(path: str | os.PathLike, *, model, optimizer=None, meta: dict) -> Path:
    arrays = {f"model/{name}": _host(t) for name, t in model.state_dict().items()}
    header = dict(meta)
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
    """Write ``arrays`` and ``header`` (with their checksum) as a checkpoint, atomically; only a checkpoint may
    be replaced (``gpt/files.py``)."""
    path = Path(path)
    arrays = dict(arrays)
    # as it will be read back; an RNG state (a uint8 tensor, as PyTorch's) is stored as its list of bytes
    header = json.loads(json.dumps(dict(header, format=FORMAT, version=VERSION), default=_json_value))
    header.pop("sha256", None)
    header["sha256"] = _digest(header, arrays)  # read_checkpoint recomputes it
    arrays["__meta__"] = np.array(json.dumps(header))
    with files.atomic_writer(path, replaces=("a checkpoint",), what="the checkpoint") as f:
        np.savez(f, **arrays)
    return path


def _json_value(value):
    """A tensor or NumPy array in the header, such as ``torch.get_rng_state()``'s bytes, as a list of numbers
    (``torch.set_rng_state`` takes the list back)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"a checkpoint's header holds JSON data, not {type(value).__name__}")


def read_checkpoint(path: str | os.PathLike, *, allow_unverified: bool = False) -> tuple[dict, dict]:
    """(header, arrays) of a checkpoint, checked before anything is used: the archive's entries (sizes read
    before any byte is), the sha256 over header and arrays, and the header's schema. Whatever is wrong, the
    error is one ``CheckpointError`` naming the file. ``allow_unverified`` loads a file without a sha256 (or of
    version 1, whose sha256 left the header out), and the caller should say so."""
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: train first with `gpt train --out_dir {path.parent}`")
    if not path.is_file():
        raise CheckpointError(f"{path} is {files.describe(path)}, not a checkpoint file")
    arrays = _read_archive(path)
    header = _read_header(path, arrays.pop("__meta__", None))
    expected = header.pop("sha256", None)
    if expected is None or header["version"] < 2:
        if not allow_unverified:
            why = "it carries no sha256" if expected is None else "its sha256 (format version 1) leaves the header out"
            raise CheckpointError(
                f"{path} cannot be verified: {why}, so a damaged or edited file would go unnoticed. If you trust "
                "it (a file written by an older gpt), load it with --allow-unverified"
            )
        if expected is not None and _digest_arrays(arrays) != expected:
            raise CheckpointError(f"{path} is corrupted: its arrays do not match the sha256 in its header")
        header["unverified"] = True  # the caller tells the user
    elif not isinstance(expected, str) or _digest(header, arrays) != expected:
        raise CheckpointError(f"{path} is corrupted: its header and arrays do not match the sha256 in its header")
    validate_header(header, arrays, path)
    return header, arrays


def _read_archive(path: Path) -> dict:
    """The archive's arrays. ``np.load`` would allocate whatever an entry's header claims and inflate whatever
    the archive holds; here each entry must be stored uncompressed (gpt never compresses) and its .npy header
    must describe exactly the bytes that follow, so nothing larger than the file itself is ever allocated."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        with open(path, "rb") as f:
            zip_like = f.read(2) == b"PK"
        found = (
            "truncated or damaged (a zip archive whose directory cannot be read)"
            if zip_like
            else (f"{files.describe(path)}, not the .npz archive `gpt train` writes")
        )
        raise CheckpointError(f"{path} is not a readable checkpoint: it is {found}") from None
    except OSError as exc:
        raise CheckpointError(f"{path} cannot be read: {files.os_error_message(exc)}") from None
    file_size = path.stat().st_size
    arrays: dict = {}
    with archive:
        infos = archive.infolist()
        if sum(info.file_size for info in infos) > file_size:
            raise CheckpointError(f"{path} is corrupted: its entries claim more bytes than the file holds")
        for info in infos:
            name = info.filename
            if not name.endswith(".npy") or name[:-4] in arrays:
                raise CheckpointError(f"{path} is not a checkpoint: unexpected entry {name!r}")
            if info.compress_type != zipfile.ZIP_STORED:
                raise CheckpointError(f"{path} is not a checkpoint: entry {name!r} is compressed (gpt never does)")
            try:
                with archive.open(info) as entry:
                    arrays[name[:-4]] = _read_npy(entry, info.file_size)
            except CheckpointError as exc:
                raise CheckpointError(f"{path} is corrupted: entry {name!r} {exc}") from None
            except Exception as exc:  # noqa: BLE001 - NumPy's header parser raises many kinds on odd bytes
                raise CheckpointError(
                    f"{path} is corrupted: entry {name!r} cannot be read ({exc.__class__.__name__}: {exc})"
                ) from None
    return arrays


def _read_npy(entry, size: int) -> np.ndarray:
    fmt = np.lib.format
    version = fmt.read_magic(entry)
    if version == (1, 0):
        shape, fortran_order, dtype = fmt.read_array_header_1_0(entry)
    elif version == (2, 0):
        shape, fortran_order, dtype = fmt.read_array_header_2_0(entry)
    else:
        raise CheckpointError(f"has an unsupported .npy version {version}")
    if dtype.hasobject or dtype.kind not in "biufcU":
        raise CheckpointError(f"holds {dtype} data (a checkpoint holds numbers and text only)")
    count = math.prod(shape)
    needed, left = count * dtype.itemsize, size - entry.tell()
    if needed != left:
        raise CheckpointError(f"has {left} bytes of data where its shape {shape} and {dtype} need {needed}")
    data = entry.read(needed)
    if len(data) != needed:
        raise CheckpointError(f"is truncated: {len(data)} of {needed} bytes")
    array = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(shape[::-1]).T if fortran_order else array.reshape(shape)


def _read_header(path: Path, meta) -> dict:
    if meta is None:
        raise CheckpointError(f"{path} has no __meta__ header: not a {FORMAT} file")
    if meta.dtype.kind != "U" or meta.shape != ():
        raise CheckpointError(f"{path}: its __meta__ header is not a JSON text")
    try:
        header = json.loads(str(meta))
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path}: its __meta__ header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: its __meta__ header is a JSON {type(header).__name__}, not an object")
    version = header.get("version")
    if header.get("format") == FORMAT and _is_int(version) and version > VERSION:
        raise CheckpointError(
            f"{path} was written by a newer version of gpt (checkpoint format version {version}; this code reads "
            f"versions up to {VERSION}): update tinygrad_edu/gpt to load it"
        )
    if header.get("format") != FORMAT or not _is_int(version) or not 1 <= version <= VERSION:
        raise CheckpointError(
            f"{path}: format {header.get('format')!r} version {version!r}, expected {FORMAT!r} version 1 to {VERSION}"
        )
    return header


def validate_header(header: dict, arrays: dict, path) -> None:
    """Check the header's schema (keys, types, ranges) and the arrays' names, so no later use of the checkpoint
    can fail on a missing key or a value of the wrong type."""
    from .config import ConfigError, TrainConfig, _check_types
    from .data import tokenizer_from_dict
    from .memory import training_bytes
    from .model import GPTConfig

    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{path}: {what}")

    for key, kind in (("model_config", dict), ("train_config", dict), ("tokenizer", dict)):
        if not isinstance(header.get(key), kind):
            raise bad(f"its header's {key!r} is {_kind(header.get(key))}, expected an object")
    if not _is_int(header.get("iter")) or header["iter"] < 0:
        raise bad(f"its header's 'iter' is {header.get('iter')!r}, expected an integer >= 0")
    for key in ("elapsed_s", "best_val_loss", "val_loss"):
        value = header.get(key)
        if value is not None and (not _is_number(value) or (key == "elapsed_s" and not value >= 0)):
            raise bad(f"its header's {key!r} is {value!r}, expected a number")
    if not _is_int(header.get("world_size", 1)) or header.get("world_size", 1) < 1:
        raise bad(f"its header's 'world_size' is {header.get('world_size')!r}, expected an integer >= 1")
    if not isinstance(header.get("evaluated", True), bool):
        raise bad(f"its header's 'evaluated' is {header.get('evaluated')!r}, expected true or false")
    try:
        model_config = GPTConfig.from_dict(header["model_config"])
        _check_types(model_config)
        TrainConfig(**header["train_config"])
        tokenizer = tokenizer_from_dict(header["tokenizer"], f"{path}'s tokenizer")
    except (ValueError, TypeError, ConfigError) as exc:
        raise bad(f"its header holds an invalid configuration or vocabulary: {exc}") from None
    if tokenizer.vocab_size != model_config.vocab_size:
        raise bad(
            f"its vocabulary has {tokenizer.vocab_size} tokens but its model_config's vocab_size is "
            f"{model_config.vocab_size}"
        )
    # the model the header describes must be about as large as the weights held (memory.py's count of
    # parameters, within 4x for the ablation switches): a header edited to a huge model is refused before any
    # model is built for it
    held = sum(a.size for k, a in arrays.items() if k.startswith("model/") or k.endswith("/values"))
    described = training_bytes(model_config.to_dict(), model_config.vocab_size, 1, 1)
    described = described["parameters, gradients and AdamW state"] // 4
    if described > 4 * held + 100_000:
        raise bad(
            f"its model_config describes a model of about {described:,} parameters, but it holds {held:,} weights"
        )
    rng = header.get("rng")
    if rng is not None and not (isinstance(rng, dict) and all(isinstance(v, (dict, list)) for v in rng.values())):
        raise bad("its header's 'rng' is not an object of generator states")
    optimizer = header.get("optimizer")
    if optimizer is not None and not (
        isinstance(optimizer, dict)
        and isinstance(optimizer.get("param_groups"), list)
        and all(isinstance(g, dict) for g in optimizer["param_groups"])
        and isinstance(optimizer.get("scalars"), dict)
        and all(str(k).isdigit() and isinstance(v, dict) for k, v in optimizer["scalars"].items())
    ):
        raise bad("its header's 'optimizer' is not an optimizer state (param_groups and scalars)")
    for name, array in arrays.items():
        kind, _, rest = name.partition("/")
        if kind == "optim" and not (rest.partition("/")[0].isdigit() and rest.partition("/")[2]):
            raise bad(f"its array {name!r} is not named optim/<index>/<name>")
        if kind not in ("model", "optim") and not name.startswith(int8.PREFIX):
            raise bad(f"its array {name!r} is neither a model weight nor optimizer state")
        if array.dtype.kind == "U":
            raise bad(f"its array {name!r} holds text, not numbers")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value) -> str:
    return "missing" if value is None else f"a JSON {type(value).__name__}"


def _digest(header: dict, arrays: dict) -> str:
    """sha256 over the header (canonical JSON, without its sha256) and every array."""
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    digest.update(_digest_arrays(arrays).encode())
    return digest.hexdigest()


def _digest_arrays(arrays: dict) -> str:
    """sha256 over every array's name, dtype, shape and bytes, in name order (version 1's checksum)."""
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
    try:
        state = {k[len("model/") :]: tensor(v) for k, v in arrays.items() if k.startswith("model/")}
        model.load_state_dict(state)
    except (RuntimeError, ValueError, TypeError, KeyError) as exc:
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
    try:
        optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise CheckpointError(f"the checkpoint's optimizer state does not fit this model's optimizer: {exc}") from None


def config_differences(saved: dict, current: dict) -> list[str]:
    """Human-readable ``name: saved -> current`` lines for every field that differs."""
    keys = sorted(set(saved) | set(current))
    return [f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)]


def _host(t) -> np.ndarray:
    """A tensor's values as a NumPy array, copied from whichever device holds it."""
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


# ----------------------------------------------------------------------------------------------------------
# nanoGPT's checkpoints: ``ckpt.pt`` as nanoGPT's train.py writes it with torch.save, read with
# tinygrad_edu.load (PyTorch's format, no code run from the file) and mapped onto gpt/model.py's GPT, whose
# modules have nanoGPT's names: only the containers differ (nanoGPT's ``transformer.h.<i>`` is ``blocks.<i>``).

NANOGPT_FILENAME = "ckpt.pt"
_NANOGPT_ARGS = ("n_layer", "n_head", "n_embd", "block_size", "vocab_size")


def is_pytorch_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a zip archive as torch.save writes it (a ``<folder>/data.pkl`` inside)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.count("/") == 1 and name.endswith("/data.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def read_nanogpt_checkpoint(path: str | os.PathLike, meta: str | os.PathLike | None = None):
    """(GPTConfig, state_dict with gpt/model.py's names, CharTokenizer, header) of a nanoGPT ``ckpt.pt``.

    The vocabulary comes from ``meta`` (the ``meta.pkl`` nanoGPT's prepare.py writes beside its data), else from
    a ``meta.pkl`` beside the checkpoint, else from ``data/<dataset>/meta.pkl`` as nanoGPT's sample.py looks."""
    import pickle

    from tinygrad_edu import Tensor, load

    from .data import CharTokenizer, DatasetError
    from .model import GPTConfig

    path = Path(path)
    try:
        saved = load(path, map_location="cpu")
    except (RuntimeError, pickle.UnpicklingError, OSError, TypeError) as exc:
        raise CheckpointError(f"{path} cannot be loaded: {exc}") from None
    if not (
        isinstance(saved, dict) and isinstance(saved.get("model"), dict) and isinstance(saved.get("model_args"), dict)
    ):
        raise CheckpointError(f"{path} is not a nanoGPT checkpoint: expected a dict with 'model' and 'model_args'")
    args = saved["model_args"]
    missing = [key for key in _NANOGPT_ARGS if not _is_int(args.get(key))]
    if missing:
        raise CheckpointError(f"{path}: its model_args lack integer {', '.join(missing)}")
    state = {}
    for name, value in saved["model"].items():
        if not isinstance(value, Tensor):
            raise CheckpointError(f"{path}: its model entry {name!r} is a {type(value).__name__}, not a tensor")
        name = str(name).removeprefix("_orig_mod.")  # torch.compile's wrapper, stripped as nanoGPT's sample.py does
        if name.endswith(".attn.bias"):  # nanoGPT's causal mask (without flash attention): ours makes its own
            continue
        name = name.removeprefix("transformer.")
        state["blocks." + name[2:] if name.startswith("h.") else name] = value
    # nanoGPT ties lm_head to wte; a checkpoint whose two matrices differ (edited after training) keeps both
    head, embedding = state.get("lm_head.weight"), state.get("wte.weight")
    tied = head is None or embedding is None or head is embedding or np.array_equal(_host(head), _host(embedding))
    try:
        config = GPTConfig(
            **{key: args[key] for key in _NANOGPT_ARGS},
            bias=bool(args.get("bias", True)),
            dropout=0.0,  # dropout is for training; sampling runs in eval mode
            tie_weights=bool(tied),
        )
    except ValueError as exc:
        raise CheckpointError(f"{path}: its model_args do not describe a GPT: {exc}") from None
    meta_path = _find_meta(path, meta, saved.get("config"))
    try:
        with open(meta_path, "rb") as f:
            from tinygrad_edu.serialization import load_plain_pickle

            vocabulary = load_plain_pickle(f.read(), str(meta_path))
        itos = vocabulary["itos"]
        tokenizer = CharTokenizer([itos[i] for i in range(len(itos))])
    except (OSError, pickle.UnpicklingError, DatasetError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{meta_path} is not a nanoGPT meta.pkl with an 'itos' table: {exc!r}") from None
    if tokenizer.vocab_size != config.vocab_size:
        raise CheckpointError(
            f"{meta_path} has {tokenizer.vocab_size} characters but {path}'s model has vocab_size {config.vocab_size}"
        )
    header = {"format": "nanoGPT", "model_args": dict(args), "iter": saved.get("iter_num")}
    return config, state, tokenizer, header


def _find_meta(path: Path, meta, config) -> Path:
    if meta is not None:
        return Path(meta)
    candidates = [path.parent / "meta.pkl"]
    if isinstance(config, dict) and isinstance(config.get("dataset"), str):
        candidates.append(Path("data") / config["dataset"] / "meta.pkl")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise CheckpointError(
        f"{path} is a nanoGPT checkpoint, and its vocabulary is not here ({' or '.join(map(str, candidates))}): "
        "give --meta PATH, the meta.pkl of its dataset (nanoGPT's data/<dataset>/meta.pkl). GPT-2's BPE "
        "vocabulary (nanoGPT's default without a meta.pkl) is not supported"
    )
