"""The sequence encoder of PP-OCRv6 tiny's recognizer: local mixing by convolution only.

N×C×1×T → a 1×k depthwise conv, then a 1×1 conv, each with BN and hard-swish → N×T×C for the CTC
head (no attention: each frame sees ``k`` neighbours).

>>> import torch
>>> ConvEncoder(160)(torch.zeros(2, 160, 1, 40)).shape
torch.Size([2, 40, 160])
"""

from __future__ import annotations

import torch
from torch import nn

from slimocr.toolkit.models.layers import ConvBNAct


class ConvEncoder(nn.Module):
    """Depthwise 1×``kernel`` conv + BN + hard-swish, 1×1 conv + BN + hard-swish.

    Args:
        channels: input and output width.
        kernel: the depthwise conv's width along the sequence (odd).
    """

    def __init__(self, channels: int, kernel: int = 5) -> None:
        super().__init__()
        self.local = ConvBNAct(channels, channels, (1, kernel), groups=channels, act="hardswish")
        self.pointwise = ConvBNAct(channels, channels, 1, act="hardswish")
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.local(x)).squeeze(2).permute(0, 2, 1)
