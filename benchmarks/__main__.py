"""``python -m benchmarks WHAT [options]``: tinygrad_edu beside PyTorch.

WHAT is one of ``ops``, ``train``, ``scaling``, ``profile``, ``peak``, ``generate``, ``kernels``, ``distributed``,
``recipe``, ``gpu-check``, ``op-table`` or ``all`` (peak, ops, train, scaling, profile, generate, kernels, in that
order; ``distributed`` launches MPI ranks, ``recipe`` trains for minutes, ``gpu-check`` needs a GPU and ``op-table``
times every registry op for most of an hour, so they run only by name). Each writes ``<name>.json`` (every sample
summary, the machine, versions, date, commit and the exact command), ``<name>.md`` (a table with the ratio ours /
PyTorch in every row) and ``<name>.png`` under ``--out`` (default ``benchmarks/results``). Without PyTorch
everything runs, minus the PyTorch columns.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import common

COMMANDS = (
    "ops", "train", "scaling", "profile", "peak", "generate", "kernels", "recipe", "distributed", "gpu-check",
    "op-table", "attention", "compiled", "all"
)  # fmt: skip
ALL_ORDER = ("peak", "ops", "train", "scaling", "profile", "generate", "kernels")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of tinygrad_edu beside PyTorch (see benchmarks/README.md for what each number means).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "ops      single ops at GPT shapes, forward and forward+backward\n"
            "train    a training step of the presets: ms/step, tokens/s, peak memory, % of matmul peak\n"
            "scaling  step time and memory vs block size (64..1024) and width (64..768), log axes\n"
            "profile  per-op profile of one training step (forward, backward, optimizer, overhead)\n"
            "peak     the machine's float32 matmul FLOP/s (the 'peak' the other results refer to)\n"
            "generate tokens/s of generation, with and without the key/value cache\n"
            "kernels  the compiled kernels vs the reference ops vs PyTorch: compile time, BLAS threads, ops, steps\n"
            "recipe   `gpt train --preset baby` whole, beside the same recipe in PyTorch (wall time, final loss)\n"
            "op-table every op of tests/op_registry.py at three sizes, each argument kind, forward and backward;\n"
            "         --ops 'pow*,softmax' times only those entries (into op_table_subset.*)\n"
            "distributed  training steps on 1 and 2 MPI ranks (compute / allreduce / update), an allreduce sweep,\n"
            "         the lecture preset on 8 and 32 GPUs on paper\n"
            "gpu-check  what a GPU machine runs (tests, benchmarks, 300 lecture steps) into --out; --device cpu\n"
            "         --quick rehearses it on the CPU\n"
            "compiled training steps eager vs tinygrad_edu.compile vs PyTorch eager and torch.compile; by name only\n"
            "attention  FlashAttention vs PyTorch's SDPA and the naive op (T = 64..2048), peak memory of a\n"
            "         training step at block 1024/2048, the steps with attention=fused; by name only\n"
            "all      all of the above, one after the other"
        ),
    )
    parser.add_argument("what", choices=COMMANDS, help="which benchmark")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cpu (NumPy) or cuda (CuPy)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed repeats per measurement (default: per benchmark; train/scaling/profile: steps)",
    )
    parser.add_argument("--warmup", type=int, default=None, help="untimed warm-up rounds (default: per benchmark)")
    parser.add_argument("--steps", type=int, default=None, help="timed training steps (train, scaling, profile)")
    parser.add_argument("--presets", default="baby,lecture", help="comma-separated presets (default baby,lecture)")
    parser.add_argument("--out", default=str(common.DEFAULT_OUT), help="results directory (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="tiny shapes and few repeats (tests, smoke runs)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for NumPy's BLAS and PyTorch alike (default: the BLAS's own setting)",
    )
    parser.add_argument("--no-memory", action="store_true", help="scaling: skip the peak-memory processes")
    parser.add_argument("--ops", default=None, help="op-table: comma-separated entry names or patterns (fnmatch)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    args.command = common.command_line(argv)
    args.presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    args.out = Path(args.out)
    common.check_device(args.device)

    torch = common.import_torch()
    saved = (common.blas_threads()[0], torch.get_num_threads() if torch is not None else None)
    try:
        threads = common.match_torch_threads(torch, args.threads)
        return _run(args, torch, threads)
    finally:  # called in-process (the tests): leave the thread settings as they were
        if args.threads is not None:
            common.set_blas_threads(saved[0])
        if torch is not None:
            torch.set_num_threads(saved[1])


def _run(args, torch, threads: int) -> int:
    args.machine = common.machine_info(args.device)
    print(common.machine_line(args.machine))
    if common.busy_warning(args.machine):
        print(common.busy_warning(args.machine))
    if torch is None:
        print("PyTorch is not installed: running without the PyTorch columns")
    elif not common.torch_on(torch, args.device):
        print(f"PyTorch has no {args.device} support here: running without the PyTorch columns")
    else:
        print(f"threads: NumPy BLAS {threads} ({args.machine['numpy_blas_threads_source']}), PyTorch {threads}")

    from . import distributed, generate, gpu_check, kernels, op_table, ops, peak, profile, recipe, scaling, train

    modules = {"peak": peak, "ops": ops, "train": train, "scaling": scaling, "profile": profile, "generate": generate}
    modules["kernels"], modules["gpu-check"], modules["distributed"] = kernels, gpu_check, distributed
    modules["recipe"] = recipe
    modules["op-table"] = op_table
    from . import attention

    modules["attention"] = attention
    from . import compiled

    modules["compiled"] = compiled
    todo = ALL_ORDER if args.what == "all" else (args.what,)
    status = 0
    for what in todo:
        t0 = time.perf_counter()
        status |= modules[what].run(args, torch)
        print(f"{what}: done in {time.perf_counter() - t0:.1f} s\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
