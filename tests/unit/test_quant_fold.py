"""BatchNorm folding: same outputs, BN gone, shared convs left alone; layer placement."""

from __future__ import annotations

import pytest

from tests.conftest import needs_torch

pytestmark = needs_torch

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from slimocr.toolkit.compress.quant.fold import fold_batchnorm  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


def _randomize_bn(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)


class _Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.bn_dw = nn.BatchNorm2d(4)
        self.up = nn.ConvTranspose2d(4, 2, 2, stride=2)
        self.bn_up = nn.BatchNorm2d(2)
        self.shared = nn.Conv2d(4, 4, 1)
        self.bn_shared = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn(self.conv(x)))
        y = self.bn_dw(self.dw(y))
        s = self.shared(y)
        y = self.bn_shared(s) + s  # conv output used twice: must not be folded
        return self.bn_up(self.up(y))


def test_fold_keeps_outputs_and_removes_bn():
    model = _Branchy().eval()
    _randomize_bn(model)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        ref = model(x)
    pairs = fold_batchnorm(model)
    assert pairs == [("conv", "bn"), ("dw", "bn_dw"), ("up", "bn_up")]
    assert isinstance(model.bn, nn.Identity) and isinstance(model.bn_up, nn.Identity)
    assert isinstance(model.bn_shared, nn.BatchNorm2d)
    assert model.conv.bias is not None
    with torch.no_grad():
        assert torch.allclose(model(x), ref, atol=1e-5)


def test_fold_real_detector():
    from slimocr.toolkit.models import create_model

    model = create_model("dbnet_mv3_ppocrv3").eval()
    _randomize_bn(model)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
    n_bn = sum(1 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    pairs = fold_batchnorm(model)
    assert len(pairs) == n_bn  # every BN follows a conv (the threshold branch's too)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    with torch.no_grad():
        assert torch.allclose(model(x), ref, atol=1e-5)


def test_prepare_places_quantizers_and_skips_lstm():
    from slimocr.toolkit.compress.quant.config import QuantConfig
    from slimocr.toolkit.compress.quant.layers import QuantConv2d, QuantLinear
    from slimocr.toolkit.compress.quant.prepare import prepare_qat, quant_summary
    from slimocr.toolkit.models import create_model

    model = prepare_qat(create_model("crnn_ppocrv2"), QuantConfig())
    summary = quant_summary(model)
    assert summary["float_modules"] == ["encoder.lstm"]
    assert isinstance(model.encoder.lstm, nn.LSTM)
    assert summary["by_type"] == {"QuantConv2d": 31, "QuantLinear": 2}
    assert summary["float_outputs"] == ["head.fc2"]  # feeds the softmax: kept float
    fc1, fc2 = model.head.fc1, model.head.fc2
    assert isinstance(fc1, QuantLinear) and fc1.out_quant is not None
    assert fc2.in_quant is None and fc2.input_source is fc1.out_quant  # no double Q/DQ
    stem = model.backbone.stem[0]
    assert isinstance(stem, QuantConv2d) and stem.in_quant.pact is not None
    # a predicate keeps a whole subtree float
    model = prepare_qat(
        create_model("crnn_ppocrv2"),
        QuantConfig(),
        skip=lambda m: m is not None and type(m).__name__ == "CTCHead",
    )
    assert quant_summary(model)["float_modules"] == ["encoder.lstm", "head.fc1", "head.fc2"]


@pytest.mark.parametrize("reparam", [True, False])
def test_qat_trains_folded_weights_at_their_pre_fold_scale(reparam: bool):
    from slimocr.toolkit.compress.quant import QuantConfig, calibrate, prepare_qat
    from slimocr.toolkit.compress.quant.layers import QuantMixin

    net = nn.Sequential(nn.Conv2d(2, 2, 1, bias=False), nn.BatchNorm2d(2), nn.Conv2d(2, 1, 1))
    bn = net[1]
    with torch.no_grad():
        net[0].weight.fill_(0.5)
        bn.weight.copy_(torch.tensor([0.01, 10.0]))  # γ/σ = 0.01 and 10 (σ = 1)
        bn.running_var.fill_(1.0 - bn.eps)
    x = torch.randn(4, 2, 3, 3)
    with torch.no_grad():
        ref = net.eval()(x)
    cfg = QuantConfig(pact=False, bn_reparam=reparam)
    q = prepare_qat(net, cfg)
    calibrate(q, [x], cfg=cfg)
    conv = q[0]
    assert isinstance(conv, QuantMixin)
    folded = conv.weight.detach().clone()  # readers see the folded weights either way
    assert folded[:, 0, 0, 0].tolist() == pytest.approx([0.005, 5.0])
    with torch.no_grad():
        assert torch.allclose(q.eval()(x), ref, atol=0.1)
    trained = [p for p in q.parameters() if p.dim() == 4 and p.shape[0] == 2]
    assert len(trained) == 1
    assert trained[0].detach()[:, 0, 0, 0].tolist() == pytest.approx(
        [0.5, 0.5] if reparam else [0.005, 5.0]
    )
    opt = torch.optim.Adam(q.parameters(), lr=1e-3)
    q.train()(x).sum().backward()
    opt.step()
    change = (conv.weight.detach() - folded).abs()[:, 0, 0, 0]
    if reparam:  # Adam's ~lr step on the pre-fold weights, scaled by the factor
        assert change.tolist() == pytest.approx([1e-5, 1e-2], rel=0.05)
    else:  # the same ~lr step for both channels, 20% of the small channel's weight
        assert change.tolist() == pytest.approx([1e-3, 1e-3], rel=0.05)
