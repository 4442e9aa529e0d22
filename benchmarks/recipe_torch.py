"""``gpt train``'s recipe written for PyTorch, as nanoGPT's train.py would run it: the peer that
``python -m benchmarks recipe`` times beside ``gpt train``.

The same as ``gpt/train.py`` in everything that costs time: the preset's config, the prepared dataset, batches
drawn by NumPy's generator with the run's seed, the model file itself (``gpt/model.py`` on PyTorch), AdamW with
weight decay on matrices only, warm-up then cosine decay, clipping at ``grad_clip``, ``eval_iters`` batches of
each split every ``eval_interval`` steps (in eval mode, without a graph), a checkpoint written at every
evaluation (to a temporary file, then renamed), and a sample at the end (temperature 0.8, top-k 200). A yardstick,
not a second trainer: no resume, no MPI.

    python -m benchmarks.recipe_torch --preset baby --out-dir /tmp/torch-baby [--max-iters N] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gpt.config import build_config
from gpt.data import batch_from_offsets, load_dataset
from gpt.library import model_module
from gpt.train import learning_rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.recipe_torch", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="baby")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--max-iters", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {"max_iters": args.max_iters} if args.max_iters is not None else {}
    run = build_config(args.preset, overrides)
    cfg = run.train
    dataset = load_dataset(cfg.dataset, cfg.data_dir)
    gpt = model_module("torch")
    config = gpt.GPTConfig.from_dict(run.with_vocab_size(dataset.tokenizer.vocab_size).model.to_dict())
    torch.manual_seed(cfg.seed)
    model = gpt.GPT(config)
    params = list(model.parameters())
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=cfg.learning_rate,
        betas=(cfg.beta1, cfg.beta2),
    )
    block = config.block_size

    def batch(data, rng):
        offsets = rng.integers(0, len(data) - block, size=cfg.batch_size)
        x, y = batch_from_offsets(data, offsets, block)
        return torch.from_numpy(x), torch.from_numpy(y)

    @torch.no_grad()
    def estimate_loss(it):
        model.eval()
        out = {}
        for name, data in (("train", dataset.train), ("val", dataset.val)):
            rng = np.random.default_rng([cfg.seed, it, 0 if name == "train" else 1])
            out[name] = sum(model(*batch(data, rng))[1].item() for _ in range(cfg.eval_iters)) / cfg.eval_iters
        model.train()
        return out

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    batch_rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    losses = {}
    for it in range(cfg.max_iters + 1):
        lr = learning_rate(it, cfg)
        if it % cfg.eval_interval == 0 or it == cfg.max_iters:
            losses = estimate_loss(it)
            print(f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}", flush=True)
            temporary = out_dir / "ckpt.pt.tmp"
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "iter": it}, temporary)
            os.replace(temporary, out_dir / "ckpt.pt")
        if it == cfg.max_iters:
            break
        for group in optimizer.param_groups:
            group["lr"] = lr
        _, loss = model(*batch(dataset.train, batch_rng))
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    elapsed = time.perf_counter() - t0
    print(f"done: {cfg.max_iters} iterations in {elapsed:.1f}s; val loss {losses['val']:.4f}", flush=True)
    if cfg.sample_chars:
        idx = torch.tensor([dataset.tokenizer.encode("\n")])
        out = model.generate(idx, cfg.sample_chars, temperature=0.8, top_k=200)
        print(dataset.tokenizer.decode(out[0].tolist()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
