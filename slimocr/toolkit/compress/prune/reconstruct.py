"""Least-squares reconstruction of a pruned model's convolutions (no training, seconds on CPU).

Structural pruning leaves each remaining conv with fewer inputs than it was trained on, and the
errors add up layer after layer: the detector pruned by the recipe's ratios scores a fraction
of its parent's hmean before finetuning, and distillation on 2 CPU cores needs hours to win it
back. Reconstruction refits, layer by layer from the input side, each plain (non-depthwise)
conv of the pruned model so that, fed with the pruned model's *own* activations, it reproduces
the parent's output of that conv (its kept output channels) — a ridge regression on sampled
input patches, solved in closed form. Because layers are refitted in order, each one also
absorbs the error left by the layers before it. BatchNorm after a conv keeps its statistics:
the conv's pre-BN output is what is matched.

The kept output channels of a pruned conv come from the pruner's removed indices
(:func:`kept_channels`); a conv whose outputs were not pruned keeps them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from slimocr.toolkit.compress.prune.structural import StructuralPruner


def kept_channels(pruner: StructuralPruner) -> dict[str, list[int]]:
    """``{producer layer: kept output channel indices}`` for every pruned group's producers
    (indices into the parent's channels)."""
    out: dict[str, list[int]] = {}
    for name, removed in pruner.removed.items():
        group = pruner.groups[name]
        gone = set(removed)
        keep = [i for i in range(group.channels) if i not in gone]
        for producer in group.producers:
            out[producer] = keep
    return out


def _plain_convs(model: nn.Module) -> dict[str, nn.Conv2d]:
    return {
        n: m
        for n, m in model.named_modules()
        if type(m) is nn.Conv2d and m.groups == 1 and m.padding_mode == "zeros"
    }


def reconstruction_targets(parent: nn.Module, pruned: nn.Module) -> list[str]:
    """Plain convs from the first one whose shape changed onwards (module order): those whose
    inputs differ from the parent's."""
    before = _plain_convs(parent)
    names = [n for n in _plain_convs(pruned) if n in before]
    shapes = {n: tuple(m.weight.shape) for n, m in _plain_convs(pruned).items()}
    changed = [i for i, n in enumerate(names) if shapes[n] != tuple(before[n].weight.shape)]
    return names[changed[0] :] if changed else []


def _capture(module: nn.Module, store: dict[str, torch.Tensor], key: str, output: bool) -> Any:
    def hook(_m: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        store[key] = out if output else args[0]

    return module.register_forward_hook(hook)


@torch.no_grad()
def reconstruct(
    parent: nn.Module,
    pruned: nn.Module,
    batches: Sequence[torch.Tensor],
    kept: Mapping[str, Sequence[int]],
    layers: Iterable[str] | None = None,
    samples: int = 4096,
    ridge: float = 1e-3,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, float]]:
    """Refit ``pruned``'s convs in place (see the module docstring).

    Args:
        parent: the unpruned model (eval mode is set).
        pruned: its pruned copy (eval mode is set; weights replaced).
        batches: input tensors (N×3×H×W); a few images at inference resolution are enough.
        kept: kept output channels of pruned convs (:func:`kept_channels`).
        layers: convs to refit (default :func:`reconstruction_targets`).
        samples: output positions sampled per batch for the regression.
        ridge: L2 regularization, relative to the mean diagonal of ``XᵀX``.
        seed: picks the sampled positions.

    Returns:
        ``{layer: {"rel_err_before", "rel_err_after"}}``: relative L2 error of the layer's
        output against the parent's on the sampled positions, before and after the refit.
    """
    parent.eval()
    pruned.eval()
    p_mods, q_mods = dict(parent.named_modules()), dict(pruned.named_modules())
    names = list(layers) if layers is not None else reconstruction_targets(parent, pruned)
    gen = torch.Generator().manual_seed(seed)
    report: dict[str, dict[str, float]] = {}
    for name in names:
        conv, ref = q_mods[name], p_mods[name]
        assert isinstance(conv, nn.Conv2d) and isinstance(ref, nn.Conv2d)
        keep = list(kept.get(name, range(ref.out_channels)))
        if len(keep) != conv.out_channels:
            log(f"reconstruct: {name}: kept channels unknown, left as is")
            continue
        has_bias = conv.bias is not None
        dim = conv.weight[0].numel() + int(has_bias)
        xtx = torch.zeros(dim, dim, dtype=torch.float64)
        xty = torch.zeros(dim, conv.out_channels, dtype=torch.float64)
        err_num = err_den = 0.0
        held: list[tuple[torch.Tensor, torch.Tensor]] = []
        for batch in batches:
            store: dict[str, torch.Tensor] = {}
            hooks = [_capture(conv, store, "x", False), _capture(ref, store, "y", True)]
            try:
                pruned(batch)
                parent(batch)
            finally:
                for h in hooks:
                    h.remove()
            if "x" not in store:  # a training-only branch: not run in eval mode
                break
            padding = conv.padding
            if isinstance(padding, str):  # F.unfold takes numbers only
                raise ValueError(f"reconstruct: {name}: padding={padding!r} is not supported")
            cols = F.unfold(store["x"], conv.kernel_size, conv.dilation, padding, conv.stride)
            y = store["y"][:, keep].flatten(2)  # N × out × L
            now = conv(store["x"]).flatten(2)
            n_pos = cols.shape[-1]
            pick = torch.randperm(n_pos, generator=gen)[: min(samples, n_pos)]
            x = cols[..., pick].permute(0, 2, 1).reshape(-1, cols.shape[1]).double()
            t = y[..., pick].permute(0, 2, 1).reshape(-1, y.shape[1]).double()
            if has_bias:
                x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
            xtx += x.T @ x
            xty += x.T @ t
            diff = now[..., pick].permute(0, 2, 1).reshape(-1, y.shape[1]).double() - t
            err_num += float(diff.square().sum())
            err_den += float(t.square().sum())
            held.append((x, t))
        rows = sum(len(x) for x, _ in held)
        if rows < 4 * dim:  # e.g. a squeeze-excitation conv: one position per image
            log(f"reconstruct: {name}: {rows} samples for {dim} unknowns, left as is")
            continue
        lam = ridge * float(xtx.diagonal().mean()) + 1e-12
        sol = torch.linalg.solve(xtx + lam * torch.eye(dim, dtype=xtx.dtype), xty)  # dim × out
        after = sum(float((x @ sol - t).square().sum()) for x, t in held)
        if after < err_num:  # (a layer that was already exact keeps its weights)
            w = sol[: conv.weight[0].numel()].T.reshape(conv.weight.shape)
            conv.weight.copy_(w.to(conv.weight.dtype))
            if conv.bias is not None:  # has_bias
                conv.bias.copy_(sol[-1].to(conv.bias.dtype))
        report[name] = {
            "rel_err_before": (err_num / max(err_den, 1e-12)) ** 0.5,
            "rel_err_after": (min(after, err_num) / max(err_den, 1e-12)) ** 0.5,
        }
        log(
            f"reconstruct {name}: rel. error {report[name]['rel_err_before']:.3f} -> "
            f"{report[name]['rel_err_after']:.3f}"
        )
    return report
