"""Data-parallel training over MPI: ``mpiexec -n 2 gpt train --preset baby``.

Every process (a *rank*) holds the whole model and trains it on its own slice of each batch; before each
update the ranks average their gradients, so every rank makes the update a single process would make with
the whole batch, and the models stay identical without ever being sent again. nanoGPT's convention:
``--batch_size`` is per rank, so a step's global batch is world size × batch_size. Rank r takes exactly
the r-th slice of the batch one process would draw with the global batch size from the same seed
(``Batches``), which is what makes a 2-rank run log the losses of a 1-rank run with twice the batch.

The pieces, each small:
  ``World``            who am I (rank), how many are we (size), and the few collective calls training needs;
  ``GradientAverager`` the gradients of all parameters through one flat buffer, summed in place by one
                       allreduce (NCCL on GPUs, MPI elsewhere) and divided by the world size;
  ``agree``            ranks compare digests of their config, data and code before training, and stop with
                       one message naming what differs;
  ``run_ranks``        an error in one rank stops every rank with that rank's message, instead of a hang.

mpi4py is imported only when a launcher started this process (it sets variables such as
``OMPI_COMM_WORLD_SIZE``), so a plain ``gpt train`` never pays for MPI or needs it installed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from .signals import TrainingStopped

# set by Open MPI's mpiexec, MPICH's (hydra) and PMIx launchers such as srun --mpi=pmix
LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


class DistributedError(RuntimeError):
    """A problem every rank sees alike (ranks disagree, a resume with another world size): each rank raises it,
    rank 0 reports it, and all exit without aborting."""


class World:
    """The ranks of one training run: ``rank`` in ``range(size)``; rank 0 is the main one (logs, checkpoints)."""

    def __init__(self, comm=None):
        self.comm = comm
        self.rank = comm.Get_rank() if comm is not None else 0
        self.size = comm.Get_size() if comm is not None else 1
        if comm is None:
            self.local_rank, self.local_size = 0, 1
        else:  # the ranks on this machine share its cores (and GPUs)
            from mpi4py import MPI

            local = comm.Split_type(MPI.COMM_TYPE_SHARED)
            self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
            local.Free()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def __repr__(self) -> str:
        return f"World(rank={self.rank}, size={self.size}, local {self.local_rank} of {self.local_size})"

    def sum(self, value: float) -> float:
        """The sum of a number over all ranks (float64), on every rank."""
        if self.comm is None:
            return float(value)
        from mpi4py import MPI

        buffer = np.array([value], dtype=np.float64)
        self.comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        return float(buffer[0])

    def mean(self, value: float) -> float:
        """The mean of a number over all ranks: of per-rank means over equal slices, the mean of the whole."""
        return self.sum(value) / self.size

    def allreduce_sum_(self, array: np.ndarray) -> None:
        """Sum a contiguous NumPy array over all ranks, in place (no second buffer)."""
        if self.comm is not None:
            from mpi4py import MPI

            self.comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)

    def broadcast(self, obj, root: int = 0):
        """Rank ``root``'s object on every rank (in memory, between our own processes: never from a file)."""
        return obj if self.comm is None else self.comm.bcast(obj, root=root)

    def gather(self, obj, root: int = 0) -> list | None:
        """Every rank's object, in rank order, on ``root``; None elsewhere."""
        return [obj] if self.comm is None else self.comm.gather(obj, root=root)

    def allgather(self, obj) -> list:
        return [obj] if self.comm is None else self.comm.allgather(obj)

    def abort(self, code: int = 1) -> None:
        """Stop every rank now (MPI_Abort): what a failure in one rank needs, since the others would wait."""
        if self.comm is not None:
            self.comm.Abort(code)
        raise SystemExit(code)


SINGLE = World()


def launched_by_mpi() -> bool:
    return any(name in os.environ for name in LAUNCHER_VARIABLES)


@functools.cache
def world() -> World:
    """This process's world: the MPI one when a launcher started it, else a world of one."""
    if not launched_by_mpi():
        return SINGLE
    try:
        from mpi4py import MPI
    except ImportError:
        variable = next(name for name in LAUNCHER_VARIABLES if name in os.environ)
        raise DistributedError(
            f"this process was started by an MPI launcher ({variable}={os.environ[variable]}) but mpi4py is not "
            "installed: pip install -e '.[dist]' (mpi4py and Open MPI's wheel)"
        ) from None
    return World(MPI.COMM_WORLD) if MPI.COMM_WORLD.Get_size() > 1 else SINGLE


def find_mpiexec() -> str | None:
    """The ``mpiexec`` to launch ranks with: the one Open MPI's wheel installs beside this Python, else PATH's."""
    beside = Path(sys.executable).with_name("mpiexec")
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def launcher_environment(base: dict | None = None) -> dict:
    """``base`` (default: this process's environment) with what Open MPI needs to launch ranks in a container or
    on CI: running as root, and more ranks than cores. Values already set are kept."""
    env = dict(os.environ if base is None else base)
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OMPI_MCA_rmaps_base_oversubscribe", "1")
    return env


def blas_threads(world: World) -> int:
    """BLAS threads for each rank: this machine's cores shared among its ranks, so 2 ranks on 2 cores do not
    oversubscribe. A launcher that binds each rank to its cores (Open MPI does by default) already narrowed
    the affinity mask, and that is respected too."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, (os.cpu_count() or 1) // world.local_size))


def limit_blas_threads(world: World):
    """Apply ``blas_threads`` to the BLAS libraries this process loaded (threadpoolctl); returns the limiter,
    which must stay referenced, or None where threadpoolctl is missing (then OMP_NUM_THREADS is the way)."""
    if world.size == 1:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=blas_threads(world), user_api="blas")


class GradientAverager:
    """Average the gradients of ``params`` over all ranks, in one flat buffer per step:

        g_i ← (1/N) Σ_ranks g_i       for every parameter i, with N the world size.

    The gradients are copied into one contiguous buffer (reused every step), summed in place by a single
    allreduce, scaled by 1/N and copied back. One call moves all the bytes at once: on one machine and on
    commodity networks the per-call latency dominates the small models here (see benchmarks/README.md), so
    splitting into buckets would pay only if they overlapped the backward pass, which this engine's
    backward does not do. On a GPU the sum goes through NCCL on the device (no host copy); on the CPU, and
    on the CUDA stand-in, through MPI.

    A parameter without a gradient is left out on every rank alike (the ranks run the same model on the
    same kind of data), as a single process's optimizer would skip it.
    """

    def __init__(self, params, world: World):
        self.params = list(params)
        self.world = world
        self._buffer = None
        self._nccl = None

    def __call__(self) -> None:
        if self.world.size == 1:
            return
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            return
        xp = grads[0]._xp
        total = sum(g.numel() for g in grads)
        dtype = grads[0]._data.dtype
        if self._buffer is None or self._buffer.size != total or self._buffer.dtype != dtype:
            self._buffer = xp.empty(total, dtype=dtype)
        flat = self._buffer
        offset = 0
        for g in grads:  # gather: one copy per gradient into its segment
            n = g.numel()
            flat[offset : offset + n] = g._data.reshape(-1)
            offset += n
        self._sum_(flat, xp)
        flat *= 1.0 / self.world.size
        offset = 0
        for g in grads:  # scatter back into the gradients' own arrays (or fresh ones where those are read-only)
            n = g.numel()
            segment = flat[offset : offset + n].reshape(g._data.shape)
            if getattr(g._data, "flags", None) is not None and g._data.flags.writeable:
                g._data[...] = segment
            else:
                g._data = segment.copy()
            offset += n

    def _sum_(self, flat, xp) -> None:
        if xp.__name__ == "cupy":
            self._nccl_sum_(flat, xp)
        elif xp.__name__ == "numpy":
            self.world.allreduce_sum_(flat)
        else:  # the CUDA stand-in: through the host, as a GPU without NCCL would have to
            from tinygrad_edu import backend

            host = np.ascontiguousarray(backend.to_host(flat))
            self.world.allreduce_sum_(host)
            flat[...] = xp.asarray(host)

    def _nccl_sum_(self, flat, cupy) -> None:
        """Sum on the GPUs with NCCL, as llm.c does: rank 0 makes a unique id, MPI broadcasts it, and every
        rank joins one NCCL communicator with it. Not verified here: this path needs GPUs to run."""
        from cupy.cuda import nccl

        if self._nccl is None:
            uid = self.world.broadcast(nccl.get_unique_id() if self.world.is_main else None)
            self._nccl = nccl.NcclCommunicator(self.world.size, uid, self.world.rank)
        kind = {np.dtype(np.float32): nccl.NCCL_FLOAT32, np.dtype(np.float64): nccl.NCCL_FLOAT64}[flat.dtype]
        stream = cupy.cuda.get_current_stream().ptr
        self._nccl.allReduce(flat.data.ptr, flat.data.ptr, flat.size, kind, nccl.NCCL_SUM, stream)


def use_local_gpu(world: World) -> None:
    """One GPU per rank on a machine: rank k of the machine's ranks takes GPU k (modulo their number)."""
    if world.size == 1:
        return
    import cupy

    count = cupy.cuda.runtime.getDeviceCount()
    cupy.cuda.Device(world.local_rank % count).use()


def code_digest() -> str:
    """A digest of the engine's and the GPT's source files: ranks running different code would diverge."""
    digest = hashlib.sha256()
    for package in ("tinygrad_edu", "gpt"):
        root = Path(__file__).resolve().parent.parent / package
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def data_digest(array: np.ndarray) -> str:
    """A digest of a token array: its length and its bytes (a split of tinyshakespeare hashes in ~1 ms)."""
    return hashlib.sha256(np.ascontiguousarray(array).view(np.uint8)).hexdigest()[:16] + f":{len(array)}"


def agree(world: World, facts: dict) -> None:
    """Check that every rank holds the same ``facts`` (name → JSON-able value); raise ``DistributedError``
    on every rank, naming each fact that differs and the ranks' values, if not."""
    if world.size == 1:
        return
    # a dict (a config) is compared field by field, so the message names the field that differs
    mine = {}
    for name, value in facts.items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for key, item in items:
            mine[name if key is None else f"{name}'s {key}"] = json.dumps(item, sort_keys=True, default=str)
    everyone = world.allgather(mine)
    differing = [name for name in mine if any(other.get(name) != mine[name] for other in everyone)]
    if differing:
        lines = []
        for name in differing:
            values = ", ".join(f"rank {r}: {_short(other.get(name))}" for r, other in enumerate(everyone))
            lines.append(f"{name} ({values})")
        raise DistributedError(
            f"the {world.size} ranks disagree on {'; '.join(lines)}: every rank must run the same code on the "
            "same data with the same settings"
        )


def _short(text: str | None, limit: int = 120) -> str:
    if text is None:
        return "missing"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_ranks(world: World, command: str, body) -> int:
    """Run ``body()`` on this rank; stop every rank if it fails here.

    A ``DistributedError`` is raised by every rank alike: rank 0 prints it and all return 1. Any other error
    is this rank's alone, and the others would wait for it forever in their next collective call: it is
    printed with the rank's number, and MPI_Abort stops the whole run."""
    try:
        return body()
    except DistributedError as exc:
        if world.is_main:
            print(f"gpt {command}: error: {exc}", file=sys.stderr)
        return 1
    except TrainingStopped as exc:  # every rank stops at the same step (they agree on it first)
        if world.size == 1:
            raise
        if world.is_main:
            print(f"gpt {command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - any failure must stop all ranks
        if world.size == 1:
            raise
        print(f"gpt {command}: error on rank {world.rank} of {world.size}: {exc}", file=sys.stderr, flush=True)
        if not isinstance(exc, (FileNotFoundError, ValueError, RuntimeError, MemoryError)):
            import traceback

            traceback.print_exc()
        sys.stderr.flush()
        world.abort(1)
        return 1
