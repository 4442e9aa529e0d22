"""Training: the recipe as nanoGPT's train.py tells it — config, data, model, optimizer, loop, eval, checkpoint.

Reproducibility: training batches come from a NumPy generator seeded by ``seed``; dropout draws from the
engine's generator (``tinygrad_edu.manual_seed``); evaluation batches come from a generator seeded by
(seed, iteration), so evaluating never disturbs training. The checkpoint stores both training generators'
states, so ``--resume`` replays exactly the batches and dropout masks an uninterrupted run would have drawn.

Under ``mpiexec -n N`` (``gpt/distributed.py``) every rank runs this same loop on its slice of each batch
and the gradients are averaged before clipping; rank 0 alone logs, prints and writes checkpoints.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import tinygrad_edu as torch
from tinygrad_edu import nn

from . import checkpoint as ckpt
from . import distributed, files, memory
from .config import RunConfig, TrainConfig
from .data import CharTokenizer, Dataset, batch_from_offsets, load_dataset, prepare_shakespeare, resolve_dataset_dir
from .model import GPT, GPTConfig, eval_mode
from .run_folder import RunFolder, RunFolderError
from .signals import StopSignals, TrainingStopped
from .watching import Watchers


@dataclass
class TrainResult:
    model: GPT
    tokenizer: CharTokenizer
    iterations: int
    train_loss: float | None
    val_loss: float | None
    elapsed_s: float
    out_dir: Path
    already_complete: bool = False  # a resumed run that had reached max_iters: nothing was trained
    skipped_steps: int = 0  # updates skipped for a non-finite loss or gradient (on_nonfinite="skip")


def learning_rate(it: int, cfg: TrainConfig) -> float:
    """Linear warm-up for ``warmup_iters``, then cosine decay from ``learning_rate`` to ``min_lr``."""
    if not cfg.decay_lr:
        return cfg.learning_rate
    if it < cfg.warmup_iters:
        return cfg.learning_rate * (it + 1) / (cfg.warmup_iters + 1)
    decay_iters = cfg.lr_decay_iters or cfg.max_iters
    if it >= decay_iters:
        return cfg.min_lr
    progress = (it - cfg.warmup_iters) / max(1, decay_iters - cfg.warmup_iters)
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.learning_rate - cfg.min_lr)


def configure_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices (weights, embeddings) and none on vectors (biases, LayerNorm gains)."""
    params = list(model.parameters())
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2))


class Batches:
    """Random (x, y) windows of a token array; y is x shifted by one token.

    With ``world_size`` ranks, every rank draws the offsets of the whole batch (world_size × batch_size), as
    one process with that batch would, and keeps its own slice: rank r the r-th ``batch_size`` rows."""

    def __init__(self, data: np.ndarray, block_size: int, batch_size: int, device: str, rank: int = 0, world_size=1):
        if len(data) <= block_size + 1:
            raise ValueError(f"the split has {len(data)} tokens, too few for block_size {block_size}")
        self.data, self.block_size, self.batch_size, self.device = data, block_size, batch_size, device
        self.rank, self.world_size = rank, world_size

    def sample(self, rng: np.random.Generator):
        offsets = rng.integers(0, len(self.data) - self.block_size, size=self.batch_size * self.world_size)
        offsets = offsets[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
        x, y = batch_from_offsets(self.data, offsets, self.block_size)
        return torch.from_numpy(x).to(self.device), torch.from_numpy(y).to(self.device)


@torch.no_grad()
def estimate_loss(model: GPT, splits: dict, cfg: TrainConfig, it: int, world=distributed.SINGLE) -> dict:
    """Mean loss over ``eval_iters`` random batches of each split, in eval mode, without a graph (each rank
    evaluates its slice of every batch, and the ranks' means are averaged)."""
    out = {}
    with eval_mode(model):
        for name, batches in splits.items():
            rng = np.random.default_rng([cfg.seed, it, 0 if name == "train" else 1])
            total = None  # summed on the device, in float64, and read once: one sync per split, not per batch
            for _ in range(cfg.eval_iters):
                x, y = batches.sample(rng)
                _, loss = model(x, y)
                total = loss.double() if total is None else total + loss.double()
            out[name] = world.mean((total / cfg.eval_iters).item())
    return out


def load_or_prepare(cfg: TrainConfig, world=distributed.SINGLE) -> Dataset:
    """The prepared dataset; tinyshakespeare is prepared on first use (from TINYSHAKESPEARE or a download),
    by rank 0 alone while the other ranks wait (they would write the same files at once)."""
    if not world.is_main:
        world.broadcast(None)  # wait for rank 0 to have prepared it
        return load_dataset(cfg.dataset, cfg.data_dir)
    dataset = _load_or_prepare(cfg)
    world.broadcast(None)
    return dataset


def _load_or_prepare(cfg: TrainConfig) -> Dataset:
    if cfg.dataset == "shakespeare" and not (resolve_dataset_dir("shakespeare", cfg.data_dir) / "meta.json").exists():
        print("preparing tinyshakespeare (first run) ...")
        prepare_shakespeare(data_dir=cfg.data_dir)
    return load_dataset(cfg.dataset, cfg.data_dir)


def train(
    run: RunConfig,
    *,
    resume: bool = False,
    replace_run: bool = False,
    allow_changes: bool = False,
    allow_unverified: bool = False,
    log=print,
    world: distributed.World | None = None,
) -> TrainResult:
    """Train ``run``; ``resume`` continues the run in its out_dir, ``replace_run`` moves an old run there aside
    first (never deletes it), ``allow_changes`` lets a resumed run change settings (the log records them)."""
    world = world or distributed.world()
    folder = _claim_run_folder(run.train, resume, replace_run, world, log)
    try:
        with StopSignals() as stop:
            return _train(run, resume, allow_changes, allow_unverified, log, world, stop)
    finally:
        if folder is not None:
            folder.release()


def _claim_run_folder(cfg: TrainConfig, resume: bool, replace_run: bool, world, log) -> RunFolder | None:
    """Rank 0 locks the run folder and checks what it holds; every rank learns the verdict."""
    if resume and replace_run:
        raise RunFolderError("--resume continues the run in --out_dir and --replace-run moves it aside: pass one")
    folder, refusal = None, None
    if world.is_main:
        try:
            folder = RunFolder(cfg.out_dir).claim()
            found = folder.run_files()
            if found and not resume:
                if not replace_run:
                    folder.release()
                    raise RunFolderError(
                        f"{folder.path} already holds a run ({', '.join(p.name for p in found)}): pass --resume to "
                        "continue it, --replace-run to start over (the old run's files are moved into "
                        f"{folder.path}/replaced-<time>/, not deleted), or train in another --out_dir"
                    )
                log(f"moved the previous run in {folder.path} aside, to {folder.move_aside()}")
        except RunFolderError as exc:
            if world.size == 1:
                raise
            refusal = str(exc)
    if world.size > 1:
        refusal = world.broadcast(refusal)
        if refusal is not None:
            raise distributed.DistributedError(refusal)
    return folder


def _train(run: RunConfig, resume: bool, allow_changes: bool, allow_unverified: bool, log, world, stop) -> TrainResult:
    """The loop, as nanoGPT's train.py tells it: set up, then evaluate (log, checkpoint) every eval_interval
    iterations and take one optimizer step per iteration."""
    job = Job.set_up(run, world, log)
    done = Progress(best_val=math.inf)
    if resume:
        done = job.restore(allow_changes, allow_unverified)
        if done.iter >= job.cfg.max_iters:
            return job.already_complete(done)
    job.announce()
    watch = Watchers(job.cfg, job.out_dir, is_main=world.is_main, resumed=done if resume else None, log=job.log)
    bar = _progress_bar(job.cfg, done.iter)
    start, t0 = done.iter, time.perf_counter()
    elapsed = lambda: done.elapsed_before + time.perf_counter() - t0  # noqa: E731 - the run's clock, resumes included

    for it in range(start, job.cfg.max_iters + 1):
        lr = learning_rate(it, job.cfg)
        if (it % job.cfg.eval_interval == 0 or it == job.cfg.max_iters) and not (it == start and done.evaluated):
            job.evaluate_and_log(it, lr, done, elapsed(), time.perf_counter() - t0, bar)
            watch.evaluated(it, done.train_loss, done.val_loss)  # loss.png, and TensorBoard's loss curves
            if job.cfg.checkpoint:
                job.save(it, done, evaluated=True, elapsed=elapsed())
        if it == job.cfg.max_iters:
            break
        loss = job.step(it, lr, done, bar)
        if it % job.cfg.log_interval == 0:
            train_loss = world.mean(loss.item())  # the one host sync per log interval (and, on N ranks, a sum)
            rate = done.tokens / max(time.perf_counter() - t0, 1e-9)
            watch.logged(it, train_loss, lr, done.grad_norm, rate)
            if bar is not None:
                bar.set_postfix(loss=f"{train_loss:.4f}", tok_s=f"{rate:,.0f}", refresh=False)
        if bar is not None:
            bar.update(1)
        if job.stop_requested(stop, it):  # SIGINT or SIGTERM: stop after this step, with a checkpoint
            if bar is not None:
                bar.close()
            watch.close()
            if job.cfg.checkpoint:
                job.save(it + 1, done, evaluated=False, elapsed=elapsed())
            raise TrainingStopped(stop.signal_number, it + 1, job.ckpt_path if job.cfg.checkpoint else None)

    if bar is not None:
        bar.close()
    watch.close()
    return TrainResult(
        job.model, job.dataset.tokenizer, job.cfg.max_iters, done.train_loss, done.val_loss, elapsed(),
        job.out_dir, skipped_steps=done.skipped,
    )  # fmt: skip


@dataclass
class Progress:
    """Where a run is: the next iteration, the clock before this process, the losses last evaluated, and the
    counters of this process (tokens trained on, updates skipped)."""

    iter: int = 0
    elapsed_before: float = 0.0
    best_val: float = math.inf
    train_loss: float | None = None
    val_loss: float | None = None
    evaluated: bool = False  # whether the log already holds the evaluation of ``iter`` (a resumed run)
    tokens: int = 0
    skipped: int = 0
    grad_norm: object = None  # the last step's gradient norm (a Tensor) when clipping computed it, else None


@dataclass
class Job:
    """Everything a run trains with, built once by ``set_up``; its methods are the recipe's named steps."""

    run: RunConfig  # the model's vocab_size is the dataset's
    world: distributed.World
    log: object
    dataset: Dataset
    model: GPT
    optimizer: torch.optim.AdamW
    average_gradients: object
    batch_rng: np.random.Generator
    splits: dict
    blas_limit: object  # held for the run: the limit on BLAS threads lasts while it is referenced

    @property
    def cfg(self) -> TrainConfig:
        return self.run.train

    @functools.cached_property
    def micro_step(self):
        """Forward and backward of one micro-batch (its loss, detached): traced once and replayed fused with
        ``--compile`` (``tinygrad_edu.compile``), eager otherwise."""
        model, steps = self.model, self.cfg.gradient_accumulation_steps

        def micro_step(x, y):
            _, loss = model(x, y)
            # the mean over micro-batches: each contributes 1/steps of the gradient of the full batch
            (loss / steps).backward()
            return loss.detach()

        return torch.compile(micro_step) if self.cfg.compile else micro_step

    @property
    def model_cfg(self) -> GPTConfig:
        return self.run.model

    @property
    def out_dir(self) -> Path:
        return Path(self.cfg.out_dir)

    @property
    def ckpt_path(self) -> Path:
        return self.out_dir / ckpt.FILENAME

    @classmethod
    def set_up(cls, run: RunConfig, world, log) -> Job:
        """The data, the model (the same initial weights on every rank), AdamW, the batch generator."""
        if not world.is_main:  # rank 0 alone logs, prints and writes
            log, run = _quiet, dataclasses.replace(run, train=dataclasses.replace(run.train, progress=False))
        cfg = run.train
        blas_limit = distributed.limit_blas_threads(world)
        if torch.device(cfg.device).type == "cuda":
            distributed.use_local_gpu(world)
        dataset = load_or_prepare(cfg, world)
        run = run.with_vocab_size(dataset.tokenizer.vocab_size)  # the placeholder replaced by the dataset's
        model_cfg = run.model
        dtype_bytes = 8 if cfg.dtype == "float64" else 4
        memory.check_fits(model_cfg.to_dict(), model_cfg.vocab_size, cfg.batch_size, dtype_bytes, cfg.device)
        distributed.agree(
            world,
            {
                "the model config": model_cfg.to_dict(),
                "the training config": {k: v for k, v in cfg.to_dict().items() if k != "progress"},
                "the training data": distributed.data_digest(dataset.train),
                "the validation data": distributed.data_digest(dataset.val),
                "the code": distributed.code_digest(),
            },
        )
        torch.manual_seed(cfg.seed)
        model = GPT(model_cfg).to(cfg.device, torch.float64 if cfg.dtype == "float64" else torch.float32)
        if world.rank:  # ...but each rank's own dropout masks (rank 0 keeps the single-process stream)
            torch.manual_seed((cfg.seed + world.rank) % 2**64)
        optimizer = configure_optimizer(model, cfg)
        splits = {
            name: Batches(data, model_cfg.block_size, cfg.batch_size, cfg.device, world.rank, world.size)
            for name, data in (("train", dataset.train), ("val", dataset.val))
        }
        return cls(
            run, world, log, dataset, model, optimizer,
            distributed.GradientAverager(model.parameters(), world),
            np.random.default_rng(cfg.seed),  # the same on every rank: each draws the whole batch
            splits, blas_limit,
        )  # fmt: skip

    def announce(self) -> None:
        self.log(
            f"model: {self.model.num_params() / 1e6:.2f}M parameters (non-embedding), vocab "
            f"{self.model_cfg.vocab_size}, {self.cfg.device}, {self.cfg.dtype}"
        )
        if self.world.size > 1:
            self.log(
                f"data parallel: {self.world.size} ranks x batch_size {self.cfg.batch_size} = global batch "
                f"{self.world.size * self.cfg.batch_size}; {distributed.blas_threads(self.world)} BLAS thread(s) "
                "per rank"
            )

    def step(self, it: int, lr: float, done: Progress, bar):
        """One optimizer step on a fresh batch (accumulated over micro-batches, averaged over ranks, clipped);
        a non-finite loss or gradient stops the run or skips the update (``on_nonfinite``). Returns the loss."""
        cfg = self.cfg
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        for _ in range(cfg.gradient_accumulation_steps):
            x, y = self.splits["train"].sample(self.batch_rng)
            loss = self.micro_step(x, y)
        self.average_gradients()  # the mean over ranks, before clipping: every rank then makes the same update
        params = self.model.parameters()
        watched = nn.utils.clip_grad_norm_(params, cfg.grad_clip) if cfg.grad_clip else loss.detach()
        done.grad_norm = watched if cfg.grad_clip else None
        what = "gradient norm" if cfg.grad_clip else "loss"
        if cfg.on_nonfinite == "stop":
            # checked on the device: at once on the CPU; on a GPU at the next sync (the next log or evaluation,
            # which comes before any checkpoint is written), so a step that does not log waits for nothing
            torch.assert_async(watched.isfinite(), lambda: NonFiniteLoss(
                f"iteration {it}: the {what} is {watched.item()} (learning rate {lr:.3g}); "
                f"{_kept(self.ckpt_path, cfg)}. Lower --learning-rate, or pass --on-nonfinite skip to skip such steps"
            ))  # fmt: skip
            self.optimizer.step()
        elif not math.isfinite(norm := watched.item()):  # skipping has to know before the update: one sync
            done.skipped += 1
            _write(bar, self.log, f"step {it}: {what} is {norm}, update skipped ({done.skipped} so far)")
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        done.tokens += cfg.batch_size * self.model_cfg.block_size * cfg.gradient_accumulation_steps * self.world.size
        return loss

    def evaluate_and_log(self, it: int, lr: float, done: Progress, elapsed: float, session_s: float, bar) -> None:
        """Both splits' mean loss, a row of log.jsonl and a line for the user; a non-finite loss stops the run."""
        losses = estimate_loss(self.model, self.splits, self.cfg, it, self.world)
        if not (math.isfinite(losses["train"]) and math.isfinite(losses["val"])):
            raise NonFiniteLoss(
                f"iteration {it}: the evaluated loss is not finite (train {losses['train']}, val {losses['val']}); "
                f"{_kept(self.ckpt_path, self.cfg)}"
            )
        done.train_loss, done.val_loss = losses["train"], losses["val"]
        done.best_val = min(done.best_val, losses["val"])
        if self.world.is_main:
            _append_log(self.out_dir, {
                "iter": it,
                "train_loss": round(losses["train"], 6),
                "val_loss": round(losses["val"], 6),
                "lr": lr,
                "elapsed_s": round(elapsed, 3),
                "tokens_per_s": round(done.tokens / max(session_s, 1e-9), 1) if it else 0.0,
            })  # fmt: skip
        train, val = losses["train"], losses["val"]
        _write(bar, self.log, f"step {it}: train loss {train:.4f}, val loss {val:.4f}, lr {lr:.2e}, {elapsed:.1f}s")

    def save(self, at_iter: int, done: Progress, *, evaluated: bool, elapsed: float) -> None:
        """The checkpoint of the state before iteration ``at_iter``: weights, AdamW's moments, every RNG (rank 0
        writes it; every rank gives its dropout stream)."""
        engines = self.world.gather(torch.get_rng_state())
        on_cuda = torch.device(self.cfg.device).type == "cuda"
        cudas = self.world.gather(torch.cuda.get_rng_state()) if on_cuda else None
        if not self.world.is_main:
            return
        several = self.world.size > 1
        meta = {
            "iter": at_iter,
            "evaluated": evaluated,  # whether the log already holds iteration at_iter's evaluation
            "elapsed_s": elapsed,
            "best_val_loss": done.best_val,
            "val_loss": done.val_loss,
            **self.run.to_dict(),  # model_config and train_config: RunConfig.from_dict reads them back
            "tokenizer": self.dataset.tokenizer.to_dict(),
            "data_sha256": self.dataset.meta.get("files_sha256"),
            "code_version": torch.__version__,
            "world_size": self.world.size,
            "rng": {
                "engine": engines[0],
                "batches": self.batch_rng.bit_generator.state,
                **({"cuda": cudas[0]} if on_cuda else {}),
                **({"engine_by_rank": engines} if several else {}),
                **({"cuda_by_rank": cudas} if several and on_cuda else {}),
            },
        }
        try:
            ckpt.save_checkpoint(self.ckpt_path, model=self.model, optimizer=self.optimizer, meta=meta)
        except OSError as exc:  # a full disk, a read-only folder: the previous checkpoint is intact
            kept = "the previous one is kept as it was" if self.ckpt_path.exists() else "no checkpoint was written"
            raise ckpt.CheckpointError(
                f"iteration {at_iter}: could not write the checkpoint {self.ckpt_path} ({exc.strerror or exc}); {kept}"
            ) from None

    def restore(self, allow_changes: bool, allow_unverified: bool) -> Progress:
        """Load the checkpoint into the model, AdamW and every RNG, after checking it is this run's."""
        path, world = self.ckpt_path, self.world
        # rank 0 reads the file and hands it to the others, so only rank 0's machine needs the run directory
        header, arrays = world.broadcast(
            ckpt.read_checkpoint(path, allow_unverified=allow_unverified) if world.is_main else None
        )
        if header.get("unverified"):
            self.log(f"warning: {path} was loaded without verifying it (--allow-unverified)")
        _check_world_size(header, world, self.cfg, path)
        data_sha256 = self.dataset.meta.get("files_sha256")
        _check_compatible(header, self.model_cfg, self.dataset.tokenizer, self.cfg, path, data_sha256)
        changes = _changed_settings(header, self.cfg)
        if changes and not allow_changes:
            raise ckpt.CheckpointError(
                f"--resume would change the run in {self.out_dir}: {'; '.join(changes)} (checkpoint -> now). Pass "
                "the run's own settings to continue it exactly, or --allow-changes if the change is meant (the log "
                "records it)"
            )
        ckpt.load_model_state(self.model, arrays, path)
        ckpt.load_optimizer_state(self.optimizer, header, arrays)
        rng = header["rng"]
        torch.set_rng_state(rng["engine_by_rank"][world.rank] if "engine_by_rank" in rng else rng["engine"])
        if "cuda" in rng:  # dropout on a GPU draws from the CUDA generator
            torch.cuda.set_rng_state(rng["cuda_by_rank"][world.rank] if "cuda_by_rank" in rng else rng["cuda"])
        self.batch_rng.bit_generator.state = rng["batches"]
        if world.is_main:
            _truncate_log(self.out_dir / "log.jsonl", header["iter"])  # drop evaluations made after the checkpoint
            if changes:
                event = {"iter": header["iter"], "event": "resumed with changed settings", "changes": changes}
                _append_log(self.out_dir, event)
        if header["iter"] < self.cfg.max_iters:
            self.log(f"resuming from {path} at iteration {header['iter']}")
        return Progress(
            iter=header["iter"],
            elapsed_before=header["elapsed_s"],
            best_val=header.get("best_val_loss", math.inf),
            train_loss=_last_log_row(self.out_dir / "log.jsonl").get("train_loss"),
            val_loss=header.get("val_loss"),
            evaluated=header.get("evaluated", True),  # False: stopped by a signal between evaluations
        )

    def already_complete(self, done: Progress) -> TrainResult:
        self.log(
            f"{self.ckpt_path} is already at iteration {done.iter} of max_iters {self.cfg.max_iters}: the run is "
            "complete (raise --max-iters to train on)"
        )
        return TrainResult(
            self.model, self.dataset.tokenizer, done.iter, done.train_loss, done.val_loss, done.elapsed_before,
            self.out_dir, already_complete=True,
        )  # fmt: skip

    def stop_requested(self, stop: StopSignals, it: int) -> bool:
        """Whether a signal asked the run to stop after iteration ``it``. Under MPI the ranks agree at a log
        step, where they meet anyway, so that all stop at the same iteration."""
        if self.world.size == 1:
            return stop.requested
        if it % self.cfg.log_interval:
            return False
        return self.world.mean(1.0 if stop.requested else 0.0) > 0


def _quiet(*args, **kwargs) -> None:
    """The log of ranks other than 0: they train in silence."""


def _check_world_size(header: dict, world, cfg: TrainConfig, path) -> None:
    saved = header.get("world_size", 1)
    if saved != world.size:
        per_rank = header.get("train_config", {}).get("batch_size", cfg.batch_size)
        raise distributed.DistributedError(
            f"{path} was written by a run of {saved} process(es) with batch_size {per_rank} each (global batch "
            f"{saved * per_rank}); this run has {world.size}. Each process's slice of every batch and its dropout "
            "stream are in the checkpoint, so an exact resume needs the same number: run it with "
            f"`mpiexec -n {saved} gpt train ... --resume`"
            + (" (or without mpiexec)" if saved == 1 else "")
            + ", or start a new run in another --out_dir"
        )


class NonFiniteLoss(RuntimeError):
    """Training met a NaN or inf loss or gradient: it stopped, and the last good checkpoint is untouched."""


def _kept(ckpt_path: Path, cfg: TrainConfig) -> str:
    if cfg.checkpoint and ckpt_path.exists():
        return f"training stopped; the last good checkpoint, {ckpt_path}, is kept as it was"
    return "training stopped; no checkpoint was written"


def _last_log_row(path: Path) -> dict:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []
    evaluations = [row for row in rows if "train_loss" in row]
    return evaluations[-1] if evaluations else {}


def _append_log(out_dir: Path, row: dict) -> None:
    with open(out_dir / "log.jsonl", "a") as f:  # the run folder is locked: this process alone appends
        f.write(json.dumps(row) + "\n")


# Settings a resumed run may change without changing the run: how long it goes on, what it prints, where
# its files are. Any other difference makes it another run.
FREE_ON_RESUME = (
    "max_iters", "progress", "log_interval", "sample_chars", "out_dir", "data_dir", "checkpoint", "tensorboard",
    "compile",  # the same arithmetic up to the fused kernels' rounding
)  # fmt: skip


def _changed_settings(header: dict, cfg: TrainConfig) -> list[str]:
    saved = {k: v for k, v in header["train_config"].items() if k not in FREE_ON_RESUME}
    now = {k: v for k, v in cfg.to_dict().items() if k not in FREE_ON_RESUME}
    lines = ckpt.config_differences(saved, now)  # "name: saved -> now"
    return ["--" + line.split(":")[0].replace("_", "-") + ":" + line.split(":", 1)[1] for line in lines]


def _check_compatible(
    header: dict, model_cfg: GPTConfig, tokenizer: CharTokenizer, cfg: TrainConfig, path, tokenizer_files_sha256=None
) -> None:
    """Refuse to resume a run with another dataset, vocabulary, model config or code version, naming each."""
    saved_dataset = header.get("train_config", {}).get("dataset")
    if saved_dataset is not None and saved_dataset != cfg.dataset:
        raise ckpt.CheckpointError(
            f"{path} was trained on dataset {saved_dataset!r}, not {cfg.dataset!r}; resume with --dataset "
            f"{saved_dataset}, or start a new run in another --out-dir"
        )
    saved_code = header.get("code_version")
    if saved_code is not None and saved_code != torch.__version__:
        raise ckpt.CheckpointError(
            f"{path} was written by tinygrad_edu {saved_code}, this is {torch.__version__}: an exact resume needs "
            "the same code; start a new run, or check out the version that wrote it"
        )
    if header["tokenizer"] != tokenizer.to_dict():
        raise ckpt.CheckpointError(
            f"{path} was trained with another vocabulary (a {header['tokenizer'].get('type')} tokenizer of "
            f"{header['model_config']['vocab_size']} tokens) than the dataset's ({tokenizer.vocab_size} tokens); "
            "use the same dataset to resume"
        )
    saved_data, data_now = header.get("data_sha256"), tokenizer_files_sha256
    if saved_data and data_now and saved_data != data_now:
        raise ckpt.CheckpointError(
            f"{path} was trained on other data than dataset {cfg.dataset!r} holds now (the token files' sha256 "
            "differ): it was prepared again from another text; resume with the data it was trained on"
        )
    diffs = ckpt.config_differences(header["model_config"], model_cfg.to_dict())
    if diffs:
        raise ckpt.CheckpointError(
            f"{path} was trained with another model config; differences (checkpoint -> now): {'; '.join(diffs)}"
        )


def _truncate_log(path: Path, last_iter: int) -> None:
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if line and json.loads(line)["iter"] <= last_iter]
        files.write_text(path, "".join(line + "\n" for line in lines), replaces=("a training log",), what="the log")


def _progress_bar(cfg: TrainConfig, start: int):
    if not cfg.progress:
        return None
    from tqdm.auto import tqdm  # a notebook's widget in Jupyter (with ipywidgets), a text bar elsewhere

    return tqdm(total=cfg.max_iters, initial=start, unit="it", dynamic_ncols=True, mininterval=0.5)


def _write(progress, log, line: str) -> None:
    if progress is not None:
        progress.write(line)
    else:
        log(line)
