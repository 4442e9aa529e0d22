"""The two random steps the data utilities take besides ``randperm``/``randint``/``multinomial``, written as
PyTorch writes them, in one place:

- ``draw_seed(generator)``: ``int(torch.empty((), dtype=torch.int64).random_(generator=generator).item())``, one
  int64 drawn from ``generator`` (the global generator when ``None``). A RandomSampler without a generator
  seeds its own from it every epoch, and every DataLoader iterator draws one for its workers' seeds.
- ``new_generator(seed)``: ``g = torch.Generator(); g.manual_seed(seed)``.

Drawing them exactly so keeps the global random stream where PyTorch's would be after the same calls: after
``manual_seed(s)`` in both, a shuffling DataLoader yields PyTorch's batches, epoch after epoch."""

from __future__ import annotations

from ... import dtypes
from ...factories import empty
from ...random import Generator


def draw_seed(generator=None) -> int:
    return int(empty((), dtype=dtypes.int64).random_(generator=generator).item())


def new_generator(seed: int) -> Generator:
    generator = Generator()
    generator.manual_seed(seed)
    return generator
