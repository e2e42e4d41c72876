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
            if calls[src.target] != 1 or calls[node.target] != 1:
                continue  # a shared module: folding would change its other uses
            conv = model.get_submodule(src.target)
            if type(conv) is nn.Conv2d or (type(conv) is nn.ConvTranspose2d and conv.groups == 1):
                if pairs.get(src.target, node.target) != node.target:
                    raise ValueError(f"{src.target} feeds two BatchNorms")
                pairs[src.target] = node.target
    return sorted(pairs.items())


@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> None:
    """Fold ``bn`` (running statistics) into ``conv`` in place, adding a bias if it had none."""
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


def fold_batchnorm(model: nn.Module) -> list[tuple[str, str]]:
    """Fold every conv → BatchNorm2d pair of ``model`` in place (BN becomes ``nn.Identity``).

    Returns:
        The folded ``(conv, bn)`` module names.

    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    >>> fold_batchnorm(net)
    [('0', '1')]
    """
    pairs = find_conv_bn_pairs(model)
    for conv_name, bn_name in pairs:
        conv = model.get_submodule(conv_name)
        bn = model.get_submodule(bn_name)
        fold_conv_bn(conv, bn)  # type: ignore[arg-type]
        parent, attr = _parent(model, bn_name)
        setattr(parent, attr, nn.Identity())
    return pairs
