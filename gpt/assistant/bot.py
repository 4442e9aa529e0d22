"""``gpt chat``: talk to a fine-tuned assistant, in a terminal or once from a script (``--message TEXT``).

Each reply continues the conversation so far (``chat.prompt``), greedily, until the assistant's END marker,
printing its characters as they come. The conversation is kept while it fits the model's context with room for
a reply; the oldest turns are dropped first. Characters the model's vocabulary lacks are left out of the message,
and the user is told which. Ctrl-D (end of input) ends the chat; Ctrl-C ends it too, with exit code 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import tinygrad_edu as torch
from gpt.model import eval_mode

from . import chat

DESCRIPTION = "talk to a fine-tuned assistant (a run of `gpt sft`)"
REPLY_ROOM = 120  # characters of context kept free for the reply


def unknown_characters(tokenizer, text: str) -> list[str]:
    return sorted({ch for ch in chat.clean_user_text(text) if ch not in tokenizer.stoi})


def fitted_prompt(history: list[tuple[str, str]], message: str, tokenizer, block_size: int) -> str:
    """The prompt for ``message`` after as much of ``history`` as fits ``block_size`` with room for a reply
    (``REPLY_ROOM``, or half the context if that is less). Whole turns go, oldest first; a message too long even
    alone keeps its end."""
    message = "".join(ch for ch in chat.clean_user_text(message) if ch in tokenizer.stoi)
    room = block_size - min(REPLY_ROOM, block_size // 2)
    turns = list(history)
    while len(chat.prompt(turns, message)) > room and turns:
        turns = turns[2:] if len(turns) >= 2 else []
    overflow = len(chat.prompt(turns, message)) - room
    return chat.prompt(turns, message[overflow:] if overflow > 0 else message)


def reply(model, tokenizer, prompt_text: str, on_char: Callable[[str], None] | None = None) -> str:
    """The assistant's turn after ``prompt_text``: greedy characters up to its END marker (or the context's end)."""
    end = tokenizer.stoi[chat.END]
    out = []
    with torch.no_grad(), eval_mode(model):
        cache = model.new_cache()
        logits, _ = model(torch.tensor([tokenizer.encode(prompt_text)]), cache=cache)
        while cache.length < model.config.block_size:
            next_id = int(logits[0, -1].argmax().item())
            if next_id == end:
                break
            ch = tokenizer.decode([next_id])
            if ch in chat.MARKERS:  # a marker other than END: the turn is over as far as the user can tell
                break
            out.append(ch)
            if on_char is not None:
                on_char(ch)
            logits, _ = model(torch.tensor([[next_id]]), cache=cache)
    return "".join(out)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out-dir", "--out_dir", dest="out_dir", required=True, help="the assistant's run folder")
    parser.add_argument("--message", help="send one message, print the reply and exit (for scripts)")
    parser.add_argument("--allow-unverified", action="store_true", help="load a checkpoint without its checksum")


def run(args) -> int:
    from gpt.sample import load_model

    model, tokenizer, header = load_model(args.out_dir, allow_unverified=args.allow_unverified)
    if chat.END not in tokenizer.stoi or chat.ASSISTANT not in tokenizer.stoi:
        print(f"gpt chat: error: {args.out_dir} holds a text model, not an assistant (no chat markers in its "
              "vocabulary): fine-tune one with `gpt sft`", file=sys.stderr)  # fmt: skip
        return 2
    stage = header.get("assistant", {}).get("stage")
    if stage not in ("sft", "dpo"):
        print(f"gpt chat: error: {args.out_dir} holds a pretrained text model, not yet an assistant: fine-tune it "
              f"with `gpt sft --from {args.out_dir} --out-dir RUN`", file=sys.stderr)  # fmt: skip
        return 2
    block_size = model.config.block_size
    if args.message is not None:
        _warn_unknown(tokenizer, args.message)
        print(reply(model, tokenizer, fitted_prompt([], args.message, tokenizer, block_size)))
        return 0
    history: list[tuple[str, str]] = []
    print("Ask about the college (Ctrl-D to leave).", flush=True)
    try:
        while True:
            try:
                message = input("you> ")
            except EOFError:
                print()
                return 0
            if not message.strip():
                continue
            _warn_unknown(tokenizer, message)
            print("bot> ", end="", flush=True)
            answer = reply(model, tokenizer, fitted_prompt(history, message, tokenizer, block_size),
                           on_char=lambda ch: print(ch, end="", flush=True))  # fmt: skip
            print(flush=True)
            history += [("user", message), ("assistant", answer)]
    except KeyboardInterrupt:
        print()
        return 130


def _warn_unknown(tokenizer, message: str) -> None:
    missing = unknown_characters(tokenizer, message)
    if missing:
        print(f"(left out, not in the bot's vocabulary: {' '.join(repr(ch) for ch in missing)})", flush=True)
