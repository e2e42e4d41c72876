"""Post-training calibration: activation thresholds from a few images.

The float model runs on the calibration batches while every activation quantizer observes its
input; each threshold is then the abs-max, a percentile of ``|x|``, or the moving average that
training uses. With PACT and ``pact_init="calib"`` the clip ``α`` starts at the same value.

>>> calibrate(model, [torch.randn(1, 3, 64, 64)])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from slimocr.errors import SlimOCRError
from slimocr.eval.readers import load_det_dataset, load_rec_dataset
from slimocr.infer.det import DetPreprocess
from slimocr.infer.rec import resize_norm_img
from slimocr.toolkit.compress.quant.config import CalibMethod, QuantConfig
from slimocr.toolkit.compress.quant.prepare import act_quantizers, quant_layers
from slimocr.toolkit.data.rec_dataset import crops_from_det_samples

_MAX_SAMPLES = 1 << 18  # |x| values kept per batch for a percentile


class _Stat:
    """Collects one statistic of ``|x|`` per batch for one quantizer; ``two_sided``: of
    ``max(x, 0)`` and of ``max(-x, 0)`` instead, the two ends of an asymmetric grid."""

    def __init__(
        self, method: CalibMethod, percentile: float, rate: float, two_sided: bool = False
    ) -> None:
        self.method = method
        self.q = percentile / 100.0
        self.rate = rate
        self.two_sided = two_sided
        self.values: list[float] = []  # |x|, or the top side
        self.low_values: list[float] = []  # the bottom side (two-sided only)

    def _statistic(self, a: torch.Tensor) -> float:
        if self.method == "percentile":
            if a.numel() > _MAX_SAMPLES:
                a = a[:: -(-a.numel() // _MAX_SAMPLES)]  # even stride: deterministic
            k = min(a.numel(), max(1, int(np.ceil(self.q * a.numel()))))
            return float(torch.kthvalue(a, k).values)  # O(n), unlike a sort
        return float(a.max())

    def __call__(self, x: torch.Tensor) -> None:
        x = x.detach().flatten().float()
        if not self.two_sided:
            self.values.append(self._statistic(x.abs()))
            return
        self.values.append(self._statistic(torch.clamp(x, min=0.0)))
        self.low_values.append(self._statistic(torch.clamp(-x, min=0.0)))

    def result(self, values: list[float] | None = None) -> float:
        """The calibrated value of ``values`` (default: ``self.values``)."""
        values = self.values if values is None else values
        if self.method == "abs_max":
            return max(values)
        if self.method == "percentile":
            return float(np.mean(values))
        state = accum = 0.0
        for v in values:
            state, accum = self.rate * state + 1.0, self.rate * accum + v
        return accum / state


@torch.no_grad()
def calibrate(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    method: CalibMethod = "abs_max",
    percentile: float = 99.99,
    cfg: QuantConfig | None = None,
) -> dict[str, float]:
    """Set every activation threshold from float activations on ``batches``.

    The whole model runs in float (weights too) in eval mode; afterwards each quantizer's
    moving average starts at the calibrated value, and a PACT clip whose ``cfg.pact_init`` is
    ``"calib"`` gets ``α`` = that value ·(qmax+1)/qmax (128/127, or 256/255 after a ReLU), just
    enough for the grid to reach the value (a constant ``α`` caps the threshold at
    ``α``·qmax/(qmax+1) instead).

    Args:
        model: a model from :func:`~.prepare.prepare_qat`.
        batches: N×3×H×W input tensors.
        method: ``abs_max``, ``percentile`` or ``moving_average``.
        percentile: for ``percentile``.
        cfg: the config the model was prepared with (for ``pact_init``).

    Returns:
        The threshold of each activation quantizer that saw data, by module name (those of
        training-only branches are left unset; the first training step sets them).
    """
    cfg = cfg or QuantConfig()
    quants = act_quantizers(model)
    layers = [m for _, m in quant_layers(model)]
    stats = {name: _Stat(method, percentile, q.rate, q.asymmetric) for name, q in quants}
    was_training = model.training
    model.eval()
    try:
        for name, q in quants:
            q.observer = stats[name]
        for layer in layers:
            layer.quant_enabled = False
        n = 0
        for batch in batches:
            model(batch)
            n += 1
        if n == 0:
            raise ValueError("no calibration batches")
    finally:
        for _, q in quants:
            q.observer = None
        for layer in layers:
            layer.quant_enabled = True
        model.train(was_training)
    result: dict[str, float] = {}
    for name, q in quants:
        stat = stats[name]
        if not stat.values:
            continue  # not run in eval mode (e.g. the DB threshold branch): set by training
        value = max(stat.result(), 1e-6)
        low = -stat.result(stat.low_values) if stat.two_sided else -value
        if q.pact is not None:
            if cfg.pact_init == "calib":  # α just above the grid's reach (see ActQuant.step)
                q.pact.alpha.data.fill_(max(value, -low) / q.pact_reach)
            else:
                reach = float(q.pact.alpha) * q.pact_reach
                value, low = min(value, reach), max(low, -reach)
        q.set_threshold(value, low)
        result[name] = value
    return result


def _pick(n_total: int, n: int, seed: int) -> list[int]:
    if n >= n_total:
        return list(range(n_total))
    return sorted(np.random.default_rng(seed).choice(n_total, size=n, replace=False).tolist())


def det_calibration_batches(
    data: str | Path, n: int, limit_side_len: int = 960, seed: int = 0, limit_type: str = "max"
) -> Iterator[torch.Tensor]:
    """``n`` detection images, preprocessed as at inference (one 1×3×H×W tensor each)."""
    import cv2

    samples = load_det_dataset(data)
    pre = DetPreprocess(limit_side_len, limit_type)
    for i in _pick(len(samples), n, seed):
        img = cv2.imread(str(samples[i].image), cv2.IMREAD_COLOR)
        if img is not None:
            yield torch.from_numpy(pre(img))


def rec_calibration_batches(
    data: str | Path,
    n: int,
    crops_dir: str | Path,
    image_height: int = 32,
    min_width: int = 320,
    seed: int = 0,
) -> Iterator[torch.Tensor]:
    """``n`` text crops, one 1×3×H×W tensor each (width as the recognizer's batches get it).

    ``data`` is a recognition set, or a detection set whose boxes are cut into ``crops_dir``.
    """
    import cv2

    try:
        samples = load_rec_dataset(data)
    except (SlimOCRError, OSError, ValueError):
        samples = crops_from_det_samples(load_det_dataset(data), crops_dir)
    for i in _pick(len(samples), n, seed):
        img = cv2.imread(str(samples[i].image), cv2.IMREAD_COLOR)
        if img is None:
            continue
        width = max(min_width, int(np.ceil(image_height * img.shape[1] / img.shape[0])))
        x, _ = resize_norm_img(img, image_height, width)
        yield torch.from_numpy(x[None])
