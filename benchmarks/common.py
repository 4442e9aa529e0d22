"""What every benchmark shares: the optional PyTorch, thread settings, interleaved timing with medians and spread,
the machine description, and writing results as JSON + a markdown table + a PNG plot.

Timing rules (the same everywhere):

* Implementations are timed *interleaved* in one process: A B A B ... after the warm-up rounds, so that a slow
  spell of the machine (another job, frequency scaling) hits both and cancels out of the ratio.
* Each sample is one wall-clock call of a function that does the whole piece of work; on a GPU the function is
  followed by a device synchronisation (``tinygrad_edu.cuda.synchronize()``, ``torch.cuda.synchronize()``), so
  queued kernels are counted.
* We report the median (robust to the odd interruption) and the spread: min, max and the interquartile range.
* ``ratio`` is always ours / PyTorch (median over median): 2.0 means we take twice PyTorch's time (or memory).
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import glob
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results"


# -- optional dependencies -------------------------------------------------------------------------------------


def import_torch():
    """PyTorch, or None when it is not installed (the benchmarks then run without their PyTorch columns)."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None


def import_pyplot():
    """matplotlib's pyplot on a file-only backend, or None when matplotlib (the ``plot`` extra) is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


# -- threads --------------------------------------------------------------------------------------------------


def blas_threads() -> tuple[int, str]:
    """How many threads NumPy's BLAS uses, and how we found out.

    Asked of the BLAS library itself (threadpoolctl when installed, else OpenBLAS's ``get_num_threads`` through
    ctypes); failing both, the environment variables OpenBLAS reads, then the number of usable cores."""
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("internal_api") in ("openblas", "mkl", "blis") and pool.get("user_api") == "blas":
                return int(pool["num_threads"]), f"threadpoolctl ({pool['internal_api']})"
    except ImportError:
        pass
    getter = _openblas_function("get")
    if getter is not None:
        return int(getter()), f"OpenBLAS {getter.__name__}()"
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var]), f"${var}"
    return usable_cores(), "number of usable cores (BLAS not queried)"


def set_blas_threads(n: int) -> bool:
    """Make NumPy's BLAS use ``n`` threads (threadpoolctl when installed, else OpenBLAS through ctypes).
    Returns False when neither works (then the BLAS keeps its own setting: see ``blas_threads``)."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n, user_api="blas")
        return True
    except ImportError:
        pass
    setter = _openblas_function("set")
    if setter is None:
        return False
    setter(ctypes.c_int(n))
    return True


def _openblas_function(verb: str):
    """OpenBLAS's ``<verb>_num_threads`` in the library NumPy ships with (its name varies by build), or None."""
    import numpy

    libdir = Path(numpy.__file__).resolve().parent.parent / "numpy.libs"
    names = (f"scipy_openblas_{verb}_num_threads64_", f"openblas_{verb}_num_threads64_", f"openblas_{verb}_num_threads")
    for path in glob.glob(str(libdir / "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in names:
            if hasattr(lib, name):
                return getattr(lib, name)
    return None


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def match_torch_threads(torch, threads: int | None = None) -> int:
    """Give PyTorch as many intra-op threads as NumPy's BLAS has, so neither side has more cores to use;
    with ``threads``, set both to that first. Returns the thread count."""
    if threads is not None and not set_blas_threads(threads):
        print(f"  could not set NumPy's BLAS threads to {threads}: it keeps {blas_threads()[0]}")
    n, _ = blas_threads()
    if torch is not None:
        torch.set_num_threads(n)
    return n


# -- devices --------------------------------------------------------------------------------------------------


def check_device(device: str) -> None:
    import tinygrad_edu

    if device == "cuda" and not tinygrad_edu.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available to tinygrad_edu (no CuPy, or no NVIDIA GPU)")


def torch_on(torch, device: str) -> bool:
    """Whether PyTorch can run on ``device`` (a CPU-only PyTorch cannot run the cuda columns)."""
    if torch is None:
        return False
    return device == "cpu" or bool(torch.cuda.is_available())


def synchronizer(impl: str, device: str) -> Callable[[], None]:
    """The function that waits for queued GPU work of an implementation (a no-op on the CPU)."""
    if device != "cuda":
        return lambda: None
    if impl == "torch":
        import torch

        return torch.cuda.synchronize
    import tinygrad_edu

    return tinygrad_edu.cuda.synchronize


# -- timing ---------------------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Wall-clock samples of one implementation, in seconds; the summaries are in milliseconds."""

    samples: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return 1e3 * statistics.median(self.samples) if self.samples else float("nan")

    def summary(self) -> dict:
        """median, min, max, q1, q3 (ms) and the number of samples."""
        if not self.samples:
            return {"n": 0}
        s = sorted(self.samples)
        q = statistics.quantiles(s, n=4, method="inclusive") if len(s) > 1 else [s[0], s[0], s[0]]
        return {
            "median_ms": 1e3 * statistics.median(s),
            "min_ms": 1e3 * s[0],
            "max_ms": 1e3 * s[-1],
            "q1_ms": 1e3 * q[0],
            "q3_ms": 1e3 * q[2],
            "n": len(s),
        }


def interleaved(
    fns: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int,
    syncs: dict | None = None,
    block: int = 1,
    settle: float = 0.0,
    rewarm: bool = False,
):
    """Time every function of ``fns`` ``repeats`` times, interleaved, after ``warmup`` untimed rounds.

    The order is A×block, B×block, A×block, ... until each has ``repeats`` samples. ``syncs[name]`` (optional)
    is called after each call and counted in its time (GPU work).

    Two libraries in one process each keep a thread pool, and both pools *spin* for a while after a call
    (OpenBLAS's for up to ~0.1 s by default): the first call of B after A competes with A's spinning threads
    for the same cores. ``settle`` seconds of idle before each switch let those threads park, and ``rewarm``
    makes the first call after a switch untimed. Both are reported with the results.

    Returns ``{name: Timing}``."""
    syncs = syncs or {}
    noop = lambda: None  # noqa: E731
    for _ in range(warmup):
        for name, fn in fns.items():
            fn()
            syncs.get(name, noop)()
    timings = {name: Timing() for name in fns}
    while any(len(t.samples) < repeats for t in timings.values()):
        for name, fn in fns.items():
            sync = syncs.get(name, noop)
            if settle and len(fns) > 1:
                time.sleep(settle)
            if rewarm:
                fn()
                sync()
            for _ in range(min(block, repeats - len(timings[name].samples))):
                sync()
                t0 = time.perf_counter()
                fn()
                sync()
                timings[name].samples.append(time.perf_counter() - t0)
    return timings


def interleave_options(kind: str, repeats: int, quick: bool = False) -> dict:
    """The interleaving of ``interleaved`` per kind of measurement (recorded in every result's settings).

    * ``"op"`` (micro- to milliseconds): 3 rounds of blocks, the first call after a switch untimed, 0.1 s settle;
    * ``"step"`` (training steps, tens of ms to seconds): one step at a time, A B A B, 0.2 s settle.

    ``quick`` drops the settle time (tests)."""
    if kind == "op":
        options = {"block": max(1, -(-repeats // 3)), "settle": 0.1, "rewarm": True}
    else:
        options = {"block": 1, "settle": 0.2, "rewarm": False}
    if quick:
        options["settle"] = 0.0
    return options


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """ours / theirs, or None when either is missing."""
    if ours is None or theirs is None or theirs != theirs or theirs == 0 or ours != ours:
        return None
    return ours / theirs


# -- the machine ----------------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f in ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile"))
    except OSError:
        pass
    return []


def _git(*args: str) -> str | None:
    """Read-only git queries (the commit, whether the tree has changes); None outside a checkout."""
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine_info(device: str = "cpu") -> dict:
    """Everything needed to interpret (or reproduce) a number: hardware, library versions, BLAS and threads."""
    import numpy
    import scipy

    torch = import_torch()
    threads, how = blas_threads()
    try:
        blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = {k: blas.get(k) for k in ("name", "version", "openblas configuration") if blas.get(k)}
    except Exception:  # older NumPy: no dict mode
        blas = {}
    info = {
        "cpu": cpu_model(),
        "cpu_flags": _cpu_flags(),
        "cores_usable": usable_cores(),
        "cores_total": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "blas": blas,
        "numpy_blas_threads": threads,
        "numpy_blas_threads_source": how,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "device": device,
        "load_average_1m": load_average(),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }
    if device == "cuda":
        try:
            import cupy

            props = cupy.cuda.runtime.getDeviceProperties(0)
            info["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            info["cupy"] = cupy.__version__
        except Exception:
            info["gpu"] = None
        if torch is not None and torch.cuda.is_available():
            info["torch_cuda"] = torch.version.cuda
    return info


def load_average() -> float | None:
    """The 1-minute load average: above ~0.5 on an otherwise idle machine, other work shares the cores."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def busy_warning(machine: dict) -> str | None:
    """A warning when other processes were using the CPU as the benchmark started.

    With every core busy elsewhere, a library whose threads meet at a barrier (PyTorch's OpenMP, OpenBLAS)
    waits for a descheduled thread at every parallel region: a tiny PyTorch step measured 0.6 s instead of
    3 ms on 2 busy cores. Such numbers say more about the neighbours than about the code."""
    load = machine.get("load_average_1m")
    if load is not None and load > 0.5 * machine.get("cores_usable", 1):
        return (
            f"WARNING: load average {load:.1f} on {machine['cores_usable']} cores when the benchmark started: "
            "other processes share the CPU, so these timings (PyTorch's especially) are unreliable. Rerun on an "
            "idle machine."
        )
    return None


def command_line(argv: list[str] | None) -> str:
    """The command as a user would type it again."""
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join(["python -m benchmarks", *args])


# -- results --------------------------------------------------------------------------------------------------


def fmt(value) -> str:
    """A table cell: numbers rounded, None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if value != value:
            return "—"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.3g}"  # three significant digits: 0.000123 stays readable, 12.3 stays short
    return str(value)


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_line(machine: dict) -> str:
    torch = f"PyTorch {machine['torch']} ({machine['torch_threads']} threads)" if machine["torch"] else "no PyTorch"
    gpu = f", GPU {machine.get('gpu')}" if machine.get("device") == "cuda" else ""
    return (
        f"{machine['cpu']} ({machine['cores_usable']} cores{gpu}), Python {machine['python']}, NumPy "
        f"{machine['numpy']} ({machine['blas'].get('name', 'BLAS')}, {machine['numpy_blas_threads']} threads), "
        f"{torch}; {machine['date']}, commit {(machine['git_commit'] or 'unknown')[:10]}"
        + (" (+ local changes)" if machine.get("git_dirty") else "")
    )


def payload(benchmark: str, args, settings: dict, **results) -> dict:
    """What every benchmark's JSON holds: its name, the command and machine it ran on, its settings, its results."""
    return {"benchmark": benchmark, "command": args.command, "machine": args.machine, "settings": settings, **results}


def write_results(out: Path, name: str, payload: dict, markdown: str, plot: Callable | None = None) -> list[Path]:
    """Write ``name.json``, ``name.md`` and (when matplotlib is installed and ``plot`` given) ``name.png``.

    ``plot(plt, path)`` draws and saves the figure. Returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.json", out / f"{name}.md"]
    paths[0].write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    header = (
        f"<!-- written by `{payload['command']}` -->\n\n"
        f"**Machine:** {machine_line(payload['machine'])}  \n**Command:** `{payload['command']}`\n\n"
    )
    warning = busy_warning(payload["machine"])
    if warning:
        header += f"> {warning}\n\n"
    paths[1].write_text(header + markdown.rstrip() + "\n")
    if plot is not None:
        plt = import_pyplot()
        if plt is None:
            print(f"  (matplotlib is not installed: {name}.png not drawn; pip install '.[plot]')")
        else:
            png = out / f"{name}.png"
            try:
                plot(plt, png)
            finally:
                plt.close("all")
            paths.append(png)
    for p in paths:
        print(f"  wrote {p}")
    return paths


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")
