"""Sampling text from a trained checkpoint."""

from __future__ import annotations

from pathlib import Path

import tinygrad_edu as torch

from . import checkpoint as ckpt
from .data import CharTokenizer, tokenizer_from_dict
from .model import GPT, GPTConfig


def load_model(out_dir: str | Path, device: str = "cpu") -> tuple[GPT, CharTokenizer, dict]:
    """The model and tokenizer stored in ``out_dir/ckpt.npz`` (weights only; no optimizer needed)."""
    header, arrays = ckpt.read_checkpoint(Path(out_dir) / ckpt.FILENAME)
    config = GPTConfig.from_dict(header["model_config"])
    dtype = torch.float64 if header["train_config"].get("dtype") == "float64" else torch.float32
    model = GPT(config).to(device, dtype)
    ckpt.load_model_state(model, arrays, Path(out_dir) / ckpt.FILENAME)
    return model, tokenizer_from_dict(header["tokenizer"], "the checkpoint's tokenizer"), header


def generate_text(
    model: GPT,
    tokenizer: CharTokenizer,
    prompt: str = "\n",
    max_new_tokens: int = 500,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
    device: str = "cpu",
) -> str:
    """``prompt`` followed by ``max_new_tokens`` sampled characters. An empty prompt starts from a newline."""
    if seed is not None:
        torch.manual_seed(seed)
    ids = tokenizer.encode(prompt or "\n")
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    out = model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k)
    text = tokenizer.decode(out[0].tolist())
    return text if prompt else text[1:]
