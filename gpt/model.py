"""A char-level GPT on tinygrad_edu, in one file, the way nanoGPT's ``model.py`` writes it.

The model is the decoder-only Transformer of the "Let's build GPT" lecture, rewritten for speed: all heads of
a layer are computed at once (heads become a batch dimension) from one fused q/k/v projection. The lecture's
module-per-head version lives in ``gpt/lecture.py``; the tests check that both compute the same function.

Every ablation switch of ``GPTConfig`` is a visible ``if`` in the code below, so reading a branch tells you
exactly what an experiment removes or replaces.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import tinygrad_edu as torch
import tinygrad_edu.nn as nn
from tinygrad_edu.nn import functional as F

POSITION_EMBEDDINGS = ("learned", "none", "rope")
MLP_KINDS = ("gelu", "swiglu", "none")
ATTENTION_KINDS = ("explicit", "fused")


@dataclass
class GPTConfig:
    """The hyper-parameters of a GPT, plus the switches the ablation experiments flip.

    The defaults are a small nanoGPT-style model sized for tinyshakespeare on a CPU.
    """

    vocab_size: int = 65
    block_size: int = 64  # the longest context the model sees (and the size of its causal mask)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True  # biases in the Linear layers and LayerNorms
    residual: bool = True  # False: each sub-layer replaces x instead of adding to it
    layer_norm: bool = True  # False: every LayerNorm becomes the identity
    position_embedding: str = "learned"  # "learned" table | "none" | "rope" (rotary, on q and k)
    attention_scale: bool = True  # divide attention scores by sqrt(head_size)
    mlp: str = "gelu"  # "gelu" MLP | "swiglu" gated MLP | "none": no MLP sub-layer at all
    single_head: bool = False  # one head of size n_embd instead of n_head heads of size n_embd / n_head
    tie_weights: bool = True  # the output projection reuses the token embedding matrix
    # "explicit": the lecture's scores, mask, softmax, weights @ v (what attention_maps reads); "fused": one
    # F.scaled_dot_product_attention call (FlashAttention here, PyTorch's own SDPA when PyTorch runs this file)
    attention: str = "explicit"

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"GPTConfig.{name} must be a positive int, got {value!r}")
        if not self.single_head and self.n_embd % self.n_head != 0:
            raise ValueError(
                f"GPTConfig: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}) "
                "so the heads split the embedding evenly"
            )
        if not 0 <= self.dropout < 1:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if self.position_embedding not in POSITION_EMBEDDINGS:
            raise ValueError(
                f"GPTConfig.position_embedding must be one of {POSITION_EMBEDDINGS}, got {self.position_embedding!r}"
            )
        if self.mlp not in MLP_KINDS:
            raise ValueError(f"GPTConfig.mlp must be one of {MLP_KINDS}, got {self.mlp!r}")
        if self.attention not in ATTENTION_KINDS:
            raise ValueError(f"GPTConfig.attention must be one of {ATTENTION_KINDS}, got {self.attention!r}")
        if self.position_embedding == "rope" and self.head_size % 2 != 0:
            raise ValueError(
                f"GPTConfig: RoPE rotates pairs of dimensions, so head_size ({self.head_size}) must be even"
            )

    @property
    def heads(self) -> int:
        """How many attention heads a layer really has (1 when ``single_head``)."""
        return 1 if self.single_head else self.n_head

    @property
    def head_size(self) -> int:
        return self.n_embd // self.heads

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GPTConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"GPTConfig.from_dict: unknown keys {unknown} (known keys: {sorted(known)})")
        return cls(**d)


# -- rotary position embedding ---------------------------------------------------------------------------


def rope_tables(block_size: int, head_size: int, base: float = 10000.0, dtype=torch.float32):
    """cos and sin of the rotation angles, each (block_size, head_size / 2): position t turns the pair i
    by the angle t · base^(-2i / head_size), so low pairs spin fast and high pairs slowly.

    Computed in float64 and then rounded to ``dtype``, so every implementation gets the same table."""
    f64 = torch.float64
    inv_freq = 1.0 / base ** (torch.arange(0, head_size, 2, dtype=f64) / head_size)
    angles = torch.arange(block_size, dtype=f64).unsqueeze(1) * inv_freq.unsqueeze(0)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rope(x, cos, sin):
    """Rotate each query or key vector by an angle proportional to its position (RoPE, Su et al. 2021).

    x is (B, nh, T, hs); cos and sin are (T, hs/2). We use the "rotate half" layout (GPT-NeoX, Llama in
    Hugging Face): dimension i is paired with dimension i + hs/2, i.e. x1 = x[..., :hs/2] and x2 = x[..., hs/2:]
    are the two coordinates of hs/2 planar rotations. A rotation keeps every vector's norm, and the dot product
    of a query rotated by angle m·θ with a key rotated by n·θ depends only on (m - n)·θ: attention scores see
    relative positions only. Built from tensor ops, so it is differentiable.
    """
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


# -- the Transformer's pieces ------------------------------------------------------------------------------


class LayerCache:
    """One layer's keys and values of the positions seen so far, each (B, n_head, length, head_size)."""

    def __init__(self):
        self.keys = self.values = None

    @property
    def length(self) -> int:
        return 0 if self.keys is None else self.keys.shape[2]


class KVCache:
    """The keys and values of every layer (``GPT.new_cache()``): with it, each new token costs the forward
    of one position instead of the whole context, since the past positions' keys and values do not change."""

    def __init__(self, n_layer: int):
        self.layers = [LayerCache() for _ in range(n_layer)]

    @property
    def length(self) -> int:
        return self.layers[0].length if self.layers else 0


class CausalSelfAttention(nn.Module):
    """Masked multi-head self-attention: the lecture's ``MultiHeadAttention`` of ``Head`` modules, with all
    heads computed at once.

    One Linear produces q, k and v for every head; the heads then become a batch dimension, so a single
    batched matmul computes all attention patterns. Tokens attend only to themselves and the past.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head, self.n_embd, self.head_size = config.heads, config.n_embd, config.head_size
        self.scale = 1.0 / math.sqrt(self.head_size) if config.attention_scale else 1.0
        self.rope = config.position_embedding == "rope"
        self.fused = config.attention == "fused"
        self.dropout_p = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        # built once, and forward slices it; non-persistent because it is derived from block_size, not learned.
        # mask[i, j] is True where query i may look at key j (j <= i)
        mask = torch.tril(torch.ones(config.block_size, config.block_size, dtype=torch.bool))
        self.register_buffer("mask", mask, persistent=False)
        if self.rope:
            cos, sin = rope_tables(config.block_size, self.head_size)
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, x, cache: LayerCache | None = None):
        """``x`` holds the positions after the ``cache.length`` already seen (none without a cache)."""
        B, T, C = x.shape
        start = 0 if cache is None else cache.length
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        # (B, T, C) -> (B, nh, T, hs): each head becomes a batch entry for the matmuls below
        q = q.view(B, T, self.n_head, self.head_size).transpose(1, 2)
        k = k.view(B, T, self.n_head, self.head_size).transpose(1, 2)
        v = v.view(B, T, self.n_head, self.head_size).transpose(1, 2)
        if self.rope:
            cos, sin = self.rope_cos[start : start + T], self.rope_sin[start : start + T]
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:  # the past positions' keys and values were computed before: reuse them
            if cache.keys is not None:
                k, v = torch.cat((cache.keys, k), dim=2), torch.cat((cache.values, v), dim=2)
            cache.keys, cache.values = k, v

        if self.fused:  # the same function in one call, never materialising the (T, start+T) weights
            # is_causal aligns the mask at the top left, right without a cache; with one, its rows are sliced
            past = self.mask[start : start + T, : start + T] if start > 0 and T > 1 else None
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=past, dropout_p=self.dropout_p if self.training else 0.0,
                is_causal=T > 1 and start == 0, scale=self.scale,
            )  # fmt: skip
            return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(B, T, C)))
        if self.scale != 1.0:  # 1/√hs keeps the scores' variance near 1, so softmax does not saturate at init;
            q = q * self.scale  # applied to q, the same product, on hs/(start+T) as many numbers as the scores
        att = q @ k.transpose(-2, -1)  # (B, nh, T, start+T): how much each query position likes each key
        # rows start..start+T-1 of the causal mask: the future gets weight exp(-inf) = 0. A single query is the
        # newest position (generation with a cache): every key is its past, and there is nothing to mask
        if T > 1:
            att = att.masked_fill(~self.mask[start : start + T, : start + T], float("-inf"))
        att = F.softmax(att, dim=-1)  # the attention pattern: what GPT.attention_maps records (a hook on attn_dropout)
        att = self.attn_dropout(att)
        y = att @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # heads side by side again, as the lecture's torch.cat does
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """The lecture's ``FeedForward``, GPT-2 style: expand 4x, GELU, project back. Each token is processed
    on its own: attention is where tokens communicate, the MLP is where each one "thinks"."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


def swiglu_hidden_size(n_embd: int, bias: bool = True) -> int:
    """The SwiGLU width whose parameter count is closest to the GELU MLP's.

    GELU MLP: 2 matrices n_embd x 4·n_embd = 8·n², plus biases 4n + n.
    SwiGLU: 3 matrices n x h = 3·n·h, plus biases 2h + n. Equal when h ≈ 8n/3 (the "2/3 · 4n" of LLaMA);
    e.g. n_embd=128 gives h=341: 131,754 parameters against the GELU MLP's 131,712.
    """

    def count(h: int, expand: int) -> int:
        return expand * n_embd * h + ((expand - 1) * h + n_embd if bias else 0)

    target = count(4 * n_embd, 2)
    guess = round(8 * n_embd / 3)
    return min((h for h in (guess - 1, guess, guess + 1) if h > 0), key=lambda h: abs(count(h, 3) - target))


class SwiGLU(nn.Module):
    """A gated MLP (Shazeer 2020, used by LLaMA): y = w2(silu(w1 x) * w3 x). One branch decides how much
    of the other passes, per hidden unit; the width is chosen so the parameter count matches ``MLP``."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        hidden = swiglu_hidden_size(config.n_embd, config.bias)
        self.w1 = nn.Linear(config.n_embd, hidden, bias=config.bias)
        self.w3 = nn.Linear(config.n_embd, hidden, bias=config.bias)
        self.w2 = nn.Linear(hidden, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.w2(F.silu(self.w1(x)) * self.w3(x)))


class Block(nn.Module):
    """One Transformer block, the lecture's ``Block``: communication (attention) then computation (MLP),
    each behind a pre-LayerNorm and added to the residual stream."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.residual = config.residual

        def norm():
            return nn.LayerNorm(config.n_embd, bias=config.bias) if config.layer_norm else nn.Identity()

        self.ln_1 = norm()
        self.attn = CausalSelfAttention(config)
        if config.mlp == "gelu":
            self.ln_2, self.mlp = norm(), MLP(config)
        elif config.mlp == "swiglu":
            self.ln_2, self.mlp = norm(), SwiGLU(config)
        else:  # attention only: no second sub-layer, so no LayerNorm in front of it either
            self.ln_2, self.mlp = None, None

    def forward(self, x, cache: LayerCache | None = None):
        a = self.attn(self.ln_1(x), cache)
        # the residual path lets gradients reach early layers unchanged; without it they pass every sub-layer
        x = x + a if self.residual else a
        if self.mlp is not None:
            m = self.mlp(self.ln_2(x))
            x = x + m if self.residual else m
        return x


class GPT(nn.Module):
    """The language model: token (+ position) embeddings, a stack of Blocks, a final LayerNorm, and a
    linear head giving next-token logits at every position (the lecture's ``GPTLanguageModel``)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd) if config.position_embedding == "learned" else None
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias) if config.layer_norm else nn.Identity()
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_weights:
            # one matrix both reads tokens in and scores them out (Press & Wolf 2017): fewer parameters, and
            # tokens that are used alike get similar embeddings from both ends
            self.lm_head.weight = self.wte.weight

        self.apply(self._init_weights)
        # GPT-2: scale the projections that write into the residual stream by 1/sqrt(number of such writes),
        # so the stream's variance does not grow with depth
        residual_std = 0.02 / math.sqrt(2 * config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight") or name.endswith("w2.weight"):
                nn.init.normal_(p, mean=0.0, std=residual_std)

    @staticmethod
    def _init_weights(module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters, each counted once (tied weights too). With ``non_embedding`` the position table is left
        out, as nanoGPT does; the token table stays in because it is also the output layer when tied."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and self.wpe is not None:
            n -= self.wpe.weight.numel()
        return n

    def _trunk(self, idx, cache: KVCache | None = None):
        """The residual stream after the last block and ln_f, (B, T, n_embd)."""
        if idx.dim() != 2:
            raise ValueError(f"GPT expects token ids of shape (B, T), got {tuple(idx.shape)}")
        B, T = idx.shape
        start = 0 if cache is None else cache.length
        if start + T > self.config.block_size:
            raise ValueError(
                f"cannot forward a sequence of length {start + T}: the block size (context length) is only "
                f"{self.config.block_size}"
            )
        x = self.wte(idx)  # (B, T, C)
        if self.wpe is not None:  # (T, C) broadcasts over the batch
            x = x + self.wpe(torch.arange(start, start + T, device=idx.device))
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, None if cache is None else cache.layers[i])
        return self.ln_f(x)

    def forward(self, idx, targets=None, cache: KVCache | None = None):
        """Logits (B, T, vocab_size) for the next token at every position, and the mean cross-entropy loss
        against ``targets`` (B, T) when given; positions whose target is -1 are left out of the loss.

        With a ``cache`` (``new_cache()``), ``idx`` continues the positions it has seen, and it learns them."""
        logits = self.lm_head(self._trunk(idx, cache))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=-1)
        return logits, loss

    def attention_maps(self, idx) -> list:
        """Attention weights of every layer, each (B, n_head, T, T), after softmax; eval mode, no graph.

        A forward pre-hook on each layer's ``attn_dropout`` reads its input, which is the softmax's output."""
        maps = []
        handles = [
            block.attn.attn_dropout.register_forward_pre_hook(lambda module, args: maps.append(args[0]))
            for block in self.blocks
        ]
        fused = [block.attn.fused for block in self.blocks]  # attention="fused" never forms the weights:
        for block in self.blocks:  # the explicit branch computes the same function, so it runs for the maps
            block.attn.fused = False
        try:
            with torch.no_grad(), eval_mode(self):
                self._trunk(idx)
        finally:
            for handle in handles:
                handle.remove()
            for block, was_fused in zip(self.blocks, fused):
                block.attn.fused = was_fused
        return maps

    def new_cache(self) -> KVCache:
        """An empty key/value cache for ``forward(..., cache=)``: one ``LayerCache`` per block."""
        return KVCache(len(self.blocks))

    def generate(
        self,
        idx,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        kv_cache: bool = True,
        on_token=None,
        window: str = "slide",
    ):
        """Continue each row of ``idx`` (B, T) by ``max_new_tokens`` sampled tokens; see ``generate``."""
        block_size = self.config.block_size
        return generate(self, idx, max_new_tokens, temperature, top_k, block_size, kv_cache, on_token, window)


# -- sampling ------------------------------------------------------------------------------------------------


class eval_mode:  # noqa: N801 - used like no_grad
    """``with eval_mode(model):`` switches dropout off and puts the previous mode back afterwards."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()
        return self.model

    def __exit__(self, *exc):
        self.model.train(self.was_training)
        return False


def top_k_filter(logits, k: int):
    """Keep the k largest logits of each row; the rest become -inf, so softmax gives them probability 0."""
    k = min(k, logits.shape[-1])
    kth_largest = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def generate(
    model,
    idx,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k=None,
    block_size=None,
    kv_cache=False,
    on_token=None,
    window="slide",
):
    """Autoregressive sampling for any model whose forward gives ``(logits, loss)``.

    Each step feeds the model its context (the tokens from ``origin`` on; all of them while they fit in
    ``block_size``, or when it is None), takes the logits at the last position, divides by ``temperature``
    (< 1 sharpens, > 1 flattens), keeps the ``top_k`` most likely tokens if asked, and samples the next token
    from the softmax. Runs without a graph and in eval mode.

    ``window`` says what happens once the sequence outgrows the context:

    * ``"slide"`` (nanoGPT, the lecture): every step conditions on the last ``block_size`` tokens;
    * ``"shift"`` (llama.cpp's context shift): the context is cut to its last ``block_size // 2`` tokens, then
      grows again, token by token, until it is full and is cut again.

    ``kv_cache`` (for a model with ``new_cache``) changes how the logits are computed, never which: the cache
    holds the keys and values of the context, so a step feeds only the newest token. When the window moves,
    every position in it moves, so the cache is refilled from the new context: with "slide" that is every step
    past ``block_size`` (the cache then saves nothing), with "shift" once every ``block_size // 2`` tokens.
    The tokens are the same with and without the cache, for either window.
    ``on_token(idx_next)`` is called with each step's new tokens (B, 1), for streaming them out.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r} (use top_k=1 for greedy decoding)")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be a positive int or None, got {top_k!r}")
    if window not in ("slide", "shift"):
        raise ValueError(f"window must be 'slide' or 'shift', got {window!r}")
    with torch.no_grad(), eval_mode(model):
        cache, origin = None, 0  # the context is idx[:, origin:]
        for _ in range(max_new_tokens):
            length = idx.shape[1]
            if block_size is not None and length - origin > block_size:  # the window moves
                origin = length - (block_size if window == "slide" else max(1, block_size // 2))
                cache = None  # every position in it moved, so the cache starts again
            if not kv_cache:
                logits, _ = model(idx[:, origin:])
            elif cache is None:  # the first step, or the window has moved: fill a cache with the whole context
                cache = model.new_cache()
                logits, _ = model(idx[:, origin:], cache=cache)
            else:
                logits, _ = model(idx[:, -1:], cache=cache)  # only the newest token: the rest is cached
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                logits = top_k_filter(logits, top_k)
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)
            idx = torch.cat((idx, idx_next), dim=1)
            if on_token is not None:
                on_token(idx_next)
    return idx
