"""FPGM ("filter pruning via geometric median") importance over coupled channel groups.

A filter close to the geometric median of its layer is the most replaceable by the others, so
its score is the sum of Euclidean distances from its flattened weights to every other filter of
the same layer; the lowest scores are pruned first. The weights are used as they are (Torch-
Pruning's ``FPGMImportance`` takes ``|w|**p`` first and normalizes the result; this follows the
original criterion). When several layers' outputs share one index set (residual adds, a
squeeze-excite product, depthwise convs following their producer), the per-layer scores are
summed over the group's non-depthwise conv / transposed-conv / linear layers.

>>> import torch, torch_pruning as tp
>>> conv = torch.nn.Conv2d(1, 3, 1, bias=False)
>>> dg = tp.DependencyGraph().build_dependency(conv, torch.zeros(1, 1, 4, 4))
>>> group = dg.get_pruning_group(conv, tp.prune_conv_out_channels, [0, 1, 2])
>>> FPGMImportance()(group).shape
torch.Size([3])
"""

from __future__ import annotations

from typing import cast

import torch
import torch_pruning as tp
from torch import nn

_OUT_FNS = (
    tp.prune_conv_out_channels,
    tp.prune_linear_out_channels,
    tp.prune_depthwise_conv_out_channels,
)


def is_depthwise(module: nn.Module) -> bool:
    """A conv whose every output channel reads exactly one input channel (groups > 1)."""
    return (
        isinstance(module, nn.modules.conv._ConvNd)
        and module.groups > 1
        and module.groups == module.in_channels
        and module.out_channels % module.groups == 0
    )


def filter_matrix(layer: nn.Module) -> torch.Tensor:
    """One row per output channel (filter) of a conv, transposed conv or linear layer."""
    w = cast(torch.Tensor, layer.weight).detach()
    if isinstance(layer, nn.modules.conv._ConvTransposeNd):
        if layer.groups != 1:
            raise ValueError("FPGM: grouped transposed convs are not supported")
        w = w.transpose(0, 1)  # (in, out, k...) -> (out, in, k...)
    return w.flatten(1).float()


def geometric_median_scores(filters: torch.Tensor) -> torch.Tensor:
    """Sum of L2 distances from each row to every other row (the FPGM score of each filter).

    >>> geometric_median_scores(torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]]))
    tensor([15., 10., 15.])
    """
    return torch.cdist(filters[None], filters[None], p=2.0)[0].sum(dim=1)


class FPGMImportance(tp.importance.Importance):
    """Torch-Pruning importance: one score per channel of a group, lower = pruned first.

    Args:
        include_depthwise: also count the k×k filters of depthwise convs in the group (off: a
            depthwise layer follows its producer and is not a filter bank of its own).
    """

    def __init__(self, include_depthwise: bool = False) -> None:
        self.include_depthwise = include_depthwise

    @torch.no_grad()
    def __call__(self, group: tp.dependency.Group) -> torch.Tensor | None:
        total: torch.Tensor | None = None
        n_root = len(group[0].idxs)
        for item in group:
            dep, idxs = item.dep, item.idxs
            layer = dep.target.module
            if dep.handler not in _OUT_FNS or not isinstance(
                layer, nn.modules.conv._ConvNd | nn.Linear
            ):
                continue
            if is_depthwise(layer) and not self.include_depthwise:
                continue
            root_idxs = list(item.root_idxs)
            if any(r is None for r in root_idxs):  # no mapping back to the root's channels
                continue
            scores = geometric_median_scores(filter_matrix(layer)[list(idxs)])
            if total is None:
                total = torch.zeros(n_root, dtype=scores.dtype, device=scores.device)
            root = torch.as_tensor(root_idxs, device=scores.device)
            total.scatter_add_(0, root, scores)
        return total
