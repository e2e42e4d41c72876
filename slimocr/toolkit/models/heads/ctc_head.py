"""CTC head: per-frame class scores (softmax at inference)."""

from __future__ import annotations

import torch
from torch import nn


class CTCHead(nn.Module):
    """One or two linear layers over the sequence features.

    Args:
        in_channels: sequence feature size.
        num_classes: charset size + 1 (blank).
        mid_channels: width of an optional middle layer (PP-OCRv2 uses 96), no activation.

    Returns logits in training mode and the softmax (N×T×C) in eval mode.
    """

    def __init__(self, in_channels: int, num_classes: int, mid_channels: int | None = None) -> None:
        super().__init__()
        if mid_channels is None:
            self.fc1: nn.Module = nn.Identity()
            self.fc2 = nn.Linear(in_channels, num_classes)
        else:
            self.fc1 = nn.Linear(in_channels, mid_channels)
            self.fc2 = nn.Linear(mid_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.fc2(self.fc1(x))
        return logits if self.training else torch.softmax(logits, dim=2)
