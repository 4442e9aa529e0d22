"""Will this training run fit in memory? An estimate made before any memory is spent.

A run that does not fit is otherwise killed by the kernel minutes later, printing nothing. The estimate counts,
in the run's dtype (4 bytes for float32):

* parameters, their gradients and AdamW's two moments: 4 copies of every parameter;
* the causal masks, one (block_size × block_size) bool buffer per layer, built when the model is;
* one step's forward as backward keeps it, and backward's own temporaries, per layer: 24 numbers per token and
  channel (layer norms, q/k/v, the attention output, the MLP's 4x-wide hidden layer and its GELU, and their
  gradients) and 6 per token pair and head (scores, masked scores, softmax, dropout mask, their gradients);
  then the logits and their softmax.

The two factors are fitted to the peaks ``benchmarks/memory.py`` measured (``benchmarks/results/train.md``):
the estimate gives 67 MiB for ``baby`` (measured 63-68 MB) and 6.9 GiB for ``lecture`` (measured 7.3-7.5 GB).
It is a planning figure, enough to refuse a block_size of 100,000 at once rather than after minutes of swapping.
"""

from __future__ import annotations

import os


def training_bytes(model: dict, vocab_size: int, batch_size: int, dtype_bytes: int = 4) -> dict:
    """The estimate's parts (bytes) for a model config (``n_layer n_head n_embd block_size``, as a dict)."""
    n_layer, n_head, n_embd, block = (model[k] for k in ("n_layer", "n_head", "n_embd", "block_size"))
    params = vocab_size * n_embd + block * n_embd + n_layer * 12 * n_embd * n_embd  # embeddings, attention, MLP
    tokens = batch_size * block
    return {
        "parameters, gradients and AdamW state": 4 * params * dtype_bytes,
        "causal masks": n_layer * block * block,
        "activations kept for backward": n_layer * (24 * tokens * n_embd + 6 * tokens * block * n_head) * dtype_bytes
        + 3 * tokens * vocab_size * dtype_bytes,
    }


def available_bytes(device: str = "cpu") -> int | None:
    """Memory free for the run now: MemAvailable on Linux, the device's free memory on CUDA; None if unknown."""
    if device.startswith("cuda"):
        try:
            import cupy

            return int(cupy.cuda.runtime.memGetInfo()[0])
        except Exception:  # no CuPy or no GPU: the device error comes later, from the engine
            return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(model: dict, vocab_size: int, batch_size: int, dtype_bytes: int, device: str, available=None) -> None:
    """Refuse, with the estimate and the largest block_size and batch_size that would fit, a run that would not."""
    available = available_bytes(device) if available is None else available
    if available is None:
        return
    parts = training_bytes(model, vocab_size, batch_size, dtype_bytes)
    total = sum(parts.values())
    if total <= available:
        return

    def fits(**change) -> bool:
        config = dict(model, **{k: v for k, v in change.items() if k != "batch_size"})
        return (
            sum(training_bytes(config, vocab_size, change.get("batch_size", batch_size), dtype_bytes).values())
            <= available
        )

    largest_block = _largest(lambda b: fits(block_size=b), model["block_size"])
    largest_batch = _largest(lambda b: fits(batch_size=b), batch_size)
    detail = ", ".join(f"{name} {_gib(size)}" for name, size in parts.items())
    hints = [
        f"--block-size {largest_block}" if largest_block else None,
        f"--batch-size {largest_batch}" if largest_batch else None,
    ]
    hint = " or ".join(h for h in hints if h) or "a smaller model"
    raise MemoryError(
        f"this run needs about {_gib(total)} of memory ({detail}) but {device} has {_gib(available)} free; "
        f"it would fit with {hint}"
    )


def _largest(fits, upper: int) -> int:
    """The largest n in [1, upper] with fits(n) (fits is monotone); 0 if even 1 does not fit."""
    if not fits(1):
        return 0
    low, high = 1, upper
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**27 else f"{size / 2**20:.0f} MiB"
