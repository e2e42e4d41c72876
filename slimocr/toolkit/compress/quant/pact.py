"""PACT: a learnable clipping range in front of each activation quantizer.

PACT (Choi et al., 2018) clips activations to ``[-α, α]`` with a trainable ``α``. Values beyond
the range pass the gradient to ``α`` (``+1`` above ``α``, ``-1`` below ``-α``), values inside pass
it to ``x``; so training trades clipping error against rounding error, and an L2 decay on ``α``
pulls the range in. The quantizer behind the clip keeps its moving-average abs-max of the
clipped values, as PaddleSlim's PACT recipe does.

>>> clip = PACTClip(1.0)
>>> x = torch.tensor([-3.0, -0.5, 0.2, 1.5, 2.0])
>>> clip(x).sum().backward()
>>> float(clip.alpha.grad)  # two values above α, one below -α
1.0
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn


class PACTClip(nn.Module):
    """``clamp(x, -α, α)`` with a learnable ``α`` (a 0-d parameter named ``alpha``).

    Args:
        alpha: initial clip value (PACT's usual constant is 20; PTQ-initialised runs use the
            calibrated threshold instead, see :func:`~.ptq.calibrate`).
    """

    def __init__(self, alpha: float = 20.0) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(float(alpha)))

    def extra_repr(self) -> str:
        return f"alpha={float(self.alpha.detach()):.4g}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # clamp with tensor bounds: d/dα = 1 where x > α, -1 where x < -α (PACT's gradient)
        return torch.clamp(x, -self.alpha, self.alpha)


def pact_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The ``α`` of every PACT clip in ``model``."""
    return [m.alpha for m in model.modules() if isinstance(m, PACTClip)]


def param_groups(
    model: nn.Module, weight_decay: float, pact_decay: float | None
) -> list[dict[str, Any]]:
    """Optimizer groups: the weights with ``weight_decay``, the ``α`` with ``pact_decay``.

    Parameters with ``requires_grad=False`` (frozen by the caller) are left out.

    Args:
        model: a model prepared with PACT.
        weight_decay: decay of all other trainable parameters.
        pact_decay: decay of the ``α`` (None: the same as ``weight_decay``).

    >>> groups = param_groups(nn.Sequential(nn.Linear(2, 2), PACTClip()), 0.0, 1e-4)
    >>> [len(g["params"]) for g in groups], groups[1]["weight_decay"]
    ([2, 1], 0.0001)
    """
    alphas = [p for p in pact_parameters(model) if p.requires_grad]
    ids = {id(p) for p in pact_parameters(model)}
    others = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    decay = weight_decay if pact_decay is None else pact_decay
    groups: list[dict[str, Any]] = [{"params": others, "weight_decay": weight_decay}]
    if alphas:
        groups.append({"params": alphas, "weight_decay": decay})
    return groups


def build_optimizer(
    params: Iterable[dict[str, Any]], name: str, lr: float
) -> torch.optim.Optimizer:
    """Adam or AdamW over parameter groups (each group keeps its own ``weight_decay``)."""
    cls = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    return cls(list(params), lr=lr)
