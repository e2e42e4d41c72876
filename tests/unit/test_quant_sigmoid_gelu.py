"""GELU between int8 layers as ``x·σ(1.702x)``: an 8-bit sigmoid ONNX Runtime runs as a table."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from slimocr.errors import ConfigError
from slimocr.graph import fold_sigmoid_scale
from slimocr.toolkit.compress.quant import QuantConfig
from slimocr.toolkit.compress.quant.fake_quant import SigmoidGELU
from slimocr.toolkit.compress.quant.prepare import quant_summary
from tests.quant_helpers import calibrated, export_and_compare


def test_sigmoid_gelu_is_close_to_gelu_with_the_sigmoid_on_a_255_step_grid() -> None:
    x = torch.linspace(-8, 8, 4001, requires_grad=True)
    y = SigmoidGELU()(x)
    assert (y - torch.nn.functional.gelu(x)).abs().max() < 0.026
    gate = torch.where(x != 0, y / x, torch.ones_like(x)).detach()
    levels = gate * 255
    assert torch.allclose(levels[x != 0], levels[x != 0].round(), atol=1e-3)
    assert float(y[-1].detach()) == pytest.approx(8.0)  # σ = 1 exactly: large inputs pass unchanged
    y.sum().backward()  # straight-through rounding: the gradient is the smooth one
    assert x.grad is not None and torch.all(x.grad[x > 1] > 0.9)


class _Mixer(torch.nn.Module):
    """1×1 → GELU → 1×1, as in a PP-LCNetV4 block; ``skip`` holds a GELU on a float input."""

    def __init__(self) -> None:
        super().__init__()
        self.expand = torch.nn.Conv2d(3, 8, 1)
        self.act = torch.nn.GELU()
        self.project = torch.nn.Conv2d(8, 3, 1)
        self.skip = torch.nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.act(self.expand(x))) + self.skip(x)


def _quantized(gelu: str) -> torch.nn.Module:
    return calibrated(_Mixer, gelu=gelu)


def test_prepare_replaces_only_gelus_on_quantized_outputs() -> None:
    model = _quantized("sigmoid")
    assert isinstance(model.act, SigmoidGELU)
    assert isinstance(model.skip, torch.nn.GELU)  # its input is the float model input
    assert quant_summary(model)["sigmoid_gelus"] == 1
    assert isinstance(_quantized("float").act, torch.nn.GELU)
    with pytest.raises(ConfigError, match="gelu"):
        QuantConfig(gelu="tanh")


def test_int8_export_runs_the_gelu_as_int8_sigmoid_and_multiply(tmp_path) -> None:
    model = _quantized("sigmoid")
    ops = export_and_compare(model, tmp_path, model.project, torch.randn(1, 3, 10, 12))
    assert ops["QLinearSigmoid"] == 1 and ops["QLinearMul"] == 1
    assert ops["Gelu"] == 1  # the float one


def _sigmoid_graph(factor: float, dtype: int = TensorProto.FLOAT) -> onnx.ModelProto:
    """x → Q → DQ → Mul(factor) → Sigmoid, and the DQ also feeds the output ``d``."""
    np_type = np.float32 if dtype == TensorProto.FLOAT else np.float64
    inits = [
        numpy_helper.from_array(np.array(0.05, np.float32), "s"),
        numpy_helper.from_array(np.array(128, np.uint8), "z"),
        numpy_helper.from_array(np.array(factor, np_type), "a"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d"]),
        helper.make_node("Cast", ["d"], ["dc"], to=dtype),
        helper.make_node("Mul", ["a", "dc"], ["m"]),
        helper.make_node("Cast", ["m"], ["m32"], to=TensorProto.FLOAT),
        helper.make_node("Sigmoid", ["m32"], ["y"]),
    ]
    if dtype == TensorProto.FLOAT:  # no casts
        nodes = [nodes[0], nodes[1], helper.make_node("Mul", ["a", "d"], ["m32"]), nodes[5]]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 7]) for n in ("y", "d")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 7])], outs, inits
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})


def test_fold_sigmoid_scale_moves_the_factor_into_the_dequantize() -> None:
    x = np.random.default_rng(0).normal(0, 3, (2, 7)).astype(np.float32)
    model = _sigmoid_graph(1.702)
    before = _run(model, x)
    assert fold_sigmoid_scale(model) == 1
    onnx.checker.check_model(model)
    assert "Mul" not in [n.op_type for n in model.graph.node]
    sig = next(n for n in model.graph.node if n.op_type == "Sigmoid")
    producer = next(n for n in model.graph.node if sig.input[0] in n.output)
    assert producer.op_type == "DequantizeLinear" and producer.input[0] == "q"
    after = _run(model, x)
    np.testing.assert_allclose(after[0], before[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(after[1], before[1])  # the DQ's other reader unchanged


def test_fold_sigmoid_scale_leaves_other_factors_alone() -> None:
    for model in (_sigmoid_graph(-1.702), _sigmoid_graph(1.702, TensorProto.DOUBLE)):
        ops = [n.op_type for n in model.graph.node]
        assert fold_sigmoid_scale(model) == 0
        assert [n.op_type for n in model.graph.node] == ops
