"""``nn.init``: fill parameters in place (without recording a graph), as ``torch.nn.init`` does."""

from __future__ import annotations

import math
import warnings

from .. import factories
from ..autograd.grad_mode import no_grad


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    with no_grad():
        return tensor.normal_(mean, std, generator=generator)


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    with no_grad():
        return tensor.uniform_(a, b, generator=generator)


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None):
    """N(mean, std²) cut to [a, b]: a draw outside [a, b] is drawn again, until none is.

    Two ways of drawing, chosen as PyTorch chooses them, so that the same seed gives PyTorch's weights:
    when [a, b] holds more than 30% of the normal's mass, whole normal tensors are drawn and kept where the
    current value is out of bounds; otherwise candidates are drawn uniformly in [a, b] and each is kept with
    probability pdf(x) / pdf(peak), the density at x relative to its highest point in [a, b] (fewer wasted
    draws when the window is far out in a tail)."""
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )

    def normal_cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    inside = normal_cdf((b - mean) / std) - normal_cdf((a - mean) / std)
    with no_grad():
        if inside > 0.3:
            # the bounds as the tensor's dtype holds them, so that a kept value is never outside them
            low, high = tensor.new_tensor(a).item(), tensor.new_tensor(b).item()
            result = tensor.normal_(mean, std, generator=generator)
            while True:
                outside = (result < low) | (result > high)
                if not outside.any().item():
                    break
                redraw = factories.empty_like(result).normal_(mean, std, generator=generator)
                result = factories.where(outside, redraw, result)
            return tensor.copy_(result) if result is not tensor else tensor

        peak = max(a, min(mean, b))  # where the density is highest inside [a, b]
        log_peak = -0.5 * ((peak - mean) / std) ** 2

        def log_density_below_peak(x):
            return ((x - mean) / std).pow(2) * -0.5 - log_peak

        def rejected(candidates):  # kept with probability exp(log density below peak)
            return factories.empty_like(candidates).uniform_(generator=generator).log() > log_density_below_peak(
                candidates
            )

        result = tensor.uniform_(a, b, generator=generator)
        pending = rejected(result)
        while pending.any().item():
            candidates = factories.empty_like(result).uniform_(a, b, generator=generator)
            result = factories.where(pending, candidates, result)
            pending = factories.where(pending, rejected(candidates), pending)
        return tensor.copy_(result) if result is not tensor else tensor


def zeros_(tensor):
    with no_grad():
        return tensor.zero_()


def ones_(tensor):
    with no_grad():
        return tensor.fill_(1.0)


def constant_(tensor, val: float):
    with no_grad():
        return tensor.fill_(val)


def _fans(tensor) -> tuple[int, int]:
    if tensor.dim() < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dims, got shape {tuple(tensor.shape)}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The factor by which ``nonlinearity`` scales the standard deviation it is given, as PyTorch's table."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity!r}")


def _fan(tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = _fans(tensor)
    return fan_in if mode == "fan_in" else fan_out


# The bounds and standard deviations below are computed in PyTorch's order of operations, so that the float
# they come to, and then every drawn weight, is PyTorch's to the bit.


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """U(-b, b) with b = √3·gain/√fan; PyTorch's Linear uses a=√5, which makes b = 1/√fan_in."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator=generator)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    """N(0, std²) with std = gain/√fan."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator=generator)


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """U(-b, b) with b = √3·gain·√(2/(fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator=generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """N(0, std²) with std = gain·√(2/(fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator=generator)
