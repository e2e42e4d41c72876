"""RSE-FPN: PP-OCRv3's detection neck (FPN whose convs carry residual squeeze-excite)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from slimocr.models.layers import SqueezeExcite


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


class FPNLevel(nn.Module):
    """One pyramid level: a lateral 1×1 RSE conv and an output 3×3 RSE conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.lateral = RSEConv(in_channels, out_channels, 1)
        self.output = RSEConv(out_channels, out_channels // 4, 3)


class RSEFPN(nn.Module):
    """Top-down FPN over 4 maps; the outputs, upsampled to stride 4, are concatenated.

    Args:
        in_channels: channels of the backbone maps, finest first.
        out_channels: channels after concatenation (each level gives a quarter).
    """

    def __init__(self, in_channels: list[int], out_channels: int = 96) -> None:
        super().__init__()
        self.levels = nn.ModuleList([FPNLevel(c, out_channels) for c in in_channels])
        self.out_channels = out_channels

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        laterals = [level.lateral(f) for level, f in zip(self.levels, feats, strict=True)]
        merged = [laterals[-1]]
        for lateral in reversed(laterals[:-1]):
            merged.append(lateral + F.interpolate(merged[-1], scale_factor=2.0, mode="nearest"))
        merged.reverse()  # finest first
        outs = []
        for i, (level, m) in enumerate(zip(self.levels, merged, strict=True)):
            out = level.output(m)
            if i:
                out = F.interpolate(out, scale_factor=float(2**i), mode="nearest")
            outs.append(out)
        return torch.cat(outs[::-1], dim=1)
