"""QDQ export: ONNX Runtime computes what the fake-quant model computes, on int8 kernels; the
recognizer's LSTM stays float (or gets ONNX Runtime's dynamic int8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import needs_official, needs_torch

pytestmark = needs_torch

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from torch import nn  # noqa: E402

from slimocr.toolkit.compress.quant import (  # noqa: E402
    QuantConfig,
    calibrate,
    export_qdq,
    int8_op_counts,
    optimized_op_counts,
    prepare_qat,
    quantize_lstm_dynamic,
)
from slimocr.toolkit.compress.quant.export import ort_run, parity  # noqa: E402
from slimocr.toolkit.compress.quant.prepare import act_quantizers  # noqa: E402
from slimocr.toolkit.export.onnx_export import build_metadata  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


def _cbr(cin: int, cout: int, k: int, groups: int = 1, act: nn.Module | None = None) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        act if act is not None else nn.Identity(),
    )


class SmallNet(nn.Module):
    """Conv-BN-ReLU, depthwise + hard-swish, pointwise, residual, transposed conv, 1×1 out."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _cbr(3, 8, 3, act=nn.ReLU())
        self.dw = _cbr(8, 8, 3, groups=8, act=nn.Hardswish())
        self.pw = _cbr(8, 8, 1)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.out = nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = x + self.pw(self.dw(x))
        return self.out(torch.relu(self.up(x)))


def _randomize_bn(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)


def _meta(kind: str) -> dict[str, str]:
    return build_metadata(kind, "test", extra={"quant": {"test": True}})


@pytest.mark.parametrize("pact", [False, True])
def test_small_net_ort_equals_fake_quant_within_one_step(tmp_path: Path, pact: bool):
    model = SmallNet().eval()
    _randomize_bn(model)
    cfg = QuantConfig(pact=pact, quantize_model_output=True)
    model = prepare_qat(model, cfg)
    calibrate(model, [torch.randn(2, 3, 16, 16) for _ in range(3)], cfg=cfg)
    model.train()
    for _ in range(3):  # a few QAT steps move weights, α and the moving averages
        loss = model(torch.randn(2, 3, 16, 16)).square().mean()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 1e-2 * p.grad
                p.grad = None
    model.eval()
    path = export_qdq(model, tmp_path / "small.onnx", "det", _meta("det"), (1, 3, 16, 16))
    x = torch.randn(4, 3, 24, 20) * 1.5  # other shape, beyond the calibrated range
    with torch.no_grad():
        ref = model(x).numpy()
    got = ort_run(path, x.numpy())
    step = float(model.out.out_quant.step())
    assert np.abs(got - ref).max() <= step * 1.0001
    assert np.mean(np.abs(got - ref) > step / 2) < 1e-3  # one-step flips are rare
    counts = int8_op_counts(path)
    assert counts["QLinearConv"] == 4  # stem, depthwise, pointwise, output conv
    assert counts.get("float_Conv", 0) == 0
    graph = onnx.load(str(path)).graph
    assert not any(n.op_type == "Clip" for n in graph.node)  # PACT's clip is folded away
    assert any(n.op_type == "QuantizeLinear" for n in graph.node)
    inits = {i.name: i for i in graph.initializer}
    assert not any(n.op_type == "Constant" for n in graph.node)  # compacted into initializers
    int8 = [i for i in inits.values() if i.data_type == onnx.TensorProto.INT8]
    assert len(int8) == 5 and not any(
        i.data_type == onnx.TensorProto.FLOAT and len(i.dims) == 4 for i in inits.values()
    )


def _det_inputs(tmp_path: Path) -> list[torch.Tensor]:
    import cv2

    from slimocr.eval.readers import load_det_dataset
    from slimocr.infer.det import DetPreprocess
    from slimocr.toolkit.data.synth import SynthConfig, write_det_dataset

    labels = write_det_dataset(tmp_path, 2, SynthConfig(seed=5, det_size=(96, 64), max_lines=2))
    pre = DetPreprocess(64, "max")
    return [
        torch.from_numpy(pre(cv2.imread(str(s.image), cv2.IMREAD_COLOR)))
        for s in load_det_dataset(labels)
    ]


@needs_official
@pytest.mark.slow  # ~3 s alone (official import, synthetic images, export, 4 ORT sessions)
def test_detector_64px_ort_matches_fake_quant(tmp_path: Path):
    from slimocr.toolkit.models import create_model

    cfg = QuantConfig()
    model = prepare_qat(create_model("dbnet_mv3_ppocrv3", pretrained=True).eval(), cfg)
    calib, test = _det_inputs(tmp_path)
    calibrate(model, [calib], cfg=cfg)
    path = export_qdq(model, tmp_path / "det.onnx", "det", _meta("det"), (1, 3, 64, 64))
    # the last quantized activation (the final transposed conv's input), in steps
    graph = onnx.load(str(path)).graph
    q_out = {o for n in graph.node if n.op_type == "QuantizeLinear" for o in n.output}
    last_dq = [n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in q_out][-1]
    sub = tmp_path / "sub.onnx"
    onnx.utils.extract_model(str(path), str(sub), ["x"], [last_dq.output[0]])
    seen: dict[str, np.ndarray] = {}
    q = dict(act_quantizers(model))["head.binarize.up2.in_quant"]
    q.register_forward_hook(lambda m, i, o: seen.__setitem__("x", o.numpy()))
    for x in (calib, test):
        with torch.no_grad():
            prob = model(x).numpy()
        steps = np.abs(ort_run(sub, x.numpy()) - seen["x"]) / float(q.step())
        assert steps.max() <= 1.0001
        assert np.abs(ort_run(path, x.numpy()) - prob).max() < 1e-3
    assert int8_op_counts(path)["QLinearConv"] == 72  # every conv of the inference graph


def test_recognizer_lstm_stays_float_and_can_go_dynamic_int8(tmp_path: Path):
    from slimocr.toolkit.models import create_model

    cfg = QuantConfig()
    model = prepare_qat(create_model("crnn_ppocrv2", num_classes=40).eval(), cfg)
    calibrate(model, [torch.randn(1, 3, 32, 64)], cfg=cfg)
    path = export_qdq(model, tmp_path / "rec.onnx", "rec", _meta("rec"), (1, 3, 32, 64))
    graph = onnx.load(str(path)).graph
    producer = {o: n.op_type for n in graph.node for o in n.output}
    consumers: dict[str, list[str]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n.op_type)
    inits = {i.name: i for i in graph.initializer}
    lstms = [n for n in graph.node if n.op_type == "LSTM"]
    assert len(lstms) == 2
    for node in lstms:
        x, w, r, b = node.input[:4]
        assert producer.get(x) != "DequantizeLinear"
        for name in (w, r, b):
            assert inits[name].data_type == onnx.TensorProto.FLOAT  # float weights, no DQ
        for out in node.output:
            assert "QuantizeLinear" not in consumers.get(out, [])
    counts = optimized_op_counts(path)
    assert counts["LSTM"] == 2 and counts["QLinearConv"] == 31
    # the CTC head's linears: DQ feeds MatMul directly, so ONNX Runtime runs them on int8
    assert counts["MatMulIntegerToFloat"] == 2 and counts["FusedMatMul"] == 0
    x = np.random.default_rng(0).normal(size=(2, 3, 32, 80)).astype(np.float32)
    assert parity(model, path, torch.from_numpy(x))["max_abs_diff"] < 1e-4
    dyn = quantize_lstm_dynamic(path, tmp_path / "rec_lstm8.onnx")
    assert int8_op_counts(dyn)["DynamicQuantizeLSTM"] == 2
    meta = {p.key: p.value for p in onnx.load(str(dyn)).metadata_props}
    assert meta["lstm_quant"] == "dynamic_int8" and "quant" in meta
    assert ort_run(dyn, x).shape == ort_run(path, x).shape == (2, 20, 40)


def test_skip_names_keep_the_first_blocks_float_in_torch_and_onnx(tmp_path: Path):
    from slimocr.errors import ConfigError
    from slimocr.toolkit.compress.quant.prepare import quant_layers
    from slimocr.toolkit.models import create_model

    skip = ("backbone.stem", "backbone.blocks.0", "backbone.blocks.1")
    cfg = QuantConfig(skip_names=skip)
    model = prepare_qat(create_model("crnn_ppocrv2", num_classes=40).eval(), cfg)
    names = [n for n, _ in quant_layers(model)]
    assert not [n for n in names if n.startswith(tuple(s + "." for s in skip))]
    assert "backbone.blocks.2.depthwise.0" in names
    assert type(model.backbone.blocks[0].depthwise[0]) is torch.nn.Conv2d
    calibrate(model, [torch.randn(1, 3, 32, 64)], cfg=cfg)
    path = export_qdq(model, tmp_path / "rec.onnx", "rec", _meta("rec"), (1, 3, 32, 64))
    counts = optimized_op_counts(path)
    assert counts["QLinearConv"] == 31 - 5  # stem + two depthwise/pointwise blocks stay float
    x = np.random.default_rng(0).normal(size=(1, 3, 32, 64)).astype(np.float32)
    assert ort_run(path, x).shape == (1, 16, 40)
    with pytest.raises(ConfigError, match="no module named"):
        prepare_qat(create_model("crnn_ppocrv2", num_classes=40), QuantConfig(skip_names=("x",)))


def test_relu_after_conv_is_fused_into_an_unsigned_quantizer(tmp_path: Path):
    x = torch.randn(2, 3, 16, 16)
    relus = {}
    for fuse in (True, False):
        model = SmallNet().eval()
        _randomize_bn(model)
        cfg = QuantConfig(pact=False, fuse_relu=fuse)
        model = prepare_qat(model, cfg)
        stem_q = model.stem[0].out_quant
        assert stem_q.unsigned is fuse and isinstance(model.stem[2], nn.Identity) is fuse
        assert not model.dw[0].out_quant.unsigned  # hard-swish follows: signed grid
        calibrate(model, [x], cfg=cfg)
        name = f"fuse{fuse}.onnx"
        path = export_qdq(model.eval(), tmp_path / name, "det", _meta("det"), (1, 3, 16, 16))
        with torch.no_grad():
            ref = model(x).numpy()
            stem = model.stem(x)
        assert (stem >= 0).all()  # the quantizer applied the ReLU it replaced
        assert np.abs(ort_run(path, x.numpy()) - ref).max() < 1e-4
        relus[fuse] = optimized_op_counts(path).get("Relu", 0)
        assert int8_op_counts(path)["QLinearConv"] == 3
    assert relus[True] == relus[False] - 1  # the stem's ReLU is gone from the graph ORT runs
