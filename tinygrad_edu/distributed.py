"""``torch.distributed``, deliberately not provided: this engine trains on several processes through MPI instead.

nanoGPT starts its data-parallel runs with ``torchrun``, ``init_process_group`` and ``DistributedDataParallel``;
here ``mpiexec -n 2 gpt train`` runs the same data-parallel training (``gpt/distributed.py``, docs/distributed.md).
Each name below raises NotImplementedError that says so, rather than a bare AttributeError; ``is_available`` and
``is_initialized`` answer False, so that a script that checks first takes its one-process path.
"""

from __future__ import annotations

_INSTEAD = (
    "tinygrad_edu has no torch.distributed process groups: train on several processes with "
    "`mpiexec -n N gpt train` (gpt/distributed.py, docs/distributed.md), or run the script as one process"
)


def is_available() -> bool:
    return False


def is_initialized() -> bool:
    return False


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):  # fmt: skip
    raise NotImplementedError(f"init_process_group: {_INSTEAD}")


def destroy_process_group(group=None):
    raise NotImplementedError(f"destroy_process_group: {_INSTEAD}")


class DistributedDataParallel:
    """``torch.nn.parallel.DistributedDataParallel``: not provided (see the module's docstring)."""

    def __init__(self, module, device_ids=None, *args, **kwargs):
        raise NotImplementedError(f"DistributedDataParallel: {_INSTEAD}")
