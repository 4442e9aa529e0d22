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
    cfg = run.train
    if not world.is_main:  # rank 0 alone logs, prints and writes
        log = _quiet
        cfg = dataclasses.replace(cfg, progress=False)
    _blas_limit = distributed.limit_blas_threads(world)  # held for the run: the limit lasts while it is referenced
    if torch.device(cfg.device).type == "cuda":
        distributed.use_local_gpu(world)
    out_dir = Path(cfg.out_dir)
    dataset = load_or_prepare(cfg, world)
    model_cfg = GPTConfig(vocab_size=dataset.tokenizer.vocab_size, **run.model)
    dtype = torch.float64 if cfg.dtype == "float64" else torch.float32
    memory.check_fits(
        model_cfg.to_dict(), model_cfg.vocab_size, cfg.batch_size, 8 if cfg.dtype == "float64" else 4, cfg.device
    )

    distributed.agree(
        world,
        {
            "the model config": model_cfg.to_dict(),
            "the training config": {k: v for k, v in run.train.to_dict().items() if k != "progress"},
            "the training data": distributed.data_digest(dataset.train),
            "the validation data": distributed.data_digest(dataset.val),
            "the code": distributed.code_digest(),
        },
    )

    torch.manual_seed(cfg.seed)
    model = GPT(model_cfg).to(cfg.device, dtype)  # the same seed: the same initial weights on every rank
    if world.rank:  # ...but each rank's own dropout masks (rank 0 keeps the single-process stream)
        torch.manual_seed((cfg.seed + world.rank) % 2**64)
    optimizer = configure_optimizer(model, cfg)
    average_gradients = distributed.GradientAverager(model.parameters(), world)
    batch_rng = np.random.default_rng(cfg.seed)  # the same on every rank: each draws the whole batch
    start_iter, elapsed_before, best_val = 0, 0.0, math.inf
    changes: list[str] = []

    ckpt_path = out_dir / ckpt.FILENAME
    if resume:
        # rank 0 reads the file and hands it to the others, so only rank 0's machine needs the run directory
        read = ckpt.read_checkpoint(ckpt_path, allow_unverified=allow_unverified) if world.is_main else None
        header, arrays = world.broadcast(read)
        if header.get("unverified"):
            log(f"warning: {ckpt_path} was loaded without verifying it (--allow-unverified)")
        _check_world_size(header, world, cfg, ckpt_path)
        _check_compatible(header, model_cfg, dataset.tokenizer, cfg, ckpt_path, dataset.meta.get("files_sha256"))
        changes = _changed_settings(header, run.train)
        if changes and not allow_changes:
            raise ckpt.CheckpointError(
                f"--resume would change the run in {out_dir}: {'; '.join(changes)} (checkpoint -> now). Pass the "
                "run's own settings to continue it exactly, or --allow-changes if the change is meant (the log "
                "records it)"
            )
        ckpt.load_model_state(model, arrays, ckpt_path)
        ckpt.load_optimizer_state(optimizer, header, arrays)
        rng = header["rng"]
        torch.set_rng_state(rng["engine_by_rank"][world.rank] if "engine_by_rank" in rng else rng["engine"])
        if "cuda" in rng:  # dropout on a GPU draws from the CUDA generator
            torch.cuda.set_rng_state(rng["cuda_by_rank"][world.rank] if "cuda_by_rank" in rng else rng["cuda"])
        batch_rng.bit_generator.state = rng["batches"]
        start_iter, elapsed_before = header["iter"], header["elapsed_s"]
        best_val = header.get("best_val_loss", math.inf)
        evaluated_at_start = header.get("evaluated", True)  # False: stopped by a signal between evaluations
        if world.is_main:
            _truncate_log(out_dir / "log.jsonl", start_iter)  # drop evaluations made after the checkpoint
            if changes:
                _append_log(out_dir, {"iter": start_iter, "event": "resumed with changed settings", "changes": changes})
        if start_iter >= cfg.max_iters:
            log(
                f"{ckpt_path} is already at iteration {start_iter} of max_iters {cfg.max_iters}: the run is complete "
                "(raise --max-iters to train on)"
            )
            last_row = _last_log_row(out_dir / "log.jsonl")
            return TrainResult(
                model,
                dataset.tokenizer,
                start_iter,
                last_row.get("train_loss"),
                header.get("val_loss"),
                elapsed_before,
                out_dir,
                already_complete=True,
            )
        log(f"resuming from {ckpt_path} at iteration {start_iter}")
    else:
        evaluated_at_start = False

    log(
        f"model: {model.num_params() / 1e6:.2f}M parameters (non-embedding), vocab {model_cfg.vocab_size}, "
        f"{cfg.device}, {cfg.dtype}"
    )
    if world.size > 1:
        log(
            f"data parallel: {world.size} ranks x batch_size {cfg.batch_size} = global batch "
            f"{world.size * cfg.batch_size}; {distributed.blas_threads(world)} BLAS thread(s) per rank"
        )
    splits = {
        name: Batches(data, model_cfg.block_size, cfg.batch_size, cfg.device, world.rank, world.size)
        for name, data in (("train", dataset.train), ("val", dataset.val))
    }
    tokens_per_iter = cfg.batch_size * model_cfg.block_size * cfg.gradient_accumulation_steps * world.size
    progress = _progress_bar(cfg, start_iter)
    t0 = time.perf_counter()
    tokens_since = 0
    last = {"train": None, "val": None}
    train_loss = None
    skipped = 0

    last_val = header["val_loss"] if resume else None

    def save(at_iter: int, *, evaluated: bool, elapsed: float) -> None:
        """Write the checkpoint of the state before iteration ``at_iter`` (rank 0; every rank gives its RNGs)."""
        engines = world.gather(torch.get_rng_state())  # every rank's dropout stream, for --resume
        on_cuda = torch.device(cfg.device).type == "cuda"
        cudas = world.gather(torch.cuda.get_rng_state()) if on_cuda else None
        if not world.is_main:
            return
        meta = {
            "iter": at_iter,
            "evaluated": evaluated,  # whether the log already holds iteration at_iter's evaluation
            "elapsed_s": elapsed,
            "best_val_loss": best_val,
            "val_loss": last_val,
            "model_config": model_cfg.to_dict(),
            "train_config": cfg.to_dict(),
            "tokenizer": dataset.tokenizer.to_dict(),
            "data_sha256": dataset.meta.get("files_sha256"),
            "code_version": torch.__version__,
            "world_size": world.size,
            "rng": {
                "engine": engines[0],
                "batches": batch_rng.bit_generator.state,
                **({"cuda": cudas[0]} if on_cuda else {}),
                **({"engine_by_rank": engines} if world.size > 1 else {}),
                **({"cuda_by_rank": cudas} if world.size > 1 and on_cuda else {}),
            },
        }
        try:
            ckpt.save_checkpoint(ckpt_path, model=model, optimizer=optimizer, meta=meta)
        except OSError as exc:  # a full disk, a read-only folder: the previous checkpoint is intact
            raise ckpt.CheckpointError(
                f"iteration {at_iter}: could not write the checkpoint {ckpt_path} ({exc.strerror or exc}); "
                f"{'the previous one is kept as it was' if ckpt_path.exists() else 'no checkpoint was written'}"
            ) from None

    for it in range(start_iter, cfg.max_iters + 1):
        lr = learning_rate(it, cfg)
        is_eval = it % cfg.eval_interval == 0 or it == cfg.max_iters
        if is_eval and not (it == start_iter and evaluated_at_start):
            last = estimate_loss(model, splits, cfg, it, world)
            if not (math.isfinite(last["train"]) and math.isfinite(last["val"])):
                raise NonFiniteLoss(
                    f"iteration {it}: the evaluated loss is not finite (train {last['train']}, val {last['val']}); "
                    f"{_kept(ckpt_path, cfg)}"
                )
            elapsed = elapsed_before + time.perf_counter() - t0
            record = {
                "iter": it,
                "train_loss": round(last["train"], 6),
                "val_loss": round(last["val"], 6),
                "lr": lr,
                "elapsed_s": round(elapsed, 3),
                "tokens_per_s": round(tokens_since / max(elapsed - elapsed_before, 1e-9), 1) if it else 0.0,
            }
            if world.is_main:
                _append_log(out_dir, record)
            _write(
                progress,
                log,
                f"step {it}: train loss {last['train']:.4f}, val loss {last['val']:.4f}, lr {lr:.2e}, {elapsed:.1f}s",
            )
            best_val = min(best_val, last["val"])
            last_val = last["val"]
            if cfg.checkpoint:
                save(it, evaluated=True, elapsed=elapsed)
        if it == cfg.max_iters:
            break

        for group in optimizer.param_groups:
            group["lr"] = lr
        for _ in range(cfg.gradient_accumulation_steps):
            x, y = splits["train"].sample(batch_rng)
            _, loss = model(x, y)
            # the mean over micro-batches: each contributes 1/steps of the gradient of the full batch
            (loss / cfg.gradient_accumulation_steps).backward()
        average_gradients()  # the mean over ranks, before clipping: every rank then makes the same update
        watched = nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip) if cfg.grad_clip else loss.detach()
        what = "gradient norm" if cfg.grad_clip else "loss"
        if cfg.on_nonfinite == "stop":
            # checked on the device: at once on the CPU; on a GPU at the next sync (the next log or evaluation,
            # which comes before any checkpoint is written), so a step that does not log waits for nothing
            torch.assert_async(watched.isfinite(), lambda it=it, lr=lr, watched=watched, what=what: NonFiniteLoss(
                f"iteration {it}: the {what} is {watched.item()} (learning rate {lr:.3g}); {_kept(ckpt_path, cfg)}. "
                "Lower --learning-rate, or pass --on-nonfinite skip to skip such steps"
            ))  # fmt: skip
            optimizer.step()
        elif not math.isfinite(norm := watched.item()):  # skipping has to know before the update: one sync
            skipped += 1
            _write(progress, log, f"step {it}: {what} is {norm}, update skipped ({skipped} so far)")
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens_since += tokens_per_iter

        if it % cfg.log_interval == 0:
            train_loss = world.mean(loss.item())  # the one host sync per log interval (and, on N ranks, a sum)
            if progress is not None:
                rate = tokens_since / max(time.perf_counter() - t0, 1e-9)
                progress.set_postfix(loss=f"{train_loss:.4f}", tok_s=f"{rate:,.0f}", refresh=False)
        if progress is not None:
            progress.update(1)
        # a SIGINT or SIGTERM asks the run to stop: after this step, with a checkpoint (under MPI the ranks
        # agree at a log step, where they meet anyway, so that all stop at the same iteration)
        if stop.requested and (world.size == 1 or it % cfg.log_interval == 0):
            if world.size == 1 or world.mean(1.0 if stop.requested else 0.0) > 0:
                if progress is not None:
                    progress.close()
                if cfg.checkpoint:
                    save(it + 1, evaluated=False, elapsed=elapsed_before + time.perf_counter() - t0)
                raise TrainingStopped(stop.signal_number, it + 1, ckpt_path if cfg.checkpoint else None)

    if progress is not None:
        progress.close()
    elapsed = elapsed_before + time.perf_counter() - t0
    return TrainResult(
        model, dataset.tokenizer, cfg.max_iters, last["train"], last["val"], elapsed, out_dir, skipped_steps=skipped
    )


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
FREE_ON_RESUME = ("max_iters", "progress", "log_interval", "sample_chars", "out_dir", "data_dir", "checkpoint")


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
    from tqdm import tqdm

    return tqdm(total=cfg.max_iters, initial=start, unit="it", dynamic_ncols=True, mininterval=0.5)


def _write(progress, log, line: str) -> None:
    if progress is not None:
        progress.write(line)
    else:
        log(line)
