"""Hard-swish between int8 layers with its hard sigmoid on a 255-level grid, which ONNX Runtime
runs as ``QLinearAdd`` + ``QLinearMul``."""

from __future__ import annotations

import pytest
import torch

from slimocr.errors import ConfigError
from slimocr.toolkit.compress.quant import QuantConfig
from slimocr.toolkit.compress.quant.fake_quant import QuantHardswish
from slimocr.toolkit.compress.quant.prepare import quant_summary
from tests.quant_helpers import calibrated, export_and_compare


def test_quant_hardswish_rounds_only_the_hard_sigmoid() -> None:
    x = torch.linspace(-6, 6, 2401, requires_grad=True)
    y = QuantHardswish()(x)
    exact = torch.nn.functional.hardswish(x)
    assert torch.all((y - exact).abs() <= x.abs() / 510 + 1e-6)
    outside = x.abs() >= 3
    assert torch.allclose(y[outside], exact[outside], rtol=1e-6, atol=1e-6)  # clipped: exact
    gate = (y / x).detach()[x.abs() > 0.1]
    assert torch.allclose(gate * 255, (gate * 255).round(), atol=1e-3)
    y.sum().backward()
    assert x.grad is not None and torch.all(x.grad[x > 3] == 1)


class _Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.act = torch.nn.Hardswish()
        self.out = torch.nn.Conv2d(8, 3, 1)
        self.first = torch.nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.conv(self.first(x))))


def _quantized(hardswish: str) -> torch.nn.Module:
    return calibrated(_Block, scale=2.0, hardswish=hardswish)


def test_prepare_replaces_hardswish_after_quantized_layers_only() -> None:
    model = _quantized("int8")
    assert isinstance(model.act, QuantHardswish)
    assert isinstance(model.first, torch.nn.Hardswish)  # float model input
    assert quant_summary(model)["int8_hardswish"] == 1
    assert isinstance(_quantized("float").act, torch.nn.Hardswish)
    with pytest.raises(ConfigError, match="hardswish"):
        QuantConfig(hardswish="uint8")


def test_int8_export_runs_hardswish_as_qlinear_add_and_mul(tmp_path) -> None:
    model = _quantized("int8")
    ops = export_and_compare(model, tmp_path, model.out, 2 * torch.randn(1, 3, 10, 12))
    assert ops["QLinearAdd"] == 1 and ops["QLinearMul"] == 1
