"""Scaling sweeps: training-step time and peak memory as the context and the width grow.

* vs block size T = 64 → 1024 at the ``baby`` model (4 layers, 4 heads, C = 128, B = 12). Dense work (all the
  Linear layers) grows like T (B·T tokens), attention scores and their softmax like T² (B·nh·T×T per layer):
  on log-log axes the time bends from slope 1 towards slope 2 where attention starts to dominate. The table's
  "attention FLOP share" column says where that happens by FLOPs (4·B·T²·C of ``2·tokens·12·C² + 4·B·T²·C``);
  the softmax and the mask are memory-bound, so in time attention dominates earlier than its FLOPs suggest.
* vs width n_embd = 64 → 768 at T = 64: dense work grows like C², attention like C.

Each point is a full training step (as ``benchmarks/train.py``), timed interleaved with PyTorch's; memory is
measured in fresh processes (``benchmarks/memory.py``, RSS method on the CPU).
"""

from __future__ import annotations

from pathlib import Path

from . import common, memory, models

BLOCK_SIZES = [64, 128, 256, 512, 1024]
WIDTHS = [64, 128, 256, 384, 512, 768]
QUICK_BLOCK_SIZES = [8, 16]
QUICK_WIDTHS = [16, 32]


def sweeps(quick: bool) -> list[tuple[str, int, dict]]:
    """(sweep, value, setup) for every point."""
    base = "tiny" if quick else "baby"
    points = []
    for T in QUICK_BLOCK_SIZES if quick else BLOCK_SIZES:
        points.append(("block_size", T, models.setup_for(base, quick=quick, block_size=T)))
    for C in QUICK_WIDTHS if quick else WIDTHS:
        points.append(("n_embd", C, models.setup_for(base, quick=quick, n_embd=C)))
    return points


def run(args, torch) -> int:
    torch_ok = common.torch_on(torch, args.device)
    warmup = 1 if args.warmup is None else args.warmup
    timed = args.steps or args.repeats or 3
    points = sweeps(args.quick)
    rows = []
    print(f"scaling on {args.device}: {len(points)} points, {warmup} warm-up + {timed} timed steps each")
    for sweep, value, setup in points:
        steps = models.make_steps(setup, args.device, torch_ok)
        syncs = {impl: common.synchronizer(impl, args.device) for impl in steps}
        timings = common.interleaved(
            steps, timed, warmup, syncs, **common.interleave_options("step", timed, args.quick)
        )
        del steps
        flops = models.step_flops(setup)
        row = {
            "sweep": sweep,
            "value": value,
            "config": models.describe(setup),
            "setup": setup,
            "attention_share": flops["attention_share"],
            "step_gflop": flops["step"] / 1e9,
        }
        for impl, t in timings.items():
            row[impl] = {"time": t.summary()}
        row["time_ratio"] = common.ratio(
            row["ours"]["time"]["median_ms"], row.get("torch", {}).get("time", {}).get("median_ms")
        )
        rows.append(row)
        theirs = f", torch {row['torch']['time']['median_ms']:.1f} ms" if "torch" in row else ""
        print(f"  {sweep}={value:<5} ours {row['ours']['time']['median_ms']:.1f} ms{theirs}")

    if not args.no_memory:
        print("  peak memory (fresh processes) ...")
        jobs = []
        for row in rows:
            for impl in ("ours", "torch") if torch_ok else ("ours",):
                jobs.append(
                    {
                        "impl": impl,
                        "method": "rss",
                        "device": args.device,
                        "setup": row["setup"],
                        "steps": 2,
                        "threads": common.blas_threads()[0],
                        "_row": row,
                    }
                )
        results = memory.run_jobs([{k: v for k, v in j.items() if k != "_row"} for j in jobs], fresh=not args.quick)
        for job, m in zip(jobs, results):
            job["_row"][job["impl"]]["peak_bytes"] = m.get("peak_bytes")
            job["_row"][job["impl"]]["memory_method"] = m.get("method")
    for row in rows:
        row["memory_ratio"] = common.ratio(row["ours"].get("peak_bytes"), row.get("torch", {}).get("peak_bytes"))

    headers = [
        "sweep",
        "value",
        "config",
        "attention FLOP share",
        "ours ms",
        "torch ms",
        "ratio (time)",
        "ours MB",
        "torch MB",
        "ratio (memory)",
    ]

    def mb(entry):
        v = (entry or {}).get("peak_bytes")
        return None if v is None else v / 2**20

    table = [
        [
            r["sweep"],
            r["value"],
            r["config"],
            f"{100 * r['attention_share']:.0f}%",
            r["ours"]["time"]["median_ms"],
            r.get("torch", {}).get("time", {}).get("median_ms"),
            r["time_ratio"],
            mb(r["ours"]),
            mb(r.get("torch")),
            r["memory_ratio"],
        ]
        for r in rows
    ]
    md = (
        f"## Scaling ({args.device}, float32)\n\n"
        + common.markdown_table(headers, table)
        + f"\n\nms: median training step of {timed} interleaved steps after {warmup} warm-up. MB: peak memory "
        + (
            "(not measured: --no-memory)."
            if args.no_memory
            else "(RSS high-water mark in a fresh process, see `benchmarks/memory.py`)."
        )
        + " Attention FLOP share: attention-score FLOPs / all matmul FLOPs of the step.\n"
    )

    def plot(plt, path):
        fig, axes = plt.subplots(2, 2, figsize=(11, 8))
        impls = ["ours", "torch"] if torch_ok else ["ours"]
        for col, sweep in enumerate(("block_size", "n_embd")):
            pts = [r for r in rows if r["sweep"] == sweep]
            xs = [r["value"] for r in pts]
            for row_i, (label, get) in enumerate(
                [("ms / step", lambda e: e["time"]["median_ms"]), ("peak MB", lambda e: mb(e))]
            ):
                ax = axes[row_i][col]
                for impl in impls:
                    ys = [get(r[impl]) for r in pts]
                    if all(y is None for y in ys):
                        continue
                    # None (not measured) and 0 (below the page granularity) have no place on a log axis
                    ax.plot(xs, [y if y else float("nan") for y in ys], "o-", label=impl)
                if row_i == 0 and pts:  # reference slopes from the first point of ours
                    y0 = pts[0]["ours"]["time"]["median_ms"]
                    for power, style in ((1, ":"), (2, "--")):
                        ax.plot(
                            xs,
                            [y0 * (x / xs[0]) ** power for x in xs],
                            "k" + style,
                            lw=0.8,
                            label=f"∝ {sweep}{'²' if power == 2 else ''}",
                        )
                ax.set_xscale("log", base=2)
                ax.set_yscale("log")
                ax.set_xlabel(sweep)
                ax.set_ylabel(label)
                if ax.get_legend_handles_labels()[0]:
                    ax.legend(fontsize=8)
                if row_i == 0:
                    twin = ax.twinx()
                    twin.plot(xs, [100 * r["attention_share"] for r in pts], color="tab:gray", alpha=0.5)
                    twin.set_ylabel("attention % of FLOPs (gray)")
                    twin.set_ylim(0, 100)
        fig.suptitle(f"GPT training step vs context and width ({args.device})")
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    payload = common.payload(
        "scaling",
        args,
        {"warmup": warmup, "timed_steps": timed, "quick": args.quick, "memory": not args.no_memory},
        rows=rows,
    )
    common.write_results(
        Path(args.out), "scaling" if args.device == "cpu" else f"scaling-{args.device}", payload, md, plot
    )
    return 0
