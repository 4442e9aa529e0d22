"""Benchmarks of tinygrad_edu beside PyTorch: ops, training steps, scaling sweeps, a per-op profile, and the
machine's matmul peak. Run ``python -m benchmarks --help``; see
``benchmarks/README.md`` for what every number means and how it is measured."""
