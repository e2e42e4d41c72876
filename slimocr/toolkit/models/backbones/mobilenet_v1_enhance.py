"""PP-OCR's enhanced MobileNetV1: the recognizer's conv backbone (height 32 → 1)."""

from __future__ import annotations

import torch
from torch import nn

from slimocr.toolkit.models.layers import ConvBNAct, SqueezeExcite

# in, out, kernel, stride, squeeze-excite (channels before the width multiplier)
V1_ENHANCE_CFG: list[tuple[int, int, int, int | tuple[int, int], bool]] = [
    (32, 64, 3, 1, False),
    (64, 128, 3, 1, False),
    (128, 128, 3, 1, False),
    (128, 256, 3, (2, 1), False),
    (256, 256, 3, 1, False),
    (256, 512, 3, (2, 1), False),
    *[(512, 512, 5, 1, False)] * 5,
    (512, 1024, 5, (2, 1), True),
    (1024, 1024, 5, 1, True),
]


class DepthwiseSeparable(nn.Module):
    """Depthwise k×k conv → optional SE → pointwise 1×1 conv, both with BN and hard-swish."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int | tuple[int, int],
        use_se: bool,
    ) -> None:
        super().__init__()
        self.depthwise = ConvBNAct(
            in_channels, in_channels, kernel_size, stride, groups=in_channels, act="hardswish"
        )
        self.se = SqueezeExcite(in_channels, slope=0.1666667) if use_se else nn.Identity()
        self.pointwise = ConvBNAct(in_channels, out_channels, 1, act="hardswish")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.se(self.depthwise(x)))


class MobileNetV1Enhance(nn.Module):
    """Recognition backbone: N×3×32×W → N×C×1×(W/4).

    Args:
        scale: width multiplier (0.5 in PP-OCRv2's recognizer, giving 512 output channels).
        in_channels: image channels.
    """

    def __init__(self, scale: float = 0.5, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = ConvBNAct(in_channels, int(32 * scale), 3, stride=2, act="hardswish")
        self.blocks = nn.Sequential(
            *[
                DepthwiseSeparable(int(cin * scale), int(cout * scale), k, s, se)
                for cin, cout, k, s, se in V1_ENHANCE_CFG
            ]
        )
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.out_channels = int(1024 * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.blocks(self.stem(x)))
