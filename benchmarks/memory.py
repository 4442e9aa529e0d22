"""Peak memory of training, measured in a fresh Python process per implementation and configuration.

What is measured: the highest memory in use while the model is built, its optimizer created and ``steps``
training steps run (the first step allocates AdamW's moments; the second is the steady state), *above* the
process's baseline after its imports and a library warm-up (two steps of a tiny model, so that what a library
loads lazily on first use, e.g. ~75 MB of RSS for PyTorch's optimizer machinery, is not counted). So it covers
parameters, gradients, optimizer state, activations kept for backward and temporaries: everything a training
step needs, and nothing the interpreter and libraries need.

Methods (each row of the results says which it used):

* ``rss`` (CPU, both implementations): the resident-set high-water mark (``VmHWM`` in ``/proc/self/status``,
  reset to the current RSS just before the measured section by writing ``5`` to ``/proc/self/clear_refs``)
  minus the RSS at that moment. Where the reset is impossible, ``ru_maxrss`` minus the baseline RSS (then the
  import-time peak can hide a smaller one: the output says ``rss-ru_maxrss``). Same method on both sides, so
  this is the number the ratio uses. It includes allocator overhead and pages the allocator has not returned.
* ``tracemalloc`` (CPU, tinygrad_edu only): the peak of the bytes Python and NumPy have allocated (NumPy reports
  its array buffers to ``tracemalloc``): exactly the arrays, no allocator slack. Slower to run; a separate process.
* ``cupy-pool`` / ``torch-cuda`` (GPU): CuPy's default memory pool ``total_bytes()`` (what the pool holds from the
  driver; it keeps freed blocks, so this is its high-water mark), and ``torch.cuda.max_memory_reserved()`` (the
  same notion for PyTorch's caching allocator; ``max_memory_allocated`` is reported beside it).

Run by the benchmarks as ``python -m benchmarks.memory '<json list of jobs>'``; prints one JSON line per job.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from .common import REPO


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure(job: dict) -> dict:
    """Run one job in this process: {"impl", "method", "device", "setup", "steps", "threads"}."""
    from . import common, models

    impl, method, device, steps = job["impl"], job["method"], job.get("device", "cpu"), job.get("steps", 2)
    torch = common.import_torch() if impl == "torch" else None
    if job.get("threads"):
        common.set_blas_threads(job["threads"])
    if torch is not None:
        torch.set_num_threads(job.get("threads") or common.blas_threads()[0])
    batches = models.token_batches(job["setup"])
    make = models.OursStep if impl == "ours" else models.TorchStep
    # Library warm-up, before the baseline: a tiny model's training steps make each library load what it loads
    # lazily on first use (PyTorch's optimizer machinery alone is ~75 MB of RSS) and start its thread pools.
    # That memory belongs to the library, not to training this model, so it is left out of both sides.
    # (with the job's attention switch, so that a fused job's compiled attention is loaded before the baseline too)
    warm = make(dict(models.QUICK_SETUP, attention=job["setup"].get("attention", "explicit")), device)
    for _ in range(2):
        warm()
    del warm
    gc.collect()
    result = {"impl": impl, "method": method, "device": device, "steps": steps}

    if device == "cuda":
        if impl == "ours":
            import cupy

            pool = cupy.get_default_memory_pool()
            pool.free_all_blocks()
            base = pool.total_bytes()
            step = make(job["setup"], device, batches=batches)
            for _ in range(steps):
                step()
            common.synchronizer(impl, device)()
            result.update(method="cupy-pool", peak_bytes=pool.total_bytes() - base)
        else:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            step = make(job["setup"], device, batches=batches)
            for _ in range(steps):
                step()
            torch.cuda.synchronize()
            result.update(
                method="torch-cuda",
                peak_bytes=torch.cuda.max_memory_reserved() - base,
                peak_allocated_bytes=torch.cuda.max_memory_allocated() - base,
            )
        return result

    if method == "tracemalloc":
        import tracemalloc

        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        step = make(job["setup"], device, batches=batches)
        for _ in range(steps):
            step()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result.update(peak_bytes=peak - base)
        return result

    # rss
    base_kb = _status_kb("VmRSS")
    reset = _reset_hwm() and base_kb is not None
    if reset:
        base_kb = _status_kb("VmRSS")
    step = make(job["setup"], device, batches=batches)
    for _ in range(steps):
        step()
    if reset:
        peak_kb = _status_kb("VmHWM")
    else:
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        result["method"] = "rss-ru_maxrss"
    result.update(peak_bytes=max(0, (peak_kb - (base_kb or 0))) * 1024)
    return result


def run_jobs(jobs: list[dict], fresh: bool = True, timeout: float = 3600) -> list[dict]:
    """Measure ``jobs`` in child processes: one process per job (``fresh``), or one per implementation running
    its jobs in turn (the ``--quick`` shortcut: the high-water mark is reset between jobs, but memory freed by
    one job and kept by the allocator can make the next look smaller). Failed jobs give ``peak_bytes: None``."""
    if fresh:
        groups = [[job] for job in jobs]
    else:
        by_impl: dict = {}
        for job in jobs:
            by_impl.setdefault(job["impl"], []).append(job)
        groups = list(by_impl.values())
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    results: dict[int, dict] = {}
    for group in groups:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory", json.dumps(group)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or len(lines) != len(group):
            tail = proc.stderr.strip().splitlines()[-3:]
            print(f"  memory measurement failed ({group[0]['impl']}, {group[0]['method']}): {' | '.join(tail)}")
            lines = [dict(job, peak_bytes=None, error=" | ".join(tail)) for job in group]
        for job, line in zip(group, lines):
            line["elapsed_s"] = round(time.perf_counter() - t0, 2)
            results[id(job)] = line
    return [results[id(job)] for job in jobs]


def main(argv: list[str] | None = None) -> int:
    jobs = json.loads((argv if argv is not None else sys.argv[1:])[0])
    for job in jobs:
        result = measure(job)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
