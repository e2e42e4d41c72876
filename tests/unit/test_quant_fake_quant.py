"""Fake quantization by hand: per-channel weight steps, the moving-average scale, rounding,
straight-through gradients, calibration statistics, configs."""

from __future__ import annotations

import pytest

from tests.conftest import needs_torch

pytestmark = needs_torch

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from slimocr.errors import ConfigError  # noqa: E402
from slimocr.toolkit.compress.quant.config import CalibConfig, QuantConfig  # noqa: E402
from slimocr.toolkit.compress.quant.fake_quant import (  # noqa: E402
    ActQuant,
    fake_quant,
    int_weight,
    weight_step,
)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_per_channel_weight_steps_and_levels_by_hand():
    # two output channels of a 1×2 kernel: max|w| = 2.54 and 0.5
    w = torch.tensor([[[[1.0, -2.54]]], [[[0.5, 0.3]]]])
    step = weight_step(w, 127, axis=0)
    assert torch.allclose(step, torch.tensor([2.54 / 127, 0.5 / 127]))
    # levels: round(1.0 / 0.02) = 50, -127; round(0.5 / (0.5/127)) = 127, round(76.2) = 76
    assert int_weight(w, step, 127, axis=0).flatten().tolist() == [50, -127, 127, 76]
    # 7-bit range (reduce_range): 63 levels per side
    step7 = weight_step(w, 63, axis=0)
    assert torch.allclose(step7, torch.tensor([2.54 / 63, 0.5 / 63]))
    # 1.0 / (2.54/63) = 24.8 → 25; 0.3 / (0.5/63) = 37.8 → 38
    assert int_weight(w, step7, 63, axis=0).flatten().tolist() == [25, -63, 63, 38]
    # per tensor: one step from the global max
    assert torch.allclose(weight_step(w, 127, axis=None), torch.tensor(2.54 / 127))
    # ConvTranspose2d weights hold output channels on axis 1
    wt = w.transpose(0, 1)
    assert torch.allclose(weight_step(wt, 127, axis=1), step)


def test_moving_average_scale_three_steps_by_hand():
    q = ActQuant(rate=0.9).train()
    expected = []
    state = accum = 0.0
    for absmax in (2.0, 4.0, 1.0):
        state, accum = 0.9 * state + 1.0, 0.9 * accum + absmax
        expected.append(accum / state)
    x1 = torch.tensor([0.5, -2.0])  # max|x| = 2
    x2 = torch.tensor([4.0, 1.0])  # 4
    x3 = torch.tensor([-1.0, 0.3])  # 1
    hand = [2.0 / 1.0, 5.8 / 1.9, 6.22 / 2.71]  # written out: state 1, 1.9, 2.71
    for x, want, want_hand in zip((x1, x2, x3), expected, hand, strict=True):
        y = q(x)
        assert float(q.threshold()) == pytest.approx(want, rel=1e-6)
        assert float(q.threshold()) == pytest.approx(want_hand, rel=1e-6)
    # the third batch is quantized with the updated scale: step = 6.22 / 2.71 / 127
    step = 6.22 / 2.71 / 127
    assert y.tolist() == pytest.approx([round(-1.0 / step) * step, round(0.3 / step) * step])
    # eval mode freezes the scale
    q.eval()(torch.tensor([100.0]))
    assert float(q.threshold()) == pytest.approx(6.22 / 2.71, rel=1e-6)


def test_calibrated_threshold_continues_at_the_moving_rate():
    q = ActQuant(rate=0.9)
    q.set_threshold(3.0)
    assert float(q.threshold()) == pytest.approx(3.0)
    q.train()(torch.tensor([13.0]))
    assert float(q.threshold()) == pytest.approx(0.9 * 3.0 + 0.1 * 13.0)


def test_fake_quant_rounds_half_to_even_clamps_and_passes_gradients():
    x = torch.tensor([0.25, 0.75, -0.25, 100.0, -100.0], requires_grad=True)
    y = fake_quant(x, torch.tensor(0.5), -128, 127)
    assert y.tolist() == [0.0, 1.0, -0.0, 63.5, -64.0]
    (y * torch.arange(5.0)).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]  # straight through


def test_uncalibrated_quantizer_raises():
    with pytest.raises(RuntimeError, match="calibrate"):
        ActQuant().eval()(torch.ones(2))


def test_calibration_statistics():
    from slimocr.toolkit.compress.quant.prepare import act_quantizers, prepare_qat
    from slimocr.toolkit.compress.quant.ptq import calibrate

    def make() -> nn.Module:
        torch.manual_seed(0)
        return prepare_qat(nn.Sequential(nn.Conv2d(1, 2, 1)), QuantConfig(pact=False))

    batches = [torch.full((1, 1, 2, 2), 2.0), torch.full((1, 1, 2, 2), -6.0)]
    got = {}
    for method in ("abs_max", "moving_average", "percentile"):
        model = make()
        got[method] = calibrate(model, batches, method=method, percentile=50.0)
        name, q = act_quantizers(model)[0]
        assert name == "0.in_quant"
        assert float(q.threshold()) == pytest.approx(got[method][name])
    assert got["abs_max"]["0.in_quant"] == pytest.approx(6.0)
    assert got["moving_average"]["0.in_quant"] == pytest.approx((0.9 * 2 + 6) / 1.9)
    assert got["percentile"]["0.in_quant"] == pytest.approx(4.0)  # mean of 2 and 6


def test_quant_config_ranges_and_errors():
    assert QuantConfig().weight_qmax == 63
    assert QuantConfig(reduce_range=False).weight_qmax == 127
    assert QuantConfig(act_signed=True).act_dtype == "int8"
    assert QuantConfig(pact_init="4").pact_init == 4.0
    described = QuantConfig().describe()
    assert described["weight_range"] == [-63, 63] and described["act_zero_point"] == 128
    for bad in ({"act_bits": 4}, {"moving_rate": 1.0}, {"pact_init": "max"}, {"pact_init": -1}):
        with pytest.raises(ConfigError):
            QuantConfig(**bad)
    with pytest.raises(ConfigError):
        CalibConfig(method="kl")  # type: ignore[arg-type]


def test_dead_channel_keeps_its_bias():
    # BN folding can zero a channel's weights (γ ≈ 0) and leave a bias (β): the weight step
    # is floored so that the int32 bias, at step s_in·s_w, still represents it
    from slimocr.toolkit.compress.quant.prepare import prepare_qat

    conv = nn.Conv2d(2, 2, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[0.5]], [[-0.25]]], [[[0.0]], [[0.0]]]]))
        conv.bias.copy_(torch.tensor([0.1, 3.0]))
    model = prepare_qat(nn.Sequential(conv), QuantConfig(pact=False))
    model[0].in_quant.set_threshold(1.0)
    y = model.eval()(torch.zeros(1, 2, 1, 1))
    assert y.flatten().tolist() == pytest.approx([0.1, 3.0], abs=1e-4)  # without: 3.0 → 0.003


def test_unsigned_quantizer_applies_relu_on_a_255_step_grid():
    q = ActQuant(unsigned=True).train()
    x = torch.tensor([-3.0, -0.1, 0.5, 2.55], requires_grad=True)
    y = q(x)
    assert float(q.threshold()) == pytest.approx(2.55)  # max of relu(x)
    assert float(q.step()) == pytest.approx(2.55 / 255)
    assert y.detach().tolist() == pytest.approx([0.0, 0.0, 0.5, 2.55])
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0, 1.0]  # ReLU's gradient, straight-through above 0
    assert (q.qmin, q.qmax) == (0, 255) and (ActQuant().qmin, ActQuant().qmax) == (-128, 127)
