"""``nn.Conv1d`` and ``nn.Conv2d``: a bank of learned kernels that ``F.conv1d`` / ``F.conv2d`` slide over the input."""

from __future__ import annotations

import math

from .. import factories
from . import functional as F
from . import init
from .module import Module, Parameter

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """The shared part: argument checks, parameters of PyTorch's shapes and its default initialisation,
    U(-1/√fan_in, 1/√fan_in) for weight and bias, with fan_in = in_channels / groups · kernel elements."""

    spatial = 0  # how many axes the kernels slide along

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ):
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, but got padding_mode='{padding_mode}'")
        if padding_mode != "zeros":
            raise NotImplementedError(
                f"{type(self).__name__}: only padding_mode='zeros' is supported, got '{padding_mode}'"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = F._conv_tuple(kernel_size, self.spatial, "kernel_size")
        self.stride = F._conv_tuple(stride, self.spatial, "stride")
        self.dilation = F._conv_tuple(dilation, self.spatial, "dilation")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = F._conv_tuple(padding, self.spatial, "padding")
        self.padding_mode = padding_mode
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(factories.empty(*shape, device=device, dtype=dtype))
        self.bias = Parameter(factories.empty(out_channels, device=device, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # bound √(6 / ((1 + 5)·fan_in)) = 1/√fan_in
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.spatial:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self.spatial:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + (", bias=False" if self.bias is None else "")


class Conv1d(_ConvNd):
    """Input (N, C_in, L) or (C_in, L) -> (N, C_out, L_out); weight (C_out, C_in / groups, kernel_size)."""

    spatial = 1

    def forward(self, input):
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """Input (N, C_in, H, W) or (C_in, H, W) -> (N, C_out, H_out, W_out); weight (C_out, C_in / groups, K_h, K_w)."""

    spatial = 2

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
