"""FlashAttention (``kernels/flash_attention.py``) beside PyTorch's ``scaled_dot_product_attention`` and beside
the naive attention op, in time and in memory.

Three tables, each interleaving the implementations in one run:

* **op**: causal attention forward + backward at T = 64, 256, 1024, 2048, float32, baby width (4 heads of 32),
  batch 4: ours fused, ours naive (``kernels.reference()``: the reference op that keeps P), PyTorch's SDPA.
* **memory**: the peak memory of a baby-width training step at block_size 1024 and 2048 (batch 4), explicit
  attention against fused, each in a fresh process (``benchmarks/memory.py``, method ``rss``), and PyTorch
  running the same file with the fused switch (its own SDPA).
* **step**: the baby and lecture training steps with the switch on, ours against PyTorch running the same file
  (``gpt/model.py`` through ``gpt.library``), and ours with explicit attention for comparison.

The plot: milliseconds of the op and the training step's peak memory against T.
"""

from __future__ import annotations

import numpy as np

from . import common, memory, models

LENGTHS = (64, 256, 1024, 2048)
HEADS, HEAD_SIZE, BATCH = 4, 32, 4
MEMORY_BLOCKS = (1024, 2048)


def _attention_fns(t: int, batch: int, device: str, torch) -> dict:
    """Closures running causal attention forward + backward at length ``t``: fused, naive, PyTorch."""
    import tinygrad_edu as tg
    from tinygrad_edu import kernels
    from tinygrad_edu.nn import functional as F

    rng = np.random.default_rng(0)
    q, k, v, g = (rng.standard_normal((batch, HEADS, t, HEAD_SIZE)).astype(np.float32) for _ in range(4))
    upstream = tg.from_numpy(g).to(device)

    def ours():
        leaves = [tg.from_numpy(a).to(device).requires_grad_() for a in (q, k, v)]
        F.scaled_dot_product_attention(*leaves, is_causal=True).backward(upstream)

    def naive():
        with kernels.reference():
            ours()

    fns = {"fused": ours, "naive": naive}
    if common.torch_on(torch, device):
        their_upstream = torch.from_numpy(g).to(device)

        def theirs():
            leaves = [torch.from_numpy(a).to(device).requires_grad_() for a in (q, k, v)]
            torch.nn.functional.scaled_dot_product_attention(*leaves, is_causal=True).backward(their_upstream)

        fns["torch"] = theirs
    return fns


def measure_op(args, torch, repeats: int) -> list[dict]:
    lengths, batch = ((16, 48) if args.quick else LENGTHS), (1 if args.quick else BATCH)
    rows = []
    for t in lengths:
        fns = _attention_fns(t, batch, args.device, torch)
        syncs = {name: common.synchronizer("torch" if name == "torch" else "ours", args.device) for name in fns}
        options = common.interleave_options("op", repeats, args.quick)
        timings = common.interleaved(fns, repeats, 0 if args.quick else 1, syncs, **options)
        row = {"T": t, "batch": batch, **{name: timing.summary() for name, timing in timings.items()}}
        row["ratio"] = common.ratio(row["fused"]["median_ms"], row.get("torch", {}).get("median_ms"))
        row["ratio_naive"] = common.ratio(row["fused"]["median_ms"], row["naive"]["median_ms"])
        rows.append(row)
        ratio = "" if row["ratio"] is None else f", fused/torch {row['ratio']:.2f}"
        print(f"  op T={t}: " + ", ".join(f"{n} {timings[n].median_ms:.1f} ms" for n in timings) + ratio)
    return rows


def measure_memory(args, torch) -> list[dict]:
    blocks = (32, 64) if args.quick else MEMORY_BLOCKS
    jobs = []
    for block in blocks:
        for impl, attention in (("ours", "explicit"), ("ours", "fused"), ("torch", "fused")):
            if impl == "torch" and not common.torch_on(torch, args.device):
                continue
            setup = models.setup_for("baby", args.quick, block_size=block, batch_size=BATCH, attention=attention)
            jobs.append({"impl": impl, "method": "rss", "device": args.device, "setup": setup, "steps": 2,
                         "threads": args.threads, "attention": attention, "block_size": block})  # fmt: skip
    results = memory.run_jobs(jobs, fresh=not args.quick)
    rows = []
    for block in blocks:
        row = {"block_size": block}
        for job, result in zip(jobs, results):
            if job["block_size"] == block:
                row[f"{job['impl']} {job['attention']}"] = result.get("peak_bytes")
        row["fused/explicit"] = common.ratio(row.get("ours fused"), row.get("ours explicit"))
        rows.append(row)
        print(f"  memory block {block}: " + ", ".join(f"{k} {_mib(v)}" for k, v in row.items() if " " in k))
    return rows


def measure_steps(args, torch, repeats: int) -> list[dict]:
    rows = []
    for preset in ["baby"] if args.quick else args.presets:
        fused = models.setup_for(preset, args.quick, attention="fused")
        steps = models.make_steps(fused, args.device, common.torch_on(torch, args.device))
        steps["ours explicit"] = models.OursStep(models.setup_for(preset, args.quick), args.device)
        fns = {"ours fused": steps["ours"], "torch fused": steps.get("torch"), "ours explicit": steps["ours explicit"]}
        fns = {name: fn for name, fn in fns.items() if fn is not None}
        syncs = {name: common.synchronizer(name.split()[0], args.device) for name in fns}
        options = common.interleave_options("step", repeats, args.quick)
        timings = common.interleaved(fns, repeats, 0 if args.quick else 1, syncs, **options)
        row = {"preset": preset, "setup": models.describe(fused), **{n: t.summary() for n, t in timings.items()}}
        row["ratio"] = common.ratio(timings["ours fused"].median_ms, row.get("torch fused", {}).get("median_ms"))
        rows.append(row)
        print(f"  step {preset}: " + ", ".join(f"{n} {timings[n].median_ms:.1f} ms" for n in timings))
    return rows


def _mib(value) -> str:
    return "-" if value is None else f"{value / 2**20:.0f} MiB"


def _ms(summary) -> str:
    return "-" if not summary or "median_ms" not in summary else f"{summary['median_ms']:.2f}"


def run(args, torch) -> int:
    repeats = args.repeats or (2 if args.quick else 7)
    step_repeats = args.steps or (2 if args.quick else 5)
    print(f"attention: causal SDPA forward+backward on {args.device}, {repeats} interleaved repeats")
    op_rows = measure_op(args, torch, repeats)
    memory_rows = [] if args.no_memory else measure_memory(args, torch)
    step_rows = measure_steps(args, torch, step_repeats)

    md = "## Causal attention, forward + backward (float32, 4 heads of 32)\n\n"
    md += common.markdown_table(
        ["T", "batch", "fused ms", "naive ms", "PyTorch SDPA ms", "fused / PyTorch", "fused / naive"],
        [[r["T"], r["batch"], _ms(r["fused"]), _ms(r["naive"]), _ms(r.get("torch")), r["ratio"], r["ratio_naive"]]
         for r in op_rows],
    )  # fmt: skip
    if memory_rows:
        md += "\n\n## Peak memory of a baby-width training step (batch 4, 2 steps, RSS above the baseline)\n\n"
        md += common.markdown_table(
            ["block_size", "ours explicit", "ours fused", "PyTorch fused (its SDPA)", "fused / explicit"],
            [[r["block_size"], _mib(r.get("ours explicit")), _mib(r.get("ours fused")), _mib(r.get("torch fused")),
              r["fused/explicit"]] for r in memory_rows],
        )  # fmt: skip
    md += "\n\n## Training step with `attention=fused` (ms per step)\n\n"
    md += common.markdown_table(
        ["preset", "setup", "ours fused", "PyTorch fused", "ours explicit", "ours fused / PyTorch"],
        [[r["preset"], r["setup"], _ms(r.get("ours fused")), _ms(r.get("torch fused")), _ms(r.get("ours explicit")),
          r["ratio"]] for r in step_rows],
    )  # fmt: skip
    md += (
        "\n\nfused: `kernels/flash_attention.py` (O and the row log-sum-exp kept, P recomputed in backward); naive: "
        "the reference op `ops/attention.py` (keeps the T×T probabilities). PyTorch runs `gpt/model.py` itself, "
        "so with the switch on it calls its own `scaled_dot_product_attention`.\n"
    )

    def plot(plt, path):
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
        ts = [r["T"] for r in op_rows]
        for name in ("fused", "naive", "torch"):
            values = [r.get(name, {}).get("median_ms") for r in op_rows]
            if all(v is not None for v in values):
                left.plot(ts, values, marker="o", label={"torch": "PyTorch SDPA"}.get(name, name))
        left.set(xscale="log", yscale="log", xlabel="T", ylabel="ms (forward + backward)", title="causal attention")
        left.legend()
        if memory_rows:
            blocks = [r["block_size"] for r in memory_rows]
            for name in ("ours explicit", "ours fused", "torch fused"):
                values = [r.get(name) for r in memory_rows]
                if all(v is not None for v in values):
                    right.plot(blocks, [v / 2**20 for v in values], marker="o", label=name)
            right.set(xlabel="block_size", ylabel="MiB", title="peak memory of a baby-width training step")
            right.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    settings = {"repeats": repeats, "step_repeats": step_repeats, "heads": HEADS, "head_size": HEAD_SIZE}
    payload = common.payload("attention", args, settings, op=op_rows, memory=memory_rows, steps=step_rows)
    common.write_results(args.out, "attention", payload, md, plot)
    return 0
