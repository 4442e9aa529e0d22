"""``python -m benchmarks distributed``: data-parallel training on 1 and 2 processes, beside PyTorch.

Three measurements, written to ``distributed.{json,md,png}``:

* **steps**: a training step of each preset (baby by default: a CPU step of the lecture preset takes seconds),
  with B = half the preset's batch per rank, in three configurations: 1 process at batch B, 1 process at
  batch 2B (the same global batch as 2 ranks), and ``mpiexec -n 2`` at batch B per rank; each for ours and
  for PyTorch running the same model file (its gradients averaged the same way, over gloo). Every
  configuration is a fresh process group (``benchmarks/distributed_worker.py``), the configurations run
  one after the other and the whole round is repeated, so slow spells of the machine fall on all of them.
  Each step is split into compute (forward + backward), wait (for the slower rank), allreduce and update.
* **allreduce sweep**: seconds per in-place allreduce of 4 KB to 64 MB float32 buffers on 2 ranks (MPI, as
  training uses it, and gloo), with the bus bandwidth ``2(N−1)/N × bytes / t`` that the ring model uses.
* **on paper**: the lecture preset on 8 GPUs in one machine and on 4 machines × 8 GPUs, from its gradient
  bytes, published interconnect bandwidths and a stated compute assumption (see ``paper_model``).
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from gpt import distributed

from . import common, models
from .distributed_worker import PHASES

SWEEP_SIZES = [2**k for k in range(10, 25, 2)]  # 1 Ki .. 16 Mi float32 elements: 4 KB .. 64 MB
CPU_STEP_PRESETS = ("tiny", "baby")  # a CPU step of the larger presets takes seconds: the sweep covers their bytes

# The published figures the paper model uses; each is an assumption, named in the table.
FP32_PEAK = 67e12  # H100 SXM, FP32 without tensor cores (the engine's float32 matmuls, cuBLAS's default math)
TF32_PEAK = 495e12  # H100 SXM, TF32 tensor cores, dense
ASSUMED_MFU = 0.4  # the fraction of peak a well-fed step reaches (nanoGPT-class models report 30–50%)
LINKS = {
    # bus bandwidth (bytes/s) an allreduce reaches and the latency of one call
    "8 GPUs, one machine (NVLink 4)": {"gpus": 8, "busbw": 0.8 * 450e9, "latency": 30e-6},
    "4 machines × 8 GPUs (InfiniBand NDR, 400 Gb/s per GPU)": {"gpus": 32, "busbw": 0.8 * 50e9, "latency": 60e-6},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(spec: dict, ranks: int, mpiexec: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        spec_path, out_path = Path(tmp, "spec.json"), Path(tmp, "out.json")
        spec_path.write_text(json.dumps(dict(spec, port=_free_port())))
        command = [sys.executable, "-m", "benchmarks.distributed_worker", str(spec_path), str(out_path)]
        if ranks > 1:
            command = [mpiexec, "-n", str(ranks), *command]
        done = subprocess.run(command, capture_output=True, text=True, env=distributed.launcher_environment())
        if done.returncode != 0 or not out_path.exists():
            raise RuntimeError(f"{' '.join(command[:4])}... failed ({done.returncode}):\n{done.stderr[-2000:]}")
        return json.loads(out_path.read_text())


def _configs(setup: dict, impls: list[str]) -> list[dict]:
    per_rank = max(1, setup["batch_size"] // 2)
    shapes = [(1, per_rank), (1, 2 * per_rank), (2, per_rank)]
    return [
        {"impl": impl, "ranks": ranks, "batch_size": batch, "name": f"{impl} {ranks}×{batch}"}
        for ranks, batch in shapes
        for impl in impls
    ]


def step_settings(args) -> dict:
    """Timed steps per process, rounds over all configurations, untimed steps first, BLAS threads of a lone
    process: what ``time_steps`` runs, as recorded in the results."""
    return {
        "steps": args.steps or (3 if args.quick else 20),
        "rounds": args.repeats or (1 if args.quick else 3),
        "warmup": args.warmup if args.warmup is not None else (1 if args.quick else 3),
        "threads": args.threads or common.usable_cores(),
    }


def time_steps(args, torch, presets: list[str], mpiexec: str | None, settings: dict) -> list[dict]:
    steps, rounds, warmup = settings["steps"], settings["rounds"], settings["warmup"]
    impls = ["ours"] + (["torch"] if torch is not None else [])
    rows = []
    for preset in presets:
        setup = models.setup_for(preset, quick=args.quick)
        T = models.split_setup(setup)[0].block_size
        configs = [c for c in _configs(setup, impls) if c["ranks"] == 1 or mpiexec]
        samples = {c["name"]: {phase: [] for phase in PHASES} for c in configs}
        threads = {}
        for r in range(rounds):
            for c in configs:
                spec = {"kind": "step", "impl": c["impl"], "preset": preset, "quick": args.quick, "steps": steps}
                spec.update(batch_size=c["batch_size"], warmup=warmup, threads=settings["threads"])
                result = _spawn(spec, c["ranks"], mpiexec)
                threads[c["name"]] = result["threads_per_rank"]
                for phase in PHASES:
                    samples[c["name"]][phase] += result["samples"][phase]
            print(f"  {preset}: round {r + 1}/{rounds} done")
        for c in configs:
            s = samples[c["name"]]
            totals = [sum(parts) for parts in zip(*(s[phase] for phase in PHASES))]
            step_s = statistics.median(totals)
            row = dict(c, preset=preset, block_size=T, threads_per_rank=threads[c["name"]], steps=len(totals))
            row["global_batch"] = c["ranks"] * c["batch_size"]
            row["step"] = common.Timing(totals).summary()
            row.update({f"{phase}_ms": 1e3 * statistics.median(s[phase]) for phase in PHASES})
            row["tokens_per_s"] = row["global_batch"] * T / step_s
            rows.append(row)
    peers = {(r["preset"], r["impl"], r["ranks"], r["batch_size"]): r for r in rows}
    for row in rows:  # ratios, once every row is known
        same_batch = peers.get((row["preset"], row["impl"], 1, row["global_batch"]))
        row["throughput_vs_1_process_same_global_batch"] = (
            row["tokens_per_s"] / same_batch["tokens_per_s"] if same_batch else None
        )
        theirs = peers.get((row["preset"], "torch", row["ranks"], row["batch_size"]))
        row["ratio_ours_torch"] = (
            common.ratio(row["step"]["median_ms"], theirs["step"]["median_ms"])
            if row["impl"] == "ours" and theirs
            else None
        )
        print(
            f"  {row['preset']} {row['name']}: {row['step']['median_ms']:.1f} ms/step "
            f"(compute {row['compute_ms']:.1f}, wait {row['wait_ms']:.2f}, allreduce {row['allreduce_ms']:.2f}, "
            f"update {row['update_ms']:.1f}), {row['tokens_per_s']:.0f} tok/s"
        )
    return rows


def allreduce_sweep(args, torch, mpiexec: str, extra_sizes: list[int]) -> list[dict]:
    sizes = SWEEP_SIZES[:3] if args.quick else sorted(set(SWEEP_SIZES + extra_sizes))
    spec = {"kind": "sweep", "sizes": sizes, "seconds": 0.02 if args.quick else 0.3, "torch": torch is not None}
    rows = _spawn(spec, 2, mpiexec)["rows"]
    for row in rows:
        for name in ("mpi", "gloo"):
            if name in row:
                row[f"{name}_busbw_GBps"] = 2 * (2 - 1) / 2 * row["bytes"] / row[name] / 1e9
        print(
            f"  allreduce {row['bytes'] / 1e6:9.3f} MB: MPI {1e3 * row['mpi']:.3f} ms"
            + (f", gloo {1e3 * row['gloo']:.3f} ms" if "gloo" in row else "")
        )
    return rows


def gradient_elements(preset: str) -> int:
    """How many float32 numbers one allreduce of the preset's gradients moves (its unique parameters)."""
    import tinygrad_edu as tg
    from gpt.model import GPT

    config, _ = models.split_setup(models.setup_for(preset))
    tg.manual_seed(0)
    return sum(p.numel() for p in GPT(config).parameters())


def paper_model(preset: str = "lecture") -> list[dict]:
    """The lecture preset, data-parallel on GPUs, on paper: step = compute + allreduce (this engine's backward
    does not overlap the allreduce, so nothing hides it), at the preset's batch per GPU.

        compute   = step FLOPs (``models.step_flops``) / (ASSUMED_MFU × peak), for FP32 and for TF32
        allreduce = latency + 2(N−1)/N × gradient bytes / bus bandwidth      (a ring, NCCL's algorithm)
        efficiency = compute / (compute + allreduce): the throughput of N GPUs over N × one GPU's"""
    setup = models.setup_for(preset)
    flops = models.step_flops(setup)["step"]
    grad_bytes = 4 * gradient_elements(preset)
    rows = []
    for math, peak in (("FP32", FP32_PEAK), ("TF32", TF32_PEAK)):
        compute = flops / (ASSUMED_MFU * peak)
        for where, link in LINKS.items():
            n = link["gpus"]
            allreduce = link["latency"] + 2 * (n - 1) / n * grad_bytes / link["busbw"]
            rows.append({
                "math": math, "where": where, "gpus": n, "grad_MB": grad_bytes / 1e6, "step_flops": flops,
                "compute_ms": 1e3 * compute, "allreduce_ms": 1e3 * allreduce, "step_ms": 1e3 * (compute + allreduce),
                "efficiency": compute / (compute + allreduce),
                "tokens_per_s": n * setup["batch_size"] * setup["block_size"] / (compute + allreduce),
            })  # fmt: skip
    return rows


def _markdown(step_rows, sweep_rows, paper_rows, threads) -> str:
    md = "## Data-parallel training steps (CPU)\n\n"
    headers = ["preset", "config (ranks×batch)", "threads/rank", "ms/step", "compute", "wait", "allreduce"]
    headers += ["update", "tokens/s", "vs 1 process, same global batch", "ratio ours/torch"]
    md += common.markdown_table(
        headers,
        [
            [r["preset"], r["name"], r["threads_per_rank"], r["step"]["median_ms"], r["compute_ms"], r["wait_ms"],
             r["allreduce_ms"], r["update_ms"], r["tokens_per_s"], r["throughput_vs_1_process_same_global_batch"],
             r["ratio_ours_torch"]]
            for r in step_rows
        ],
    )  # fmt: skip
    md += (
        "\n\nMedians over every timed step of every round, in ms; a 2-rank step is rank 0's. *wait* is a barrier "
        "before the allreduce (the slower rank's lead), *update* is clipping + AdamW + zero_grad + `loss.item()`. "
        f"A lone process uses {threads} BLAS threads, each of 2 ranks on this machine cores / ranks. "
        "*vs 1 process* is tokens/s over those of one process with the same global batch on the same cores.\n"
    )
    if sweep_rows:
        md += "\n## Allreduce of one float32 buffer, 2 ranks on this machine\n\n"
        has_gloo = "gloo" in sweep_rows[0]
        headers = ["bytes", "MPI ms", "MPI bus GB/s"] + (["gloo ms", "gloo bus GB/s", "MPI / gloo"] if has_gloo else [])
        table = []
        for r in sweep_rows:
            line = [f"{r['bytes']:,}", 1e3 * r["mpi"], r["mpi_busbw_GBps"]]
            if has_gloo:
                line += [1e3 * r["gloo"], r["gloo_busbw_GBps"], r["mpi"] / r["gloo"]]
            table.append(line)
        md += common.markdown_table(headers, table)
        md += (
            "\n\nMedian seconds per call (the slower rank's), each size timed for about 0.3 s after an untimed call. "
            "Bus bandwidth = 2(N−1)/N × bytes / t, the ring's traffic per rank.\n"
        )
    if paper_rows:
        md += "\n## On paper: the lecture preset data-parallel on GPUs\n\n"
        headers = ["matmul math", "where", "GPUs", "gradient MB", "compute ms", "allreduce ms", "step ms"]
        headers += ["scaling efficiency", "tokens/s"]
        md += common.markdown_table(
            headers,
            [[r["math"], r["where"], r["gpus"], r["grad_MB"], r["compute_ms"], r["allreduce_ms"], r["step_ms"],
              r["efficiency"], r["tokens_per_s"]] for r in paper_rows],
        )  # fmt: skip
        md += (
            f"\n\nAssumptions (not measurements): compute = {paper_rows[0]['step_flops']:.3g} FLOPs per GPU step "
            f"(batch 64 × 256 tokens, `models.step_flops`) at {ASSUMED_MFU:.0%} of an H100 SXM's peak "
            f"({FP32_PEAK / 1e12:.0f} TFLOP/s FP32, {TF32_PEAK / 1e12:.0f} TF32 dense); allreduce = latency + "
            "2(N−1)/N × bytes / bus bandwidth, with 80% of NVLink 4's 450 GB/s per direction (30 µs latency) in "
            "one machine and 80% of 400 Gb/s InfiniBand NDR per GPU (60 µs) across machines; no overlap of "
            "the allreduce with the backward pass. See benchmarks/README.md.\n"
        )
    return md


def _plot(step_rows, sweep_rows):
    def plot(plt, path):
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
        names = [f"{r['preset']} {r['name']}" for r in step_rows]
        bottom = [0.0] * len(step_rows)
        for phase in PHASES:
            values = [r[f"{phase}_ms"] for r in step_rows]
            left.barh(names, values, left=bottom, label=phase)
            bottom = [b + v for b, v in zip(bottom, values)]
        left.set_xlabel("ms per step (medians of each phase)")
        left.set_title("where a step's time goes")
        left.legend(loc="lower right")
        left.invert_yaxis()
        if sweep_rows:
            sizes = [r["bytes"] for r in sweep_rows]
            for name in ("mpi", "gloo"):
                if name in sweep_rows[0]:
                    right.loglog(sizes, [1e3 * r[name] for r in sweep_rows], "o-", label=f"{name} (2 ranks)")
            right.set_xlabel("bytes per allreduce")
            right.set_ylabel("ms")
            right.set_title("allreduce on this machine")
            right.legend()
            right.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    return plot


def run(args, torch) -> int:
    if args.device != "cpu":
        print("distributed: the CPU benchmark only (the NCCL path runs in `gpu-check`)")
        return 0
    mpiexec = distributed.find_mpiexec()
    if mpiexec is None:
        print("distributed: no mpiexec found: pip install -e '.[dist]' (Open MPI's wheel); timing one process only")
    presets = ["baby"] if args.quick else [p for p in args.presets if p in CPU_STEP_PRESETS]
    skipped = [p for p in args.presets if p not in presets]
    if skipped and not args.quick:
        print(f"distributed: {', '.join(skipped)} skipped (a CPU step takes seconds; the sweep covers its gradients)")
    settings = dict(step_settings(args), mpiexec=mpiexec)
    print(f"distributed: steps at 1 and 2 ranks, {settings['rounds']} rounds of {settings['steps']} steps")
    step_rows = time_steps(args, torch, presets, mpiexec, settings)
    sweep_rows = []
    if mpiexec:
        extra = [] if args.quick else [gradient_elements(p) for p in ("baby", "lecture")]
        sweep_rows = allreduce_sweep(args, torch, mpiexec, extra)
    paper_rows = paper_model()
    for r in paper_rows:
        print(
            f"  on paper, {r['math']}, {r['where']}: step {r['step_ms']:.2f} ms "
            f"(allreduce {r['allreduce_ms']:.2f}), efficiency {r['efficiency']:.1%}"
        )
    payload = common.payload("distributed", args, settings, steps=step_rows, allreduce=sweep_rows, paper=paper_rows)
    common.write_results(
        args.out, "distributed", payload, _markdown(step_rows, sweep_rows, paper_rows, settings["threads"]),
        _plot(step_rows, sweep_rows),
    )  # fmt: skip
    return 0
