"""The GPT of ``gpt/model.py`` written again in PyTorch: same architecture, same module names (so a state_dict
moves across unchanged), same dropout placement.

Two uses: the oracle of ``tests/test_model.py`` (logits and loss must agree), and the PyTorch side of the
benchmarks (``python -m benchmarks train``), where it is also the loss-curve reference. Importing this module
imports PyTorch, so the benchmarks import it only when PyTorch is installed."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from gpt.model import swiglu_hidden_size


def rope_tables(block_size: int, head_size: int):
    # the same float64 -> float32 rounding as gpt.model.rope_tables, so both models see identical tables
    inv_freq = 1.0 / 10000.0 ** (torch.arange(0, head_size, 2, dtype=torch.float64) / head_size)
    angles = torch.arange(block_size, dtype=torch.float64)[:, None] * inv_freq[None, :]
    return angles.cos().float(), angles.sin().float()


def apply_rope(x, cos, sin):
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.nh, self.hs, self.C = c.heads, c.head_size, c.n_embd
        self.scale = 1 / math.sqrt(self.hs) if c.attention_scale else 1.0
        self.rope = c.position_embedding == "rope"
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)
        self.c_proj = nn.Linear(c.n_embd, c.n_embd, bias=c.bias)
        self.attn_dropout = nn.Dropout(c.dropout)
        self.resid_dropout = nn.Dropout(c.dropout)
        self.register_buffer("mask", torch.tril(torch.ones(c.block_size, c.block_size, dtype=torch.bool)), False)
        if self.rope:
            cos, sin = rope_tables(c.block_size, self.hs)
            self.register_buffer("rope_cos", cos, False)
            self.register_buffer("rope_sin", sin, False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.C, dim=2)
        q, k, v = (t.view(B, T, self.nh, self.hs).transpose(1, 2) for t in (q, k, v))
        if self.rope:
            q, k = (apply_rope(t, self.rope_cos[:T], self.rope_sin[:T]) for t in (q, k))
        att = (q @ k.transpose(-2, -1)) * self.scale
        att = F.softmax(att.masked_fill(~self.mask[:T, :T], float("-inf")), dim=-1)
        att = self.attn_dropout(att)
        return self.resid_dropout(self.c_proj((att @ v).transpose(1, 2).reshape(B, T, C)))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd, bias=c.bias)
        self.c_proj = nn.Linear(4 * c.n_embd, c.n_embd, bias=c.bias)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class SwiGLU(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = swiglu_hidden_size(c.n_embd, c.bias)
        self.w1 = nn.Linear(c.n_embd, h, bias=c.bias)
        self.w3 = nn.Linear(c.n_embd, h, bias=c.bias)
        self.w2 = nn.Linear(h, c.n_embd, bias=c.bias)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x):
        return self.dropout(self.w2(F.silu(self.w1(x)) * self.w3(x)))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.residual = c.residual
        ln = (lambda: nn.LayerNorm(c.n_embd, bias=c.bias)) if c.layer_norm else nn.Identity
        self.ln_1 = ln()
        self.attn = CausalSelfAttention(c)
        self.ln_2 = ln() if c.mlp != "none" else None
        self.mlp = {"gelu": MLP, "swiglu": SwiGLU}[c.mlp](c) if c.mlp != "none" else None

    def forward(self, x):
        a = self.attn(self.ln_1(x))
        x = x + a if self.residual else a
        if self.mlp is not None:
            m = self.mlp(self.ln_2(x))
            x = x + m if self.residual else m
        return x


class TorchGPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.block_size, c.n_embd) if c.position_embedding == "learned" else None
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList([Block(c) for _ in range(c.n_layer)])
        self.ln_f = nn.LayerNorm(c.n_embd, bias=c.bias) if c.layer_norm else nn.Identity()
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.wte.weight

    def forward(self, idx, targets=None):
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        x = self.drop(x)
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=-1)
        return logits, loss
