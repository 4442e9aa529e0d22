"""``gpt quantize``: an int8 copy of a trained run's checkpoint (``gpt/int8.py``), and what it costs.

It writes ``<run>-q8/ckpt.npz`` (or ``--to DIR``), which ``gpt sample`` and ``load_model`` read as any other
checkpoint (the weights are expanded back to float32 when loaded: this is weight-only quantization, for
storage and for loading; the arithmetic stays float32). It reports the weights' bytes before and after and
the validation loss of both models on the same batches.

It never writes over the run it reads: ``--to`` must be another folder, and a checkpoint already there is
replaced only if it is an int8 copy of the same run (``check_destination``).
"""

from __future__ import annotations

from pathlib import Path

import tinygrad_edu as torch

from . import checkpoint as ckpt
from . import files, int8
from .arguments import positive_int
from .config import TrainConfig
from .data import load_dataset
from .sample import load_model


def quantize_run(
    out_dir: str | Path,
    to: str | Path | None = None,
    group_size: int = int8.GROUP_SIZE,
    eval_iters: int = 50,
    log=print,
    allow_unverified: bool = False,
) -> dict:
    """Quantize ``out_dir``'s checkpoint into ``to``; returns the sizes and, if the dataset is found, the losses."""
    if group_size < 1 or eval_iters < 1:
        raise ValueError(f"group_size and eval_iters must be at least 1, got {group_size} and {eval_iters}")
    for flag, value in (("--out-dir", out_dir), ("--to", to)):
        if value is not None and str(value).strip() == "":  # Path("") would quietly mean the current folder
            raise ValueError(f"{flag} is empty: name a folder, or leave {flag} out for its default")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(
            f"--out-dir {out_dir} is {files.describe(out_dir)}, not a folder: give the training run's folder "
            "(the one that holds ckpt.npz)"
        )
    if to is None:
        base = out_dir if out_dir.name not in ("", "..") else out_dir.resolve()  # `.` has no name to add "-q8" to
        to = base.with_name(base.name + "-q8")
    to = Path(to)
    header, arrays = ckpt.read_checkpoint(out_dir / ckpt.FILENAME, allow_unverified=allow_unverified)
    if "quantization" in header:
        made_by = header["quantization"]
        source = made_by.get("source", "another run") if isinstance(made_by, dict) else "another run"
        raise ckpt.CheckpointError(
            f"{out_dir / ckpt.FILENAME} is already quantized: it is an int8 copy of {source}; quantize that float32 "
            "run instead"
        )
    check_destination(out_dir, to)  # before the work: what is in --to must be an earlier copy of this run
    model_arrays = {k: a for k, a in arrays.items() if k.startswith("model/")}
    quantized = int8.quantize_arrays(model_arrays, group_size)
    widths = sorted({a.shape[-1] for a in model_arrays.values() if a.ndim >= 2 and a.dtype.kind == "f"})
    undivided = [w for w in widths if w % group_size]
    if undivided:  # int8.quantize then falls back to one scale per row: it works, but is not what was asked
        log(
            f"note: a group size of {group_size} does not divide rows of {', '.join(map(str, undivided))} weights: "
            "those matrices get one scale per row"
        )
    # a quantized run is for sampling only; its own sha256 is written with it
    new_header = {k: v for k, v in header.items() if k not in ("optimizer", "unverified")}
    new_header["quantization"] = {"scheme": int8.SCHEME, "group_size": group_size, "source": str(out_dir)}
    ckpt.write_checkpoint(to / ckpt.FILENAME, new_header, quantized)
    report = {
        "weights_bytes": int8.weight_bytes(model_arrays),
        "quantized_weights_bytes": int8.weight_bytes(quantized),
        "file_bytes": (out_dir / ckpt.FILENAME).stat().st_size,
        "quantized_file_bytes": (to / ckpt.FILENAME).stat().st_size,
        "out_dir": str(to),
    }
    report["ratio"] = report["weights_bytes"] / report["quantized_weights_bytes"]
    log(
        f"wrote {to / ckpt.FILENAME}: weights {report['weights_bytes'] / 2**20:.2f} MiB -> "
        f"{report['quantized_weights_bytes'] / 2**20:.2f} MiB ({report['ratio']:.2f}x smaller)"
    )
    losses = _val_losses(out_dir, to, header, eval_iters)
    if losses is not None:
        report.update(losses)
        log(
            f"val loss: {losses['val_loss']:.4f} float32, {losses['quantized_val_loss']:.4f} int8 "
            f"({losses['quantized_val_loss'] - losses['val_loss']:+.4f}) over {eval_iters} batches"
        )
    return report


def check_destination(out_dir: Path, to: Path) -> None:
    """Refuse a ``--to`` that would lose something: the run itself (its float32 checkpoint and the optimizer state
    that resuming needs), a file, another training run, or a folder whose checkpoint is not an int8 copy of this
    same run. An earlier copy of this run may be replaced: that is running ``gpt quantize`` again."""
    if to.resolve() == out_dir.resolve():
        raise files.WriteRefused(
            f"--to {to} is the run being quantized: its float32 checkpoint would be replaced; the int8 copy needs a "
            "folder of its own (leave --to out for OUT_DIR-q8)"
        )
    if to.exists() and not to.is_dir():
        raise files.WriteRefused(f"--to {to} is {files.describe(to)}, not a folder: name a folder for the int8 copy")
    for name, holds in (("log.jsonl", "a training run"), *((name, "a dataset") for name in files.DATASET_FILES)):
        if (to / name).exists():  # the copy's checkpoint would sit among another run's or a dataset's files
            raise files.WriteRefused(f"--to {to} holds {holds} (its {name}): the int8 copy needs a folder of its own")
    target = to / ckpt.FILENAME
    found = files.describe(target)
    if found == "nothing":
        return
    refusal = f"refusing to write the int8 copy at {target}: it holds {found}"
    if found == "a checkpoint":
        try:
            header, _ = ckpt.read_checkpoint(target)
        except ckpt.CheckpointError:
            header = None
        made_by = header.get("quantization") if header else None  # gpt quantize's record: {"source": ...}
        source = made_by.get("source") if isinstance(made_by, dict) else None
        if source is not None and Path(source).resolve() == out_dir.resolve():
            return  # an earlier int8 copy of this very run
        if header is None:
            refusal += " that cannot be read"
        elif source is None:
            refusal += " of float32 weights, a run of its own"
        else:
            refusal += f", an int8 copy of another run ({source})"
    raise files.WriteRefused(f"{refusal}; choose another --to, or move that file away yourself")


def _val_losses(out_dir: Path, to: Path, header: dict, eval_iters: int) -> dict | None:
    from .train import Batches, estimate_loss  # the training module is needed only for this report

    train_cfg = header["train_config"]
    try:
        dataset = load_dataset(train_cfg["dataset"], train_cfg.get("data_dir"))
    except (FileNotFoundError, ValueError):
        return None  # the run's dataset is not here: sizes only
    cfg = TrainConfig(**{**train_cfg, "eval_iters": eval_iters})
    losses = {}
    for key, directory in (("val_loss", out_dir), ("quantized_val_loss", to)):
        # both files were read or written above, the source checked as the user asked
        model, _, saved = load_model(directory, cfg.device, allow_unverified=True)
        splits = {"val": Batches(dataset.val, saved["model_config"]["block_size"], cfg.batch_size, cfg.device)}
        losses[key] = estimate_loss(model, splits, cfg, it=0)["val"]
    return losses


def add_arguments(parser) -> None:
    """The flags of ``gpt quantize``."""
    parser.add_argument(
        "--allow-unverified",
        action="store_true",
        help="load a checkpoint that carries no sha256 over its header (written by an older gpt)",
    )
    parser.add_argument("--out-dir", default="out/baby", help="the training run to quantize (holds ckpt.npz)")
    parser.add_argument(
        "--to",
        default=None,
        help="a folder of its own for the int8 run (default: OUT_DIR-q8); it replaces only an earlier copy of the "
        "same run",
    )
    parser.add_argument(
        "--group-size",
        type=positive_int,
        default=int8.GROUP_SIZE,
        help="weights per scale (default 32); a matrix whose rows it does not divide gets one scale per row",
    )
    parser.add_argument(
        "--eval-iters", type=positive_int, default=50, help="validation batches for the loss comparison"
    )


def run(args) -> int:
    torch.manual_seed(0)
    quantize_run(args.out_dir, args.to, args.group_size, args.eval_iters, allow_unverified=args.allow_unverified)
    return 0
