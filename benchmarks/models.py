"""One GPT training step, built the same way for tinygrad_edu and for PyTorch.

A *setup* is a flat dict like a preset of ``gpt/config.py`` (model fields + batch_size, learning_rate, ...).
Both implementations run the same model file, ``gpt/model.py`` (on PyTorch through ``gpt.library``), from the
same initial weights (ours are copied into PyTorch's), on the same batches, with the same step:

    forward -> loss -> backward -> clip_grad_norm_(1.0) -> AdamW.step() -> zero_grad(set_to_none=True)

with AdamW as ``gpt/train.py`` configures it (betas 0.9/0.99, weight decay 0.1 on matrices only) at the
preset's peak learning rate (no schedule: a schedule costs nothing per step). Each step ends with
``loss.item()``, which is also how the loss curve is recorded (and, on a GPU, a synchronisation point).
"""

from __future__ import annotations

import numpy as np

from gpt.config import PRESETS, build_config

VOCAB_SIZE = 65  # tinyshakespeare's characters

# `--quick` replaces the presets by this, so a whole benchmark runs in a second or two
QUICK_SETUP = dict(PRESETS["tiny"], n_layer=1, n_head=2, n_embd=16, block_size=16, batch_size=4)


def setup_for(preset: str, quick: bool = False, **overrides) -> dict:
    """The flat setup dict of a preset (``quick``: the tiny stand-in), with overrides applied."""
    if preset not in PRESETS:
        raise SystemExit(f"unknown preset {preset!r}: choose from {sorted(PRESETS)}")
    base = dict(QUICK_SETUP) if quick else dict(PRESETS[preset])
    base.update(overrides)
    return base


def split_setup(setup: dict):
    """(GPTConfig, TrainConfig) of a setup."""
    run = build_config(None, {k: v for k, v in setup.items() if k != "vocab_size"})
    run = run.with_vocab_size(setup.get("vocab_size", VOCAB_SIZE))
    return run.model, run.train


def describe(setup: dict) -> str:
    c, t = split_setup(setup)
    return f"{c.n_layer}L {c.n_head}H C={c.n_embd} T={c.block_size} B={t.batch_size}"


def token_batches(setup: dict, count: int = 4, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` (x, y) batches of int64 token ids, (B, T) each: from prepared tinyshakespeare when it is there
    (so the loss curves mean something), otherwise uniform random tokens (timings do not depend on the values)."""
    config, train = split_setup(setup)
    B, T = train.batch_size, config.block_size
    rng = np.random.default_rng(seed)
    data = None
    try:
        from gpt.data import load_dataset

        dataset = load_dataset("shakespeare")
        if dataset.tokenizer.vocab_size == config.vocab_size and len(dataset.train) > T + 1:
            data = dataset.train
    except Exception:  # not prepared: random tokens are as good for timing
        data = None
    out = []
    for _ in range(count):
        if data is None:
            x = rng.integers(0, config.vocab_size, size=(B, T + 1))
        else:
            starts = rng.integers(0, len(data) - T - 1, size=B)
            x = np.stack([np.asarray(data[s : s + T + 1]) for s in starts])
        x = x.astype(np.int64)
        out.append((np.ascontiguousarray(x[:, :-1]), np.ascontiguousarray(x[:, 1:])))
    return out


class _Step:
    """One training step, written once for both libraries: ``lib`` is ``tinygrad_edu`` or ``torch``, and the
    subclasses build ``model``, ``optimizer`` and ``clip`` with it. Calling runs a step and returns the loss."""

    def _use_batches(self, lib, setup: dict, device: str, batches) -> None:
        self._lib = lib
        batches = batches if batches is not None else token_batches(setup)
        self.batches = [(lib.from_numpy(x).to(device), lib.from_numpy(y).to(device)) for x, y in batches]
        self.i = 0
        self.losses: list[float] = []

    def __call__(self) -> float:
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        _, loss = self.model(x, y)
        loss.backward()
        if self.clip:
            self._lib.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        value = loss.item()
        self.losses.append(value)
        return value


class OursStep(_Step):
    """A training step of ``gpt.model.GPT`` on tinygrad_edu; calling it runs one step and returns the loss."""

    impl = "ours"

    def __init__(self, setup: dict, device: str = "cpu", seed: int = 1337, batches=None):
        import tinygrad_edu as tg
        from gpt.model import GPT
        from gpt.train import configure_optimizer

        self.config, self.train_cfg = split_setup(setup)
        tg.manual_seed(seed)
        self.model = GPT(self.config).to(device, tg.float32)
        self.model.train()
        self.optimizer = configure_optimizer(self.model, self.train_cfg)
        self.clip = self.train_cfg.grad_clip
        self._use_batches(tg, setup, device, batches)

    def state_dict_numpy(self) -> dict:
        return {k: v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}  # from any device


class TorchStep(_Step):
    """The same step in PyTorch, with ``gpt/model.py`` itself run on PyTorch (``gpt.library``), starting from
    ``weights`` (a state dict of NumPy arrays, normally ours) so both implementations start from identical
    parameters."""

    impl = "torch"

    def __init__(self, setup: dict, device: str = "cpu", seed: int = 1337, batches=None, weights=None):
        import torch

        from gpt.library import model_module

        self.config, self.train_cfg = split_setup(setup)
        torch.manual_seed(seed)
        self.model = model_module("torch").GPT(self.config)
        if weights is not None:
            self.model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()}, strict=True)
        self.model.to(device=device, dtype=torch.float32).train()
        params = list(self.model.parameters())
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": self.train_cfg.weight_decay}]
        no_decay = [p for p in params if p.dim() < 2]
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0})
        t = self.train_cfg
        self.optimizer = torch.optim.AdamW(groups, lr=t.learning_rate, betas=(t.beta1, t.beta2))
        self.clip = t.grad_clip
        self._use_batches(torch, setup, device, batches)


def make_steps(setup: dict, device: str, torch_available: bool, seed: int = 1337) -> dict:
    """``{"ours": OursStep, "torch": TorchStep}`` (torch only when available) with shared weights and batches."""
    batches = token_batches(setup)
    steps = {"ours": OursStep(setup, device, seed, batches)}
    if torch_available:
        steps["torch"] = TorchStep(setup, device, seed, batches, weights=steps["ours"].state_dict_numpy())
    return steps


# -- FLOPs ------------------------------------------------------------------------------------------------------


def step_flops(setup: dict) -> dict:
    """The FLOP count of one training step (multiply-adds count 2), as nanoGPT / the PaLM paper estimate it.

    With tokens = B·T, C = n_embd, L = n_layer, V = vocab_size, hs = head size, nh = heads:

    * matmul weights per layer: q/k/v 3C², attention projection C², MLP 4C² + 4C² = 12·C² (SwiGLU: 3·C·h);
      plus the output head V·C. Forward: ``2 · tokens · (L·12·C² + V·C)``.
    * attention scores q·kᵀ and the weighted sum att·v: ``2 · 2 · B·nh·T²·hs = 4·B·T²·C`` per layer forward
      (the full T×T square: neither implementation skips the masked half).
    * backward costs twice the forward (a gradient for the input and one for the weight), so a training step is
      ``3 × forward``. Element-wise work (softmax, GELU, LayerNorm, AdamW) is left out: it is memory-bound, and
      counting it would not change the total by more than a few percent.
    """
    config, train = split_setup(setup)
    B, T, C, L, V = train.batch_size, config.block_size, config.n_embd, config.n_layer, config.vocab_size
    tokens = B * T
    if config.mlp == "swiglu":
        from gpt.model import swiglu_hidden_size

        mlp = 3 * C * swiglu_hidden_size(C, config.bias)
    elif config.mlp == "gelu":
        mlp = 8 * C * C
    else:
        mlp = 0
    matmul_params = L * (4 * C * C + mlp) + V * C
    dense = 2 * tokens * matmul_params
    attention = L * 4 * B * T * T * C
    return {
        "matmul_params": matmul_params,
        "forward_dense": dense,
        "forward_attention": attention,
        "step": 3 * (dense + attention),
        "attention_share": attention / (dense + attention),
    }
