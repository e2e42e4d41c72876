"""Losses of DB text detectors: on labels (:class:`DBLoss`) and from a teacher
(:class:`DBDistillLoss`).

The detector in training mode returns ``{"maps": N×3×H×W}``: the shrink probability map ``P``,
the threshold map ``T`` and the approximate binary map ``B = 1 / (1 + exp(-k (P - T)))``. In eval
mode it returns ``P`` alone, N×1×H×W. All maps are probabilities (after a sigmoid). Losses are
computed in float32 with autocast disabled, whatever the model's precision.

Terms (``M`` a 0/1 mask, sums over every pixel of the batch):

* balanced BCE with hard-negative mining (:func:`balanced_bce`): all positive pixels and the
  ``min(#neg, ratio · #pos)`` negative pixels of largest BCE::

      L_s = (Σ_pos bce + Σ_topk(neg) bce) / (#pos + #neg_kept + eps)

* masked L1 (:func:`masked_l1`): ``L_t = Σ |T - T*| M / (Σ M + eps)``
* Dice (:func:`dice_loss`): ``L_b = 1 - 2 Σ B G M / (Σ B M + Σ G M + eps)``
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["balanced_bce", "masked_l1", "dice_loss", "prob_map", "DBLoss", "DBDistillLoss"]


def balanced_bce(
    pred: torch.Tensor,
    gt: torch.Tensor,
    mask: torch.Tensor,
    negative_ratio: float = 3.0,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Binary cross-entropy over the positives and the hardest negatives (OHEM).

    Positives are ``gt * mask``, negatives ``(1 - gt) * mask``. With ``n+`` positive pixels, the
    ``n- = min(#negatives, int(negative_ratio · n+))`` negatives of largest loss are kept and
    ``(Σ_pos bce + Σ_kept bce) / (n+ + n- + eps)`` returned. Without positives no negative is
    kept and the loss is 0 (PaddleOCR's ``BalanceLoss``).

    Args:
        pred: probabilities, any shape.
        gt: 0/1 targets, same shape.
        mask: 0/1 mask, same shape.
        negative_ratio: negatives kept per positive.
        eps: keeps the division finite.

    Returns:
        The scalar loss.
    """
    positive = gt * mask
    negative = (1.0 - gt) * mask
    n_pos = int(positive.sum().item())
    n_neg = int(min(negative.sum().item(), n_pos * negative_ratio))
    loss = F.binary_cross_entropy(pred, gt, reduction="none")
    pos_loss = (loss * positive).sum()
    if n_neg > 0:
        neg_loss = torch.topk((loss * negative).reshape(-1), n_neg, sorted=False).values.sum()
    else:
        neg_loss = loss.new_zeros(())
    return (pos_loss + neg_loss) / (n_pos + n_neg + eps)


def masked_l1(
    pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """Mean absolute error over the mask: ``Σ |pred - gt| mask / (Σ mask + eps)``."""
    return ((pred - gt).abs() * mask).sum() / (mask.sum() + eps)


def dice_loss(
    pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """``1 - 2 Σ pred gt mask / (Σ pred mask + Σ gt mask + eps)``, over the whole batch."""
    inter = (pred * gt * mask).sum()
    union = (pred * mask).sum() + (gt * mask).sum() + eps
    return 1.0 - 2.0 * inter / union


def _as_nhw(name: str, x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dim() != 3:
        raise ValueError(f"{name} must be N×H×W or N×1×H×W, got shape {tuple(x.shape)}")
    return x.float()


def prob_map(out: Any) -> torch.Tensor:
    """The shrink probability map N×H×W of a detector output, in float32.

    Accepts the training output ``{"maps": N×3×H×W}`` (channel 0), an N×C×H×W tensor (channel
    0, e.g. the eval output N×1×H×W) or an N×H×W tensor.
    """
    if isinstance(out, Mapping):
        out = out["maps"]
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"expected a tensor or a dict with 'maps', got {type(out).__name__}")
    if out.dim() == 4:
        out = out[:, 0]
    if out.dim() != 3:
        raise ValueError(f"expected an N×C×H×W or N×H×W map, got shape {tuple(out.shape)}")
    return out.float()


class DBLoss(nn.Module):
    """The DB detector loss on labelled data.

    ``loss = alpha · L_s + beta · L_t + L_b`` with ``L_s`` the balanced BCE of the shrink map
    (mask ``shrink_mask``, ``ohem_ratio`` negatives per positive), ``L_t`` the L1 of the
    threshold map (mask ``threshold_mask``) and ``L_b`` the Dice of the binary map against the
    shrink target (mask ``shrink_mask``). PP-OCR's weights: ``alpha = 5``, ``beta = 10``.

    (PP-OCR's configs set ``main_loss_type: DiceLoss``, which makes their "balanced" shrink term
    a plain Dice loss; this class uses the balanced BCE of the DB paper.)

    Args:
        alpha: weight of the shrink-map term.
        beta: weight of the threshold-map term.
        ohem_ratio: negatives kept per positive in the shrink-map term.
        eps: keeps the divisions finite.
    """

    def __init__(
        self, alpha: float = 5.0, beta: float = 10.0, ohem_ratio: float = 3.0, eps: float = 1e-6
    ) -> None:
        super().__init__()
        self.alpha = alpha
        self.beta = beta
        self.ohem_ratio = ohem_ratio
        self.eps = eps

    def forward(
        self, maps: torch.Tensor, batch: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Compute the loss.

        Args:
            maps: N×3×H×W (shrink, threshold, binary), the ``"maps"`` of the training output.
            batch: ``shrink_map``, ``shrink_mask``, ``threshold_map``, ``threshold_mask``, each
                N×H×W (or N×1×H×W); other keys are ignored.

        Returns:
            ``loss`` (the scalar to minimize) and its weighted parts ``loss_shrink``
            (``alpha · L_s``), ``loss_threshold`` (``beta · L_t``) and ``loss_binary``
            (``L_b``), which add up to ``loss``.
        """
        if maps.dim() != 4 or maps.shape[1] < 3:
            raise ValueError(f"maps must be N×3×H×W, got shape {tuple(maps.shape)}")
        with torch.autocast(device_type=maps.device.type, enabled=False):
            maps = maps.float()
            shrink_gt, shrink_mask, thresh_gt, thresh_mask = (
                _as_nhw(key, batch[key]).to(maps.device)
                for key in ("shrink_map", "shrink_mask", "threshold_map", "threshold_mask")
            )
            if shrink_gt.shape != maps.shape[:1] + maps.shape[2:]:
                raise ValueError(
                    f"targets are {tuple(shrink_gt.shape)} but maps are {tuple(maps.shape)}"
                )
            shrink = balanced_bce(maps[:, 0], shrink_gt, shrink_mask, self.ohem_ratio, self.eps)
            thresh = masked_l1(maps[:, 1], thresh_gt, thresh_mask, self.eps)
            binary = dice_loss(maps[:, 2], shrink_gt, shrink_mask, self.eps)
            shrink, thresh = self.alpha * shrink, self.beta * thresh
            return {
                "loss": shrink + thresh + binary,
                "loss_shrink": shrink,
                "loss_threshold": thresh,
                "loss_binary": binary,
            }


class DBDistillLoss(nn.Module):
    """Label-free distillation of a DB detector from a teacher's probability map.

    With ``S`` the student's shrink probability map and ``P`` the teacher's (both N×H×W)::

        loss = bce_weight · (BCE(S, P) - H(P)) + dice_weight · Dice(S, [P > thresh])

    * The soft BCE against ``P`` carries the teacher's whole map, its uncertainty included. The
      teacher's entropy ``H(P) = BCE(P, P)`` is subtracted: it does not depend on the student,
      so the gradients are those of the BCE, and the term becomes the per-pixel Bernoulli KL
      divergence, 0 exactly when ``S == P``. It is averaged over the masked pixels.
    * The Dice term against the binarized teacher, with ``thresh = 0.3`` the threshold of
      PP-OCR's DB post-processing (so ``P > 0.3`` is the region the teacher's own boxes come
      from), counters the imbalance between the few text pixels and the background that
      dominates the BCE, and pushes the student to be confident on the same side of the
      threshold that its own post-processing will use. It is near 0 when ``S == P`` and the
      teacher is confident, which it is on text (not exactly 0: a soft ``P`` is not binary).

    The teacher's map is detached; only ``S`` gets gradients. The student's threshold and
    binary maps are not distilled (the threshold branch is dropped at inference).

    Args:
        bce_weight: weight of the BCE (KL) term.
        dice_weight: weight of the Dice term.
        thresh: binarization threshold of the teacher's map for the Dice target.
        eps: keeps the divisions finite.
    """

    def __init__(
        self,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
        thresh: float = 0.3,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight
        self.thresh = thresh
        self.eps = eps

    def forward(
        self, student: Any, teacher: Any, mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Compute the loss.

        Args:
            student: the student's output: ``{"maps": N×3×H×W}`` (training mode; channel 0 is
                used) or its N×1×H×W probability map (eval mode).
            teacher: the teacher's output, in either form (usually eval mode, N×1×H×W).
            mask: optional N×H×W (or N×1×H×W) 0/1 map of the pixels to use (e.g. not the
                padding); all pixels by default.

        Returns:
            ``loss`` and its weighted parts ``loss_bce`` and ``loss_dice``.
        """
        s = prob_map(student)
        device_type = s.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            t = prob_map(teacher).detach().to(s.device)
            if s.shape != t.shape:
                raise ValueError(
                    f"student map {tuple(s.shape)} and teacher map {tuple(t.shape)} differ"
                )
            m = torch.ones_like(s) if mask is None else _as_nhw("mask", mask).to(s.device)
            bce = F.binary_cross_entropy(s, t, reduction="none")
            bce = bce - F.binary_cross_entropy(t, t, reduction="none")  # minus H(P): the KL
            bce = (bce * m).sum() / (m.sum() + self.eps)
            dice = dice_loss(s, (t > self.thresh).float(), m, self.eps)
            bce, dice = self.bce_weight * bce, self.dice_weight * dice
            return {"loss": bce + dice, "loss_bce": bce, "loss_dice": dice}
