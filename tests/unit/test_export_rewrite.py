"""The DB upsampling rewrite computes what the transposed convolutions computed."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from slimocr.graph import merge_db_upsampling
from slimocr.toolkit.export.onnx_export import build_metadata, export_onnx
from slimocr.toolkit.models.heads.db_head import DBBranch


def _run(model: onnx.ModelProto | str, x: np.ndarray) -> np.ndarray:
    data = model if isinstance(model, str) else model.SerializeToString()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


@pytest.mark.parametrize("fused", [False, True])
def test_exported_db_branch_is_rewritten_and_equal(tmp_path, fused: bool) -> None:
    torch.manual_seed(0)
    branch = DBBranch(16, fused=fused)
    if not fused:  # non-trivial batch-norm statistics, so that folding them matters
        for bn in (branch.bn1, branch.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.3, 0.3)
    branch.eval()
    meta = build_metadata("det", "x")
    path = export_onnx(branch, tmp_path / "head.onnx", "det", meta, sample_shape=(1, 16, 8, 8))
    proto = onnx.load(str(path))
    ops = _ops(proto)
    assert "ConvTranspose" not in ops and ops.count("DepthToSpace") == 1
    x = np.random.default_rng(0).normal(size=(2, 16, 5, 7)).astype(np.float32)
    with torch.no_grad():
        expected = branch(torch.from_numpy(x)).numpy()
    got = _run(str(path), x)
    assert got.shape == (2, 1, 20, 28)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def _tail(k: int, extra_consumer: bool = False) -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    w1 = rng.normal(size=(6, 4, 2, 2)).astype(np.float32)
    b1 = rng.normal(size=4).astype(np.float32)
    w2 = rng.normal(size=(4, k, 2, 2)).astype(np.float32)
    up = {"kernel_shape": [2, 2], "strides": [2, 2]}
    nodes = [
        helper.make_node("ConvTranspose", ["x", "w1", "b1"], ["u"], **up),
        helper.make_node("Relu", ["u"], ["r"]),
        helper.make_node("ConvTranspose", ["r", "w2"], ["y"], **up),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if extra_consumer:
        nodes.append(helper.make_node("Neg", ["r"], ["z"]))
        outputs.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, None))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 3, 5])],
        outputs,
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1")]
        + [numpy_helper.from_array(w2, "w2")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_several_output_channels_without_sigmoid() -> None:
    x = np.random.default_rng(2).normal(size=(1, 6, 3, 5)).astype(np.float32)
    model = _tail(k=3)
    before = _run(model, x)
    assert merge_db_upsampling(model) == 1
    assert _ops(model) == ["Conv", "Relu", "Conv", "DepthToSpace"]
    # dense 1×1 convs (a grouped one stays off ONNX Runtime's blocked-layout kernels)
    assert all(a.name != "group" or a.i == 1 for n in model.graph.node for a in n.attribute)
    assert {t.name for t in model.graph.initializer}.isdisjoint({"w1", "b1", "w2"})
    after = _run(model, x)
    assert after.shape == before.shape == (1, 3, 12, 20)
    np.testing.assert_allclose(after, before, atol=1e-5)


def test_tail_with_a_shared_intermediate_is_left_alone() -> None:
    model = _tail(k=1, extra_consumer=True)
    assert merge_db_upsampling(model) == 0
    assert _ops(model).count("ConvTranspose") == 2
