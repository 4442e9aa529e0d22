"""``tinygrad_edu.nn.functional``: PyTorch's functional API (``F.softmax``, ``F.cross_entropy`` ...)."""

from __future__ import annotations

import math
import numbers

import numpy

from .. import backend, dtypes, random
from ..autograd.grad_mode import no_grad
from ..autograd.graph import apply
from ..ops import attention, conv, elementwise, nn_ops
from ..ops.scan import ConstantPad
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
    return apply(nn_ops.Dropout, input, p=p, generator=random.default_generator(input.device))


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
    (True = may attend) or an additive float mask; ``is_causal`` masks out the future. One op
    (``ops/attention.py``; FlashAttention on the CPU, ``kernels/flash_attention.py``); its dropout mask is hashed
    from one key drawn from the device's generator, so backward regenerates it instead of keeping it."""
    _check_attention_shapes(query, key, value)
    _check_dropout_p(dropout_p)
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    seed = _dropout_key(query.device) if dropout_p > 0 else 0  # as in PyTorch, eval mode passes 0.0
    if attn_mask is not None and attn_mask.dtype != dtypes.bool and attn_mask.dtype != query.dtype:
        attn_mask = attn_mask.to(query.dtype)
    return apply(
        attention.ScaledDotProductAttention, query, key, value, attn_mask,
        scale=float(scale), causal=bool(is_causal), dropout_p=float(dropout_p), seed=seed,
    )  # fmt: skip


def _check_attention_shapes(query, key, value) -> None:
    if query.dim() < 2 or key.dim() < 2 or value.dim() < 2:
        raise RuntimeError(
            "scaled_dot_product_attention: query, key and value need at least 2 dimensions (…, L, E), got shapes "
            f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            "scaled_dot_product_attention: query (…, L, E) and key (…, S, E) must share E, and key and value "
            f"(…, S, Ev) S; got shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )


def _dropout_key(device) -> int:
    """One 63-bit key for attention's dropout, from the device's generator (ops/counter_hash.py hashes it)."""
    generator = random.default_generator(device)
    if isinstance(generator, backend.CountingGenerator):
        return generator.next_key()
    return int(generator.integers(1, 0, 2**63)[0])


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel (axis 1 of an (N, C, *) input) over the batch and the axes after it, then scale by
    ``weight`` and shift by ``bias``. In training, the batch's mean and biased variance normalise, and the running
    statistics (when given) move toward the batch's mean and unbiased variance: r ← (1 - momentum)·r + momentum·x.
    Otherwise the running statistics normalise. Built from Tensor ops, so autograd derives its backward."""
    if input.dim() < 2:
        raise ValueError(f"batch_norm: expected an input of at least 2 dimensions (N, C, *), got {tuple(input.shape)}")
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (channels,):
            raise RuntimeError(f"batch_norm: {name} should contain {channels} elements not {t.numel()}")
    axes = (0, *range(2, input.dim()))
    per_channel = (1, channels, *(1,) * (input.dim() - 2))  # a (C,) vector, broadcast along axis 1
    if training:
        count = input.numel() // channels if channels else 0
        if count == 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size {tuple(input.shape)}"
            )
        mean = input.mean(dim=axes, keepdim=True)
        centered = input - mean
        var = (centered * centered).mean(dim=axes, keepdim=True)  # biased: the batch's own spread
        if running_mean is not None or running_var is not None:
            with no_grad():
                if running_mean is not None:
                    running_mean.mul_(1 - momentum).add_(mean.reshape(channels).to(running_mean.dtype) * momentum)
                if running_var is not None:  # unbiased: an estimate of the population's variance
                    unbiased = var.reshape(channels) * (count / (count - 1))
                    running_var.mul_(1 - momentum).add_(unbiased.to(running_var.dtype) * momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("batch_norm: running_mean and running_var must be defined in evaluation mode")
        mean, var = running_mean.reshape(per_channel), running_var.reshape(per_channel)
        centered = input - mean
    out = centered / (var + eps).sqrt()
    if weight is not None:
        out = out * weight.reshape(per_channel)
    return out + bias.reshape(per_channel) if bias is not None else out


def conv1d(input: Tensor, weight: Tensor, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """Slide each (C_in / groups, K) kernel of ``weight`` (C_out, C_in / groups, K) along the input's last axis:
    out[n, o, p] = b[o] + Σ_{c,k} w[o, c, k] · x[n, c, p·stride + k·dilation - padding] (a cross-correlation, as
    PyTorch's). ``padding`` is an int, a 1-tuple, 'valid' (none) or 'same' (output as long as input; stride 1)."""
    return _convolution("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """``conv1d`` over the last two axes: ``weight`` is (C_out, C_in / groups, K_h, K_w), and ``stride``,
    ``padding`` and ``dilation`` are an int or a pair (height, width)."""
    return _convolution("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def _convolution(name, spatial, input, weight, bias, stride, padding, dilation, groups) -> Tensor:
    """Check the arguments as PyTorch does, resolve padding to (before, after) per axis, and run the op."""
    if input.dim() not in (spatial + 1, spatial + 2):
        raise RuntimeError(
            f"Expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input to {name}, "
            f"but got input of size: {list(input.shape)}"
        )
    if weight.dim() != spatial + 2:
        raise RuntimeError(
            f"{name}: expected a {spatial + 2}-D weight (out_channels, in_channels / groups, *kernel_size), "
            f"got one of size {list(weight.shape)}"
        )
    same_device(name, input, weight)
    if weight.dtype != input.dtype or (bias is not None and bias.dtype != input.dtype):
        other = weight.dtype if weight.dtype != input.dtype else bias.dtype
        raise RuntimeError(f"{name}: input type ({input.dtype}) and weight/bias type ({other}) should be the same")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{name}: expected a floating-point input, got {input.dtype}")
    stride, dilation = _conv_tuple(stride, spatial, "stride"), _conv_tuple(dilation, spatial, "dilation")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("dilation should be greater than zero")
    if not isinstance(groups, (int, numpy.integer)) or groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    unbatched = input.dim() == spatial + 1
    x = input.unsqueeze(0) if unbatched else input
    c_out, kernel = weight.shape[0], tuple(weight.shape[2:])
    if c_out % groups:
        raise RuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size {list(weight.shape)} instead"
        )
    if weight.shape[1] * groups != x.shape[1]:
        raise RuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected input{list(x.shape)} to have "
            f"{weight.shape[1] * groups} channels, but got {x.shape[1]} channels instead"
        )
    if bias is not None:
        same_device(name, input, bias)
        if tuple(bias.shape) != (c_out,):
            raise RuntimeError(
                f"{name}: expected a bias of {c_out} elements (one per output channel), got {list(bias.shape)}"
            )
    pairs = _conv_padding(padding, spatial, kernel, stride, dilation)
    padded = [length + before + after for length, (before, after) in zip(x.shape[2:], pairs)]
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if any(p < e for p, e in zip(padded, extent)):
        raise RuntimeError(
            f"Calculated padded input size per channel: ({' x '.join(map(str, padded))}). Kernel size: "
            f"({' x '.join(map(str, extent))}). Kernel size can't be greater than actual input size"
        )
    out = apply(conv.Convolution, x, weight, bias, stride=stride, padding=pairs, dilation=dilation, groups=int(groups))
    return out.squeeze(0) if unbatched else out


def _conv_tuple(value, spatial: int, what: str) -> tuple:
    """An int, or a tuple of one int per spatial axis, as a tuple."""
    values = (value,) * spatial if isinstance(value, (int, numpy.integer)) else value
    if not isinstance(values, (tuple, list)) or len(values) != spatial:
        raise RuntimeError(f"expected {what} to be a single integer value or a list of {spatial} values, got {value!r}")
    if not all(isinstance(v, (int, numpy.integer)) for v in values):
        raise TypeError(f"{what} must be an int or a tuple of {spatial} ints, got {value!r}")
    return tuple(int(v) for v in values)


def _conv_padding(padding, spatial: int, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """((before, after), ...) per spatial axis. 'same' pads a dilated kernel's extent - 1 in all, the odd one
    after, as PyTorch does."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * spatial
        if padding != "same":
            raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
        if any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    sides = _conv_tuple(padding, spatial, "padding")
    if any(p < 0 for p in sides):
        raise RuntimeError("negative padding is not supported")
    return tuple((p, p) for p in sides)


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
    if num_classes < 0 and tensor.numel() == 0:
        raise RuntimeError("Can not infer total number of classes from empty tensor.")
    classes = int(tensor.max().item()) + 1 if num_classes < 0 else num_classes
    xp = tensor._xp
    # checked on the device, as cross_entropy's targets: NumPy's comparison would give rows of zeros
    backend.check((tensor._data < 0).any(), lambda: RuntimeError("one_hot: Class values must be non-negative."))
    backend.check(
        (tensor._data >= classes).any(),
        lambda: RuntimeError(f"one_hot: Class values must be smaller than num_classes ({classes})."),
    )
    return Tensor._wrap((tensor._data[..., None] == xp.arange(classes)).astype(numpy.int64), tensor.device)


_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}  # PyTorch's name -> numpy.pad's


def pad(input: Tensor, pad, mode: str = "constant", value=None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left, right)`` for the last dim, then ``(top, bottom)`` for
    the one before it, and so on. In constant mode a negative amount crops instead."""
    if not isinstance(pad, (tuple, list)) or len(pad) % 2 or not all(isinstance(p, numbers.Integral) for p in pad):
        raise RuntimeError(f"Padding length must be divisible by 2, and the padding a sequence of ints, got {pad!r}")
    if len(pad) // 2 > input.dim():
        raise RuntimeError(
            f"Padding length should be less than or equal to two times the input dimension but got padding length "
            f"{len(pad)} and input of dimension {input.dim()}"
        )
    # PyTorch's pairs start at the last dim: widths[d] = (before, after) for each dim d, in order
    widths = [(0, 0)] * input.dim()
    for i in range(len(pad) // 2):
        widths[input.dim() - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if mode == "constant":
        crop = tuple(slice(-b if b < 0 else 0, n + a if a < 0 else n) for (b, a), n in zip(widths, input.shape))
        kept = tuple(n + min(b, 0) + min(a, 0) for (b, a), n in zip(widths, input.shape))
        if min(kept, default=1) < 0:
            raise RuntimeError(f"pad: the padding {tuple(pad)} crops more than input of shape {tuple(input.shape)}")
        x = input[crop] if any(b < 0 or a < 0 for b, a in widths) else input
        grow = tuple((max(b, 0), max(a, 0)) for b, a in widths)
        return apply(ConstantPad, x, widths=grow, value=0 if value is None else value)
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"pad: mode {mode!r} is not one of 'constant', 'reflect', 'replicate', 'circular'")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    if not input.dim() - 1 <= len(pad) // 2 + 1 <= input.dim() or input.dim() < 2:
        raise NotImplementedError(
            f"pad: {mode} padding of {len(pad) // 2} dims takes a {len(pad) // 2 + 1}-D or {len(pad) // 2 + 2}-D "
            f"input (batch and channels first), got {input.dim()}-D"
        )
    out = input
    for axis, (before, after) in enumerate(widths):
        if before == after == 0:
            continue
        size = input.shape[axis]
        if min(before, after) < 0 or (mode == "reflect" and max(before, after) >= size) or size == 0:
            raise RuntimeError(
                f"pad: {mode} padding ({before}, {after}) does not fit dim {axis} of size {size} (it must be "
                f"non-negative{', and less than the size' if mode == 'reflect' else ''})"
            )
        # the source position of every output position along this dim: a gather, whose backward adds up
        positions = numpy.pad(numpy.arange(size), (before, after), mode=_PAD_MODES[mode])
        out = out.index_select(axis, Tensor(positions, device=input.device))
    return out
