"""``slimocr.graph.optimize`` runs passes by name or as functions and counts what each did."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from slimocr.graph import PASSES, optimize, thin_channels_pass


def _padded_conv() -> onnx.ModelProto:
    """x → Relu → Pad(bottom/right 1) → Conv 2×2 (4 → 4 channels) → y."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64), "pads"),
        numpy_helper.from_array(rng.standard_normal((4, 4, 2, 2)).astype(np.float32), "w"),
    ]
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Pad", ["r", "pads"], ["p"]),
        helper.make_node("Conv", ["p", "w"], ["y"], kernel_shape=[2, 2]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def test_optimize_runs_named_passes_in_order_and_counts_them() -> None:
    model = _padded_conv()
    x = np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype(np.float32)
    before = _run(model, x)
    counts = optimize(model, ["fold_pads", "merge_db_upsampling", "fold_pads"])
    assert counts == {"fold_pads": 1, "merge_db_upsampling": 0}  # the second fold finds none
    assert [n.op_type for n in model.graph.node] == ["Relu", "Conv"]
    np.testing.assert_array_equal(_run(model, x), before)


def test_optimize_takes_pass_functions_under_their_names() -> None:
    counts = optimize(_padded_conv(), [PASSES["fold_pads"], thin_channels_pass(8)])
    assert counts == {"fold_pads": 1, "pad_thin_channels": 0}  # the map is a graph output


def test_unknown_pass_is_refused_by_name() -> None:
    with pytest.raises(KeyError, match="unknown graph pass 'fold_everything'.*fold_pads"):
        optimize(_padded_conv(), ["fold_everything"])
