"""MobileNetV3 as PP-OCR's detectors use it: four feature maps at strides 4, 8, 16, 32."""

from __future__ import annotations

import torch
from torch import nn

from slimocr.toolkit.models.layers import ConvBNAct, SqueezeExcite, make_divisible

# kernel, expanded channels, output channels, squeeze-excite, activation, stride
LARGE_CFG: list[tuple[int, int, int, bool, str, int]] = [
    (3, 16, 16, False, "relu", 1),
    (3, 64, 24, False, "relu", 2),
    (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2),
    (5, 120, 40, True, "relu", 1),
    (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hardswish", 2),
    (3, 200, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1),
    (3, 480, 112, True, "hardswish", 1),
    (3, 672, 112, True, "hardswish", 1),
    (5, 672, 160, True, "hardswish", 2),
    (5, 960, 160, True, "hardswish", 1),
    (5, 960, 160, True, "hardswish", 1),
]


class InvertedResidual(nn.Module):
    """Expand (1×1) → depthwise (k×k) → optional SE → project (1×1), residual when shapes allow."""

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        use_se: bool,
        act: str,
    ) -> None:
        super().__init__()
        self.use_shortcut = stride == 1 and in_channels == out_channels
        self.expand = ConvBNAct(in_channels, mid_channels, 1, act=act)
        self.depthwise = ConvBNAct(
            mid_channels, mid_channels, kernel_size, stride, groups=mid_channels, act=act
        )
        self.se = SqueezeExcite(mid_channels, slope=0.2) if use_se else nn.Identity()
        self.project = ConvBNAct(mid_channels, out_channels, 1, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.depthwise(self.expand(x))))
        return x + y if self.use_shortcut else y


class MobileNetV3(nn.Module):
    """MobileNetV3-large backbone returning the last map of each stride (4, 8, 16, 32).

    Args:
        scale: width multiplier (PP-OCRv3's detector uses 0.5).
        disable_se: drop the squeeze-excite blocks (as PP-OCRv3's detector does).
        in_channels: image channels.
    """

    def __init__(self, scale: float = 0.5, disable_se: bool = True, in_channels: int = 3) -> None:
        super().__init__()
        inplanes = make_divisible(16 * scale)
        self.stem = ConvBNAct(in_channels, inplanes, 3, stride=2, act="hardswish")
        stages: list[nn.Sequential] = []
        blocks: list[nn.Module] = []
        self.out_channels: list[int] = []
        for i, (k, exp, out, se, act, stride) in enumerate(LARGE_CFG):
            if stride == 2 and i > 2:
                self.out_channels.append(inplanes)
                stages.append(nn.Sequential(*blocks))
                blocks = []
            mid = make_divisible(scale * exp)
            outp = make_divisible(scale * out)
            blocks.append(
                InvertedResidual(inplanes, mid, outp, k, stride, se and not disable_se, act)
            )
            inplanes = outp
        last = make_divisible(scale * 960)
        blocks.append(ConvBNAct(inplanes, last, 1, act="hardswish"))
        stages.append(nn.Sequential(*blocks))
        self.out_channels.append(last)
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats
