"""SVTR-style sequence encoder of PP-OCRv6's recognizer: local conv mixing, then global attention.

N×C×1×T → a 1×1 conv to ``dims`` plus a residual 1×7 depthwise conv (BN and swish after each) →
sequence N×T×dims → pre-norm transformer blocks → LayerNorm → back to N×dims×1×T, added to a 1×1
conv shortcut of the input → N×T×dims for the CTC head.

>>> import torch
>>> SVTREncoder(384, dims=120)(torch.zeros(2, 384, 1, 40)).shape
torch.Size([2, 40, 120])
"""

from __future__ import annotations

import torch
from torch import nn

from slimocr.toolkit.models.layers import ConvBNAct


class Attention(nn.Module):
    """Multi-head self-attention with one fused q/k/v projection (Paddle's layout).

    The q/k/v projection's outputs are laid out by head, so channel pruning leaves them alone
    (``fixed_output_layers``); the residual width it reads and ``proj`` writes may shrink.
    """

    fixed_output_layers = ("qkv",)

    def __init__(self, dims: int, num_heads: int) -> None:
        super().__init__()
        if dims % num_heads:
            raise ValueError(f"dims {dims} is not a multiple of num_heads {num_heads}")
        self.num_heads = num_heads
        self.scale = (dims // num_heads) ** -0.5
        self.qkv = nn.Linear(dims, 3 * dims)
        self.proj = nn.Linear(dims, dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, _ = x.shape
        qkv = self.qkv(x)
        d = qkv.shape[-1] // 3  # attention width (the input's may be pruned narrower)
        qkv = qkv.reshape(n, t, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each N×heads×T×head_dim
        attn = torch.softmax((q * self.scale) @ k.transpose(-2, -1), dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(n, t, d))


class TransformerBlock(nn.Module):
    """Pre-norm block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))`` (swish MLP)."""

    def __init__(self, dims: int, num_heads: int, mlp_ratio: float = 2.0, eps: float = 1e-5):
        super().__init__()
        hidden = int(dims * mlp_ratio)
        self.norm1 = nn.LayerNorm(dims, eps=eps)
        self.attn = Attention(dims, num_heads)
        self.norm2 = nn.LayerNorm(dims, eps=eps)
        self.mlp = nn.Sequential(nn.Linear(dims, hidden), nn.SiLU(), nn.Linear(hidden, dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class SVTREncoder(nn.Module):
    """Sequence encoder over the backbone's N×C×1×T map.

    Args:
        in_channels: backbone channels.
        dims: encoder width (the CTC head's input).
        depth: transformer blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / dims.
        local_kernel: kernel of the depthwise local mixing conv.
    """

    def __init__(
        self,
        in_channels: int,
        dims: int = 120,
        depth: int = 2,
        num_heads: int = 8,
        mlp_ratio: float = 2.0,
        local_kernel: tuple[int, int] = (1, 7),
    ) -> None:
        super().__init__()
        self.shortcut = ConvBNAct(in_channels, dims, 1, act="swish")
        self.reduce = ConvBNAct(in_channels, dims, 1, act="swish")
        self.local = ConvBNAct(dims, dims, local_kernel, groups=dims, act="swish")
        self.blocks = nn.ModuleList(
            TransformerBlock(dims, num_heads, mlp_ratio) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dims, eps=1e-6)
        self.out_channels = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x)
        z = self.reduce(x)
        z = z + self.local(z)
        n, c, h, w = z.shape
        seq = z.flatten(2).transpose(1, 2)
        for block in self.blocks:
            seq = block(seq)
        z = self.norm(seq).transpose(1, 2).reshape(n, c, h, w) + shortcut
        return z.flatten(2).transpose(1, 2)  # h == 1: N×T×dims
