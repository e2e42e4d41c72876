"""Asymmetric activation grids (``act_range: asymmetric``): 255 levels over ``[lo, hi]``,
uint8 with the zero point that puts 0 on the grid."""

from __future__ import annotations

import copy
import math

import onnx
import pytest
import torch
from onnx import numpy_helper

from slimocr.errors import ConfigError
from slimocr.toolkit.compress.quant import QuantConfig, calibrate, prepare_qat
from slimocr.toolkit.compress.quant.fake_quant import ActQuant, fake_quant
from slimocr.toolkit.compress.quant.pact import PACTClip
from tests.quant_helpers import calibrated, export_and_compare


def test_hardswish_range_gets_twice_the_symmetric_resolution() -> None:
    x = torch.tensor([-0.375, 0.0, 1.0, 6.0])
    sym, asym = ActQuant().train(), ActQuant(asymmetric=True).train()
    sym(x), asym(x)
    assert float(sym.step()) == pytest.approx(6.0 / 127)
    assert float(asym.step()) == pytest.approx(6.375 / 255)
    assert (asym.qmin, asym.qmax) == (-15, 240)  # zero point 15
    y = asym.eval()(torch.linspace(-0.4, 6.2, 500))
    q = y / asym.step()
    assert torch.allclose(q, q.round(), atol=1e-4)  # on the grid (q - z)·step
    assert float(q.min()) == -15 and float(q.max()) == 240


def test_one_sided_input_gets_zero_point_zero() -> None:
    q = ActQuant(asymmetric=True).train()
    q(torch.tensor([0.0, 0.5, 2.55]))
    assert (q.qmin, q.qmax) == (0, 255)
    assert float(q.step()) == pytest.approx(0.01)


@pytest.mark.parametrize("alpha", [0.3, 1.0, 5.0])
def test_pact_clip_never_changes_an_asymmetric_quantized_value(alpha: float) -> None:
    q = ActQuant(pact=PACTClip(alpha), asymmetric=True)
    q.set_threshold(4.0, -1.0)
    x = torch.linspace(-8, 8, 4001)
    y = q.eval()(x)
    ref = fake_quant(x, q.step(), q.qmin, q.qmax)  # the same grid without the clip
    assert torch.allclose(y, ref, rtol=0, atol=1e-6)  # (a level is >= 2e-3 here)
    assert float(q.step()) * (q.qmax + 1) <= alpha and float(q.step()) * (q.qmin - 1) >= -alpha


class _Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.act = torch.nn.Hardswish()
        self.out = torch.nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.conv(x)))


def _quantized(act_range: str) -> torch.nn.Module:
    return calibrated(_Block, scale=2.0, act_range=act_range)


def test_calibration_finds_the_hardswish_floor() -> None:
    q = _quantized("asymmetric").out.in_quant
    assert q.asymmetric
    assert -0.376 <= float(q.lower()) < -0.3
    assert 0 < -q.qmin < 40  # zero point near the bottom: most levels above 0


def test_asymmetric_export_matches_fake_quant_in_onnx_runtime(tmp_path) -> None:
    model = _quantized("asymmetric")
    ops = export_and_compare(model, tmp_path, model.out, 2 * torch.randn(1, 3, 10, 12))
    assert ops["QLinearConv"] == 1  # the hard-swish output quantizer feeds an int8 conv
    graph = onnx.load(tmp_path / "q.onnx").graph
    consts = {
        n.output[0]: numpy_helper.to_array(a.t)
        for n in graph.node
        if n.op_type == "Constant"
        for a in n.attribute
    }
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    zps = {
        int((consts | inits)[n.input[2]])
        for n in graph.node
        if n.op_type == "QuantizeLinear" and len(n.input) > 2
    }
    assert -model.out.in_quant.qmin in zps and zps - {128}


def test_config_checks_act_range() -> None:
    with pytest.raises(ConfigError, match="act_range"):
        QuantConfig(act_range="minmax")
    with pytest.raises(ConfigError, match="act_range"):
        QuantConfig(act_range="asymmetric", act_signed=True)
    assert "act_range" not in QuantConfig().describe()  # symmetric files describe as before
    assert "asymmetric" in QuantConfig(act_range="asymmetric").describe()["act_scheme"]


def test_percentile_calibration_takes_each_tail() -> None:
    torch.manual_seed(0)
    block = _Block().eval()
    batches = [2 * torch.randn(2, 3, 8, 8) for _ in range(3)]
    cfg = QuantConfig(act_range="asymmetric", pact=False)
    model = prepare_qat(copy.deepcopy(block), cfg)
    calibrate(model, batches, method="percentile", percentile=90.0, cfg=cfg)

    def tail(values: torch.Tensor) -> float:  # the 90th percentile, as calibration takes it
        a = torch.clamp(values.flatten(), min=0.0)
        return float(a.kthvalue(math.ceil(0.9 * a.numel())).values)

    with torch.no_grad():
        outs = [block.act(block.conv(x)) for x in batches]
    q = model.out.in_quant
    assert float(q.threshold()) == pytest.approx(sum(tail(h) for h in outs) / 3, rel=1e-5)
    assert float(q.lower()) == pytest.approx(-sum(tail(-h) for h in outs) / 3, rel=1e-5)
    assert -0.375 <= float(q.lower()) < 0


def test_asymmetric_grid_survives_a_checkpoint_round_trip() -> None:
    model = _quantized("asymmetric")
    state = model.state_dict()
    assert any(k.endswith("accum_lo") for k in state)  # the bottom is checkpointed
    torch.manual_seed(1)
    fresh = prepare_qat(_Block().eval(), QuantConfig(act_range="asymmetric", pact=False))
    fresh.load_state_dict(state)
    for a, b in (
        (model.out.in_quant, fresh.out.in_quant),
        (model.conv.out_quant, fresh.conv.out_quant),
    ):
        assert float(a.step()) == float(b.step()) and (a.qmin, a.qmax) == (b.qmin, b.qmax)
