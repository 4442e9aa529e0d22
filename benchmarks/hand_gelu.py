"""The GELU public GPTs write out by hand, forward and backward, beside PyTorch, interleaved in one run:

    python -m benchmarks.hand_gelu [--repeats 9]

``0.5 * x * (1 + tanh(√(2/π) * (x + 0.044715 * pow(x, 3.0))))`` on (32, 64, 192) float32 activations. Each repeat
times ours (with the fast paths), ours inside ``kernels.reference()`` (``pow`` as NumPy's float power), and
PyTorch (2 threads); prints the medians and ratios, and writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np


def gelu(m, t):
    return 0.5 * t * (1 + m.tanh(0.7978845608 * (t + 0.044715 * m.pow(t, 3.0))))


def timed(m, x, context) -> float:
    t = m.tensor(x, requires_grad=True)
    start = time.perf_counter()
    with context:
        gelu(m, t).sum().backward()
    return (time.perf_counter() - start) * 1e3


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    import torch

    import tinygrad_edu as tg
    from tinygrad_edu import kernels

    torch.set_num_threads(2)
    x = np.random.default_rng(0).standard_normal((32, 64, 192)).astype(np.float32)
    runs = {"ours": [], "ours, reference ops": [], "PyTorch": []}
    for _ in range(args.repeats):
        runs["ours"].append(timed(tg, x, contextlib.nullcontext()))
        runs["ours, reference ops"].append(timed(tg, x, kernels.reference()))
        runs["PyTorch"].append(timed(torch, x, contextlib.nullcontext()))
    medians = {name: statistics.median(times) for name, times in runs.items()}
    for name, times in runs.items():
        ratio = medians[name] / medians["PyTorch"]
        print(f"{name:>20}: {medians[name]:7.2f} ms median ({min(times):.2f}-{max(times):.2f}), {ratio:.2f}x PyTorch")
    return medians


if __name__ == "__main__":
    main()
