"""gpt.attention_maps (heat maps), gpt.summary (model summary) and the hand-built heads example."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as torch
from gpt.attention_maps import attention_weights, main, token_labels
from gpt.data import CharTokenizer
from gpt.examples import handmade_heads
from gpt.model import GPT, GPTConfig
from gpt.summary import summary, summary_rows

TEXT = "hello world\nhow are you"


def tiny(**overrides):
    torch.manual_seed(0)
    config = dict(vocab_size=len(set(TEXT)), block_size=16, n_layer=2, n_head=2, n_embd=8)
    return GPT(GPTConfig(**{**config, **overrides}))


def test_attention_weights_shapes_causal_and_normalised():
    model, tok = tiny(), CharTokenizer.from_text(TEXT)
    maps = attention_weights(model, tok, "hello")
    assert len(maps) == 2 and all(m.shape == (2, 5, 5) for m in maps)
    for m in maps:
        np.testing.assert_allclose(m.sum(-1), 1.0, atol=1e-5)
        assert np.all(np.triu(m, k=1) == 0)  # no weight on the future
    long = attention_weights(model, tok, TEXT * 2)  # longer than the context: its last block_size tokens
    assert long[0].shape == (2, 16, 16)
    assert token_labels(tok, tok.encode("a w\n")) == ["a", "␣", "w", "⏎"]


def test_returning_attention_does_not_change_outputs():
    model = tiny(dropout=0.0)
    idx = torch.tensor([CharTokenizer.from_text(TEXT).encode("how are")])
    before, _ = model(idx)
    maps = model.attention_maps(idx)
    after, _ = model(idx)
    np.testing.assert_array_equal(before.detach().numpy(), after.detach().numpy())
    assert len(maps) == 2 and maps[0].shape == (1, 2, len("how are"), len("how are"))
    assert all(not m._forward_pre_hooks for m in model.modules())  # the recording hooks are gone


def test_gpt_attention_cli_writes_one_png_per_layer(tmp_path):
    pytest.importorskip("matplotlib", reason="gpt attention draws with matplotlib")
    from gpt import checkpoint as ckpt

    model, tok = tiny(), CharTokenizer.from_text(TEXT)
    meta = {
        "iter": 0,
        "model_config": model.config.to_dict(),
        "train_config": {"dtype": "float32"},
        "vocab": tok.chars,
        "tokenizer": tok.to_dict() if hasattr(tok, "to_dict") else {"type": "char", "chars": tok.chars},
    }
    ckpt.save_checkpoint(tmp_path / ckpt.FILENAME, model=model, meta=meta)
    assert main(["--out-dir", str(tmp_path), "--prompt", "hello you"]) == 0
    pngs = sorted((tmp_path / "attention").glob("*.png"))
    assert [p.name for p in pngs] == ["layer_0.png", "layer_1.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)


def test_summary_counts_unique_parameters_once():
    model = tiny()  # tied weights: lm_head.weight is wte.weight
    idx = torch.zeros(1, 4, dtype=torch.long)
    rows = summary_rows(model, idx)
    unique = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    assert sum(r["params"] for r in rows) == unique == model.num_params(non_embedding=False)
    by_name = {r["name"]: r for r in rows}
    assert by_name["lm_head"]["params"] == 0 and by_name["lm_head"]["shared"] == ["weight = wte.weight"]
    assert by_name["blocks.0.attn.c_attn"]["output"] == "[1, 4, 24]"
    assert by_name["blocks.0.attn.c_attn"]["params"] == 8 * 24 + 24
    assert by_name["blocks"]["output"] == "-"  # a ModuleList is never called
    text = summary(model, idx)
    assert f"total parameters:         {unique:,}" in text and "trainable parameters" in text
    assert all("forward" not in m.__dict__ for m in model.modules())  # the wrappers are gone


def test_summary_untied_counts_both_matrices():
    model = tiny(tie_weights=False)
    rows = summary_rows(model, torch.zeros(2, 3, dtype=torch.long))
    assert sum(r["params"] for r in rows) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("word", ["strength", "audio", "eat", "a", "rhythm"])
def test_handmade_heads(word):
    seen = handmade_heads.consonant_seen_head(word, verbose=False)
    assert (seen > 0.5).tolist() == [any(c not in "aeiou" for c in word[: t + 1]) for t in range(len(word))]
    fraction = handmade_heads.consonant_fraction_head(word, verbose=False)
    assert fraction[-1] == pytest.approx(sum(c not in "aeiou" for c in word) / len(word))
    first = handmade_heads.first_is_consonant_head(word, verbose=False)
    assert np.allclose(first, float(word[0] not in "aeiou"), atol=1e-3)


def test_handmade_heads_main_prints_matrices(capsys):
    assert handmade_heads.main() == 0
    out = capsys.readouterr().out
    for step in ("X (embeddings)", "Q = X W_q", "K = X W_k", "S = Q Kᵀ", "causal mask", "softmax", "out = A V"):
        assert step in out
