"""PACT: the gradient reaching α by hand, α's own optimizer group, α from calibration."""

from __future__ import annotations

import pytest

from tests.conftest import needs_torch

pytestmark = needs_torch

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from slimocr.toolkit.compress.quant.config import QuantConfig  # noqa: E402
from slimocr.toolkit.compress.quant.fake_quant import ActQuant  # noqa: E402
from slimocr.toolkit.compress.quant.pact import (  # noqa: E402
    PACTClip,
    build_optimizer,
    pact_parameters,
    param_groups,
)

X = [-3.0, -0.5, 0.2, 1.5, 2.0]
G = [1.0, 2.0, 3.0, 4.0, 5.0]  # upstream gradient of each element


def test_pact_alpha_gradient_by_hand():
    clip = PACTClip(1.0)
    x = torch.tensor(X, requires_grad=True)
    y = clip(x)
    assert y.tolist() == pytest.approx([-1.0, -0.5, 0.2, 1.0, 1.0])
    (y * torch.tensor(G)).sum().backward()
    # dα: +g above α (1.5, 2.0 → 4 + 5), -g below -α (-3 → -1); inside: 0
    assert float(clip.alpha.grad) == pytest.approx(4 + 5 - 1)
    # dx: g inside the range, 0 where clipped
    assert x.grad.tolist() == [0.0, 2.0, 3.0, 0.0, 0.0]


def test_pact_gradient_passes_the_quantizer_straight_through():
    q = ActQuant(pact=PACTClip(1.0)).train()
    y = q(torch.tensor(X))
    (y * torch.tensor(G)).sum().backward()
    assert float(q.pact.alpha.grad) == pytest.approx(8.0)
    assert float(q.threshold()) == pytest.approx(1.0)  # abs-max of the clipped values


def test_alpha_has_its_own_decay_group():
    model = nn.Sequential(nn.Conv2d(1, 2, 1), ActQuant(pact=PACTClip(5.0)))
    groups = param_groups(model, weight_decay=0.0, pact_decay=1e-4)
    assert [len(g["params"]) for g in groups] == [2, 1]
    assert [g["weight_decay"] for g in groups] == [0.0, 1e-4]
    assert groups[1]["params"][0] is pact_parameters(model)[0]
    same = param_groups(model, weight_decay=3e-5, pact_decay=None)
    assert [g["weight_decay"] for g in same] == [3e-5, 3e-5]
    opt = build_optimizer(groups, "adam", lr=0.1)
    assert isinstance(opt, torch.optim.Adam)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.0, 1e-4]
    # (no opt.step() here: the first optimizer step imports torch._dynamo, seconds of CPU)


def test_calibration_initialises_alpha():
    from slimocr.toolkit.compress.quant.prepare import act_quantizers, prepare_qat
    from slimocr.toolkit.compress.quant.ptq import calibrate

    batches = [torch.full((1, 1, 2, 2), 3.0)]
    model = prepare_qat(nn.Sequential(nn.Conv2d(1, 1, 1)), QuantConfig(pact_init="calib"))
    calibrate(model, batches, cfg=QuantConfig(pact_init="calib"))
    q = dict(act_quantizers(model))["0.in_quant"]
    # α sits just above the grid's reach, so the step is the calibrated 3 / 127
    assert float(q.pact.alpha.detach()) == pytest.approx(3.0 * 128 / 127)
    assert float(q.step()) == pytest.approx(3.0 / 127)
    cfg = QuantConfig(pact_init=2.0)
    model = prepare_qat(nn.Sequential(nn.Conv2d(1, 1, 1)), cfg)
    calibrate(model, batches, cfg=cfg)
    q = dict(act_quantizers(model))["0.in_quant"]
    assert float(q.pact.alpha.detach()) == pytest.approx(2.0)
    assert float(q.threshold()) == pytest.approx(2.0 * 127 / 128)  # capped by the constant α


def test_pact_clip_never_changes_the_quantized_value():
    # step capped at α/128: values beyond ±α saturate to the same level with or without clip
    q = ActQuant(pact=PACTClip(1.0))
    q.set_threshold(5.0)
    x = torch.tensor([-7.0, -1.0, -0.9999, 0.3, 0.9999, 1.0, 7.0])
    step = q.step()
    assert float(step) == pytest.approx(1.0 / 128)
    y = q.eval()(x)
    plain = torch.clamp(torch.round(x / step), -128, 127) * step
    assert torch.equal(y, plain)
