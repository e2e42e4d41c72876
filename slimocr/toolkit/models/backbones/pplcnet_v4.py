"""PP-LCNetV4 as PP-OCRv6's inference files hold it (re-parameterized: merged convs, no BN).

A stem brings the image to stride 4 (the small models: PP-HGNetV2's branch stem; the tiny
recognizer: two plain 3×3/2 conv + BN layers); then stages of RepViT-like blocks:
a 3×3 depthwise *token mixer* (its training-time branches merged into one conv with bias), an
optional squeeze-excite, and a 1×1 → GELU → 1×1 *channel mixer* (hidden width twice the input),
added to the token mixer's output when the block keeps its shape. A block that changes width or
stride is a stage's first block and has no residual.

>>> from slimocr.toolkit.models.backbones.pplcnet_v4 import DET_SMALL, PPLCNetV4
>>> PPLCNetV4(DET_SMALL).out_channels
[48, 96, 192, 384]
>>> PPLCNetV4(DET_TINY).out_channels
[32, 48, 64, 160]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from slimocr.toolkit.models.layers import ConvBNAct, SqueezeExcite


class BlockSpec(NamedTuple):
    """One PP-LCNetV4 block: input and output channels, depthwise stride, squeeze-excite."""

    in_channels: int
    out_channels: int
    stride: int | tuple[int, int] = 1
    use_se: bool = False


@dataclass(frozen=True)
class LCNetV4Config:
    """A PP-LCNetV4 variant.

    Attributes:
        stem_mid: width of the stem's first conv (its 2×2 branch runs at half of it).
        stem_out: width after the stem (stride 4).
        stages: the blocks of each stage; the detector returns every stage's output.
        pool: recognizers only: average-pool kernel (= stride) that ends the backbone.
        stem: ``"branch"`` (:class:`BranchStem`, merged convs) or ``"plain"``
            (:class:`PlainStem`, convs with their BN).
    """

    stem_mid: int
    stem_out: int
    stages: tuple[tuple[BlockSpec, ...], ...]
    pool: tuple[int, int] | None = None
    stem: str = "branch"


def _stage(
    width: int, n: int, se_every: int = 2, first: BlockSpec | None = None
) -> tuple[BlockSpec, ...]:
    """``first`` (a down-sampling block) then ``n`` blocks, squeeze-excite on every other one."""
    blocks = tuple(BlockSpec(width, width, 1, i % se_every == 0) for i in range(n))
    return ((first,) if first else ()) + blocks


# PP-OCRv6 small detector: strides 4, 8, 16, 32.
DET_SMALL = LCNetV4Config(
    stem_mid=24,
    stem_out=48,
    stages=(
        _stage(48, 2),
        _stage(96, 2, first=BlockSpec(48, 96, 2)),
        _stage(192, 4, first=BlockSpec(96, 192, 2)),
        _stage(384, 2, first=BlockSpec(192, 384, 2)),
    ),
)

# PP-OCRv6 small recognizer: height 48 → 12 (stem) → 3 (two (2, 1) strides) → 1 (pool);
# width W → W/4 → W/8.
REC_SMALL = LCNetV4Config(
    stem_mid=48,
    stem_out=96,
    stages=(
        (BlockSpec(96, 96, 1, True), BlockSpec(96, 96), BlockSpec(96, 96)),
        _stage(192, 6, first=BlockSpec(96, 192, (2, 1))),
        _stage(384, 2, first=BlockSpec(192, 384, (2, 1))),
    ),
    pool=(3, 2),
)


# PP-OCRv6 tiny detector: the small one's layout, narrower (32-48-64-160).
DET_TINY = LCNetV4Config(
    stem_mid=16,
    stem_out=32,
    stages=(
        _stage(32, 2),
        _stage(48, 2, first=BlockSpec(32, 48, 2)),
        _stage(64, 4, first=BlockSpec(48, 64, 2)),
        _stage(160, 2, first=BlockSpec(64, 160, 2)),
    ),
)

# PP-OCRv6 tiny recognizer: plain stem to 48 channels, then 48-96-160 with the (2, 1) strides
# opening the second and third stages; height 48 → 12 → 3 → 1, width W → W/4 → W/8.
REC_TINY = LCNetV4Config(
    stem_mid=24,
    stem_out=48,
    stages=(
        _stage(48, 2),
        _stage(96, 2, first=BlockSpec(48, 96, (2, 1))),
        (  # squeeze-excite on the first full-width block only
            BlockSpec(96, 160, (2, 1)),
            BlockSpec(160, 160, 1, True),
            BlockSpec(160, 160),
            BlockSpec(160, 160),
        ),
    ),
    pool=(3, 2),
    stem="plain",
)


class PlainStem(nn.Sequential):
    """3×3/2 conv + BN + GELU, 3×3/2 conv + BN (no activation). Image → stride 4."""

    def __init__(self, in_channels: int, mid: int, out: int) -> None:
        super().__init__(
            ConvBNAct(in_channels, mid, 3, stride=2, act="gelu"),
            ConvBNAct(mid, out, 3, stride=2),
        )


class BranchStem(nn.Module):
    """3×3/2 conv, then a 2×2 conv pair beside a 2×2 max-pool (both padded right and bottom),
    concatenated, 3×3/2 conv, 1×1 conv; ReLU after every conv. Image → stride 4."""

    def __init__(self, in_channels: int, mid: int, out: int) -> None:
        super().__init__()
        self.stem1 = ConvBNAct(in_channels, mid, 3, stride=2, act="relu", fused=True)
        self.stem2a = ConvBNAct(mid, mid // 2, 2, act="relu", fused=True)  # 2×2: no padding
        self.stem2b = ConvBNAct(mid // 2, mid, 2, act="relu", fused=True)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=1)
        self.stem3 = ConvBNAct(2 * mid, mid, 3, stride=2, act="relu", fused=True)
        self.stem4 = ConvBNAct(mid, out, 1, act="relu", fused=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem1(x)
        branch = self.stem2b(F.pad(self.stem2a(F.pad(x, (0, 1, 0, 1))), (0, 1, 0, 1)))
        pooled = self.pool(F.pad(x, (0, 1, 0, 1)))  # x >= 0 (ReLU): zero padding is neutral
        return self.stem4(self.stem3(torch.cat([pooled, branch], dim=1)))


class LCNetV4Block(nn.Module):
    """Depthwise 3×3 (+ squeeze-excite) token mixer, 1×1 → GELU → 1×1 channel mixer."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        cin, cout = spec.in_channels, spec.out_channels
        self.dw = nn.Conv2d(cin, cin, 3, stride=spec.stride, padding=1, groups=cin)
        self.se = SqueezeExcite(cin, reduction=4, slope=0.1666667) if spec.use_se else nn.Identity()
        self.expand = nn.Conv2d(cin, 2 * cin, 1)
        self.act = nn.GELU()
        self.compress = nn.Conv2d(2 * cin, cout, 1)
        self.use_residual = cin == cout and spec.stride in (1, (1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.se(self.dw(x))
        y = self.compress(self.act(self.expand(x)))
        return x + y if self.use_residual else y


class PPLCNetV4(nn.Module):
    """PP-LCNetV4 backbone (inference form).

    Args:
        config: the variant (:data:`DET_SMALL`, :data:`REC_SMALL`, :data:`DET_TINY`,
            :data:`REC_TINY`).
        in_channels: image channels.

    ``forward`` returns the output of every stage (detector configs, no ``pool``) or the pooled
    N×C×1×T map of the last stage (recognizer configs).
    """

    def __init__(self, config: LCNetV4Config, in_channels: int = 3) -> None:
        super().__init__()
        if config.stem not in ("branch", "plain"):
            raise ValueError(f"stem must be 'branch' or 'plain', not {config.stem!r}")
        stem = BranchStem if config.stem == "branch" else PlainStem
        self.stem = stem(in_channels, config.stem_mid, config.stem_out)
        self.stages = nn.ModuleList(
            nn.Sequential(*[LCNetV4Block(b) for b in blocks]) for blocks in config.stages
        )
        widths = [blocks[-1].out_channels for blocks in config.stages]
        self.pool = nn.AvgPool2d(config.pool, stride=config.pool) if config.pool else None
        self.out_channels: list[int] | int = widths[-1] if self.pool else widths

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return self.pool(x) if self.pool is not None else feats
