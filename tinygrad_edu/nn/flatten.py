"""``nn.Flatten``: a module for ``Tensor.flatten``, so that it can sit in a ``Sequential``."""

from __future__ import annotations

from .module import Module


class Flatten(Module):
    """Join axes ``start_dim``..``end_dim`` into one; by default all but the batch axis: (N, *) -> (N, ∏*)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
