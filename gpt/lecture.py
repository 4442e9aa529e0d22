"""The lecture's path to a GPT, as importable modules: a bigram model, then one attention ``Head``, several heads
(``MultiHeadAttention``), a ``FeedForward``, a ``Block``, and the full ``LectureGPT``.

These are written the way "Let's build GPT" writes them (one module per head, a Python loop over heads) so each
step can be read on its own. ``gpt/model.py`` computes the same thing faster; ``heads_to_batched`` copies the
lecture's per-head weights into its batched ``CausalSelfAttention`` so the two can be compared number for number.
``tests/lecture/lecture_gpt.py`` has the same modules verbatim on purpose: it is the lecture's script, runnable
on PyTorch unchanged, and must not import from this package.
"""

from __future__ import annotations

import math

import tinygrad_edu as torch
import tinygrad_edu.nn as nn
from tinygrad_edu.nn import functional as F

from .model import CausalSelfAttention, generate


def _lm_loss(logits, targets):
    """Cross-entropy of (B, T, V) logits against (B, T) targets; -1 targets are ignored, as in ``GPT``."""
    if targets is None:
        return None
    B, T, V = logits.shape
    return F.cross_entropy(logits.view(B * T, V), targets.view(B * T), ignore_index=-1)


class BigramLanguageModel(nn.Module):
    """The lecture's first model: the next token depends only on the current one. Row i of a (vocab, vocab)
    table holds the logits of the token that follows token i; no context, no attention."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.token_embedding_table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx, targets=None):
        logits = self.token_embedding_table(idx)  # (B, T, vocab_size)
        return logits, _lm_loss(logits, targets)

    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None):
        # a bigram model only looks at the last token, so it can read any context length
        return generate(self, idx, max_new_tokens, temperature, top_k, block_size=None)


class Head(nn.Module):
    """One head of self-attention: every token emits a query ("what am I looking for"), a key ("what do I
    contain") and a value ("what I will tell you"); a token's output is the average of the past tokens' values,
    weighted by how well their keys match its query."""

    def __init__(self, n_embd: int, head_size: int, block_size: int, dropout: float = 0.0):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        k = self.key(x)  # (B, T, hs)
        q = self.query(x)  # (B, T, hs)
        # scaled by 1/sqrt(hs) so the scores have unit variance and softmax stays diffuse at init
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5  # (B, T, T)
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))  # a decoder: no peeking at the future
        wei = F.softmax(wei, dim=-1)
        wei = self.dropout(wei)
        v = self.value(x)  # (B, T, hs)
        return wei @ v


class MultiHeadAttention(nn.Module):
    """Several ``Head`` modules side by side (each can attend to something different), their outputs
    concatenated and projected back into the residual stream.

    ``projection=False`` is the lecture's first version, before residual connections: the heads' outputs are
    only concatenated (the projection arrives with the residual stream it projects into)."""

    def __init__(
        self,
        n_embd: int,
        num_heads: int,
        head_size: int,
        block_size: int,
        dropout: float = 0.0,
        projection: bool = True,
    ):
        super().__init__()
        self.heads = nn.ModuleList([Head(n_embd, head_size, block_size, dropout) for _ in range(num_heads)])
        self.proj = nn.Linear(head_size * num_heads, n_embd) if projection else nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        out = torch.cat([h(x) for h in self.heads], dim=-1)
        return self.dropout(self.proj(out))


class FeedForward(nn.Module):
    """The per-token computation after attention: a Linear layer 4x wider, ReLU, and a Linear back.

    ``expansion=1, projection=False`` is the lecture's first version: one Linear of the same width and a ReLU."""

    def __init__(self, n_embd: int, dropout: float = 0.0, expansion: int = 4, projection: bool = True):
        super().__init__()
        if not projection and expansion != 1:
            raise ValueError(f"FeedForward: without the projection back, the width cannot grow ({expansion}x)")
        layers = [nn.Linear(n_embd, expansion * n_embd), nn.ReLU()]
        if projection:
            layers.append(nn.Linear(expansion * n_embd, n_embd))
        self.net = nn.Sequential(*layers, nn.Dropout(dropout))

    def forward(self, x):
        return self.net(x)


class Block(nn.Module):
    """A Transformer block: communication (multi-head attention) followed by computation (feed-forward), each
    applied to a LayerNorm-ed copy of x and added back to x (pre-LN residual connections).

    The switches rebuild the lecture's earlier blocks: ``layer_norm=False`` drops the two LayerNorms, and
    ``residual=False`` is the block before residual connections, whose attention has no output projection and
    whose feed-forward is one Linear of the same width (the lecture adds all three in one step)."""

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        block_size: int,
        dropout: float = 0.0,
        residual: bool = True,
        layer_norm: bool = True,
    ):
        super().__init__()
        head_size = n_embd // n_head
        self.residual = residual
        self.sa = MultiHeadAttention(n_embd, n_head, head_size, block_size, dropout, projection=residual)
        self.ffwd = FeedForward(n_embd, dropout, expansion=4 if residual else 1, projection=residual)
        self.ln1 = nn.LayerNorm(n_embd) if layer_norm else nn.Identity()
        self.ln2 = nn.LayerNorm(n_embd) if layer_norm else nn.Identity()

    def forward(self, x):
        if not self.residual:
            return self.ffwd(self.ln2(self.sa(self.ln1(x))))
        x = x + self.sa(self.ln1(x))
        x = x + self.ffwd(self.ln2(x))
        return x


class LectureGPT(nn.Module):
    """The lecture's final ``GPTLanguageModel``: token and position embeddings, a stack of ``Block``s, a final
    LayerNorm and a linear head to next-token logits. Same ``(logits, loss)`` interface as ``gpt.model.GPT``."""

    def __init__(
        self,
        vocab_size: int,
        n_embd: int = 32,
        n_head: int = 4,
        n_layer: int = 2,
        block_size: int = 8,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.block_size = block_size
        self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
        self.position_embedding_table = nn.Embedding(block_size, n_embd)
        self.blocks = nn.Sequential(*[Block(n_embd, n_head, block_size, dropout) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        if T > self.block_size:
            raise ValueError(f"cannot forward a sequence of length {T}: the block size is only {self.block_size}")
        tok_emb = self.token_embedding_table(idx)  # (B, T, C)
        pos_emb = self.position_embedding_table(torch.arange(T, device=idx.device))  # (T, C)
        x = tok_emb + pos_emb  # "what" plus "where"
        x = self.blocks(x)
        logits = self.lm_head(self.ln_f(x))  # (B, T, vocab_size)
        return logits, _lm_loss(logits, targets)

    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None):
        return generate(self, idx, max_new_tokens, temperature, top_k, block_size=self.block_size)


# The lecture's path from the bigram model to the GPT, one rung per step of the video, in order.
RUNGS = ("bigram", "single head", "multi-head", "+ feed-forward", "3 blocks", "+ residual", "+ LayerNorm")


class LadderLM(nn.Module):
    """One rung of the lecture's ladder (``RUNGS``), built the way the lecture had it at that step.

    Every rung after the bigram has the same frame, token and position embeddings in, ``lm_head`` out; only
    the body between them grows: one ``Head`` of size n_embd; ``n_head`` heads of n_embd/n_head,
    concatenated; then a ``FeedForward`` after them; then ``n_layer`` such ``Block``s, without residual
    connections; then with them (and the attention projection, the 4x feed-forward); then pre-LN LayerNorms in
    every block and before the head. The bigram rung is ``BigramLanguageModel``, built by ``ladder_model``.
    """

    def __init__(
        self, vocab_size: int, rung: str, n_embd: int = 32, n_head: int = 4, n_layer: int = 3, block_size: int = 8
    ):
        super().__init__()
        if rung not in RUNGS[1:]:
            raise ValueError(f"LadderLM: rung must be one of {RUNGS[1:]}, got {rung!r}")
        self.rung, self.block_size = rung, block_size
        self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
        self.position_embedding_table = nn.Embedding(block_size, n_embd)
        head_size = n_embd // n_head
        if rung == "single head":
            body = Head(n_embd, n_embd, block_size)
        elif rung == "multi-head":
            body = MultiHeadAttention(n_embd, n_head, head_size, block_size, projection=False)
        elif rung == "+ feed-forward":
            body = nn.Sequential(
                MultiHeadAttention(n_embd, n_head, head_size, block_size, projection=False),
                FeedForward(n_embd, expansion=1, projection=False),
            )
        else:
            residual, layer_norm = rung != "3 blocks", rung == "+ LayerNorm"
            body = nn.Sequential(
                *[Block(n_embd, n_head, block_size, residual=residual, layer_norm=layer_norm) for _ in range(n_layer)]
            )
        self.body = body
        self.ln_f = nn.LayerNorm(n_embd) if rung == "+ LayerNorm" else nn.Identity()
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        if T > self.block_size:
            raise ValueError(f"cannot forward a sequence of length {T}: the block size is only {self.block_size}")
        x = self.token_embedding_table(idx) + self.position_embedding_table(torch.arange(T, device=idx.device))
        logits = self.lm_head(self.ln_f(self.body(x)))  # (B, T, vocab_size)
        return logits, _lm_loss(logits, targets)

    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None):
        return generate(self, idx, max_new_tokens, temperature, top_k, block_size=self.block_size)


def ladder_model(rung: str, vocab_size: int, **shape):
    """The model of one rung of ``RUNGS`` (``shape``: n_embd, n_head, n_layer, block_size for the rungs after
    the bigram, which has no shape but its vocabulary)."""
    if rung == "bigram":
        return BigramLanguageModel(vocab_size)
    return LadderLM(vocab_size, rung, **shape)


def heads_to_batched(mha: MultiHeadAttention, attn: CausalSelfAttention) -> CausalSelfAttention:
    """Copy the lecture's per-head weights into a batched ``CausalSelfAttention``, so both compute the same
    function (returns ``attn``).

    The mapping: ``c_attn.weight`` stacks the query rows of every head, then the key rows, then the value rows
    (that is how forward splits it into q, k, v); within each block, head h owns rows h·hs .. (h+1)·hs, which
    is the slice its output lands in after the heads are reassembled, matching the lecture's ``torch.cat``.
    ``c_proj`` is ``proj``. The lecture's heads have no q/k/v bias: if ``attn`` has one (config ``bias=True``)
    it is set to zero, which computes the same function; the lecture's ``proj`` has a bias, so ``attn`` must
    have one too (build it with ``bias=True``). ``attn`` must use ``attention_scale=True``, no RoPE, and the same
    number of heads and head size.
    """
    heads = list(mha.heads)
    hs = heads[0].key.weight.shape[0]
    same_scale = math.isclose(attn.scale, hs**-0.5)
    if attn.n_head != len(heads) or attn.head_size != hs or attn.rope or not same_scale:
        raise ValueError(
            f"heads_to_batched: the lecture module has {len(heads)} heads of size {hs}; the batched one has "
            f"{attn.n_head} of size {attn.head_size} (and must scale scores by 1/sqrt(hs) and not use RoPE)"
        )
    if (attn.c_proj.bias is None) != (mha.proj.bias is None):
        raise ValueError("heads_to_batched: proj and c_proj must both have a bias or both have none")
    with torch.no_grad():
        qkv = [torch.cat([getattr(h, part).weight for h in heads], dim=0) for part in ("query", "key", "value")]
        attn.c_attn.weight.copy_(torch.cat(qkv, dim=0))
        if attn.c_attn.bias is not None:
            attn.c_attn.bias.zero_()
        attn.c_proj.weight.copy_(mha.proj.weight)
        if attn.c_proj.bias is not None:
            attn.c_proj.bias.copy_(mha.proj.bias)
    return attn
