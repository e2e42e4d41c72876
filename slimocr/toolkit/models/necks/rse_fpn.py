"""RSE-FPN: PP-OCR's detection neck (FPN whose convs carry residual squeeze-excite).

PP-OCRv3 uses 3×3 RSE output convs; PP-OCRv6 uses a 7×7 depthwise conv (its BN merged) followed by
a 1×1 RSE conv.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from slimocr.toolkit.models.layers import SqueezeExcite


class RSEConv(nn.Module):
    """Conv (no bias) followed by a residual squeeze-excite: ``y + y * se(y)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False
        )
        self.se = SqueezeExcite(out_channels, reduction=4, slope=0.2, residual=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.conv(x))


class DepthwiseRSEConv(nn.Module):
    """k×k depthwise conv with bias, then a 1×1 :class:`RSEConv` (PP-OCRv6's output conv)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(
            in_channels, in_channels, kernel_size, padding=kernel_size // 2, groups=in_channels
        )
        self.pw = RSEConv(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(self.dw(x))


class FPNLevel(nn.Module):
    """One pyramid level: a lateral 1×1 RSE conv and an output conv to a quarter of the width.

    Args:
        in_channels: the backbone map's channels.
        out_channels: the neck's width.
        dw_kernel: None: a 3×3 RSE output conv (PP-OCRv3); k: a k×k depthwise conv then a 1×1
            RSE conv (PP-OCRv6, k = 7).
    """

    def __init__(self, in_channels: int, out_channels: int, dw_kernel: int | None = None) -> None:
        super().__init__()
        self.lateral = RSEConv(in_channels, out_channels, 1)
        self.output: nn.Module = (
            RSEConv(out_channels, out_channels // 4, 3)
            if dw_kernel is None
            else DepthwiseRSEConv(out_channels, out_channels // 4, dw_kernel)
        )


class RSEFPN(nn.Module):
    """Top-down FPN over 4 maps; the outputs, upsampled to stride 4, are concatenated.

    Args:
        in_channels: channels of the backbone maps, finest first.
        out_channels: channels after concatenation (each level gives a quarter).
        dw_kernel: output conv form, see :class:`FPNLevel`.

    Levels are computed coarsest first, the order of the official inference graphs.
    """

    def __init__(
        self, in_channels: list[int], out_channels: int = 96, dw_kernel: int | None = None
    ) -> None:
        super().__init__()
        self.levels = nn.ModuleList([FPNLevel(c, out_channels, dw_kernel) for c in in_channels])
        self.out_channels = out_channels

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        levels = cast(Iterable[FPNLevel], self.levels)
        pairs = list(zip(levels, feats, strict=True))[::-1]  # coarsest first
        laterals = [level.lateral(f) for level, f in pairs]
        merged = [laterals[0]]
        for lateral in laterals[1:]:
            merged.append(lateral + F.interpolate(merged[-1], scale_factor=2.0, mode="nearest"))
        outs = []
        for (level, _), m, scale in zip(pairs, merged, range(len(pairs) - 1, -1, -1), strict=True):
            out = level.output(m)
            if scale:
                out = F.interpolate(out, scale_factor=float(2**scale), mode="nearest")
            outs.append(out)
        return torch.cat(outs, dim=1)
