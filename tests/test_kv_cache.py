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


@pytest.mark.parametrize("window", ["slide", "shift"])
@pytest.mark.parametrize("position_embedding", ["learned", "rope"])
@pytest.mark.parametrize("sampling", [dict(top_k=1), dict(temperature=0.9), dict(temperature=1.3, top_k=4)])
@pytest.mark.parametrize("new_tokens", [4, 21])  # 21 from a 3-token prompt: the 8-token window moves 16 / 4 times
def test_cached_generation_gives_the_same_tokens(window, position_embedding, sampling, new_tokens):
    gpt = model(position_embedding)
    prompt = tg.tensor([[1, 2, 3], [4, 5, 6]])
    runs = []
    for kv_cache in (False, True):
        tg.manual_seed(5)
        runs.append(gpt.generate(prompt, new_tokens, kv_cache=kv_cache, window=window, **sampling).tolist())
    assert runs[0] == runs[1]


class ContextRecorder:
    """A stand-in model that records the tokens it is fed and predicts token 0; with a cache it records the
    whole context it has seen, so a test can read which window each step conditioned on."""

    def __init__(self):
        self.contexts, self.full_forwards = [], 0

    def eval(self):
        return self

    def train(self, mode=True):
        return self

    training = False

    def new_cache(self):
        self.full_forwards += 1
        return []

    def __call__(self, idx, cache=None):
        if cache is not None:
            cache.extend(idx[0].tolist())
        self.contexts.append(list(cache) if cache is not None else idx[0].tolist())
        logits = tg.zeros(idx.shape[0], idx.shape[1], 3)
        return logits.masked_fill(tg.arange(3) == 0, 1.0), None


@pytest.mark.parametrize("kv_cache", [False, True])
def test_the_windows_are_the_documented_ones(kv_cache):
    """block 4, a 2-token prompt, 6 new tokens: "slide" conditions on the last 4 tokens at every step; "shift"
    cuts the context to its last 2 tokens when it would hold 5, then lets it grow again."""
    from gpt.model import generate

    prompt = tg.tensor([[7, 8]])
    contexts, refills = {}, {}
    for window in ("slide", "shift"):
        recorder = ContextRecorder()
        generate(recorder, prompt, 6, top_k=1, block_size=4, kv_cache=kv_cache, window=window)
        contexts[window], refills[window] = recorder.contexts, recorder.full_forwards
    seq = [7, 8, 0, 0, 0, 0, 0, 0]
    assert contexts["slide"] == [seq[:2], seq[:3], seq[:4], seq[1:5], seq[2:6], seq[3:7]]
    assert contexts["shift"] == [seq[:2], seq[:3], seq[:4], seq[3:5], seq[3:6], seq[3:7]]
    if kv_cache:  # a cache is filled at the start and whenever the window moves: every step past 4 for slide
        assert refills == {"slide": 4, "shift": 2}


def test_a_window_that_is_not_known_is_named():
    with pytest.raises(ValueError, match="window must be 'slide' or 'shift', got 'roll'"):
        model("learned").generate(tg.tensor([[1]]), 2, window="roll")


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
    shifted = ours.generate(tg.tensor(prompt), 12, top_k=1, kv_cache=False, window="shift").tolist()
    for kv_cache in (False, True):
        got = theirs.generate(torch.tensor(prompt), 12, top_k=1, kv_cache=kv_cache, window="shift").tolist()
        assert got == shifted
