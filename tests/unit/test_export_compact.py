"""The exported graph's bookkeeping is compacted without changing what it computes."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from slimocr.graph import compact_graph


def _model() -> onnx.ModelProto:
    w = np.arange(6, dtype=np.float32).reshape(2, 3, 1, 1) / 10
    long = "/backbone/stages.0/stages.0.0/expand/expand.0/"
    nodes = [
        helper.make_node(
            "Constant",
            [],
            [long + "Constant_output_0"],
            name=long + "Constant",
            value=numpy_helper.from_array(w),
        ),
        helper.make_node(
            "Conv", ["x", long + "Constant_output_0"], [long + "Conv_output_0"], name=long + "Conv"
        ),
        helper.make_node("Relu", [long + "Conv_output_0"], ["y"], name=long + "Relu"),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, "H", "W"])
    vi = helper.make_tensor_value_info(long + "Conv_output_0", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [x], [y], value_info=[vi])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def test_compact_keeps_outputs_and_io_and_drops_long_names():
    model = _model()
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 5)).astype(np.float32)
    before = _run(model, x)
    size = model.ByteSize()
    compact_graph(model)
    onnx.checker.check_model(model)
    np.testing.assert_array_equal(_run(model, x), before)
    graph = model.graph
    assert [n.op_type for n in graph.node] == ["Conv", "Relu"]  # the constant is an initializer
    assert [i.name for i in graph.initializer] == [graph.node[0].input[1]]
    assert graph.input[0].name == "x" and graph.output[0].name == "y"
    names = [*graph.node[0].input, *graph.node[0].output]
    assert all(len(n) <= 3 for n in names)
    assert all(n.name == "" for n in graph.node)
    assert not graph.value_info
    assert model.ByteSize() < size - 3 * len("/backbone/stages.0/stages.0.0/expand/expand.0/")
