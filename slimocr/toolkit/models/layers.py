"""Building blocks shared by the PP-OCR architectures."""

from __future__ import annotations

import torch
from torch import nn


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` without losing more than 10%.

    >>> make_divisible(16 * 0.5)
    8
    >>> make_divisible(72 * 0.5)
    40
    """
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class HardSigmoid(nn.Module):
    """``clip(slope * x + offset, 0, 1)``; PP-OCR uses slope 0.2 where PyTorch's uses 1/6."""

    def __init__(self, slope: float = 0.2, offset: float = 0.5) -> None:
        super().__init__()
        self.slope = slope
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x * self.slope + self.offset, 0.0, 1.0)

    def extra_repr(self) -> str:
        return f"slope={self.slope}, offset={self.offset}"


_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "hardswish": nn.Hardswish,
    "swish": nn.SiLU,
    "gelu": nn.GELU,  # exact (erf) form, as Paddle exports it
}


def activation(name: str | None) -> nn.Module:
    """An activation module by name: ``relu``, ``hardswish``, ``swish``, ``gelu`` or None."""
    if name is None:
        return nn.Identity()
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}")
    return _ACTIVATIONS[name]()


def same_padding(kernel_size: int | tuple[int, int]) -> int | tuple[int, int]:
    """Padding that keeps the size of an odd kernel at stride 1.

    >>> same_padding(3), same_padding((1, 7))
    (1, (0, 3))
    """
    if isinstance(kernel_size, int):
        return (kernel_size - 1) // 2
    return ((kernel_size[0] - 1) // 2, (kernel_size[1] - 1) // 2)


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) → BatchNorm2d → activation, PP-OCR's ``ConvBNLayer``.

    With ``fused=True`` the BN is merged into the conv (a conv with bias, an identity in the BN's
    place), as re-parameterized inference files hold it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        groups: int = 1,
        act: str | None = None,
        fused: bool = False,
    ) -> None:
        super().__init__(
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=same_padding(kernel_size),
                groups=groups,
                bias=fused,
            ),
            nn.Identity() if fused else nn.BatchNorm2d(out_channels, eps=1e-5, momentum=0.1),
            activation(act),
        )


class SqueezeExcite(nn.Module):
    """Channel attention: global pool → 1×1 conv → ReLU → 1×1 conv → hard sigmoid → scale.

    Args:
        channels: input and output channels.
        reduction: squeeze ratio.
        slope: hard-sigmoid slope (0.2 in the detector's neck, 1/6 in the recognizer).
        residual: return ``x + x * s`` (the detector neck's RSE layer) instead of ``x * s``.
    """

    def __init__(
        self, channels: int, reduction: int = 4, slope: float = 0.2, residual: bool = False
    ) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = nn.Conv2d(channels, channels // reduction, 1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(channels // reduction, channels, 1)
        self.gate = HardSigmoid(slope, 0.5)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.gate(self.conv2(self.relu(self.conv1(self.pool(x)))))
        return x + x * s if self.residual else x * s
