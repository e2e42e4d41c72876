"""``x + x·g`` becomes ``x·(g + 1)``: one full-size pass fewer, same values up to rounding."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

from slimocr.graph import fold_gate_residual
from slimocr.toolkit.compress.quant import QuantConfig, calibrate, export_qdq, prepare_qat
from slimocr.toolkit.compress.quant.export import ort_run
from slimocr.toolkit.export.onnx_export import build_metadata, export_onnx


def _graph(swap: bool = False, mul_output: bool = False, const_gate: bool = False):
    """x → GlobalAveragePool → Conv 1×1 → hard sigmoid = g; y = x + x·g."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 4, 1, 1)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.random((1, 4, 1, 1)).astype(np.float32), "cg"),
    ]
    gate = "cg" if const_gate else "g"
    mul_inputs = [gate, "x"] if swap else ["x", gate]
    add_inputs = ["m", "x"] if swap else ["x", "m"]
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["p"]),
        helper.make_node("Conv", ["p", "w"], ["c"]),
        helper.make_node("HardSigmoid", ["c"], ["g"], alpha=0.2, beta=0.5),
        helper.make_node("Mul", mul_inputs, ["m"]),
        helper.make_node("Add", add_inputs, ["y"]),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 5, 6])]
    if mul_output:
        outputs.append(helper.make_tensor_value_info("m", TensorProto.FLOAT, [1, 4, 5, 6]))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 5, 6])],
        outputs,
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def test_gated_residual_becomes_one_multiply() -> None:
    x = np.random.default_rng(1).normal(0, 2, (2, 4, 5, 6)).astype(np.float32)
    for swap in (False, True):
        model = _graph(swap=swap)
        before = _run(model, x)
        assert fold_gate_residual(model) == 1
        onnx.checker.check_model(model)
        readers_of_x = [n.op_type for n in model.graph.node if "x" in n.input]
        assert sorted(readers_of_x) == ["GlobalAveragePool", "Mul"]  # the full-size Add is gone
        np.testing.assert_allclose(_run(model, x), before, rtol=1e-6, atol=1e-6)


def _float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same graph in float16 (input, output and weights)."""
    for v in [*model.graph.input, *model.graph.output]:
        v.type.tensor_type.elem_type = TensorProto.FLOAT16
    for i, t in enumerate(model.graph.initializer):
        arr = numpy_helper.to_array(t).astype(np.float16)
        model.graph.initializer[i].CopyFrom(numpy_helper.from_array(arr, t.name))
    return model


def test_left_alone() -> None:
    for model in (_graph(mul_output=True), _graph(const_gate=True), _float16(_graph())):
        ops = [n.op_type for n in model.graph.node]
        assert fold_gate_residual(model) == 0
        assert [n.op_type for n in model.graph.node] == ops


class _GatedResidual(torch.nn.Module):
    """conv → x + x·hardsigmoid(conv1×1(mean(x))) → conv: a DB neck's SE residual."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.se = torch.nn.Conv2d(8, 8, 1)
        self.out = torch.nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        gate = torch.nn.functional.hardsigmoid(self.se(x.mean((2, 3), keepdim=True)))
        return self.out(x + x * gate)


def _full_size_adds(path) -> int:  # noqa: ANN001
    proto = onnx.load(str(path))
    producers = {o: n for n in proto.graph.node for o in n.output}
    return sum(
        n.op_type == "Add" and any(producers.get(i, n).op_type == "Mul" for i in n.input)
        for n in proto.graph.node
    )


def test_int8_export_folds_the_gate_float_export_keeps_it(tmp_path) -> None:
    torch.manual_seed(0)
    net = _GatedResidual().eval()
    meta = build_metadata("det", "x")
    float_path = export_onnx(net, tmp_path / "f.onnx", "det", meta, sample_shape=(1, 3, 16, 16))
    assert _full_size_adds(float_path) == 1  # float graphs are left as they are
    cfg = QuantConfig(quantize_model_output=True)
    model = prepare_qat(net, cfg)
    calibrate(model, [torch.rand(2, 3, 16, 16) for _ in range(3)], cfg=cfg)
    qmeta = build_metadata("det", "x", extra={"quant": {"test": True}})
    path = export_qdq(model, tmp_path / "q.onnx", "det", qmeta, (1, 3, 16, 16))
    assert _full_size_adds(path) == 0
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        ref = model(x).numpy()
    step = float(model.out.out_quant.step())
    assert np.abs(ort_run(path, x.numpy()) - ref).max() <= step * 1.0001
