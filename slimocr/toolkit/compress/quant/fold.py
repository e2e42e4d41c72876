"""Fold BatchNorm into the convolution before it, and the graph analysis that finds the pairs.

QAT trains the folded conv: BatchNorm's running statistics go into the weights and bias
(``w' = w·γ/σ``, ``b' = (b - μ)·γ/σ + β``, ``σ = sqrt(var + eps)``), the BatchNorm module
becomes ``nn.Identity``, and the quantizers see exactly the weights the exported graph stores.
This is the simplest correct choice for a short finetune at small batch sizes: the statistics
stay frozen (as ``freeze_bn`` would keep them) and nothing differs between training, evaluation
and the int8 file. (The alternative, simulating BN with batch statistics during QAT and folding
at export, needs a larger batch than a CPU QAT run has.)

Pairs are found on a ``torch.fx`` trace: a BatchNorm whose input is a conv's output, used by
nothing else. Modules holding no conv, linear or BatchNorm (an LSTM encoder, for instance) are
traced as leaves, so their Python control flow doesn't matter.
"""

from __future__ import annotations

import torch
import torch.fx as fx
from torch import nn

_ANALYSED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.modules.batchnorm._BatchNorm)


class _Tracer(fx.Tracer):
    """Leaves: conv/linear/BN (and their quantized subclasses), and any module without them."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, _ANALYSED):
            return True
        if not any(isinstance(s, _ANALYSED) for s in m.modules()):
            return True
        return super().is_leaf_module(m, module_qualified_name)


def trace(model: nn.Module) -> list[fx.Graph]:
    """fx graphs of ``model`` in training and in eval mode (they may call different layers,
    e.g. the DB head's threshold branch runs only in training). The mode is restored."""
    was_training = model.training
    graphs = []
    try:
        for mode in (True, False):
            model.train(mode)
            try:
                graphs.append(_Tracer().trace(model))
            except Exception as exc:  # noqa: BLE001 - fx raises many types; name the cause
                raise ValueError(
                    f"cannot trace {type(model).__name__} with torch.fx ({exc}); wrap the "
                    "untraceable part in a module without conv/linear/BatchNorm layers"
                ) from exc
    finally:
        model.train(was_training)
    return graphs


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    parent, _, attr = name.rpartition(".")
    return (model.get_submodule(parent) if parent else model), attr


def find_conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """``(conv name, bn name)`` for each BatchNorm2d applied only to a conv's output."""
    pairs: dict[str, str] = {}
    for graph in trace(model):
        calls: dict[str, int] = {}
        for node in graph.nodes:
            if node.op == "call_module":
                calls[node.target] = calls.get(node.target, 0) + 1
        for node in graph.nodes:
            if node.op != "call_module":
                continue
            bn = model.get_submodule(node.target)
            if not isinstance(bn, nn.BatchNorm2d) or not bn.track_running_stats:
                continue
            src = node.args[0]
            if not isinstance(src, fx.Node) or src.op != "call_module" or len(src.users) != 1:
                continue
            src_name = str(src.target)  # a call_module node's target is the module's name
            if calls[src_name] != 1 or calls[node.target] != 1:
                continue  # a shared module: folding would change its other uses
            conv = model.get_submodule(src_name)
            if type(conv) is nn.Conv2d or (type(conv) is nn.ConvTranspose2d and conv.groups == 1):
                if pairs.get(src_name, node.target) != node.target:
                    raise ValueError(f"{src_name} feeds two BatchNorms")
                pairs[src_name] = node.target
    return sorted(pairs.items())


@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> torch.Tensor:
    """Fold ``bn`` (running statistics) into ``conv`` in place, adding a bias if it had none.

    Returns:
        The per-output-channel factor ``γ/σ`` the weights were multiplied by.
    """
    assert bn.running_var is not None and bn.running_mean is not None
    gamma = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
    beta = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_var)
    factor = gamma / torch.sqrt(bn.running_var + bn.eps)
    axis = 1 if isinstance(conv, nn.ConvTranspose2d) else 0
    shape = [1] * conv.weight.dim()
    shape[axis] = -1
    conv.weight.mul_(factor.reshape(shape))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    new_bias = (bias - bn.running_mean) * factor + beta
    if conv.bias is None:
        conv.bias = nn.Parameter(new_bias.detach().clone())
    else:
        conv.bias.copy_(new_bias)
    return factor.detach().clone()


def fold_batchnorm(model: nn.Module) -> list[tuple[str, str]]:
    """Fold every conv → BatchNorm2d pair of ``model`` in place (BN becomes ``nn.Identity``).

    Returns:
        The folded ``(conv, bn)`` module names.

    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    >>> fold_batchnorm(net)
    [('0', '1')]
    """
    return sorted(fold_batchnorm_factors(model))


def fold_batchnorm_factors(model: nn.Module) -> dict[tuple[str, str], torch.Tensor]:
    """:func:`fold_batchnorm`, returning each folded pair's per-channel factor ``γ/σ``."""
    factors = {}
    for conv_name, bn_name in find_conv_bn_pairs(model):
        conv = model.get_submodule(conv_name)
        bn = model.get_submodule(bn_name)
        factors[(conv_name, bn_name)] = fold_conv_bn(conv, bn)  # type: ignore[arg-type]
        parent, attr = _parent(model, bn_name)
        setattr(parent, attr, nn.Identity())
    return factors


class ChannelScale(nn.Module):
    """Weight parametrization ``w = raw · factor`` with a frozen per-output-channel factor.

    QAT trains folded convolutions. Folding multiplies a channel's weights by ``γ/σ``, which
    spans 0 to ~34 in the PP-OCRv3 detector; Adam moves every parameter by about the learning
    rate whatever its scale, so a channel whose folded weights are 1e-3 would change by
    several times its own size within a hundred steps. Training ``raw`` (the weights at their
    pre-fold scale) with the factor applied on the fly is exactly the float model with frozen
    BatchNorm under Adam, while every reader of ``conv.weight`` (quantizers, export) still sees
    the folded weights. Channels with a factor of (almost) zero keep factor 1.
    """

    factor: torch.Tensor  # a buffer

    def __init__(self, factor: torch.Tensor, axis: int, ndim: int) -> None:
        super().__init__()
        shape = [1] * ndim
        shape[axis] = -1
        safe = torch.where(factor.abs() < 1e-6, torch.ones_like(factor), factor)
        self.register_buffer("factor", safe.reshape(shape).clone())

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return raw * self.factor

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        return weight / self.factor
