"""Text recognizers: conv backbone → sequence encoder → CTC head."""

from __future__ import annotations

import torch
from torch import nn

from slimocr.toolkit.models.backbones.mobilenet_v1_enhance import MobileNetV1Enhance
from slimocr.toolkit.models.backbones.pplcnet_v4 import (
    REC_SMALL,
    REC_TINY,
    LCNetV4Config,
    PPLCNetV4,
)
from slimocr.toolkit.models.heads.ctc_head import CTCHead
from slimocr.toolkit.models.necks.conv_encoder import ConvEncoder
from slimocr.toolkit.models.necks.svtr_encoder import SVTREncoder


class BiLSTMEncoder(nn.Module):
    """Feature map N×C×1×T → sequence N×T×C → bidirectional LSTM → N×T×2H."""

    def __init__(self, in_channels: int, hidden_size: int = 64, num_layers: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            in_channels, hidden_size, num_layers=num_layers, bidirectional=True, batch_first=True
        )
        self.out_channels = 2 * hidden_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq = x.squeeze(2).permute(0, 2, 1)
        out, _ = self.lstm(seq)
        return out


class CRNN(nn.Module):
    """A CTC recognizer: N×3×H×W → N×T×C (softmax in eval mode, logits in training)."""

    def __init__(self, backbone: nn.Module, encoder: nn.Module, head: CTCHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.encoder = encoder
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.backbone(x)))


def build_crnn_v1enhance(
    num_classes: int, scale: float = 0.5, hidden_size: int = 64, mid_channels: int | None = 96
) -> CRNN:
    """PP-OCRv2's recognizer: MobileNetV1Enhance, 2-layer BiLSTM, two-layer CTC head."""
    backbone = MobileNetV1Enhance(scale=scale)
    encoder = BiLSTMEncoder(backbone.out_channels, hidden_size)
    return CRNN(backbone, encoder, CTCHead(encoder.out_channels, num_classes, mid_channels))


def build_svtr_lcnetv4(
    num_classes: int, config: LCNetV4Config = REC_SMALL, dims: int = 120, depth: int = 2
) -> CRNN:
    """PP-OCRv6's recognizer: PP-LCNetV4, SVTR-style encoder, one-layer CTC head."""
    backbone = PPLCNetV4(config)
    channels = backbone.out_channels
    assert isinstance(channels, int), "a recognizer config ends with a pool"
    encoder = SVTREncoder(channels, dims=dims, depth=depth)
    return CRNN(backbone, encoder, CTCHead(encoder.out_channels, num_classes))


def build_convenc_lcnetv4(
    num_classes: int, config: LCNetV4Config = REC_TINY, kernel: int = 5, mid_channels: int = 80
) -> CRNN:
    """PP-OCRv6 tiny's recognizer: PP-LCNetV4, a convolution-only encoder, two-layer CTC head."""
    backbone = PPLCNetV4(config)
    channels = backbone.out_channels
    assert isinstance(channels, int), "a recognizer config ends with a pool"
    encoder = ConvEncoder(channels, kernel)
    return CRNN(backbone, encoder, CTCHead(channels, num_classes, mid_channels))
