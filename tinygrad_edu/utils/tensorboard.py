"""``torch.utils.tensorboard``, deliberately not provided: it is TensorBoard's writer, a separate package.

makemore logs its losses with ``SummaryWriter``. The ``tensorboardX`` package has the same ``SummaryWriter``
(``add_scalar``, ``add_scalars``, ``flush``, ``close``) without needing PyTorch, and takes the Python floats that
``loss.item()`` gives; ``gpt train`` writes its own log (docs/gpt.md).
"""

from __future__ import annotations


class SummaryWriter:
    """Not provided: raises NotImplementedError naming ``tensorboardX`` (see the module's docstring)."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120, filename_suffix=""):
        raise NotImplementedError(
            "SummaryWriter: tinygrad_edu has no TensorBoard writer; `pip install tensorboardX` and use "
            "`from tensorboardX import SummaryWriter` (the same API, fed with loss.item() floats)"
        )
