"""``python -m benchmarks gpu-check --out DIR``: everything a borrowed GPU machine should run, in one command.

GPU time here is short and rare, so the first run on a GPU must work the first time. This runs, each step in
its own process with its own time limit (about 8 minutes in all on a GPU), and writes every log to DIR:

1. the test suite on the GPU (``tests``, the cuda device on CuPy, the CUDA kernels on the GPU);
2. the op, training-step and attention (FlashAttention beside PyTorch's SDPA) benchmarks of our ``cuda`` device
   beside PyTorch eager on the same GPU, and the
   compiled steps (``benchmarks compiled``: ``tinygrad_edu.compile`` beside eager and ``torch.compile``);
3. the lecture preset for 300 steps (``gpt train --preset lecture --device cuda``), logging losses and tokens/s;

then ``summary.md``: the machine (GPU, driver, CuPy, numba-cuda), each step's status, time and last lines.
A step that fails or runs out of time is recorded and the next one runs.

``--device cpu --quick`` runs the same steps at tiny sizes on the CPU, with the cuda device on the stand-in
(``TINYGRAD_EDU_CUDA=sim``) and the CUDA kernels in numba's simulator: CI runs it that way
(``tests/test_benchmarks.py``), so that the command itself is tested. No figure is a GPU figure unless
``summary.md`` names a GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

# (name, seconds allowed on a GPU, seconds allowed in the quick CPU run)
STEPS = (("tests", 240, 300), ("benchmarks", 180, 300), ("compiled", 90, 120), ("lecture", 150, 120))


def run(args, torch) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    quick, device = args.quick, args.device
    env = dict(os.environ)
    if device == "cpu":  # the rehearsal: cuda on the stand-in, CUDA kernels in the simulator
        env.update(TINYGRAD_EDU_CUDA="sim", NUMBA_ENABLE_CUDASIM="1")
    results = []
    for name, gpu_limit, cpu_limit in STEPS:
        command = _command(name, out, quick, device)
        limit = cpu_limit if device == "cpu" else gpu_limit
        results.append(_step(name, command, limit, out, env))
        print(f"gpu-check {name}: {results[-1]['status']} in {results[-1]['seconds']:.0f} s ({out / (name + '.log')})")
    machine = _machine(env)
    (out / "summary.json").write_text(json.dumps({"machine": machine, "steps": results}, indent=2) + "\n")
    (out / "summary.md").write_text(_summary(machine, results, device, quick))
    print(f"  wrote {out / 'summary.md'}")
    return 0 if all(r["status"] == "ok" for r in results) else 1


def _command(name: str, out: Path, quick: bool, device: str) -> list[str]:
    py = sys.executable
    if name == "tests":
        if quick:  # the CUDA-specific tests: the stand-in device and every CUDA kernel
            return [py, "-m", "pytest", "-q", "-x", "tests/test_cuda_standin.py", "tests/test_cuda_kernels.py"]
        return [py, "-m", "pytest", "-q", "-rs", "tests"]
    if name == "benchmarks":
        bench = [py, "-m", "benchmarks", "ops", "--device", "cuda", "--out", str(out / "benchmarks")]
        train = [py, "-m", "benchmarks", "train", "--device", "cuda", "--out", str(out / "benchmarks")]
        # FlashAttention (kernels/cuda/flash_attention.py) beside PyTorch's SDPA; memory is the train table's
        attention = [py, "-m", "benchmarks", "attention", "--device", "cuda", "--no-memory"]
        attention += ["--out", str(out / "benchmarks")]
        extra = ["--quick"] if quick else ["--presets", "lecture"]
        return ["bash", "-c", " && ".join(" ".join(c + extra) for c in (bench, train, attention))]
    if name == "compiled":  # tinygrad_edu.compile's replayed steps beside eager (unfused on cuda)
        compiled = [py, "-m", "benchmarks", "compiled", "--device", "cuda", "--out", str(out / "benchmarks")]
        return compiled + (["--quick"] if quick else ["--repeats", "5"])
    preset = ["--preset", "tiny", "--max-iters", "20", "--eval-interval", "10"] if quick else [
        "--preset", "lecture", "--max-iters", "300", "--eval-interval", "100", "--eval-iters", "20",
    ]  # fmt: skip
    return [py, "-m", "gpt", "train", *preset, "--device", "cuda", "--out-dir", str(out / "lecture"),
            "--progress", "false"]  # fmt: skip


def _step(name: str, command: list[str], limit: int, out: Path, env: dict) -> dict:
    t0 = time.perf_counter()
    log = out / f"{name}.log"
    with open(log, "w") as f:
        f.write("$ " + " ".join(command) + "\n")
        f.flush()
        try:
            done = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=limit)
            status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
        except subprocess.TimeoutExpired:
            status = f"stopped at its {limit} s limit"
    tail = log.read_text(errors="replace").splitlines()[-15:]
    return {"step": name, "command": command, "status": status, "seconds": time.perf_counter() - t0, "tail": tail}


def _machine(env: dict) -> dict:
    info = {"python": sys.version.split()[0]}
    probe = (
        "import json, tinygrad_edu as tg; from tinygrad_edu import backend; d = {'cuda': tg.cuda.is_available(), "
        "'simulated': tg.cuda.is_simulated()}\n"
        "try:\n import cupy; p = cupy.cuda.runtime.getDeviceProperties(0); d.update(cupy=cupy.__version__, "
        "gpu=p['name'].decode() if isinstance(p['name'], bytes) else str(p['name']), "
        "driver=cupy.cuda.runtime.driverGetVersion(), runtime=cupy.cuda.runtime.runtimeGetVersion())\n"
        "except Exception as e: d['cupy_error'] = repr(e)\n"
        "try:\n import numba_cuda; d['numba_cuda'] = numba_cuda.__version__\nexcept Exception: pass\n"
        "print(json.dumps(d))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    try:
        info.update(json.loads(done.stdout.strip().splitlines()[-1]))
    except (IndexError, json.JSONDecodeError):
        info["probe_error"] = done.stderr[-500:]
    return info


def _summary(machine: dict, results: list[dict], device: str, quick: bool) -> str:
    gpu = machine.get("gpu") if not machine.get("simulated") else None
    lines = [
        "# GPU check",
        "",
        f"Machine: {json.dumps(machine)}",
        "",
        ("**Ran on a GPU: " + gpu + "**") if gpu else "**No GPU: a rehearsal on the CPU (stand-in device, simulator)**",
        "",
        "| step | status | seconds |",
        "|---|---|---|",
    ]
    lines += [f"| {r['step']} | {r['status']} | {r['seconds']:.0f} |" for r in results]
    for r in results:
        lines += ["", f"## {r['step']}", "", "```", "$ " + " ".join(r["command"]), *r["tail"], "```"]
    return "\n".join(lines) + "\n"
