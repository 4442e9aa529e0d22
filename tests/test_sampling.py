"""Streaming sampling: the pieces handed out as tokens are produced add up to the text, for characters and for
byte-level BPE (whose tokens may end inside a character); `gpt sample` streams, takes --num-samples, and reports
tokens/s on stderr."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import tinygrad_edu as tg
from gpt import checkpoint as ckpt
from gpt.bpe import BPETokenizer
from gpt.cli import main
from gpt.data import CharTokenizer
from gpt.model import GPT, GPTConfig
from gpt.sample import _IncrementalDecoder, generate_text

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


# --- the streaming decoder: each token costs its own bytes, and the pieces add up to the whole decode ---------

CHAR_TOKENIZER = CharTokenizer.from_text(TEXT + "\n")
BPE_TOKENIZER = BPETokenizer.trained(TEXT + "日本語 🙂🙂", 300, special_tokens=["<|endoftext|>"])
# byte sequences a BPE token stream may cut anywhere: 2-, 3- and 4-byte characters, an encoded lone surrogate
# (which BPE lets through), and bytes that are no UTF-8 at all (a stray continuation byte, 0xff, lone lead bytes)
AWKWARD_BYTES = [
    b"\xc3\xa9",
    b"\xe2\x82\xac",
    b"\xf0\x9f\x99\x82",
    b"\xed\xa0\x80",
    b"\x80",
    b"\xff",
    b"\xed",
    b"\xf0",
    b"a",
]


def streamed(tokenizer, ids: list[int], prompt_length: int, skip: int = 0) -> list[str]:
    decoder = _IncrementalDecoder(tokenizer, ids[:prompt_length], skip=skip)
    return [decoder.text, *(decoder.add(t) for t in ids[prompt_length:]), decoder.rest()]


@given(st.data())
def test_the_stream_of_any_ids_adds_up_to_their_decode(data):
    """Random ids of both tokenizers, BPE ids cutting characters anywhere (special tokens included)."""
    tokenizer = data.draw(st.sampled_from([CHAR_TOKENIZER, BPE_TOKENIZER]))
    ids = data.draw(st.lists(st.integers(0, tokenizer.vocab_size - 1), max_size=60))
    prompt_length = data.draw(st.integers(0, len(ids)))
    assert "".join(streamed(tokenizer, ids, prompt_length)) == tokenizer.decode(ids)


@given(st.lists(st.one_of(st.sampled_from(AWKWARD_BYTES), st.binary(max_size=4)), max_size=30), st.data())
def test_bytes_cut_anywhere_stream_to_their_decode(chunks, data):
    """Byte tokens (ids 0-255 are the bytes themselves) spelling characters, surrogates and invalid UTF-8."""
    ids = list(b"".join(chunks))
    prompt_length = data.draw(st.integers(0, len(ids)))
    assert "".join(streamed(BPE_TOKENIZER, ids, prompt_length)) == BPE_TOKENIZER.decode(ids)


def test_the_newline_an_empty_prompt_starts_from_is_left_out():
    for tokenizer in (CHAR_TOKENIZER, BPE_TOKENIZER):
        ids = tokenizer.encode("\nhé")
        assert "".join(streamed(tokenizer, ids, 1, skip=1)) == "hé"
