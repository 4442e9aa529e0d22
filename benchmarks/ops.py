"""Single ops at the shapes a GPT training step uses, forward and forward+backward, tinygrad_edu beside PyTorch.

For each preset (B = batch_size, T = block_size, C = n_embd, nh = n_head, V = vocab_size):

* ``linear`` (the MLP's c_fc): (B·T × C) @ (C × 4C) + bias: the largest matmul of a block.
* ``attention scores``: q @ kᵀ, (B, nh, T, hs) @ (B, nh, hs, T): the batched matmul that grows as T².
* ``masked softmax``: masked_fill(causal mask, -inf) then softmax over the last dim of (B, nh, T, T).
* ``layer norm`` over C of (B, T, C), with weight and bias.
* ``gelu`` (exact, erf) of the MLP's hidden (B, T, 4C).
* ``cross-entropy`` of (B·T, V) logits against B·T targets (mean).
* ``embedding``: gather rows of the (V, C) table for (B, T) ids; its backward is a scatter-add.
* ``AdamW step`` over parameters of the preset's model shapes (no backward: the update itself).

The same lambda builds each op for both libraries (tinygrad_edu mirrors PyTorch's API). "forward" runs with inputs
that require grad, as in training (so the graph is recorded); "forward+backward" adds ``out.backward(g)`` with
a fixed random upstream gradient g (or ``backward()`` for the scalar loss) and clears the inputs' ``.grad``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import common
from .models import setup_for, split_setup


@dataclass
class Case:
    name: str
    shape: str
    inputs: dict  # name -> (shape, kind): kind "grad" (float, requires grad), "const" (float), "mask", "ids:N"
    fn: object  # fn(lib, F, **tensors) -> output tensor
    notes: str = ""
    modes: tuple = ("forward", "forward+backward")
    extra: dict = field(default_factory=dict)


def cases(setup: dict) -> list[Case]:
    config, train = split_setup(setup)
    B, T, C, nh, V = train.batch_size, config.block_size, config.n_embd, config.heads, config.vocab_size
    hs = C // nh
    return [
        Case(
            "linear (c_fc)",
            f"({B * T}×{C}) @ ({C}×{4 * C})",
            {"x": ((B * T, C), "grad"), "w": ((4 * C, C), "grad"), "b": ((4 * C,), "grad")},
            lambda lib, F, x, w, b: F.linear(x, w, b),
        ),
        Case(
            "attention scores q·kᵀ",
            f"({B},{nh},{T},{hs}) @ ᵀ",
            {"q": ((B, nh, T, hs), "grad"), "k": ((B, nh, T, hs), "grad")},
            lambda lib, F, q, k: q @ k.transpose(-2, -1),
        ),
        Case(
            "masked softmax",
            f"({B},{nh},{T},{T})",
            {"att": ((B, nh, T, T), "grad"), "mask": ((T, T), "mask")},
            lambda lib, F, att, mask: F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1),
        ),
        Case(
            "layer norm",
            f"({B},{T},{C}) over {C}",
            {"x": ((B, T, C), "grad"), "w": ((C,), "grad"), "b": ((C,), "grad")},
            lambda lib, F, x, w, b: F.layer_norm(x, (C,), w, b),
        ),
        Case("gelu", f"({B},{T},{4 * C})", {"x": ((B, T, 4 * C), "grad")}, lambda lib, F, x: F.gelu(x)),
        Case(
            "cross-entropy",
            f"({B * T},{V})",
            {"logits": ((B * T, V), "grad"), "y": ((B * T,), f"ids:{V}")},
            lambda lib, F, logits, y: F.cross_entropy(logits, y),
        ),
        Case(
            "embedding gather/scatter",
            f"({V},{C})[({B},{T})]",
            {"w": ((V, C), "grad"), "idx": ((B, T), f"ids:{V}")},
            lambda lib, F, w, idx: F.embedding(idx, w),
        ),
    ]


def _arrays(case: Case, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for name, (shape, kind) in case.inputs.items():
        if kind == "mask":
            out[name] = np.tril(np.ones(shape, dtype=bool))
        elif kind.startswith("ids:"):
            out[name] = rng.integers(0, int(kind[4:]), size=shape).astype(np.int64)
        else:
            out[name] = rng.standard_normal(shape, dtype=np.float32)
    return out


def _library(impl: str):
    """(module, functional) of an implementation: they share PyTorch's API."""
    if impl == "torch":
        import torch
        import torch.nn.functional as F

        return torch, F
    import tinygrad_edu as tg
    from tinygrad_edu.nn import functional as F

    return tg, F


def _op_fns(case: Case, impl: str, device: str, arrays: dict) -> dict:
    """{"forward": fn, "forward+backward": fn} for one implementation."""
    lib, F = _library(impl)
    tensors, leaves = {}, []
    for name, arr in arrays.items():
        t = lib.from_numpy(arr.copy()).to(device)
        if case.inputs[name][1] == "grad":
            t.requires_grad_(True)
            leaves.append(t)
        tensors[name] = t
    out = case.fn(lib, F, **tensors)
    g = None
    if out.dim() > 0:
        g = lib.from_numpy(np.random.default_rng(1).standard_normal(tuple(out.shape), dtype=np.float32)).to(device)

    def forward():
        return case.fn(lib, F, **tensors)

    def forward_backward():
        case.fn(lib, F, **tensors).backward(g)
        for t in leaves:
            t.grad = None

    return {"forward": forward, "forward+backward": forward_backward}


def adamw_fns(setup: dict, impl: str, device: str) -> dict:
    """One AdamW update over tensors shaped like the model's parameters (gradients random, fixed)."""
    import tinygrad_edu as tg
    from gpt.model import GPT

    config, train = split_setup(setup)
    shapes = [tuple(p.shape) for p in GPT(config).parameters()]
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s, dtype=np.float32) * 0.02 for s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32) * 1e-3 for s in shapes]
    lib = tg if impl == "ours" else __import__("torch")
    params = []
    for v, g in zip(values, grads):
        p = lib.from_numpy(v.copy()).to(device).requires_grad_(True)
        p.grad = lib.from_numpy(g.copy()).to(device)
        params.append(p)
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": train.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    opt = lib.optim.AdamW(groups, lr=train.learning_rate, betas=(train.beta1, train.beta2))
    return {"step": opt.step, "_numel": sum(int(np.prod(s)) for s in shapes)}


def measure(setup: dict, device: str, repeats: int | None, warmup: int, torch_ok: bool, quick: bool) -> list[dict]:
    impls = ["ours", "torch"] if torch_ok else ["ours"]
    syncs = {impl: common.synchronizer(impl, device) for impl in impls}
    jobs = []
    for case in cases(setup):
        arrays = _arrays(case)
        per_impl = {impl: _op_fns(case, impl, device, arrays) for impl in impls}
        for mode in case.modes:
            jobs.append((case.name, case.shape, mode, {impl: per_impl[impl][mode] for impl in impls}))
    adam = {impl: adamw_fns(setup, impl, device) for impl in impls}
    numel = adam["ours"].pop("_numel")
    for impl in impls[1:]:
        adam[impl].pop("_numel")
    jobs.append(("AdamW step", f"{numel:,} parameters", "step", {impl: adam[impl]["step"] for impl in impls}))

    rows = []
    for name, shape, mode, fns in jobs:
        n = repeats or _auto_repeats(fns, syncs, quick)
        timings = common.interleaved(fns, n, warmup, syncs, **common.interleave_options("op", n, quick))
        row = {"op": name, "shape": shape, "mode": mode}
        for impl, t in timings.items():
            row[impl] = t.summary()
        row["ratio"] = common.ratio(row["ours"]["median_ms"], row.get("torch", {}).get("median_ms"))
        rows.append(row)
        theirs = f", torch {row['torch']['median_ms']:.3f} ms, ratio {row['ratio']:.2f}" if "torch" in row else ""
        print(f"  {name:>26} {mode:>17}: ours {row['ours']['median_ms']:.3f} ms{theirs}")
    return rows


def _auto_repeats(fns: dict, syncs: dict, quick: bool, budget_s: float = 1.5) -> int:
    """Enough repeats to fill about ``budget_s`` seconds per row (between 5 and 50); 3 with ``--quick``."""
    if quick:
        return 3
    t = sum(t.samples[0] for t in common.interleaved(fns, 1, 1, syncs).values())
    return int(min(50, max(5, budget_s / max(t, 1e-9))))


def run(args, torch) -> int:
    torch_ok = common.torch_on(torch, args.device)
    presets = ["quick"] if args.quick else args.presets
    all_rows = []
    for preset in presets:
        setup = setup_for("tiny" if args.quick else preset, quick=args.quick)
        print(f"ops at the shapes of {preset} ({args.device}):")
        warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
        for row in measure(setup, args.device, args.repeats, warmup, torch_ok, args.quick):
            all_rows.append({"preset": preset, **row})

    headers = [
        "preset",
        "op",
        "shape",
        "mode",
        "ours ms (median)",
        "ours min–max",
        "torch ms (median)",
        "torch min–max",
        "ratio ours/torch",
    ]
    table = []
    for r in all_rows:
        o, t = r["ours"], r.get("torch")
        table.append(
            [
                r["preset"],
                r["op"],
                r["shape"],
                r["mode"],
                o["median_ms"],
                f"{o['min_ms']:.3f}–{o['max_ms']:.3f}",
                t["median_ms"] if t else None,
                f"{t['min_ms']:.3f}–{t['max_ms']:.3f}" if t else None,
                r["ratio"],
            ]
        )
    md = (
        f"## Ops at GPT shapes ({args.device}, float32)\n\n"
        + common.markdown_table(headers, table)
        + "\n\nMedian of interleaved repeats after warm-up; ratio = ours / PyTorch (> 1: we are slower). "
        "`forward` records the graph (inputs require grad), as in training.\n"
        + ("" if torch_ok else "\nPyTorch is not available on this device: no PyTorch columns.\n")
    )

    def plot(plt, path):
        labels = [f"{r['preset']}: {r['op']} ({r['mode']})" for r in all_rows]
        fig, ax = plt.subplots(figsize=(9, 0.3 * len(all_rows) + 1.5))
        y = list(range(len(all_rows)))
        if torch_ok:
            ax.barh(y, [r["ratio"] for r in all_rows], color="tab:blue")
            ax.axvline(1.0, color="k", lw=1)
            ax.set_xlabel("time ours / PyTorch (log; < 1: faster than PyTorch)")
        else:
            ax.barh(y, [r["ours"]["median_ms"] for r in all_rows], color="tab:blue")
            ax.set_xlabel("ms (median, log)")
        ax.set_xscale("log")
        ax.set_yticks(y, labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(f"ops at GPT shapes, {args.device}")
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    payload = common.payload(
        "ops",
        args,
        {
            "presets": presets,
            "repeats": args.repeats or "auto",
            "warmup": args.warmup,
            "quick": args.quick,
            "dtype": "float32",
        },
        rows=all_rows,
    )
    name = "ops" if args.device == "cpu" else f"ops-{args.device}"
    common.write_results(Path(args.out), name, payload, md, plot)
    return 0
