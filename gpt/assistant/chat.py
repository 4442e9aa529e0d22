"""The chat format: a conversation as one string, with role markers that typed text can never produce.

A turn is a marker, its text and the end marker::

    \\x02What time does the library open?\\x04\\x03It opens at 8 am on weekdays.\\x04

``USER`` (STX, U+0002) opens a user turn, ``ASSISTANT`` (ETX, U+0003) an assistant turn, ``END`` (EOT, U+0004)
closes either. They are control characters: a keyboard does not type them, and ``clean_user_text`` removes any
that arrive anyway (pasted, or sent by a script), together with the other control characters, so that a user
cannot close their own turn and write one for the assistant. With a character-level tokenizer each marker is one
token of the vocabulary; a BPE tokenizer must keep them as tokens of their own (never merged).

Supervised fine-tuning puts the loss on the assistant's tokens only (``loss_mask``): its text and its END,
which is how generation learns to stop; the user's words and the markers the prompt supplies carry no loss.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

USER, ASSISTANT, END = "\x02", "\x03", "\x04"
MARKERS = (USER, ASSISTANT, END)
# The assistant's character vocabulary, fixed so that a model pretrained on prose and the bot fine-tuned from it
# share it: the markers, the newline and printable ASCII (what the handbook and its questions are written in).
VOCABULARY = tuple(sorted({*MARKERS, "\n", *(chr(code) for code in range(32, 127))}))


def clean_user_text(text: str) -> str:
    """``text`` without control characters (the markers among them); newlines and tabs become spaces."""
    spaced = text.replace("\n", " ").replace("\t", " ")
    return "".join(ch for ch in spaced if unicodedata.category(ch) != "Cc")


def render(turns: Sequence[tuple[str, str]]) -> str:
    """``[("user", text), ("assistant", text), ...]`` as one string; user text is cleaned, assistant text must
    not contain a marker (it is ours: a marker in it is a bug in the data)."""
    parts = []
    for role, text in turns:
        if role == "user":
            parts.append(USER + clean_user_text(text) + END)
        elif role == "assistant":
            if any(marker in text for marker in MARKERS):
                raise ValueError(f"assistant text contains a role marker: {text!r}")
            parts.append(ASSISTANT + text + END)
        else:
            raise ValueError(f"a turn's role is 'user' or 'assistant', got {role!r}")
    return "".join(parts)


def prompt(history: Sequence[tuple[str, str]], message: str) -> str:
    """The text a model continues to answer ``message`` after ``history``: it ends with the ASSISTANT marker."""
    return render([*history, ("user", message)]) + ASSISTANT


def loss_mask(text: str) -> list[bool]:
    """For each character of a rendered conversation, whether predicting it carries loss: the characters of
    assistant turns after their ASSISTANT marker, up to and including their END."""
    mask, in_assistant = [], False
    for ch in text:
        if ch == ASSISTANT:
            mask.append(False)
            in_assistant = True
        elif ch == END:
            mask.append(in_assistant)
            in_assistant = False
        elif ch == USER:
            mask.append(False)
            in_assistant = False
        else:
            mask.append(in_assistant)
    return mask


def parse(text: str) -> list[tuple[str, str]]:
    """The turns of a rendered conversation (the inverse of ``render`` for cleaned text)."""
    turns, role, current = [], None, []
    for ch in text:
        if ch in (USER, ASSISTANT):
            role, current = ("user" if ch == USER else "assistant"), []
        elif ch == END and role is not None:
            turns.append((role, "".join(current)))
            role = None
        elif role is not None:
            current.append(ch)
    return turns


def vocabulary(texts: Iterable[str]) -> list[str]:
    """The characters of ``texts`` and the three markers, sorted: a character tokenizer's vocabulary."""
    chars = set(MARKERS)
    for text in texts:
        chars.update(text)
    return sorted(chars)
