"""The key/value cache: generation with it gives the same tokens as without, greedy and sampled, for learned
positions and RoPE, before and after the sequence outgrows the context window; and it is PyTorch code too."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_edu as tg
from gpt.model import GPT, GPTConfig


def model(position_embedding: str, block_size: int = 8) -> GPT:
    tg.manual_seed(0)
    config = GPTConfig(
        vocab_size=11, block_size=block_size, n_layer=2, n_head=2, n_embd=16, position_embedding=position_embedding
    )
    return GPT(config)


@pytest.mark.parametrize("position_embedding", ["learned", "rope"])
@pytest.mark.parametrize("sampling", [dict(top_k=1), dict(temperature=0.9), dict(temperature=1.3, top_k=4)])
@pytest.mark.parametrize("new_tokens", [4, 21])  # 21 from a 3-token prompt: the 8-token window slides 16 times
def test_cached_generation_gives_the_same_tokens(position_embedding, sampling, new_tokens):
    gpt = model(position_embedding)
    prompt = tg.tensor([[1, 2, 3], [4, 5, 6]])
    runs = []
    for kv_cache in (False, True):
        tg.manual_seed(5)
        runs.append(gpt.generate(prompt, new_tokens, kv_cache=kv_cache, **sampling).tolist())
    assert runs[0] == runs[1]


def test_cached_forward_equals_the_full_forward_position_by_position():
    gpt = model("rope").double()
    tokens = tg.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])
    full, _ = gpt(tokens)
    cache = gpt.new_cache()
    pieces = [gpt(tokens[:, :3], cache=cache)[0]] + [gpt(tokens[:, t : t + 1], cache=cache)[0] for t in range(3, 8)]
    np.testing.assert_allclose(tg.cat(pieces, dim=1).detach().numpy(), full.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert cache.length == 8
    with pytest.raises(ValueError, match="length 9: the block size"):
        gpt(tokens[:, :1], cache=cache)  # a full cache takes no more: generate starts a new window instead


def test_the_cache_is_pytorch_code_too(torch):
    """The same file on PyTorch, with our weights: cached and uncached greedy tokens, and ours, all agree."""
    from gpt.library import model_module

    ours = model("learned").double()
    theirs = model_module("torch").GPT(ours.config).double()
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in ours.state_dict().items()})
    prompt = [[1, 2, 3]]
    expected = ours.generate(tg.tensor(prompt), 12, top_k=1, kv_cache=False).tolist()
    for kv_cache in (False, True):
        assert theirs.generate(torch.tensor(prompt), 12, top_k=1, kv_cache=kv_cache).tolist() == expected
