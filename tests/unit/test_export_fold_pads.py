"""Zero ``Pad`` nodes are folded into the convolutions and max-pools that read them, exactly."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from slimocr.graph import fold_pads
from slimocr.toolkit.compress.quant import QuantConfig, calibrate, export_qdq, prepare_qat
from slimocr.toolkit.compress.quant.export import ort_run
from slimocr.toolkit.export.onnx_export import build_metadata, export_onnx
from slimocr.toolkit.models.backbones.pplcnet_v4 import BranchStem


def _run(model: onnx.ModelProto | str, x: np.ndarray, optimize: bool = True) -> np.ndarray:
    data = model if isinstance(model, str) else model.SerializeToString()
    opts = ort.SessionOptions()
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def _graph(act: str | None, value: float = 0.0, mode: str = "constant") -> onnx.ModelProto:
    """x → [act] → Pad(bottom/right 1) → Conv 2×2 and MaxPool 2×2/1 → Concat."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64), "pads"),
        numpy_helper.from_array(np.array(value, np.float32), "value"),
        numpy_helper.from_array(rng.standard_normal((3, 3, 2, 2)).astype(np.float32), "w"),
    ]
    nodes = []
    src = "x"
    if act:
        nodes.append(helper.make_node(act, ["x"], ["a"]))
        src = "a"
    nodes += [
        helper.make_node("Pad", [src, "pads", "value"], ["p"], mode=mode),
        helper.make_node("Conv", ["p", "w"], ["c"], kernel_shape=[2, 2]),
        helper.make_node("MaxPool", ["p"], ["m"], kernel_shape=[2, 2]),
        helper.make_node("Concat", ["c", "m"], ["y"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, "H", "W"])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_pad_before_conv_and_maxpool_of_a_relu_is_folded_exactly() -> None:
    model = _graph("Relu")
    x = np.random.default_rng(1).standard_normal((1, 3, 7, 9)).astype(np.float32)
    before = _run(model, x)
    assert fold_pads(model) == 1
    onnx.checker.check_model(model)
    assert "Pad" not in _ops(model)
    assert {i.name for i in model.graph.initializer} == {"w"}  # pads and value dropped
    conv, pool = model.graph.node[1], model.graph.node[2]
    for node in (conv, pool):
        assert helper.get_attribute_value(node.attribute[-1]) == [0, 0, 1, 1]
    np.testing.assert_array_equal(_run(model, x), before)


@pytest.mark.parametrize(
    ("act", "value", "mode"),
    [
        (None, 0.0, "constant"),  # max-pool input may be negative: -inf padding would differ
        ("Relu", 1.0, "constant"),  # pads with ones
        ("Relu", 0.0, "reflect"),
    ],
)
def test_pads_that_would_change_the_result_are_kept(act, value, mode) -> None:
    model = _graph(act, value, mode)
    x = np.random.default_rng(2).standard_normal((1, 3, 6, 6)).astype(np.float32)
    before = _run(model, x)
    assert fold_pads(model) == 0
    assert "Pad" in _ops(model)
    np.testing.assert_array_equal(_run(model, x), before)


def test_qdq_pad_quantize_dequantize_conv_is_folded_exactly() -> None:
    """``DQ(uint8, zp 0) → Pad → Q(zp 128) → DQ → Conv``: the Q/DQ pair stays, the pad moves
    into the conv (zero quantizes to the zero point and dequantizes back to zero)."""
    rng = np.random.default_rng(3)
    inits = [
        numpy_helper.from_array(np.array(0.05, np.float32), "s0"),
        numpy_helper.from_array(np.array(0, np.uint8), "z0"),
        numpy_helper.from_array(np.array(0.11, np.float32), "s1"),
        numpy_helper.from_array(np.array(128, np.uint8), "z1"),
        numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 0, 0, 1], np.int64), "pads"),
        numpy_helper.from_array(rng.standard_normal((2, 3, 2, 2)).astype(np.float32), "w"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s0", "z0"], ["q0"]),
        helper.make_node("DequantizeLinear", ["q0", "s0", "z0"], ["d0"]),
        helper.make_node("Pad", ["d0", "pads"], ["p"]),
        helper.make_node("QuantizeLinear", ["p", "s1", "z1"], ["q1"]),
        helper.make_node("DequantizeLinear", ["q1", "s1", "z1"], ["d1"]),
        helper.make_node("Conv", ["d1", "w"], ["y"], kernel_shape=[2, 2], pads=[1, 0, 1, 0]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = np.abs(rng.standard_normal((1, 3, 5, 6))).astype(np.float32) * 3
    before = _run(model, x, optimize=False)
    assert fold_pads(model) == 1
    assert _ops(model) == ["QuantizeLinear", "DequantizeLinear"] * 2 + ["Conv"]
    conv = model.graph.node[-1]
    assert helper.get_attribute_value(conv.attribute[-1]) == [2, 0, 1, 1]  # old + folded pads
    np.testing.assert_array_equal(_run(model, x, optimize=False), before)


def _stem() -> BranchStem:
    torch.manual_seed(0)
    stem = BranchStem(3, 8, 16).eval()
    with torch.no_grad():
        for p in stem.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return stem


def test_exported_stem_has_no_pad_and_equals_torch(tmp_path) -> None:
    """The exporter spells ``F.pad`` as a shape-arithmetic chain feeding ``Pad``; the chain is
    evaluated and the pads land in the 2×2 convs and the max-pool."""
    stem = _stem()
    meta = build_metadata("det", "x")
    path = export_onnx(stem, tmp_path / "stem.onnx", "det", meta, sample_shape=(1, 3, 32, 32))
    proto = onnx.load(str(path))
    assert "Pad" not in _ops(proto) and "ConstantOfShape" not in _ops(proto)
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        ref = stem(x).numpy()
    np.testing.assert_allclose(_run(str(path), x.numpy()), ref, atol=1e-5)
    unfolded = export_onnx(stem, tmp_path / "raw.onnx", "det", meta, (1, 3, 32, 32), rewrite=False)
    assert "Pad" in _ops(onnx.load(str(unfolded)))


def test_quantized_stem_shares_the_quantizer_across_the_pad(tmp_path) -> None:
    """A conv reading a zero-padded quantized output reuses that quantizer (no second,
    coarser grid), and the int8 file computes what the fake-quant model computes."""
    stem = _stem()
    cfg = QuantConfig(quantize_model_output=True)
    model = prepare_qat(stem, cfg)
    assert model.stem2a[0].in_quant is None and model.stem2b[0].in_quant is None
    assert model.stem3[0].in_quant is not None  # reads a concatenation: its own quantizer
    calibrate(model, [torch.rand(2, 3, 32, 32) for _ in range(3)], cfg=cfg)
    meta = build_metadata("det", "x", extra={"quant": {"test": True}})
    path = export_qdq(model, tmp_path / "stem_q.onnx", "det", meta, (1, 3, 32, 32))
    assert "Pad" not in _ops(onnx.load(str(path)))
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        ref = model(x).numpy()
    step = float(model.stem4[0].out_quant.step())
    assert np.abs(ort_run(path, x.numpy()) - ref).max() <= step * 1.0001
