"""``torch.nn.parallel``: only ``DistributedDataParallel``, which says what to use instead (``distributed.py``)."""

from ..distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
