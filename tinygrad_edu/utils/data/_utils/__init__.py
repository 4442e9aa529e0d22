"""The DataLoader's helpers, where PyTorch keeps them (``torch.utils.data._utils.collate``, ``.worker``)."""
