"""One process (or one rank) of ``python -m benchmarks distributed``: run as
``[mpiexec -n N] python -m benchmarks.distributed_worker SPEC.json OUT.json``.

``SPEC`` says what to time:

* ``{"kind": "step", "impl": "ours"|"torch", "preset": ..., "batch_size": B, "steps": S, "warmup": W, ...}``:
  S training steps of the preset at B sequences per rank, each split into its phases:

      compute   forward + backward of this rank's slice
      wait      a barrier: the time this rank waits for the slowest one (load imbalance, noise)
      allreduce the gradient average, one flat buffer, one allreduce (ours: ``GradientAverager`` over MPI;
                PyTorch: the same method over ``torch.distributed``'s gloo backend)
      update    gradient clipping, AdamW, zero_grad and ``loss.item()``

  Rank r trains on the r-th slice of each global batch, as ``gpt train`` does.
* ``{"kind": "sweep", "sizes": [...], "seconds": s, "torch": bool}``: seconds per in-place allreduce of float32
  buffers of each size, MPI (mpi4py, as training uses it) and gloo interleaved size by size.

Rank 0 writes ``{"ranks": N, "samples": {phase: [seconds, ...]}}`` (or the sweep's rows) to ``OUT``.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

PHASES = ("compute", "wait", "allreduce", "update")


def _world():
    from gpt import distributed

    return distributed.world()


def _threads(world, requested: int | None) -> int:
    """BLAS threads of this process: the request for a lone process, the cores shared among ranks otherwise."""
    from gpt import distributed

    return requested if world.size == 1 and requested else distributed.blas_threads(world)


def _torch_group(world, port: int):
    """gloo over TCP on this machine, one process group of the MPI world's ranks."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=world.rank, world_size=world.size)
    return dist


def _rank_batches(setup: dict, world, per_rank: int):
    """This rank's slices of the global batches (world size × per_rank sequences each)."""
    from benchmarks import models

    global_batches = models.token_batches(dict(setup, batch_size=per_rank * world.size))
    lo, hi = world.rank * per_rank, (world.rank + 1) * per_rank
    return [(np.ascontiguousarray(x[lo:hi]), np.ascontiguousarray(y[lo:hi])) for x, y in global_batches]


class _TorchAverager:
    """PyTorch's side of ``GradientAverager``: the same flat buffer and one allreduce, over gloo."""

    def __init__(self, params, world, dist):
        self.params, self.world, self.dist = list(params), world, dist

    def __call__(self) -> None:
        if self.world.size == 1:
            return
        import torch

        grads = [p.grad for p in self.params if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        self.dist.all_reduce(flat)
        flat /= self.world.size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()


def time_steps(spec: dict) -> dict:
    from benchmarks import common, models
    from gpt import distributed

    world = _world()
    threads = _threads(world, spec.get("threads"))
    setup = models.setup_for(spec["preset"], quick=spec.get("quick", False), batch_size=spec["batch_size"])
    batches = _rank_batches(setup, world, spec["batch_size"])
    if spec["impl"] == "torch":
        import torch

        torch.set_num_threads(threads)
        step = models.TorchStep(setup, "cpu", batches=batches)
        average = _TorchAverager(
            step.model.parameters(), world, _torch_group(world, spec["port"]) if world.size > 1 else None
        )
        lib = torch
    else:
        import tinygrad_edu as lib

        common.set_blas_threads(threads)
        step = models.OursStep(setup, "cpu", batches=batches)
        average = distributed.GradientAverager(step.model.parameters(), world)
    barrier = world.comm.Barrier if world.comm is not None else (lambda: None)
    samples = {phase: [] for phase in PHASES}
    for i in range(spec["warmup"] + spec["steps"]):
        x, y = step.batches[i % len(step.batches)]
        t0 = time.perf_counter()
        _, loss = step.model(x, y)
        loss.backward()
        t1 = time.perf_counter()
        barrier()
        t2 = time.perf_counter()
        average()
        t3 = time.perf_counter()
        if step.clip:
            lib.nn.utils.clip_grad_norm_(step.model.parameters(), step.clip)
        step.optimizer.step()
        step.optimizer.zero_grad(set_to_none=True)
        loss.item()
        t4 = time.perf_counter()
        if i >= spec["warmup"]:
            for phase, seconds in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                samples[phase].append(seconds)
    return {"ranks": world.size, "threads_per_rank": threads, "samples": samples}


def _timed(world, fn, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        world.comm.Barrier()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def sweep(spec: dict) -> dict:
    """Seconds per allreduce of each buffer size, MPI and (optionally) gloo, size by size."""
    world = _world()
    if world.comm is None:
        raise SystemExit("the allreduce sweep needs ranks: run it under mpiexec -n 2")
    from mpi4py import MPI

    dist = None
    if spec.get("torch"):
        import torch

        torch.set_num_threads(1)
        dist = _torch_group(world, spec["port"])
    rows = []
    for size in spec["sizes"]:
        buffer = np.ones(size, dtype=np.float32)
        methods = {"mpi": lambda buffer=buffer: world.comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)}
        if dist is not None:
            tensor = torch.ones(size, dtype=torch.float32)
            methods["gloo"] = lambda tensor=tensor: dist.all_reduce(tensor)
        row = {"elements": size, "bytes": 4 * size}
        for name, fn in methods.items():
            fn()  # the first call sets up the connection and buffers: not timed
            times = _timed(world, fn, 5)
            # rank 0 alone decides how many more calls fill the time: every rank must make the same number
            more = world.broadcast(int(min(1000, spec["seconds"] / max(np.median(times), 1e-7))))
            times += _timed(world, fn, more)
            # every rank's median; the slowest rank's is what a training step waits for
            row[name] = max(world.allgather(float(np.median(times))))
            row[f"{name}_n"] = len(times)
        rows.append(row)
    return {"ranks": world.size, "rows": rows}


def main(argv: list[str]) -> int:
    spec = json.loads(open(argv[0]).read())
    result = sweep(spec) if spec["kind"] == "sweep" else time_steps(spec)
    if "torch.distributed" in sys.modules and sys.modules["torch.distributed"].is_initialized():
        sys.modules["torch.distributed"].destroy_process_group()  # gloo's threads crash an exiting interpreter
    if _world().is_main:
        tmp = argv[1] + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f)
        os.replace(tmp, argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
