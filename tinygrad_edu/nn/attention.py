"""``nn.MultiheadAttention`` with PyTorch's parameters (``in_proj_weight``, ``in_proj_bias``, ``out_proj``), masks
and returned weights, built from Tensor ops (linear, matmul, softmax, dropout)."""

from __future__ import annotations

import math

from .. import dtypes, factories
from . import functional as F
from . import init
from .layers import Linear
from .module import Module, Parameter


class MultiheadAttention(Module):
    """softmax(Q·Kᵀ/√d + mask)·V in ``num_heads`` heads of d = embed_dim / num_heads, then ``out_proj``.

    Input (L, N, E) (or (N, L, E) with ``batch_first``, or unbatched (L, E)). Q, K and V are the query, key and
    value projected by the three blocks of ``in_proj_weight`` (3E, E) (by ``q_proj_weight``, ``k_proj_weight``,
    ``v_proj_weight`` when ``kdim``/``vdim`` differ from E). Masks follow PyTorch: in a bool ``attn_mask`` (L, S)
    or (N·heads, L, S) or ``key_padding_mask`` (N, S), True means *may not attend*; a float mask is added to the
    scores. Returns (output, weights): the weights averaged over heads (N, L, S), or per head (N, heads, L, S)
    with ``average_attn_weights=False``, or None with ``need_weights=False``."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and num_heads={num_heads} "
                "instead"
            )
        if embed_dim % num_heads:
            raise AssertionError("embed_dim must be divisible by num_heads")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are not supported")
        F._check_dropout_p(dropout)
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.head_dim = embed_dim // num_heads
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        kw = {"device": device, "dtype": dtype}
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(factories.empty(3 * embed_dim, embed_dim, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(factories.empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(factories.empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(factories.empty(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(factories.empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **kw)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Xavier-uniform projections (the 3E×E matrix as one), zero biases; out_proj keeps Linear's weight."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _projection_weights(self) -> tuple:
        if self._qkv_same_embed_dim:
            return self.in_proj_weight.chunk(3, 0)
        return self.q_proj_weight, self.k_proj_weight, self.v_proj_weight

    def forward(
        self,
        query,
        key,
        value,
        key_padding_mask=None,
        need_weights: bool = True,
        attn_mask=None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ):
        if query.dim() not in (2, 3):
            raise AssertionError(
                f"query should be unbatched 2D or batched 3D tensor but received {query.dim()}-D query tensor"
            )
        if key.dim() != query.dim() or value.dim() != query.dim():
            raise AssertionError(
                f"For {'unbatched (2-D)' if query.dim() == 2 else 'batched (3-D)'} `query`, expected `key` and `value` "
                f"to be {query.dim()}-D, but found {key.dim()}-D and {value.dim()}-D tensors respectively"
            )
        if is_causal and attn_mask is None:
            raise RuntimeError(
                "Need attn_mask if specifying the is_causal hint. You may use the Transformer module "
                "method `generate_square_subsequent_mask` to create this mask."
            )
        unbatched = query.dim() == 2
        if unbatched:  # one batch of one
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif self.batch_first:  # work in (L, N, E), PyTorch's default layout
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        length, batch, embed = query.shape
        source = key.shape[0]
        if embed != self.embed_dim:
            raise AssertionError(f"was expecting embedding dimension of {self.embed_dim}, but got {embed}")
        if key.shape[:2] != value.shape[:2]:
            raise AssertionError(f"key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)}")
        w_q, w_k, w_v = self._projection_weights()
        b_q, b_k, b_v = self.in_proj_bias.chunk(3, 0) if self.in_proj_bias is not None else (None, None, None)
        heads, head_dim = self.num_heads, self.head_dim

        def split_heads(x, rows):  # (rows, N, E) -> (N, heads, rows, head_dim)
            return x.reshape(rows, batch, heads, head_dim).permute(1, 2, 0, 3)

        q = split_heads(F.linear(query, w_q, b_q), length)
        k = split_heads(F.linear(key, w_k, b_k), source)
        v = split_heads(F.linear(value, w_v, b_v), source)
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(head_dim))  # (N, heads, L, S)
        if attn_mask is not None:
            scores = self._masked(scores, self._attn_mask_4d(attn_mask, batch, length, source))
        if key_padding_mask is not None:
            if tuple(key_padding_mask.shape) != (batch, source):
                raise AssertionError(
                    f"expecting key_padding_mask shape of {(batch, source)}, but got {tuple(key_padding_mask.shape)}"
                )
            scores = self._masked(scores, key_padding_mask.reshape(batch, 1, 1, source))
        weights = scores.softmax(-1)
        if self.training and self.dropout > 0:
            weights = F.dropout(weights, self.dropout, True)
        out = (weights @ v).permute(2, 0, 1, 3).reshape(length, batch, embed)  # heads side by side again
        out = self.out_proj(out)
        if unbatched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(dim=1)
        return out, weights.squeeze(0) if unbatched else weights

    @staticmethod
    def _masked(scores, mask):
        """A bool mask's True entries become -inf (may not attend); a float mask is added."""
        if mask.dtype == dtypes.bool:
            return scores.masked_fill(mask, float("-inf"))
        if not mask.dtype.is_floating_point:
            raise AssertionError(f"only bool and floating types of masks are supported, got {mask.dtype}")
        return scores + mask

    def _attn_mask_4d(self, attn_mask, batch: int, length: int, source: int):
        """(L, S) or (N·heads, L, S) -> a shape that broadcasts against the scores (N, heads, L, S)."""
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (length, source):
                raise RuntimeError(
                    f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, but should be {(length, source)}."
                )
            return attn_mask
        if attn_mask.dim() == 3:
            if tuple(attn_mask.shape) != (batch * self.num_heads, length, source):
                raise RuntimeError(
                    f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, but should be "
                    f"{(batch * self.num_heads, length, source)}."
                )
            return attn_mask.reshape(batch, self.num_heads, length, source)
        raise RuntimeError(f"attn_mask's dimension {attn_mask.dim()} is not supported")

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"
