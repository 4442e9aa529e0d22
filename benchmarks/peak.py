"""The physical limit: how many float32 FLOP/s this machine's matmul reaches.

A large square float32 matmul (n×n @ n×n, 2·n³ FLOPs) is the best case of dense linear algebra: the BLAS
keeps every core's vector units busy. Its measured rate is the "peak" the training-step benchmark divides by:
a step that does F FLOPs in t seconds reaches (F / t) / peak of it. We time NumPy's BLAS (through
tinygrad_edu's matmul, and raw ``numpy.matmul`` to see the engine's overhead) and PyTorch's, interleaved, at a
few sizes, and also at the GPT's own shape (B·T × C @ C × 4C), which is smaller and reaches less.
The peak is the best median of all of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import common


def _matmul_fns(n: int, m: int, k: int, device: str, torch) -> dict:
    """Closures computing (n×k) @ (k×m) with each implementation; inputs are made once, outside the timing."""
    import tinygrad_edu as tg

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, k), dtype=np.float32)
    b = rng.standard_normal((k, m), dtype=np.float32)
    ta, tb = tg.from_numpy(a).to(device), tg.from_numpy(b).to(device)
    fns = {"ours": lambda: ta @ tb}
    if device == "cpu":
        fns["numpy"] = lambda: a @ b
    if common.torch_on(torch, device):
        pa, pb = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)
        fns["torch"] = lambda: pa @ pb
    return fns


def measure(device: str, repeats: int, warmup: int, quick: bool, torch) -> dict:
    """Rows of GFLOP/s per shape and implementation, and the peak (the best median)."""
    from .models import setup_for, split_setup

    shapes = [(256, 256, 256)] if quick else [(1024, 1024, 1024), (2048, 2048, 2048), (4096, 4096, 4096)]
    if not quick:
        for preset in ("baby", "lecture"):
            config, train = split_setup(setup_for(preset))
            shapes.append((train.batch_size * config.block_size, 4 * config.n_embd, config.n_embd))
    rows = []
    for n, m, k in shapes:
        fns = _matmul_fns(n, m, k, device, torch)
        syncs = {name: common.synchronizer("torch" if name == "torch" else "ours", device) for name in fns}
        timings = common.interleaved(fns, repeats, warmup, syncs, **common.interleave_options("op", repeats, quick))
        flops = 2 * n * m * k
        row = {"shape": f"{n}×{k} @ {k}×{m}", "flops": flops}
        for name, t in timings.items():
            row[name] = t.summary()
            row[f"{name}_gflops"] = flops / (t.median_ms / 1e3) / 1e9
        row["ratio"] = common.ratio(row["ours"]["median_ms"], row.get("torch", {}).get("median_ms"))
        rows.append(row)
        print(
            f"  {row['shape']:>24}: "
            + ", ".join(f"{name} {row[f'{name}_gflops']:.1f} GFLOP/s" for name in timings)
            + (f" (ratio {row['ratio']:.2f})" if row["ratio"] else "")
        )
    peak = max(v for row in rows for key, v in row.items() if key.endswith("_gflops"))
    return {"rows": rows, "peak_gflops": peak}


def load_or_measure_peak(out: Path, device: str, quick: bool, torch) -> tuple[float, str]:
    """The peak GFLOP/s from ``out/peak[-cuda].json`` when a previous ``peak`` run wrote it, else measured now
    (a short measurement). Returns (GFLOP/s, where it came from)."""
    path = out / result_name("peak", device)
    if path.exists():
        try:
            return float(json.loads(path.read_text())["peak_gflops"]), f"{path.name}"
        except (KeyError, ValueError):
            pass
    print("  measuring the matmul peak (run `python -m benchmarks peak` for the full measurement)")
    result = measure(device, repeats=3 if quick else 5, warmup=1, quick=quick, torch=torch)
    return result["peak_gflops"], "measured now (short)"


def result_name(name: str, device: str) -> str:
    return f"{name}.json" if device == "cpu" else f"{name}-{device}.json"


def run(args, torch) -> int:
    print(f"peak: float32 matmul FLOP/s on {args.device}")
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    result = measure(args.device, args.repeats or (3 if args.quick else 10), warmup, args.quick, torch)
    rows = result["rows"]
    impls = [name for name in ("ours", "numpy", "torch") if name in rows[0]]
    headers = ["matmul", *[f"{name} GFLOP/s" for name in impls], *[f"{name} ms (min–max)" for name in impls]]
    headers.append("ratio ours/torch (time)")
    table = []
    for row in rows:
        spread = [f"{row[n]['median_ms']:.2f} ({row[n]['min_ms']:.2f}–{row[n]['max_ms']:.2f})" for n in impls]
        table.append([row["shape"], *[row[f"{n}_gflops"] for n in impls], *spread, row["ratio"]])
    md = (
        "## Matmul peak (float32)\n\n"
        + common.markdown_table(headers, table)
        + f"\n\n**Measured peak: {result['peak_gflops']:.1f} GFLOP/s** (the best median above). GFLOP/s = "
        "2·n·m·k / median time. `ours` is tinygrad_edu's `@` (NumPy's BLAS plus the engine's overhead), `numpy` "
        "is raw `numpy.matmul`.\n"
    )

    def plot(plt, path):
        fig, ax = plt.subplots(figsize=(8, 4))
        width = 0.8 / len(impls)
        for i, name in enumerate(impls):
            ax.bar([x + i * width for x in range(len(rows))], [r[f"{name}_gflops"] for r in rows], width, label=name)
        ax.set_xticks([x + width * (len(impls) - 1) / 2 for x in range(len(rows))], [r["shape"] for r in rows])
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        ax.set_ylabel("GFLOP/s (median)")
        ax.set_title(f"float32 matmul throughput ({args.device})")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    payload = common.payload(
        "peak", args, {"repeats": args.repeats, "warmup": args.warmup, "quick": args.quick}, **result
    )
    common.write_results(args.out, Path(result_name("peak", args.device)).stem, payload, md, plot)
    return 0
