"""Shared checks of the quantization tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from slimocr.toolkit.compress.quant import QuantConfig, calibrate, export_qdq, prepare_qat
from slimocr.toolkit.compress.quant.export import optimized_op_counts, ort_run
from slimocr.toolkit.export.onnx_export import build_metadata


def export_and_compare(
    model: torch.nn.Module, folder: Path, last: torch.nn.Module, x: torch.Tensor
) -> Counter[str]:
    """Export ``model`` (int8 QDQ, 1×3×8×8 sample), check that ONNX Runtime's output on ``x``
    is within one input step of ``last`` (the final conv) per unit of its weights of the
    fake-quant model's, and return the ORT-optimized op counts."""
    meta = build_metadata("det", "x", extra={"quant": {"test": True}})
    path = export_qdq(model, folder / "q.onnx", "det", meta, (1, 3, 8, 8))
    with torch.no_grad():
        ref = model(x).numpy()
    step = float(last.in_quant.step())  # the activation's output grid, scaled by last's weights
    w = float(last.weight.detach().abs().sum((1, 2, 3)).max())
    assert np.abs(ort_run(path, x.numpy()) - ref).max() <= w * step + 1e-4
    return optimized_op_counts(path)


def calibrated(
    build: Callable[[], torch.nn.Module], scale: float = 1.0, **config: object
) -> torch.nn.Module:
    """``build()`` (seeded) fake-quantized with ``QuantConfig(pact=False, **config)`` and
    calibrated on three batches of ``scale``-times standard normal 2×3×8×8 inputs."""
    torch.manual_seed(0)
    cfg = QuantConfig(pact=False, **config)  # type: ignore[arg-type]
    model = prepare_qat(build().eval(), cfg)
    calibrate(model, [scale * torch.randn(2, 3, 8, 8) for _ in range(3)], cfg=cfg)
    return model
