"""``gpt sft`` and ``gpt chat`` as a new user meets them: a run folder with a checkpoint made under the run-folder
rules, and a chat driven through a pseudo-terminal (streamed replies, characters outside the vocabulary, Ctrl-D,
Ctrl-C), on a tiny bot trained here in seconds."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest

from gpt.assistant import bot, chat, handbook, recipe, sft
from gpt.cli import main

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = (
    handbook.Example("Where is the gym?", "Alder Gym.", "fact", "gym"),
    handbook.Example("When is move in day?", "August 28.", "fact", "move_in"),
)


@pytest.fixture(scope="module")
def bot_dir(tmp_path_factory):
    """A bot that knows two answers by heart, saved as `gpt sft` saves one."""
    folder = tmp_path_factory.mktemp("bot")
    tiny = recipe.Recipe(n_layer=1, n_head=2, n_embd=32, block_size=64, dropout=0.0, sft_steps=150, dpo_steps=0)
    model = sft.new_model(recipe.tokenizer(), 64, seed=0, n_layer=1, n_head=2, n_embd=32, dropout=0.0)
    cfg = sft.SFTConfig(steps=150, batch_size=8, learning_rate=1e-2)
    losses = sft.fine_tune(model, recipe.tokenizer(), EXAMPLES, cfg)
    assert np.mean(losses[-10:]) < 0.05
    recipe.save(folder, model, tiny, "sft", {})
    return folder


def test_gpt_sft_makes_a_run_folder_and_never_overwrites_one(tmp_path, capsys):
    corpus = tmp_path / "prose.txt"
    corpus.write_text("The library opens at eight. Students walk to Hale Hall, room 104.\n" * 200)
    small = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "192"]
    pre = tmp_path / "pre"
    assert main(["sft", "--pretrain", "--out-dir", str(pre), "--corpus", str(corpus), "--pretrain-steps", "3",
                 *small]) == 0  # fmt: skip
    assert (pre / "ckpt.npz").is_file() and (pre / "log.jsonl").is_file()
    run = tmp_path / "bot"
    args = ["sft", "--from", str(pre), "--out-dir", str(run), "--steps", "2", "--dpo-steps", "2", "--batch-size", "4",
            "--no-evaluate"]  # fmt: skip
    assert main(args) == 0
    before = (run / "ckpt.npz").read_bytes()
    capsys.readouterr()
    assert main(args) == 1  # the folder holds a run now
    assert "already holds a run" in capsys.readouterr().err
    assert (run / "ckpt.npz").read_bytes() == before
    assert main([*args, "--replace-run"]) == 0
    aside = [p for p in run.iterdir() if p.name.startswith("replaced-")]
    assert len(aside) == 1 and (aside[0] / "ckpt.npz").read_bytes() == before
    capsys.readouterr()
    assert main(["chat", "--out-dir", str(pre), "--message", "hi"]) == 2  # a text model is not an assistant
    assert "not yet an assistant" in capsys.readouterr().err
    assert main(["sft", "--from", str(corpus), "--out-dir", str(tmp_path / "x"), "--steps", "1"]) == 1
    assert "error" in capsys.readouterr().err
    assert main(["sft", "--pretrain", "--from", str(pre), "--out-dir", str(tmp_path / "y")]) == 1
    assert "takes no --from" in capsys.readouterr().err


def test_message_answers_once_and_drops_what_it_cannot_read(bot_dir, capsys):
    assert main(["chat", "--out-dir", str(bot_dir), "--message", "Where is the gym?"]) == 0
    assert capsys.readouterr().out == "Alder Gym.\n"
    # typed role markers cannot close the user's turn: they are removed before the model sees the message
    assert main(["chat", "--out-dir", str(bot_dir), "--message", "Where is the gym?\x04\x03"]) == 0
    assert capsys.readouterr().out == "Alder Gym.\n"
    assert main(["chat", "--out-dir", str(bot_dir), "--message", "Where is the gym€?"]) == 0
    assert capsys.readouterr().out == "(left out, not in the bot's vocabulary: '€')\nAlder Gym.\n"


class Terminal:
    """``gpt chat`` on a pseudo-terminal: what a person at a keyboard would see and type."""

    def __init__(self, bot_dir: Path):
        self.master, slave = pty.openpty()
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gpt", "chat", "--out-dir", str(bot_dir)],
            stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=env, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # its terminal: Ctrl-C there is SIGINT
        )  # fmt: skip
        os.close(slave)
        self.seen = ""

    def read_until(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"waited for {text!r}; the terminal shows {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096).decode()
                except OSError:  # the program ended and closed the terminal
                    chunk = ""
                assert chunk or text in self.seen, f"the program ended; the terminal shows {self.seen!r}"
                self.seen += chunk
        shown, self.seen = self.seen.split(text, 1)
        return shown + text

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> int:
        code = self.proc.wait(timeout=30)
        os.close(self.master)
        return code


def test_a_conversation_in_a_terminal_ends_with_ctrl_d(bot_dir):
    term = Terminal(bot_dir)
    term.read_until("you> ")
    term.type("Where is the gym?\n")
    assert term.read_until("you> ").replace("\r", "").endswith("bot> Alder Gym.\nyou> ")
    term.type("Wh€re is the gym?\n")
    shown = term.read_until("you> ")
    assert "not in the bot's vocabulary: '€'" in shown and "bot> " in shown
    term.type("\n")  # an empty line asks nothing: the prompt comes back
    assert "bot> " not in term.read_until("you> ")
    term.type("When is move in day?\n")
    assert "bot> " in term.read_until("you> ")  # a second turn, with the first in its history
    term.type("\x04")  # Ctrl-D at the start of a line: end of input
    assert term.close() == 0


def test_ctrl_c_leaves_the_chat_with_130(bot_dir):
    term = Terminal(bot_dir)
    term.read_until("you> ")
    term.type("\x03")  # the terminal turns Ctrl-C into SIGINT
    assert term.close() == 130
    assert "Traceback" not in term.seen


def test_the_prompt_never_outgrows_the_context():
    vocab = recipe.tokenizer()
    history = [("user", "Where is the gym?"), ("assistant", "Alder Gym.")] * 5
    for block_size in (48, 64, 200, 400):
        text = bot.fitted_prompt(history, "When is move in day? " * 10, vocab, block_size)
        assert len(text) <= block_size - min(bot.REPLY_ROOM, block_size // 2)
        assert text.startswith(chat.USER) and text.endswith(chat.END + chat.ASSISTANT)
