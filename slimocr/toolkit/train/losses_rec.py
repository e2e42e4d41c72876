"""Losses of CTC recognizers: CTC on labels and distillation from a teacher recognizer.

All losses take the student's raw **logits** N×T×C (the recognizer in training mode) and, for
distillation, the teacher's **probabilities** N×T×C (the recognizer in eval mode ends with a
softmax). They return a dict whose ``"loss"`` entry is the scalar to minimize; computations run
in float32 even under autocast.

Reductions: PaddleOCR's ``CTCLoss`` averages the per-sample CTC loss over the batch
(``reduction="batch_mean"`` here). PyTorch's ``"mean"`` (the default, as in
:func:`torch.nn.functional.ctc_loss`) first divides each sample's loss by its label length, which
keeps the scale independent of the text length.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from slimocr.errors import ConfigError

Reduction = Literal["mean", "sum", "none", "batch_mean"]
LOSS_TERMS = ("ctc", "kl", "teacher_ctc")


def _check_3d(name: str, x: torch.Tensor) -> None:
    if x.dim() != 3:
        raise ValueError(f"{name} must be N×T×C, got shape {tuple(x.shape)}")


def ctc_greedy_targets(probs: torch.Tensor, blank: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Best-path decode as CTC targets: argmax per frame, collapse repeats, drop blanks.

    Args:
        probs: N×T×C probabilities or logits (only the argmax is used).
        blank: the blank class.

    Returns:
        ``(labels, lengths)``: N×L int64 labels zero-padded to ``L = max(1, longest)`` and the
        N int64 lengths, on the device of ``probs``.

    >>> p = torch.tensor([[[0.1, 0.9, 0.0], [0.2, 0.8, 0.0], [0.9, 0.1, 0.0], [0.0, 0.3, 0.7]]])
    >>> ctc_greedy_targets(p)
    (tensor([[1, 2]]), tensor([2]))
    """
    _check_3d("probs", probs)
    best = probs.detach().argmax(dim=2)  # N×T
    keep = best != blank
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]
    lengths = keep.sum(dim=1)
    width = max(1, int(lengths.max().item()) if lengths.numel() else 1)
    labels = torch.zeros(best.shape[0], width, dtype=torch.long, device=probs.device)
    for i in range(best.shape[0]):
        seq = best[i][keep[i]]
        labels[i, : seq.numel()] = seq
    return labels, lengths.long()


class CTCLoss(nn.Module):
    """CTC loss on logits, every sample using all ``T`` frames.

    Args:
        blank: the blank class.
        reduction: ``"mean"`` (per-sample loss / label length, then batch mean; PyTorch),
            ``"batch_mean"`` (batch mean of the per-sample loss; PaddleOCR), ``"sum"`` or
            ``"none"`` (N losses).
        zero_infinity: give 0 loss (and gradient) to samples whose label cannot be aligned.

    >>> logits = torch.zeros(2, 8, 5)
    >>> out = CTCLoss()(logits, torch.tensor([[1, 2], [3, 0]]), torch.tensor([2, 1]))
    >>> sorted(out), out["loss"].dim()
    (['loss'], 0)
    """

    def __init__(
        self, blank: int = 0, reduction: Reduction = "mean", zero_infinity: bool = True
    ) -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none", "batch_mean"):
            raise ValueError(f"unknown reduction {reduction!r}")
        self.blank = blank
        self.reduction = reduction
        self.zero_infinity = zero_infinity

    def forward(
        self, logits: torch.Tensor, labels: torch.Tensor, lengths: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Compute the loss.

        Args:
            logits: N×T×C raw scores.
            labels: N×L class indices, padded (the padding value is ignored).
            lengths: N label lengths.

        Returns:
            ``{"loss": ...}``.
        """
        _check_3d("logits", logits)
        n, t = logits.shape[:2]
        log_probs = logits.float().log_softmax(dim=2).transpose(0, 1)  # T×N×C
        input_lengths = torch.full((n,), t, dtype=torch.long, device=logits.device)
        lengths = lengths.to(device=logits.device, dtype=torch.long).reshape(n)
        labels = labels.to(device=logits.device, dtype=torch.long).reshape(n, -1)
        torch_reduction = "none" if self.reduction == "batch_mean" else self.reduction
        loss = F.ctc_loss(
            log_probs,
            labels,
            input_lengths,
            lengths,
            blank=self.blank,
            reduction=torch_reduction,
            zero_infinity=self.zero_infinity,
        )
        if self.reduction == "batch_mean":
            loss = loss.mean()
        return {"loss": loss}


class RecDistillKL(nn.Module):
    """``KL(teacher ‖ student)`` per frame, summed over classes, averaged over frames and batch.

    With ``temperature`` τ ≠ 1 both distributions are softened (``softmax(log p / τ)`` and
    ``softmax(z / τ)``) and the loss is multiplied by τ² so its gradient keeps its scale.
    The teacher gets no gradient.

    Args:
        temperature: the softening temperature τ > 0.
    """

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def forward(
        self, student_logits: torch.Tensor, teacher_probs: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Compute the loss from N×T×C student logits and N×T×C teacher probabilities."""
        _check_3d("student_logits", student_logits)
        if teacher_probs.shape != student_logits.shape:
            raise ValueError(
                f"teacher output {tuple(teacher_probs.shape)} does not match the student's "
                f"{tuple(student_logits.shape)} (same classes and input width needed)"
            )
        tau = self.temperature
        p = teacher_probs.detach().float().clamp_min(0.0)
        if tau == 1.0:
            p = p / p.sum(dim=2, keepdim=True).clamp_min(1e-12)
        else:
            p = (p.clamp_min(1e-12).log() / tau).softmax(dim=2)
        log_q = (student_logits.float() / tau).log_softmax(dim=2)
        kl = (torch.special.xlogy(p, p) - p * log_q).sum(dim=2)  # N×T
        return {"loss": kl.mean() * (tau * tau)}


class RecDistillCTC(nn.Module):
    """CTC of the student against the teacher's best-path transcription (no labels needed).

    Args:
        blank: the blank class.
        reduction: see :class:`CTCLoss`.
        zero_infinity: see :class:`CTCLoss`.
    """

    def __init__(
        self, blank: int = 0, reduction: Reduction = "mean", zero_infinity: bool = True
    ) -> None:
        super().__init__()
        self.blank = blank
        self.ctc = CTCLoss(blank, reduction, zero_infinity)

    def forward(
        self, student_logits: torch.Tensor, teacher_probs: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Compute the loss from N×T×C student logits and N×T'×C teacher outputs."""
        labels, lengths = ctc_greedy_targets(teacher_probs, self.blank)
        return self.ctc(student_logits, labels, lengths)


class RecLoss(nn.Module):
    """Weighted sum of the recognition loss terms that can be computed for a batch.

    Terms: ``ctc`` (:class:`CTCLoss` on labels), ``kl`` (:class:`RecDistillKL`) and
    ``teacher_ctc`` (:class:`RecDistillCTC`). A term with weight 0 is never computed; a term
    whose inputs are missing (no labels, no teacher output) is left out of that batch.

    Args:
        ctc: weight of the CTC loss on labels.
        kl: weight of the KL distillation loss.
        teacher_ctc: weight of the CTC loss on the teacher's transcription.
        temperature: temperature of the KL term.
        blank: the blank class.
        reduction: reduction of both CTC terms (see :class:`CTCLoss`).

    Returns (forward):
        ``{"loss": total, "ctc": ..., "kl": ..., "teacher_ctc": ...}`` with the unweighted value
        of each computed term.

    >>> mix = RecLoss.from_config({"ctc": 1.0, "kl": 0.5})
    >>> out = mix(torch.zeros(1, 4, 3), torch.tensor([[1]]), torch.tensor([1]))
    >>> sorted(out)
    ['ctc', 'loss']
    """

    def __init__(
        self,
        ctc: float = 1.0,
        kl: float = 0.0,
        teacher_ctc: float = 0.0,
        temperature: float = 1.0,
        blank: int = 0,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self.weights = {"ctc": ctc, "kl": kl, "teacher_ctc": teacher_ctc}
        for name, w in self.weights.items():
            if isinstance(w, bool) or not isinstance(w, int | float) or not w >= 0:
                raise ConfigError(f"loss weight {name!r} must be a number >= 0, got {w!r}")
        if not sum(self.weights.values()) > 0:
            raise ConfigError("all recognition loss weights are 0 (ctc, kl, teacher_ctc)")
        self.ctc = CTCLoss(blank, reduction)
        self.kl = RecDistillKL(temperature)
        self.teacher_ctc = RecDistillCTC(blank, reduction)

    @classmethod
    def from_config(cls, weights: Mapping[str, object]) -> RecLoss:
        """Build from a config mapping: weights ``ctc``/``kl``/``teacher_ctc``, ``temperature``.

        Raises:
            ConfigError: an unknown key or a bad value.
        """
        allowed = (*LOSS_TERMS, "temperature", "blank", "reduction")
        unknown = sorted(set(weights) - set(allowed))
        if unknown:
            raise ConfigError(f"unknown rec loss key(s) {unknown}; allowed: {list(allowed)}")
        try:
            return cls(**weights)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ConfigError(f"rec loss: {exc}") from None

    def forward(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor | None = None,
        lengths: torch.Tensor | None = None,
        teacher_probs: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Compute the available terms and their weighted sum.

        Args:
            logits: N×T×C student logits.
            labels: N×L padded labels (needed for ``ctc``).
            lengths: N label lengths (needed for ``ctc``).
            teacher_probs: N×T×C teacher probabilities (needed for ``kl``/``teacher_ctc``).

        Raises:
            ValueError: no term with a weight > 0 has its inputs.
        """
        terms: dict[str, torch.Tensor] = {}
        w = self.weights
        if w["ctc"] > 0 and labels is not None and lengths is not None:
            terms["ctc"] = self.ctc(logits, labels, lengths)["loss"]
        if teacher_probs is not None:
            if w["kl"] > 0:
                terms["kl"] = self.kl(logits, teacher_probs)["loss"]
            if w["teacher_ctc"] > 0:
                terms["teacher_ctc"] = self.teacher_ctc(logits, teacher_probs)["loss"]
        if not terms:
            active = [k for k, v in w.items() if v > 0]
            raise ValueError(
                f"no loss term can be computed: weights > 0 for {active}, but "
                f"ctc needs labels and lengths, kl/teacher_ctc need the teacher output"
            )
        total = sum(w[name] * value for name, value in terms.items())
        return {"loss": total, **terms}  # type: ignore[dict-item]
