"""Watching a training run as it goes, beyond its ``log.jsonl``: ``OUT_DIR/loss.png`` redrawn after every
evaluation (with matplotlib), and with ``--tensorboard`` TensorBoard event files in ``OUT_DIR/tensorboard/``
(``tensorboard --logdir OUT_DIR``): the training loss and learning rate at every log step, the gradient norm
when gradients are clipped (clipping is what computes it), tokens/s, and both splits' evaluated losses.

Rank 0 alone draws and writes, as it alone logs. A resumed run tells TensorBoard to forget the events the
earlier process wrote after the checkpoint (``purge_step``), as ``log.jsonl`` is cut back to it.
"""

from __future__ import annotations

import math

from .loss_curves import TrainingCurves

TENSORBOARD_DIR = "tensorboard"


class Watchers:
    def __init__(self, cfg, out_dir, *, is_main: bool, resumed=None, log=print):
        """``resumed``: the ``Progress`` a resumed run restored (None for a new run)."""
        self.curves = self.writer = None
        if not is_main:
            return
        resumed_at = resumed.iter if resumed is not None else None
        self.curves = TrainingCurves(out_dir, log)
        if cfg.tensorboard:
            from tinygrad_edu.utils.tensorboard import SummaryWriter

            try:  # the same log_dir on resume: TensorBoard reads every event file in it as one run
                self.writer = SummaryWriter(out_dir / TENSORBOARD_DIR, purge_step=resumed_at, flush_secs=10)
            except (ImportError, ValueError) as exc:  # before any training: one line with the remedy
                raise RuntimeError(f"--tensorboard: {exc}") from None
            self.writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in cfg.to_dict().items()), resumed_at)
            if resumed is not None and resumed.evaluated and resumed.train_loss is not None:
                # the purge dropped the evaluation at the checkpoint's step too, and this process does not redo it
                self._losses(resumed_at, resumed.train_loss, resumed.val_loss)

    def evaluated(self, it: int, train_loss: float, val_loss: float) -> None:
        if self.curves is not None:
            self.curves.update()
        if self.writer is not None:
            self._losses(it, train_loss, val_loss)
            self.writer.flush()

    def logged(self, it: int, loss: float, lr: float, grad_norm, tokens_per_s: float) -> None:
        """A log step's figures (``grad_norm``: a Tensor, or None when gradients are not clipped)."""
        if self.writer is None:
            return
        self.writer.add_scalar("train/loss", loss, it)
        self.writer.add_scalar("train/learning_rate", lr, it)
        self.writer.add_scalar("train/tokens_per_s", tokens_per_s, it)
        if grad_norm is not None:
            norm = grad_norm.item()
            if math.isfinite(norm):
                self.writer.add_scalar("train/grad_norm", norm, it)

    def _losses(self, it: int, train_loss: float, val_loss: float) -> None:
        # one writer (not add_scalars' folder per curve), so that a resumed run's purge applies to these too
        self.writer.add_scalar("loss/train", train_loss, it)
        self.writer.add_scalar("loss/val", val_loss, it)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
