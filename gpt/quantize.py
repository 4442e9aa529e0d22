"""``gpt quantize``: an int8 copy of a trained run's checkpoint (``gpt/int8.py``), and what it costs.

It writes ``<run>-q8/ckpt.npz`` (or ``--to DIR``), which ``gpt sample`` and ``load_model`` read as any other
checkpoint (the weights are expanded back to float32 when loaded: this is weight-only quantization, for
storage and for loading; the arithmetic stays float32). It reports the weights' bytes before and after and
the validation loss of both models on the same batches.
"""

from __future__ import annotations

from pathlib import Path

import tinygrad_edu as torch

from . import checkpoint as ckpt
from . import int8
from .config import TrainConfig
from .data import load_dataset
from .sample import load_model


def quantize_run(
    out_dir: str | Path,
    to: str | Path | None = None,
    group_size: int = int8.GROUP_SIZE,
    eval_iters: int = 50,
    log=print,
) -> dict:
    """Quantize ``out_dir``'s checkpoint into ``to``; returns the sizes and, if the dataset is found, the losses."""
    out_dir = Path(out_dir)
    to = Path(to) if to is not None else out_dir.with_name(out_dir.name + "-q8")
    header, arrays = ckpt.read_checkpoint(out_dir / ckpt.FILENAME)
    if "quantization" in header:
        raise ckpt.CheckpointError(f"{out_dir / ckpt.FILENAME} is already quantized ({header['quantization']})")
    model_arrays = {k: a for k, a in arrays.items() if k.startswith("model/")}
    quantized = int8.quantize_arrays(model_arrays, group_size)
    new_header = {k: v for k, v in header.items() if k != "optimizer"}  # a quantized run is for sampling only
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
        model, _, saved = load_model(directory, cfg.device)
        splits = {"val": Batches(dataset.val, saved["model_config"]["block_size"], cfg.batch_size, cfg.device)}
        losses[key] = estimate_loss(model, splits, cfg, it=0)["val"]
    return losses


def add_arguments(parser) -> None:
    """The flags of ``gpt quantize``."""
    parser.add_argument("--out-dir", default="out/baby", help="the training run to quantize (holds ckpt.npz)")
    parser.add_argument("--to", default=None, help="where the int8 run goes (default: OUT_DIR-q8)")
    parser.add_argument("--group-size", type=int, default=int8.GROUP_SIZE, help="weights per scale (default 32)")
    parser.add_argument("--eval-iters", type=int, default=50, help="validation batches for the loss comparison")


def run(args) -> int:
    torch.manual_seed(0)
    quantize_run(args.out_dir, args.to, args.group_size, args.eval_iters)
    return 0
