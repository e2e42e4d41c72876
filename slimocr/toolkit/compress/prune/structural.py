"""Dependency-aware structural pruning: remove whole channels and keep a smaller dense model.

Torch-Pruning's dependency graph finds which channels are coupled: pruning a conv's outputs
removes the BatchNorm channels after it, the following depthwise conv's channels and the next
layers' inputs; residual adds (and a squeeze-excite product) make several layers share one index
set; concatenation and the FPN's upsampling are followed with index offsets. Each such set of
coupled channels is a :class:`ChannelGroup`, named after the first (in ``named_modules()``
order) non-depthwise layer that produces it, e.g. ``backbone.stages.1.0.expand.0``.

Groups that are never pruned:

* a group that reaches no other layer (it *is* the model's output: DB head's last transposed
  conv, the CTC head's last linear layer);
* a group touching a module of a ``frozen_types`` type (default: recurrent layers; Torch-Pruning
  cannot prune a 2-layer LSTM, so the conv feeding it keeps its width);
* a group produced by an ``ignored_layers`` module or one matching the ``ignore`` predicate
  (default: the first 4 non-depthwise convs of ``model.backbone``, as the original recipe).

>>> from slimocr.toolkit.models import create_model
>>> model = create_model("dbnet_mv3_ppocrv3")
>>> pruner = StructuralPruner(model, example_input("dbnet_mv3_ppocrv3"), ratios=0.3)
>>> pruner.step()  # doctest: +ELLIPSIS
{...}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch_pruning as tp
from torch import nn

from slimocr.toolkit.compress.prune.fpgm import FPGMImportance, is_depthwise
from slimocr.toolkit.models import model_spec

Importance = Callable[[tp.dependency.Group], torch.Tensor | None]
IgnorePredicate = Callable[[str, nn.Module], bool]
_PRODUCERS = (nn.modules.conv._ConvNd, nn.Linear)
_PARAMETRIZED = (nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._BatchNorm, nn.RNNBase)


@dataclass(frozen=True)
class ChannelGroup:
    """A set of channels that must be removed together.

    Attributes:
        name: module path of the first non-depthwise layer producing the channels.
        channels: current number of channels.
        producers: conv/linear layers whose outputs are these channels (depthwise included).
        consumers: layers whose inputs are these channels.
        prunable: whether the pruner may remove channels of this group.
        reason: why not, when not prunable.
    """

    name: str
    channels: int
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    prunable: bool
    reason: str = ""


def first_convs(module: nn.Module, n: int) -> list[nn.Module]:
    """The first ``n`` non-depthwise convs of ``module`` in ``named_modules()`` order."""
    convs: list[nn.Module] = [
        m
        for m in module.modules()
        if isinstance(m, nn.modules.conv._ConvNd) and not is_depthwise(m)
    ]
    return convs[:n]


def default_ignored_layers(model: nn.Module, skip_first: int = 4) -> list[nn.Module]:
    """The layers never pruned: the first convs of ``model.backbone`` (as the original recipe)
    and the children a module names in its ``fixed_output_layers`` (outputs with a layout the
    pruner cannot see, e.g. attention's per-head q/k/v projection)."""
    fixed = [
        getattr(m, child)
        for m in model.modules()
        for child in getattr(m, "fixed_output_layers", ())
    ]
    return first_convs(getattr(model, "backbone", model), skip_first) + fixed


def example_input(arch: str, batch: int = 1) -> torch.Tensor:
    """A small input that traces a registered model (detector 64×64, recognizer H×64)."""
    spec = model_spec(arch)
    if spec.kind == "rec":
        return torch.zeros(batch, 3, spec.input_height or 32, 64)
    return torch.zeros(batch, 3, 64, 64)


def training_forward(model: nn.Module, x: Any) -> Any:
    """Forward in training mode (so that training-only branches are traced, e.g. the DB
    threshold map) with BatchNorm in eval mode (its statistics stay untouched)."""
    was_training = model.training
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    try:
        return model(x)
    finally:
        model.train(was_training)


def channels_to_prune(channels: int, ratio: float, round_to: int = 1, min_keep: int = 1) -> int:
    """How many of ``channels`` a ``ratio`` removes (floor), keeping a multiple of ``round_to``.

    >>> channels_to_prune(40, 0.3), channels_to_prune(40, 0.3, round_to=8)
    (12, 8)
    >>> channels_to_prune(3, 1.0)  # at least one channel stays
    2
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"pruning ratio must be in [0, 1], got {ratio}")
    keep = channels - int(math.floor(ratio * channels + 1e-9))
    if round_to > 1 and keep < channels:
        keep = max(round_to, int(round(keep / round_to)) * round_to)
    keep = min(channels, max(min_keep, keep))
    return channels - keep


class StructuralPruner:
    """Prunes coupled channel groups of ``model`` in place, by per-group ratios.

    Args:
        model: the model (modified in place by :meth:`step`).
        example_inputs: an input that traces the model (:func:`example_input`).
        ratios: one ratio for every prunable group, or ``{group name: ratio}``.
        importance: scores a group's channels, lowest pruned first (default: FPGM).
        ignored_layers: layers whose output channels are never pruned (default
            :func:`default_ignored_layers`); their inputs may shrink.
        ignore: predicate ``(module name, module) -> bool`` adding more ignored layers.
        frozen_types: module types whose inputs and outputs both keep their width.
        round_to: keep a multiple of this many channels in each pruned group.
        trace_training: trace the training graph (training-only branches get pruned too).
    """

    def __init__(
        self,
        model: nn.Module,
        example_inputs: Any,
        ratios: float | Mapping[str, float] | None = None,
        importance: Importance | None = None,
        ignored_layers: Iterable[nn.Module] | None = None,
        ignore: IgnorePredicate | None = None,
        frozen_types: tuple[type[nn.Module], ...] = (nn.RNNBase,),
        round_to: int = 1,
        trace_training: bool = True,
    ) -> None:
        self.model = model
        self.importance = importance or FPGMImportance()
        self.round_to = round_to
        self._names = {m: n for n, m in model.named_modules()}
        self._order = {n: i for i, n in enumerate(self._names.values())}
        ignored = list(default_ignored_layers(model) if ignored_layers is None else ignored_layers)
        if ignore is not None:
            ignored += [m for n, m in model.named_modules() if ignore(n, m)]
        self._ignored = {id(m) for m in ignored}
        self._frozen_types = frozen_types
        was_training = model.training  # tracing switches to eval mode
        with torch.enable_grad():
            self.dg = tp.DependencyGraph().build_dependency(
                model,
                example_inputs=example_inputs,
                forward_fn=training_forward if trace_training else None,
                verbose=False,
            )
        model.train(was_training)
        self._modules: dict[str, nn.Module] = {}
        self.groups: dict[str, ChannelGroup] = self._discover()
        self.ratios = self._check_ratios(ratios)
        self.removed: dict[str, list[int]] = {}

    # ---------------------------------------------------------------- discovery
    def _describe(self, group: tp.dependency.Group) -> ChannelGroup | None:
        outs: list[nn.Module] = []
        ins: list[nn.Module] = []
        for dep, _ in group:
            m = dep.target.module
            if not isinstance(m, nn.Module) or m not in self._names:
                continue
            if self.dg.is_out_channel_pruning_fn(dep.handler):
                outs.append(m)
            elif self.dg.is_in_channel_pruning_fn(dep.handler):
                ins.append(m)
        producers = [m for m in outs if isinstance(m, _PRODUCERS)]
        roots = [m for m in producers if not is_depthwise(m)]
        if not roots:
            return None
        root = min(roots, key=lambda m: self._order[self._names[m]])
        name = self._names[root]
        frozen = [self._names[m] for m in outs + ins if isinstance(m, self._frozen_types)]
        consumers = [m for m in ins if isinstance(m, _PARAMETRIZED) and m not in outs]
        reason = ""
        if frozen:
            reason = f"touches {frozen[0]} (frozen type)"
        elif not consumers:
            reason = "model output"
        elif any(id(m) in self._ignored for m in producers):
            reason = "ignored layer"
        self._modules[name] = root
        return ChannelGroup(
            name=name,
            channels=self._out_channels(root),
            producers=tuple(
                sorted({self._names[m] for m in producers}, key=self._order.__getitem__)
            ),
            consumers=tuple(
                sorted({self._names[m] for m in consumers}, key=self._order.__getitem__)
            ),
            prunable=not reason,
            reason=reason,
        )

    def _discover(self) -> dict[str, ChannelGroup]:
        found = []
        for group in self.dg.get_all_groups(root_module_types=_PRODUCERS):
            info = self._describe(group)
            if info is not None:
                found.append(info)
        found.sort(key=lambda g: self._order[g.name])
        return {g.name: g for g in found}

    def _out_channels(self, module: nn.Module) -> int:
        return int(self.dg.get_pruner_of_module(module).get_out_channels(module))

    def _check_ratios(self, ratios: float | Mapping[str, float] | None) -> dict[str, float]:
        if ratios is None:
            return {}
        if isinstance(ratios, int | float):
            return {name: float(ratios) for name in self.prunable}
        unknown = sorted(set(ratios) - set(self.groups))
        if unknown:
            raise KeyError(f"unknown channel group(s) {unknown}; known: {list(self.groups)}")
        for name, ratio in ratios.items():
            if ratio > 0 and not self.groups[name].prunable:
                raise ValueError(f"group {name!r} cannot be pruned: {self.groups[name].reason}")
        return {name: float(r) for name, r in ratios.items() if r > 0}

    @property
    def prunable(self) -> list[str]:
        """Names of the groups that may be pruned, in ``named_modules()`` order."""
        return [name for name, g in self.groups.items() if g.prunable]

    # ---------------------------------------------------------------- pruning
    def group(self, name: str) -> tp.dependency.Group:
        """The Torch-Pruning group of ``name`` with all its current channels."""
        root = self._modules[name]
        pruner = self.dg.get_pruner_of_module(root)
        return self.dg.get_pruning_group(
            root, pruner.prune_out_channels, list(range(self._out_channels(root)))
        )

    def scores(self, name: str) -> torch.Tensor:
        """The importance of each channel of group ``name`` (lower = pruned first)."""
        scores = self.importance(self.group(name))
        if scores is None:
            raise ValueError(f"importance gave no scores for group {name!r}")
        return scores

    def prune_group(self, name: str, ratio: float) -> list[int]:
        """Remove the ``ratio`` least important channels of one group; returns their indices."""
        if not self.groups[name].prunable:
            raise ValueError(f"group {name!r} cannot be pruned: {self.groups[name].reason}")
        root = self._modules[name]
        n = self._out_channels(root)
        k = channels_to_prune(n, ratio, self.round_to)
        if k == 0:
            return []
        idxs = sorted(torch.argsort(self.scores(name), stable=True)[:k].tolist())
        pruner = self.dg.get_pruner_of_module(root)
        self.dg.get_pruning_group(root, pruner.prune_out_channels, idxs).prune()
        self.removed[name] = self.removed.get(name, []) + idxs
        return idxs

    def step(self) -> dict[str, int]:
        """Prune every group by its ratio once; returns ``{group: channels left}``."""
        left = {}
        for name in self.groups:
            if self.ratios.get(name, 0.0) > 0:
                self.prune_group(name, self.ratios[name])
                left[name] = self._out_channels(self._modules[name])
        self.ratios = {}
        return left


def prune_model(
    model: nn.Module,
    ratios: float | Mapping[str, float],
    example_inputs: Any,
    **kwargs: Any,
) -> StructuralPruner:
    """Prune ``model`` in place by ``ratios`` (see :class:`StructuralPruner`).

    Returns:
        The pruner (its ``groups`` and ``removed`` channel indices).
    """
    pruner = StructuralPruner(model, example_inputs, ratios=ratios, **kwargs)
    pruner.step()
    return pruner
