"""``python -m benchmarks kernels``: the compiled kernels beside the reference ops and PyTorch.

Four measurements, each printed and written to ``kernels.{json,md,png}``:

* **compile**: a fresh process with an empty numba cache compiles every kernel (``kernels.warm_up()``), then a
  second process with that cache loads them: first-run and cached start-up seconds.
* **blas threads**: matmul GFLOP/s at the training step's shapes, one or two BLAS threads, with a kernel run
  between matmuls on one numba thread or two (``blas_threads.md`` carries this table alone): why the kernels
  run on one thread.
* **ops**: forward + backward of each kernel's op at the presets' shapes, kernels vs reference vs PyTorch,
  interleaved in one process.
* **steps**: a whole training step of each preset with the kernels, with the reference ops, and in PyTorch,
  each in its own fresh process, one after the other over several rounds (three libraries' thread pools in one
  process would time each other's spinning threads), medians over rounds.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import common, models

STEP_WORKER = r"""
import json, sys, time
mode, preset, quick, steps = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
from benchmarks import models
from tinygrad_edu import kernels
setup = models.setup_for(preset, quick=quick)
step = (models.TorchStep if mode == "torch" else models.OursStep)(setup, "cpu")
context = kernels.reference() if mode == "reference" else None
if context is not None:
    context.__enter__()
for _ in range(2):
    step()
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
print(json.dumps(times))
"""

COMPILE_WORKER = r"""
import time
t0 = time.perf_counter()
from tinygrad_edu import kernels
kernels.warm_up()
print(time.perf_counter() - t0)
"""

BLAS_SHAPES = {  # (m, k, n) of the step's products: rows = batch × block
    "baby attention in (768×128×384)": (768, 128, 384),
    "baby mlp up (768×128×512)": (768, 128, 512),
    "baby mlp down (768×512×128)": (768, 512, 128),
    "lecture mlp up (16384×384×1536)": (16384, 384, 1536),
}
QUICK_BLAS_SHAPES = {"quick (64×32×48)": (64, 32, 48)}


def run(args, torch) -> int:
    quick = args.quick
    presets = ["tiny"] if quick else [p for p in args.presets if p in ("baby", "lecture")] or ["baby"]
    results = {
        "compile": compile_times(),
        "blas_threads": blas_threads(QUICK_BLAS_SHAPES if quick else BLAS_SHAPES, repeats=3 if quick else 9),
        "ops": op_times(presets, torch, args, quick),
        "adamw": adamw_times(presets, torch is not None, args, quick),
        "steps": step_times(presets, torch is not None, rounds=1 if quick else (args.repeats or 5), quick=quick),
    }
    settings = {"presets": presets, "kernel threads": 1, "step processes": "one per measurement"}
    common.write_results(
        args.out, "kernels", common.payload("kernels", args, settings, **results), _markdown(results), _plot(results)
    )
    blas_md = "## BLAS threads per matmul, with a compiled kernel between matmuls\n\n" + _blas_table(results)
    common.write_results(
        args.out,
        "blas_threads",
        common.payload("blas_threads", args, settings, blas_threads=results["blas_threads"]),
        blas_md,
    )
    return 0


def compile_times() -> dict:
    """Seconds to import and compile every kernel into an empty cache, then to load them from it."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        first, cached = (_python(COMPILE_WORKER, env) for _ in range(2))
    out = {"first_run_s": float(first), "cached_start_s": float(cached)}
    print(f"compile: first run {out['first_run_s']:.1f} s (empty cache), cached start-up {out['cached_start_s']:.2f} s")
    return out


def _python(code: str, env=None, *argv) -> str:
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, check=True)
    return done.stdout.strip().splitlines()[-1]


def blas_threads(shapes: dict, repeats: int) -> list[dict]:
    """GFLOP/s of each product with 1 and 2 BLAS threads, a GELU kernel run on 1 or 2 numba threads between."""
    import numba
    import numpy as np

    from tinygrad_edu import kernels
    from tinygrad_edu.kernels import gelu

    kernels.numba_available()
    # the kernels are compiled serially; this copy spreads GELU's loop over numba's threads, so the competition
    # between a thread pool working between matmuls and BLAS's own threads can be measured
    gelu_on_threads = numba.njit(parallel=True, error_model="numpy")(gelu.forward_float32.py_func)
    x = np.random.default_rng(0).standard_normal(393_216).astype(np.float32)
    out, cdf = np.empty_like(x), np.empty_like(x)
    saved = common.blas_threads()[0]
    rows = []
    try:
        for name, (m, k, n) in shapes.items():
            a = np.random.default_rng(1).random((m, k), dtype=np.float32)
            b = np.random.default_rng(2).random((k, n), dtype=np.float32)
            row = {"shape": name, "flops": 2 * m * k * n}
            for kernel_threads in (1, 2):
                numba.set_num_threads(min(kernel_threads, numba.config.NUMBA_NUM_THREADS))
                for threads in (1, 2):
                    common.set_blas_threads(threads)
                    samples = []
                    for _ in range(repeats if m < 10_000 else 3):
                        gelu_on_threads(x, out, cdf, True)
                        t0 = time.perf_counter()
                        a @ b
                        samples.append(time.perf_counter() - t0)
                    row[f"gflops kernel{kernel_threads} blas{threads}"] = (
                        row["flops"] / statistics.median(samples) / 1e9
                    )
            rows.append(row)
            print(
                "blas threads: " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{v}" for k, v in row.items())
            )
    finally:
        numba.set_num_threads(1)
        common.set_blas_threads(saved)
    return rows


def op_times(presets, torch, args, quick: bool) -> list[dict]:
    """Forward + backward of GELU, layer norm and softmax at each preset's shapes: kernels, reference, PyTorch."""
    import numpy as np

    import tinygrad_edu as tg
    from tinygrad_edu import kernels

    rows = []
    for preset in presets:
        setup = models.setup_for(preset, quick=quick)
        B, T, C, H = setup["batch_size"], setup["block_size"], setup["n_embd"], setup["n_head"]
        cases = {
            "gelu (B, T, 4C)": ((B, T, 4 * C), lambda m, x: m.nn.functional.gelu(x)),
            "layer_norm (B, T, C)": ((B, T, C), lambda m, x, C=C: m.nn.functional.layer_norm(x, (C,))),
            "softmax (B, H, T, T)": ((B, H, T, T), lambda m, x: m.nn.functional.softmax(x, dim=-1)),
        }
        for name, (shape, fn) in cases.items():
            data = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            upstream = np.random.default_rng(1).standard_normal(shape).astype(np.float32)

            def ours(data=data, upstream=upstream, fn=fn):
                x = tg.tensor(data, requires_grad=True)
                fn(tg, x).backward(tg.tensor(upstream))

            def reference(ours=ours):
                with kernels.reference():
                    ours()

            fns = {"kernels": ours, "reference": reference}
            if torch is not None:

                def theirs(data=data, upstream=upstream, fn=fn):
                    x = torch.tensor(data, requires_grad=True)
                    fn(torch, x).backward(torch.tensor(upstream))

                fns["torch"] = theirs
            repeats = 3 if quick else (args.repeats or 15)
            timings = common.interleaved(fns, repeats, 2, **common.interleave_options("op", repeats, quick))
            row = {"preset": preset, "op": name, **{k: v.median_ms for k, v in timings.items()}}
            rows.append(row)
            print(f"ops {preset} {name}: " + ", ".join(f"{k} {row[k]:.3f} ms" for k in fns))
    return rows


def adamw_times(presets, torch_available: bool, args, quick: bool) -> list[dict]:
    """One AdamW.step over each preset's parameters, interleaved in one process: the multi-tensor step over flat
    buffers (the default), one fused pass per parameter (the step before flat buffers), the NumPy reference
    chain, and PyTorch's default (foreach) step."""
    from tinygrad_edu import kernels

    from . import ops

    rows = []
    for preset in presets:
        setup = models.setup_for(preset, quick=quick)
        per_parameter = ops.adamw_fns(setup, "ours", "cpu")
        optimizer = per_parameter["step"].__self__
        optimizer._flat_step = lambda group: False  # every group takes the per-parameter loop
        reference = ops.adamw_fns(setup, "ours", "cpu")

        def reference_step(step=reference["step"]):
            with kernels.reference():
                step()

        fns = {
            "flat": ops.adamw_fns(setup, "ours", "cpu")["step"],
            "per parameter": per_parameter["step"],
            "reference": reference_step,
        }
        if torch_available:
            fns["torch"] = ops.adamw_fns(setup, "torch", "cpu")["step"]
        repeats = 3 if quick else (args.repeats or 15)
        timings = common.interleaved(fns, repeats, 2, **common.interleave_options("op", repeats, quick))
        row = {"preset": preset, "parameters": per_parameter["_numel"], **{k: v.median_ms for k, v in timings.items()}}
        rows.append(row)
        print(f"adamw {preset}: " + ", ".join(f"{k} {row[k]:.3f} ms" for k in fns))
    return rows


def step_times(presets, torch_available: bool, rounds: int, quick: bool) -> list[dict]:
    """Median ms per step of each preset: kernels, reference, PyTorch, each in fresh processes, rounds interleaved."""
    # "malloc default": the kernels with glibc's malloc as it comes (tinygrad_edu/allocator.py off)
    modes = ["kernels", "malloc default", "reference"] + (["torch"] if torch_available else [])
    rows = []
    for preset in presets:
        samples = {mode: [] for mode in modes}
        steps = 2 if quick or preset == "lecture" else 5
        for _ in range(rounds):
            for mode in modes:
                env = dict(os.environ, TINYGRAD_EDU_KEEP_FREED_MEMORY="0") if mode == "malloc default" else None
                worker_mode = "kernels" if mode == "malloc default" else mode
                samples[mode].append(statistics.median(json.loads(
                    _python(STEP_WORKER, env, worker_mode, preset, "1" if quick else "0", str(steps))
                )))  # fmt: skip
        row = {"preset": preset, "rounds": rounds, "steps per round": steps}
        for mode in modes:
            row[mode] = statistics.median(samples[mode]) * 1e3
            row[f"{mode} spread"] = [min(samples[mode]) * 1e3, max(samples[mode]) * 1e3]
        rows.append(row)
        print(f"steps {preset}: " + ", ".join(f"{m} {row[m]:.1f} ms" for m in modes))
    return rows


def _blas_table(results) -> str:
    headers = [
        "product",
        "BLAS 1 thread",
        "BLAS 2 threads",
        "BLAS 2 threads, kernels on 2 threads",
        "ratio 2 threads / 1 (kernels on 1 thread)",
    ]
    rows = [
        [r["shape"], r["gflops kernel1 blas1"], r["gflops kernel1 blas2"], r["gflops kernel2 blas2"],
         r["gflops kernel1 blas2"] / r["gflops kernel1 blas1"]]
        for r in results["blas_threads"]
    ]  # fmt: skip
    return "GFLOP/s, median; a compiled GELU runs between products, as in a step.\n\n" + common.markdown_table(
        headers, rows
    )


def _markdown(results) -> str:
    c = results["compile"]
    parts = [
        "## Compile time\n",
        f"First run (empty numba cache): **{c['first_run_s']:.1f} s**; "
        f"cached start-up: **{c['cached_start_s']:.2f} s** (import tinygrad_edu and load every kernel).\n",
        "## Training step: kernels, reference ops, PyTorch (fresh process each, medians over rounds)\n",
        "Every process keeps freed memory for the next step (`tinygrad_edu/allocator.py`, applied on import, and "
        "PyTorch's process imports tinygrad_edu too) but the malloc-default column's, which shows what it is worth "
        "to us.\n",
    ]
    headers = ["preset", "kernels ms", "kernels, malloc default ms", "reference ms", "torch ms", "ratio kernels/torch",
               "ratio kernels/reference"]  # fmt: skip
    rows = [
        [r["preset"], r["kernels"], r["malloc default"], r["reference"], r.get("torch"),
         common.ratio(r["kernels"], r.get("torch")), common.ratio(r["kernels"], r["reference"])]
        for r in results["steps"]
    ]  # fmt: skip
    parts.append(common.markdown_table(headers, rows) + "\n")
    parts.append("## Ops, forward + backward (interleaved in one process)\n")
    headers = [
        "preset",
        "op",
        "kernels ms",
        "reference ms",
        "torch ms",
        "ratio kernels/torch",
        "ratio kernels/reference",
    ]
    rows = [
        [r["preset"], r["op"], r["kernels"], r["reference"], r.get("torch"), common.ratio(r["kernels"], r.get("torch")),
         common.ratio(r["kernels"], r["reference"])]
        for r in results["ops"]
    ]  # fmt: skip
    parts.append(common.markdown_table(headers, rows) + "\n")
    parts.append("## AdamW.step over all parameters (interleaved in one process)\n")
    parts.append(
        "*flat*: the multi-tensor step, one compiled pass over one flat buffer per group "
        "(`tinygrad_edu/flat_buffer.py`, the default); *per parameter*: one compiled pass per parameter; "
        "*reference*: the NumPy chain; *torch*: PyTorch's default step.\n"
    )
    headers = ["preset", "parameters", "flat ms", "per parameter ms", "reference ms", "torch ms", "ratio flat/torch",
               "ratio flat/per parameter"]  # fmt: skip
    rows = [
        [r["preset"], f"{r['parameters']:,}", r["flat"], r["per parameter"], r["reference"], r.get("torch"),
         common.ratio(r["flat"], r.get("torch")), common.ratio(r["flat"], r["per parameter"])]
        for r in results.get("adamw", [])
    ]  # fmt: skip
    parts.append(common.markdown_table(headers, rows) + "\n")
    parts.append("## BLAS threads per matmul, with a compiled kernel between matmuls\n")
    parts.append(_blas_table(results))
    return "\n".join(parts)


def _plot(results):
    def draw(plt, path: Path):
        steps = results["steps"]
        modes = [m for m in ("kernels", "malloc default", "reference", "torch") if all(m in r for r in steps)]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        width = 0.8 / len(modes)
        for i, mode in enumerate(modes):
            ax.bar([j + i * width for j in range(len(steps))], [r[mode] for r in steps], width, label=mode)
        ax.set_xticks([j + width * (len(modes) - 1) / 2 for j in range(len(steps))], [r["preset"] for r in steps])
        ax.set_ylabel("ms per training step (median)")
        ax.set_yscale("log")
        ax.legend()
        ax.set_title("training step: compiled kernels, reference ops, PyTorch")
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    return draw
