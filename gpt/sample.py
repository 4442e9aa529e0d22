"""Sampling text from a trained checkpoint."""

from __future__ import annotations

from pathlib import Path

import tinygrad_edu as torch

from . import checkpoint as ckpt
from .bpe import decode_utf8, incomplete_utf8_tail
from .data import CharTokenizer, tokenizer_from_dict
from .model import GPT, GPTConfig


def load_model(
    out_dir: str | Path, device: str = "cpu", allow_unverified: bool = False, meta: str | Path | None = None
) -> tuple[GPT, CharTokenizer, dict]:
    """The model and tokenizer stored in ``out_dir/ckpt.npz`` (or in the checkpoint file ``out_dir`` names);
    weights only, no optimizer needed. ``allow_unverified``: see ``checkpoint.read_checkpoint``.

    A nanoGPT checkpoint (``ckpt.pt``, PyTorch's format) loads too, its vocabulary from ``meta`` (a meta.pkl):
    see ``checkpoint.read_nanogpt_checkpoint``."""
    path = Path(out_dir) if Path(out_dir).is_file() else Path(out_dir) / ckpt.FILENAME
    nanogpt = Path(out_dir) / ckpt.NANOGPT_FILENAME
    if not path.exists() and nanogpt.is_file():
        path = nanogpt
    if path.is_file() and ckpt.is_pytorch_file(path):
        return _load_nanogpt(path, device, meta)
    if meta is not None:
        raise ValueError(f"--meta is for a nanoGPT checkpoint (ckpt.pt); {path} is gpt's own, with its vocabulary")
    header, arrays = ckpt.read_checkpoint(path, allow_unverified=allow_unverified)
    config = GPTConfig.from_dict(header["model_config"])
    dtype = torch.float64 if header["train_config"].get("dtype") == "float64" else torch.float32
    model = GPT(config).to(device, dtype)
    ckpt.load_model_state(model, arrays, path)
    return model, tokenizer_from_dict(header["tokenizer"], "the checkpoint's tokenizer"), header


def _load_nanogpt(path: Path, device: str, meta) -> tuple[GPT, CharTokenizer, dict]:
    config, state, tokenizer, header = ckpt.read_nanogpt_checkpoint(path, meta)
    dtype = state["wte.weight"].dtype if "wte.weight" in state else torch.float32
    model = GPT(config).to(device, dtype)
    try:
        model.load_state_dict(state)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ckpt.CheckpointError(f"{path} does not fit gpt's GPT: {exc}") from None
    model.eval()
    return model, tokenizer, header


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
    """The text of a growing list of token ids, handed out piece by piece, each new token costing only its own
    bytes: decoding the whole text again for every token made sampling slower the longer the text grew.

    A character token is one character. A byte-level BPE token can end in the middle of a UTF-8 character, so
    the bytes of an unfinished character wait in ``pending`` until the tokens after it complete it; the pieces
    then add up to ``tokenizer.decode(ids)`` exactly, and nothing shown is ever taken back."""

    def __init__(self, tokenizer, ids, skip: int):
        self.tokenizer = tokenizer
        self.byte_level = hasattr(tokenizer, "decode_bytes")  # a BPETokenizer (gpt/bpe.py)
        self.pending = b""  # at most 3 bytes: the start of a character that the next tokens finish
        self.skip = skip  # characters still to leave out at the start (the newline an empty prompt begins with)
        self.text = self._decode(ids)

    def add(self, token: int) -> str:
        return self._decode([token])

    def rest(self) -> str:
        """What is still pending, now that nothing follows: an unfinished character shows as U+FFFD."""
        piece, self.pending = (decode_utf8(self.pending) if self.pending else ""), b""
        return self._show(piece)

    def _decode(self, ids) -> str:
        if not self.byte_level:
            return self._show(self.tokenizer.decode(ids))
        data = self.pending + self.tokenizer.decode_bytes(ids)
        ready = len(data) - incomplete_utf8_tail(data)
        self.pending = data[ready:]
        return self._show(decode_utf8(data[:ready]))

    def _show(self, piece: str) -> str:
        if self.skip:
            piece, self.skip = piece[self.skip :], self.skip - len(piece[: self.skip])
        return piece
