"""``tinygrad_edu.nn.functional``: PyTorch's functional API (``F.softmax``, ``F.cross_entropy`` ...)."""

from __future__ import annotations

import math
import numbers

import numpy

from .. import backend, dtypes
from ..autograd.graph import apply
from ..ops import elementwise, nn_ops
from ..promotion import as_float, check_matmul, same_device
from ..tensor import Tensor


def softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    return (input.to(dtype=dtype) if dtype else input).softmax(dim)


def log_softmax(input: Tensor, dim: int, dtype=None) -> Tensor:
    return (input.to(dtype=dtype) if dtype else input).log_softmax(dim)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu()


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU(x) = x·Φ(x). The exact form uses erf from SciPy (``cupyx.scipy.special`` on CUDA): it is accurate
    to the last bit in float64, which a hand-written erf approximation would not be without many more lines."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply(elementwise.Gelu, as_float(input), approximate=approximate)


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def silu(input: Tensor) -> Tensor:
    return input * input.sigmoid()


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x Wᵀ + b over the last axis of x (W is (out_features, in_features))."""
    check_matmul("linear", input, weight)
    if input.dim() == 0:
        raise RuntimeError("linear: the input needs at least 1 dimension (its features), got a 0-d tensor")
    same_device("linear", input, weight)
    if bias is not None:
        same_device("linear", input, bias)
        if bias._data.dtype != input._data.dtype:
            raise RuntimeError(
                f"linear: expected the bias to have the input's dtype, but got: {bias.dtype.name} != {input.dtype.name}"
            )
    return apply(nn_ops.Linear, input, weight, bias)


def embedding(input: Tensor, weight: Tensor) -> Tensor:
    """Rows of ``weight`` selected by the integer tensor ``input``: out[..., :] = weight[input[...], :]."""
    if not isinstance(input, Tensor):
        raise TypeError(f"embedding(): argument 'input' (the indices) must be Tensor, not {type(input).__name__}")
    if input.dtype.is_floating_point:
        raise RuntimeError(f"embedding: indices must be an integer tensor, got {input.dtype}")
    same_device("embedding", input, weight)
    return apply(nn_ops.Embedding, input, weight)


def layer_norm(input: Tensor, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` axes to mean 0, variance 1, then scale and shift."""
    normalized_shape = _normalized_shape_arg(normalized_shape, "layer_norm")
    shape = input._data.shape
    if shape[len(shape) - len(normalized_shape) :] != normalized_shape:
        raise RuntimeError(
            f"layer_norm: expected the input's trailing shape to be {normalized_shape}, got {tuple(input.shape)}"
        )
    for p in (weight, bias):
        if p is not None and p._data.shape != normalized_shape:
            raise RuntimeError(f"layer_norm: weight/bias shape {tuple(p.shape)} != normalized_shape {normalized_shape}")
    return apply(nn_ops.LayerNorm, as_float(input), weight, bias, normalized_ndim=len(normalized_shape), eps=eps)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p), so the expectation is unchanged."""
    _check_dropout_p(p)
    if not training or p == 0:
        return input
    return apply(nn_ops.Dropout, input, p=p, generator=backend.generator(input.device))


def _check_dropout_p(p) -> None:
    if not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p!r}")


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Mean (or sum, or per-element) of -log softmax(input)[target]; rows whose target is ``ignore_index``
    are left out (and out of the mean's count).

    ``input`` is (N, C), (C,) or (N, C, d1, ...) logits; ``target`` holds class indices with the matching
    shape (N,), () or (N, d1, ...).
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    if label_smoothing:
        raise NotImplementedError(
            f"cross_entropy: label smoothing is not supported (label_smoothing={label_smoothing})"
        )
    if weight is not None:
        raise NotImplementedError("cross_entropy: class weights are not supported (weight= must be None)")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if input.dim() == 0:
        raise RuntimeError("cross_entropy: the input needs a dimension of classes, got a 0-d tensor")
    if not isinstance(target, Tensor):
        target = Tensor(target, device=input.device)
    same_device("cross_entropy", input, target)
    if target.dtype.is_floating_point:
        raise NotImplementedError("cross_entropy: targets must be class indices (an integer tensor)")
    logits, rest = input, ()
    if input.dim() == 1:
        logits, target_rows = input.unsqueeze(0), target.reshape(1)
    else:
        if input.dim() > 2:  # (N, C, d1, ...) -> (N·d1·..., C)
            rest = tuple(input.shape[2:])
            logits = input.permute(0, *range(2, input.dim()), 1).reshape(-1, input.shape[1])
        target_rows = target.reshape(-1)
    expected = (input.shape[0], *rest) if input.dim() > 1 else ()
    if tuple(target.shape) != expected:
        raise RuntimeError(
            f"cross_entropy: input of shape {tuple(input.shape)} needs target of shape {expected}, "
            f"got {tuple(target.shape)}"
        )
    loss = apply(
        nn_ops.CrossEntropy, as_float(logits), target_rows.long(), ignore_index=ignore_index, reduction=reduction
    )
    if reduction == "none":
        return loss.reshape(()) if input.dim() == 1 else loss.reshape(expected)
    return loss


def nll_loss(input: Tensor, target: Tensor, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """-input[target] averaged: the loss on log-probabilities (``cross_entropy`` is log_softmax + nll_loss)."""
    _check_reduction(reduction)
    rows = target.reshape(-1)
    keep = rows != ignore_index
    safe = Tensor._wrap(input._xp.where(keep._data, rows._data, 0), input.device)
    picked = -input[Tensor._wrap(input._xp.arange(rows.shape[0]), input.device), safe] * keep.to(input.dtype)
    if reduction == "none":
        return picked
    return picked.sum() / keep.sum().to(input.dtype) if reduction == "mean" else picked.sum()


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    _check_reduction(reduction)
    if tuple(input.shape) != tuple(target.shape):
        raise RuntimeError(f"mse_loss: input shape {tuple(input.shape)} != target shape {tuple(target.shape)}")
    diff = input - target
    squared = diff * diff
    if reduction == "none":
        return squared
    return squared.mean() if reduction == "mean" else squared.sum()


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask=None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale=None,
) -> Tensor:
    """softmax(Q Kᵀ · scale + mask) V, with heads as leading batch axes. ``attn_mask`` is a bool tensor
    (True = may attend) or an additive float mask; ``is_causal`` masks out the future."""
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * scale
    t_q, t_k = query.shape[-2], key.shape[-2]
    if is_causal and attn_mask is None:  # the mask computed in the softmax, not materialised
        weights = apply(nn_ops.Softmax, as_float(scores), dim=scores.ndim - 1, causal=True)
        if dropout_p > 0:
            weights = dropout(weights, dropout_p)
        return weights @ value
    if is_causal:
        future = numpy.triu(numpy.ones((t_q, t_k), dtype=bool), k=1)
        scores = scores.masked_fill(Tensor._wrap(query._xp.asarray(future), query.device), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == dtypes.bool:
            scores = scores.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            scores = scores + attn_mask
    weights = scores.softmax(dim=-1)
    if dropout_p > 0:  # as in PyTorch, the caller passes 0.0 in eval mode
        weights = dropout(weights, dropout_p)
    return weights @ value


def _check_reduction(reduction) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction: expected 'mean', 'sum' or 'none'")


def _normalized_shape_arg(normalized_shape, what: str) -> tuple:
    """``normalized_shape`` as a tuple: an int or a sequence of ints, as PyTorch takes it."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    if not isinstance(shape, (tuple, list)) or not all(isinstance(n, (int, numpy.integer)) for n in shape):
        raise TypeError(f"{what}: normalized_shape must be an int or a tuple of ints, got {normalized_shape!r}")
    return tuple(shape)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    if tensor.dtype.is_floating_point or tensor.dtype == dtypes.bool:
        raise RuntimeError(f"one_hot is only applicable to index tensor of type int64, got {tensor.dtype}")
    classes = int(tensor.max().item()) + 1 if num_classes < 0 else num_classes
    xp = tensor._xp
    # checked on the device, as cross_entropy's targets: NumPy's comparison would give rows of zeros
    backend.check((tensor._data < 0).any(), lambda: RuntimeError("one_hot: Class values must be non-negative."))
    backend.check(
        (tensor._data >= classes).any(),
        lambda: RuntimeError(f"one_hot: Class values must be smaller than num_classes ({classes})."),
    )
    return Tensor._wrap((tensor._data[..., None] == xp.arange(classes)).astype(numpy.int64), tensor.device)
