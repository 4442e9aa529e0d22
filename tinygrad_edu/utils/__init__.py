"""``torch.utils``: the parts a training script reaches for (``utils.data``: datasets and the DataLoader)."""

from . import data

__all__ = ["data"]
