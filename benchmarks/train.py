"""Training-step benchmark of the GPT presets, tinygrad_edu beside a PyTorch model of identical architecture.

Per preset: ms per step and tokens per second (median of interleaved steps, ours then PyTorch's, after warm-up
steps), peak memory (fresh processes, see ``benchmarks/memory.py``), the step's FLOPs (``models.step_flops``) and
the fraction of the machine's measured matmul peak (``benchmarks/peak.py``) that each implementation reaches:

    achieved FLOP/s = step FLOPs / median step time;   fraction of peak = achieved / peak.

Both models start from the same weights and see the same batches, so their loss curves must track each other
(exactly up to float32 rounding without dropout; with dropout the masks differ). The largest gap between the two
curves is reported as a check that both are doing the same work.

``lecture`` steps are slow on a CPU (PyTorch ~12.6 s, ours longer): by default it runs 1 warm-up step and 3
timed steps per implementation (``--steps`` / ``--warmup`` change it); ``baby`` runs 3 warm-up and 20 timed.
"""

from __future__ import annotations

from pathlib import Path

from . import common, memory, models, peak

DEFAULT_STEPS = {"baby": (3, 20), "lecture": (1, 3)}  # (warm-up, timed)
QUICK_STEPS = (1, 3)
MEMORY_STEPS = 2  # the first step allocates AdamW's state; the second is the steady state


def steps_for(preset: str, args) -> tuple[int, int]:
    warmup, timed = QUICK_STEPS if args.quick else DEFAULT_STEPS.get(preset, (2, 10))
    return (warmup if args.warmup is None else args.warmup), (args.steps or args.repeats or timed)


def memory_jobs(setup: dict, device: str, torch_ok: bool, tracemalloc: bool = True) -> list[dict]:
    threads = common.blas_threads()[0]
    job = {"device": device, "setup": setup, "steps": MEMORY_STEPS, "threads": threads}
    jobs = [dict(job, impl="ours", method="rss")]
    if device == "cpu" and tracemalloc:
        jobs.append(dict(job, impl="ours", method="tracemalloc"))
    if torch_ok:
        jobs.append(dict(job, impl="torch", method="rss"))
    return jobs


def mb(n):
    return None if n is None else n / 2**20


def measure_preset(preset: str, setup: dict, args, torch_ok: bool, peak_gflops: float) -> dict:
    warmup, timed = steps_for(preset, args)
    print(f"train {preset} ({models.describe(setup)}, {args.device}): {warmup} warm-up + {timed} timed steps each")
    steps = models.make_steps(setup, args.device, torch_ok)
    syncs = {impl: common.synchronizer(impl, args.device) for impl in steps}
    timings = common.interleaved(steps, timed, warmup, syncs, **common.interleave_options("step", timed, args.quick))
    config, train = models.split_setup(setup)
    tokens = train.batch_size * config.block_size
    flops = models.step_flops(setup)
    result = {
        "preset": preset,
        "config": models.describe(setup),
        "setup": setup,
        "warmup_steps": warmup,
        "timed_steps": timed,
        "tokens_per_step": tokens,
        "flops": flops,
        "impls": {},
    }
    for impl, t in timings.items():
        s = t.summary()
        seconds = s["median_ms"] / 1e3
        result["impls"][impl] = {
            "time": s,
            "tokens_per_s": tokens / seconds,
            "gflops": flops["step"] / seconds / 1e9,
            "fraction_of_peak": flops["step"] / seconds / 1e9 / peak_gflops,
            "losses": steps[impl].losses,
        }
    if "torch" in steps:
        gaps = [abs(a - b) for a, b in zip(steps["ours"].losses, steps["torch"].losses)]
        result["loss_max_abs_diff"] = max(gaps) if gaps else None
    del steps

    print("  peak memory (fresh processes) ...")
    for m in memory.run_jobs(memory_jobs(setup, args.device, torch_ok), fresh=not args.quick):
        entry = result["impls"][m["impl"]]
        entry.setdefault("memory", {})[m["method"]] = m.get("peak_bytes")
        if m["method"] != "tracemalloc":  # the same method on both sides: the one the ratio uses
            entry["peak_bytes"], entry["memory_method"] = m.get("peak_bytes"), m["method"]
    ours, theirs = result["impls"]["ours"], result["impls"].get("torch")
    line = f"  ours {ours['time']['median_ms']:.1f} ms/step"
    if theirs:
        line += (
            f", torch {theirs['time']['median_ms']:.1f} ms/step, ratio "
            f"{ours['time']['median_ms'] / theirs['time']['median_ms']:.2f}"
        )
    print(line + f"; peak memory ours {_mb_text(ours)}" + (f", torch {_mb_text(theirs)}" if theirs else ""))
    return result


def _mb_text(entry) -> str:
    value = mb(entry.get("peak_bytes"))
    return "—" if value is None else f"{value:.0f} MB ({entry['memory_method']})"


def table_rows(result: dict) -> list[list]:
    """One row per metric, each with ours, PyTorch's and the ratio."""
    o, t = result["impls"]["ours"], result["impls"].get("torch") or {}
    p = result["preset"]

    def get(entry, *keys):
        for k in keys:
            if not isinstance(entry, dict) or k not in entry:
                return None
            entry = entry[k]
        return entry

    def spread(entry):
        s = entry.get("time") if entry else None
        return f"{s['min_ms']:.1f}–{s['max_ms']:.1f}" if s else None

    rows = []
    for label, path, scale in [
        ("ms/step (median)", ("time", "median_ms"), 1),
        ("tokens/s", ("tokens_per_s",), 1),
        ("peak memory MB", ("peak_bytes",), 1 / 2**20),
        ("achieved GFLOP/s", ("gflops",), 1),
        ("% of matmul peak", ("fraction_of_peak",), 100),
    ]:
        a, b = get(o, *path), get(t, *path)
        a = None if a is None else a * scale
        b = None if b is None else b * scale
        extra = [spread(o), spread(t)] if label.startswith("ms/step") else ["", ""]
        if label.startswith("peak memory"):
            extra = [o.get("memory_method", ""), t.get("memory_method", "") if t else ""]
        rows.append([p, label, a, b, common.ratio(a, b), *extra])
    tm = get(o, "memory", "tracemalloc")
    if tm is not None:
        rows.append([p, "peak memory MB, NumPy arrays only", tm / 2**20, None, None, "tracemalloc", ""])
    return rows


def run(args, torch) -> int:
    torch_ok = common.torch_on(torch, args.device)
    peak_gflops, peak_source = peak.load_or_measure_peak(Path(args.out), args.device, args.quick, torch)
    presets = ["tiny"] if args.quick else args.presets
    results = []
    for preset in presets:
        setup = models.setup_for(preset, quick=args.quick)
        results.append(measure_preset(preset, setup, args, torch_ok, peak_gflops))

    headers = ["preset", "metric", "ours", "torch", "ratio ours/torch", "ours note", "torch note"]
    rows = [row for r in results for row in table_rows(r)]
    lines = [
        f"## Training step ({args.device}, float32)\n",
        common.markdown_table(headers, rows),
        "",
        "ms/step: median of interleaved steps (ours, PyTorch, ours, ...) after warm-up; the notes give min–max. "
        "A step is forward, backward, clip_grad_norm_(1.0), AdamW.step(), zero_grad() and loss.item(). "
        "Peak memory: the high-water mark of a fresh process while building the model and running "
        f"{MEMORY_STEPS} steps, above its after-import baseline (method in the notes; see "
        "`benchmarks/memory.py`). % of matmul peak: step FLOPs / time / measured peak "
        f"({peak_gflops:.1f} GFLOP/s, from {peak_source}).",
        "",
    ]
    for r in results:
        f = r["flops"]
        lines.append(
            f"- **{r['preset']}** ({r['config']}): {r['warmup_steps']} warm-up + {r['timed_steps']} timed steps each; "
            f"{f['step'] / 1e9:.2f} GFLOP per step ({100 * f['attention_share']:.0f}% in attention scores)"
            + (
                f"; largest loss gap ours vs PyTorch over the run: {r['loss_max_abs_diff']:.2e}"
                if r.get("loss_max_abs_diff") is not None
                else ""
            )
        )
    md = "\n".join(lines) + "\n"

    def plot(plt, path):
        fig, axes = plt.subplots(1, 3, figsize=(13, 4))
        impls = [i for i in ("ours", "torch") if any(i in r["impls"] for r in results)]
        width = 0.8 / len(impls)
        for k, (key, label) in enumerate([(("time", "median_ms"), "ms / step"), (("peak_bytes",), "peak MB")]):
            ax = axes[k]
            all_vals = []
            for i, impl in enumerate(impls):
                vals = []
                for r in results:
                    v = r["impls"].get(impl, {})
                    for part in key:
                        v = v.get(part) if isinstance(v, dict) else None
                    vals.append((v or 0) / (2**20 if key == ("peak_bytes",) else 1))
                all_vals.extend(vals)
                ax.bar([x + i * width for x in range(len(results))], vals, width, label=impl)
            ax.set_xticks(
                [x + width * (len(impls) - 1) / 2 for x in range(len(results))], [r["preset"] for r in results]
            )
            if any(v > 0 for v in all_vals):  # a tiny model's memory can round to 0: no log axis then
                ax.set_yscale("log")
            ax.set_ylabel(label)
            ax.legend()
        ax = axes[2]
        for r in results:
            for impl, entry in r["impls"].items():
                ax.plot(entry["losses"], label=f"{r['preset']} {impl}", ls="-" if impl == "ours" else "--")
        ax.set_xlabel("step (warm-up included)")
        ax.set_ylabel("training loss")
        ax.legend(fontsize=7)
        fig.suptitle(f"GPT training step, {args.device}")
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    payload = common.payload(
        "train",
        args,
        {
            "presets": presets,
            "quick": args.quick,
            "dtype": "float32",
            "peak_gflops": peak_gflops,
            "peak_source": peak_source,
            "memory_steps": MEMORY_STEPS,
        },
        results=results,
    )
    common.write_results(Path(args.out), "train" if args.device == "cpu" else f"train-{args.device}", payload, md, plot)
    return 0
