"""Streaming sampling: the pieces handed out as tokens are produced add up to the text, for characters and for
byte-level BPE (whose tokens may end inside a character); `gpt sample` streams, takes --num-samples, and reports
tokens/s on stderr."""

from __future__ import annotations

import tinygrad_edu as tg
from gpt import checkpoint as ckpt
from gpt.bpe import BPETokenizer
from gpt.cli import main
from gpt.data import CharTokenizer
from gpt.model import GPT, GPTConfig
from gpt.sample import generate_text

TEXT = "héllo wörld, ça va? " * 20


def tiny_model(vocab_size: int) -> GPT:
    tg.manual_seed(0)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=8))


def test_streamed_pieces_add_up_to_the_text_for_characters_and_bpe():
    for tokenizer in (CharTokenizer.from_text(TEXT), BPETokenizer.trained(TEXT, 300)):
        model = tiny_model(tokenizer.vocab_size)
        pieces = []
        text = generate_text(model, tokenizer, "hé", 30, seed=3, stream=pieces.append)
        # nothing shown is ever taken back: a character split across tokens waits until it is whole
        assert "".join(pieces) == text and pieces[0] == "hé"
        assert text == generate_text(model, tokenizer, "hé", 30, seed=3)  # streaming changes nothing


def test_gpt_sample_streams_several_samples_and_reports_the_rate(tmp_path, capsys):
    tokenizer = CharTokenizer.from_text(TEXT)
    model = tiny_model(tokenizer.vocab_size)
    meta = {
        "iter": 0,
        "model_config": model.config.to_dict(),
        "train_config": {"dtype": "float32"},
        "tokenizer": tokenizer.to_dict(),
    }
    ckpt.save_checkpoint(tmp_path / ckpt.FILENAME, model=model, meta=meta)
    args = ["sample", "--out-dir", str(tmp_path), "--prompt", "ça", "--max-new-tokens", "12", "--num-samples", "3"]
    assert main(args) == 0
    captured = capsys.readouterr()
    samples = captured.out.strip("\n").split("\n" + "-" * 40 + "\n")
    assert len(samples) == 3 and all(s.startswith("ça") and len(s) == 14 for s in samples)
    assert len(set(samples)) > 1  # seed, seed + 1, seed + 2
    assert "36 tokens in" in captured.err and "tokens/s" in captured.err


def test_gpt_sample_window_shift_gives_the_text_generate_gives_with_that_window(tmp_path, capsys):
    """`--window shift` past the 16-token context: the CLI's text is the library's with window="shift" (which the
    cache tests show equals the uncached shift), and differs from the sliding window's."""
    tokenizer = CharTokenizer.from_text(TEXT)
    model = tiny_model(tokenizer.vocab_size)
    meta = {"iter": 0, "model_config": model.config.to_dict(), "train_config": {}, "tokenizer": tokenizer.to_dict()}
    ckpt.save_checkpoint(tmp_path / ckpt.FILENAME, model=model, meta=meta)
    texts = {}
    for window in ("slide", "shift"):
        args = ["sample", "--out-dir", str(tmp_path), "--prompt", "ça", "--max-new-tokens", "40", "--top-k", "all"]
        assert main([*args, "--temperature", "1.0", "--seed", "7", "--window", window]) == 0
        texts[window] = capsys.readouterr().out.strip("\n")
        expected = generate_text(model, tokenizer, "ça", 40, temperature=1.0, seed=7, window=window)
        assert texts[window] == expected and len(expected) == 42
    assert texts["slide"][:17] == texts["shift"][:17]  # the same while the 16-token context is not yet full
    assert texts["slide"] != texts["shift"]
