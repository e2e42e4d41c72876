"""Text detectors: backbone → neck → DB head."""

from __future__ import annotations

import torch
from torch import nn

from slimocr.toolkit.models.backbones.mobilenet_v3 import MobileNetV3
from slimocr.toolkit.models.backbones.pplcnet_v4 import DET_SMALL, LCNetV4Config, PPLCNetV4
from slimocr.toolkit.models.heads.db_head import DBHead
from slimocr.toolkit.models.necks.rse_fpn import RSEFPN


class DBNet(nn.Module):
    """A DB text detector: image N×3×H×W (H, W multiples of 32) → probability map N×1×H×W."""

    def __init__(self, backbone: nn.Module, neck: nn.Module, head: DBHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        return self.head(self.neck(self.backbone(x)))


def build_dbnet_mv3(scale: float = 0.5, neck_channels: int = 96, disable_se: bool = True) -> DBNet:
    """MobileNetV3-large backbone, RSE-FPN neck and DB head (PP-OCRv3's mobile detector)."""
    backbone = MobileNetV3(scale=scale, disable_se=disable_se)
    neck = RSEFPN(backbone.out_channels, neck_channels)
    return DBNet(backbone, neck, DBHead(neck_channels))


def build_dbnet_lcnetv4(
    config: LCNetV4Config = DET_SMALL, neck_channels: int = 96, dw_kernel: int = 7
) -> DBNet:
    """PP-LCNetV4 backbone, RSE-FPN with 7×7 depthwise output convs, fused DB head (PP-OCRv6)."""
    backbone = PPLCNetV4(config)
    channels = backbone.out_channels
    assert isinstance(channels, list), "a detector config returns every stage"
    neck = RSEFPN(channels, neck_channels, dw_kernel=dw_kernel)
    return DBNet(backbone, neck, DBHead(neck_channels, fused=True))
