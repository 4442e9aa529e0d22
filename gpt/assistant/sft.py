"""Supervised fine-tuning on conversations, with the loss on the assistant's tokens only, and the bot's answers.

A training row is one conversation, ``USER question END ASSISTANT answer END``, encoded by a character tokenizer
and padded to the model's context. Its targets are the next characters where ``chat.loss_mask`` says the
assistant speaks (its answer and its END), and -1 elsewhere, which ``GPT.forward`` leaves out of the loss: the
model is not taught to write the user's questions, only to answer them, and to stop. ``masked=False`` puts the
loss on every character instead (the comparison the issue asks for).

``answer`` continues the prompt greedily until the END marker; greedy decoding makes evaluation deterministic.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import numpy as np

import tinygrad_edu as torch
from gpt.data import CharTokenizer
from gpt.model import GPT, GPTConfig, eval_mode

from . import chat
from .handbook import Example


def conversation(example: Example) -> str:
    return chat.render([("user", example.question), ("assistant", example.answer)])


def encode_rows(tokenizer: CharTokenizer, examples: Sequence[Example], block_size: int, masked: bool = True):
    """(inputs, targets), each (len(examples), block_size) int64: a conversation per row, padded with END, whose
    targets are -1 where no loss is taken. A conversation longer than ``block_size + 1`` characters is an error."""
    end = tokenizer.stoi[chat.END]
    inputs = np.full((len(examples), block_size), end, dtype=np.int64)
    targets = np.full((len(examples), block_size), -1, dtype=np.int64)
    for row, example in enumerate(examples):
        text = conversation(example)
        if len(text) > block_size + 1:
            raise ValueError(f"a conversation of {len(text)} characters does not fit a context of {block_size}")
        ids = np.array(tokenizer.encode(text), dtype=np.int64)
        weight = np.array(chat.loss_mask(text)[1:] if masked else [True] * (len(text) - 1))
        inputs[row, : len(ids) - 1] = ids[:-1]
        targets[row, : len(ids) - 1] = np.where(weight, ids[1:], -1)
    return inputs, targets


@dataclasses.dataclass
class SFTConfig:
    steps: int = 600
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 0.1
    masked: bool = True
    seed: int = 0
    handbook_share: float = 0.25  # of each batch: rows of handbook text (when a handbook is given)


def text_rows(tokenizer: CharTokenizer, lines: Sequence[str], block_size: int):
    """(inputs, targets) for plain text, a line per row (with its newline), the loss on every character after
    the first: how the handbook itself is read during fine-tuning, as a language model reads prose."""
    end = tokenizer.stoi[chat.END]
    inputs = np.full((len(lines), block_size), end, dtype=np.int64)
    targets = np.full((len(lines), block_size), -1, dtype=np.int64)
    for row, line in enumerate(lines):
        ids = tokenizer.encode(line + "\n")[: block_size + 1]
        inputs[row, : len(ids) - 1] = ids[:-1]
        targets[row, : len(ids) - 1] = ids[1:]
    return inputs, targets


def fine_tune(
    model: GPT, tokenizer: CharTokenizer, examples: Sequence[Example], cfg: SFTConfig, handbook: str | None = None
) -> list[float]:
    """AdamW on random batches of conversations, and of the handbook's lines when ``handbook`` is given (a share
    ``cfg.handbook_share`` of each batch); returns the loss of every step."""
    inputs, targets = encode_rows(tokenizer, examples, model.config.block_size, cfg.masked)
    n_text = 0
    if handbook:
        lines = [line for line in handbook.splitlines() if line.strip()]
        text_inputs, text_targets = text_rows(tokenizer, lines, model.config.block_size)
        inputs, targets = np.concatenate([inputs, text_inputs]), np.concatenate([targets, text_targets])
        n_text = len(lines)
    n_chat = len(inputs) - n_text
    rng = random.Random(cfg.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    losses = []
    model.train()
    for step in range(cfg.steps):
        lr = cfg.learning_rate * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * (1 - step / cfg.steps))
        for group in optimizer.param_groups:
            group["lr"] = lr
        rows = [
            n_chat + rng.randrange(n_text) if n_text and rng.random() < cfg.handbook_share else rng.randrange(n_chat)
            for _ in range(cfg.batch_size)
        ]
        _, loss = model(torch.tensor(inputs[rows]), torch.tensor(targets[rows]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    return losses


def answer(model: GPT, tokenizer: CharTokenizer, question: str, max_new_tokens: int = 160) -> str:
    """The bot's answer to ``question``: greedy characters after the prompt, up to its END marker."""
    text = chat.prompt([], "".join(ch for ch in question if ch in tokenizer.stoi))
    ids = tokenizer.encode(text)[-model.config.block_size :]
    end = tokenizer.stoi[chat.END]
    out = []
    with torch.no_grad(), eval_mode(model):
        cache = model.new_cache()
        logits, _ = model(torch.tensor([ids]), cache=cache)
        for _ in range(max_new_tokens):
            if cache.length >= model.config.block_size:
                break
            next_id = int(logits[0, -1].argmax().item())
            if next_id == end:
                break
            out.append(next_id)
            logits, _ = model(torch.tensor([[next_id]]), cache=cache)
    return tokenizer.decode(out)


def accuracy(model: GPT, tokenizer: CharTokenizer, examples: Sequence[Example]) -> dict[str, float]:
    """The share of exact answers, per kind of example."""
    right: dict[str, list[bool]] = {}
    for example in examples:
        right.setdefault(example.kind, []).append(answer(model, tokenizer, example.question) == example.answer)
    return {kind: sum(hits) / len(hits) for kind, hits in right.items()}


def new_model(tokenizer: CharTokenizer, block_size: int, seed: int, **sizes) -> GPT:
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=block_size, **sizes)
    return GPT(config)
