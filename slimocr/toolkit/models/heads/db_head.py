"""DB (differentiable binarization) head."""

from __future__ import annotations

import torch
from torch import nn


class DBBranch(nn.Module):
    """3×3 conv → BN → ReLU → 2× transposed conv → BN → ReLU → 2× transposed conv → sigmoid.

    Args:
        in_channels: neck channels.
        fused: the BNs merged into the convs (biases, no BN), as in re-parameterized inference
            files (PP-OCRv6).
    """

    def __init__(self, in_channels: int, fused: bool = False) -> None:
        super().__init__()
        mid = in_channels // 4
        self.conv = nn.Conv2d(in_channels, mid, 3, padding=1, bias=fused)
        self.bn1: nn.Module = nn.Identity() if fused else nn.BatchNorm2d(mid)
        self.up1 = nn.ConvTranspose2d(mid, mid, 2, stride=2)
        self.bn2: nn.Module = nn.Identity() if fused else nn.BatchNorm2d(mid)
        self.up2 = nn.ConvTranspose2d(mid, 1, 2, stride=2)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv(x)))
        x = self.relu(self.bn2(self.up1(x)))
        return torch.sigmoid(self.up2(x))


class DBHead(nn.Module):
    """Probability (shrink) map at inference; in training also threshold and binary maps.

    Args:
        in_channels: neck channels.
        k: steepness of the differentiable binarization ``1 / (1 + exp(-k (P - T)))``.
        fused: branches without BN (see :class:`DBBranch`).

    In eval mode ``forward`` returns the N×1×H×W probability map (the exported graph's output).
    In training mode it returns ``{"maps": N×3×H×W}`` with shrink, threshold and binary maps.
    """

    def __init__(self, in_channels: int, k: float = 50.0, fused: bool = False) -> None:
        super().__init__()
        self.binarize = DBBranch(in_channels, fused)
        self.thresh = DBBranch(in_channels, fused)
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        shrink = self.binarize(x)
        if not self.training:
            return shrink
        thresh = self.thresh(x)
        binary = torch.reciprocal(1 + torch.exp(-self.k * (shrink - thresh)))
        return {"maps": torch.cat([shrink, thresh, binary], dim=1)}
