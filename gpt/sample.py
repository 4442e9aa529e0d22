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
    stream=None,
    window: str = "slide",
) -> str:
    """``prompt`` followed by ``max_new_tokens`` sampled characters. An empty prompt starts from a newline.

    ``stream(text)``, if given, receives the text as it is produced: the prompt, then each new piece.
    ``window``: what the context does past ``block_size`` tokens, "slide" or "shift" (see ``gpt.model.generate``)."""
    if seed is not None:
        torch.manual_seed(seed)
    ids = tokenizer.encode(prompt or "\n")
    idx = torch.tensor([ids], dtype=torch.long, device=device)
    on_token = None
    if stream is not None:
        decoder = _IncrementalDecoder(tokenizer, ids, skip=0 if prompt else 1)
        stream(decoder.text)
        on_token = lambda idx_next: stream(decoder.add(int(idx_next[0, 0])))  # noqa: E731
    out = model.generate(idx, max_new_tokens, temperature=temperature, top_k=top_k, on_token=on_token, window=window)
    if stream is not None:
        stream(decoder.rest())  # a tail held back as unfinished is what it is, now that nothing follows
    text = tokenizer.decode(out[0].tolist())
    return text if prompt else text[1:]


class _IncrementalDecoder:
    """The text of a growing list of token ids, handed out piece by piece. A byte-level BPE token can end in the
    middle of a character, so the decoded tail is held back while it is an incomplete character (shown as U+FFFD)."""

    def __init__(self, tokenizer, ids, skip: int):
        self.tokenizer, self.ids, self.skip = tokenizer, list(ids), skip
        self.shown = 0
        self.text = self._take()

    def add(self, token: int) -> str:
        self.ids.append(token)
        return self._take()

    def rest(self) -> str:
        text = self.tokenizer.decode(self.ids)[self.skip :]
        piece, self.shown = text[self.shown :], len(text)
        return piece

    def _take(self) -> str:
        text = self.tokenizer.decode(self.ids)[self.skip :]
        ready = len(text.rstrip("\ufffd")) if text.endswith("\ufffd") else len(text)
        piece, self.shown = text[self.shown : ready], max(self.shown, ready)
        return piece
