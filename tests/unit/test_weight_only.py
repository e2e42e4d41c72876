"""Weight-only int8: per-channel values, ONNX Runtime folds the dequantization away."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from slimocr.errors import ModelFileError
from slimocr.toolkit.compress.quant.export import optimized_op_counts
from slimocr.toolkit.compress.quant.weight_only import (
    quantize_weight,
    weight_only_file,
    weight_only_int8,
)


def test_quantize_weight_per_channel_by_hand() -> None:
    w = np.array([[1.0, -2.0], [0.5, 0.25], [0.0, 0.0]], np.float32)
    q, scale = quantize_weight(w, axis=0)
    np.testing.assert_allclose(scale.ravel(), [2 / 127, 0.5 / 127, 1.0], rtol=1e-7)
    # 1 / (2/127) = 63.5 -> 64 (half to even), -2 -> -127; 0.25 / (0.5/127) = 63.5 -> 64
    np.testing.assert_array_equal(q, [[64, -127], [127, 64], [0, 0]])
    q1, scale1 = quantize_weight(w, axis=1)
    assert scale1.shape == (1, 2)
    np.testing.assert_allclose(scale1.ravel(), [1 / 127, 2 / 127], rtol=1e-7)
    np.testing.assert_array_equal(q1[:, 1], [-127, 16, 0])


def _model(rng: np.random.Generator) -> onnx.ModelProto:
    conv_w = rng.normal(size=(8, 3, 3, 3)).astype(np.float32)
    conv_w[2] *= 0.01  # a channel of small weights keeps its own scale
    mm_w = rng.normal(size=(8, 16)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 3, 1]),
        helper.make_node("MatMul", ["t", "mw"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 6, 6])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 6, 6, 16])],
        [
            numpy_helper.from_array(conv_w, "cw"),
            numpy_helper.from_array(rng.normal(size=8).astype(np.float32), "cb"),
            numpy_helper.from_array(mm_w, "mw"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _det_model(rng: np.random.Generator) -> onnx.ModelProto:
    """:func:`_model` with a detector's signature: one 1×1×6×6 map out."""
    model = _model(rng)
    graph = model.graph
    graph.node[-1].output[0] = "m"
    graph.node.append(helper.make_node("ReduceMax", ["m"], ["r1"], axes=[3], keepdims=1))
    graph.node.append(helper.make_node("Transpose", ["r1"], ["y"], perm=[0, 3, 1, 2]))
    graph.output[0].CopyFrom(
        helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 1, 6, 6])
    )
    return model


def _run(path: str, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def test_file_equals_float_model_on_rounded_weights(tmp_path) -> None:
    rng = np.random.default_rng(0)
    model = _model(rng)
    src, dst = tmp_path / "f.onnx", tmp_path / "w8.onnx"
    onnx.save(model, str(src))
    weight_only_file(src, dst)

    # the reference: the float graph with each weight replaced by q * scale
    ref = _model(np.random.default_rng(0))
    for tensor, axis in ((ref.graph.initializer[0], 0), (ref.graph.initializer[2], 1)):
        q, scale = quantize_weight(numpy_helper.to_array(tensor), axis)
        tensor.CopyFrom(numpy_helper.from_array(q.astype(np.float32) * scale, tensor.name))
    onnx.save(ref, str(tmp_path / "ref.onnx"))

    x = rng.normal(size=(1, 3, 6, 6)).astype(np.float32)
    got = _run(str(dst), x)
    np.testing.assert_allclose(got, _run(str(tmp_path / "ref.onnx"), x), atol=1e-5)
    full = _run(str(src), x)
    assert 0 < np.abs(got - full).max() < 0.05 * np.abs(full).max()  # rounded, but close
    stored = {t.name: t.data_type for t in onnx.load(str(dst)).graph.initializer}
    assert sorted(stored.values()).count(onnx.TensorProto.INT8) == 2
    meta = {p.key: p.value for p in onnx.load(str(dst)).metadata_props}
    assert meta["precision"] == "w8"
    # ONNX Runtime folds Cast -> Mul of initializers: the graph it runs is the float one
    counts = optimized_op_counts(dst)
    assert counts["Cast"] == 0 and counts["DequantizeLinear"] == 0


def test_bias_only_and_bad_files_refused(tmp_path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "b"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(np.ones((1, 4), np.float32), "b")],
    )
    with pytest.raises(ValueError, match="no conv/matmul weight"):
        weight_only_int8(helper.make_model(graph))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="bad.onnx"):
        weight_only_file(bad, tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_cli_prints_the_conversion_summary(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from slimocr.cli.main import app

    src, dst = tmp_path / "float.onnx", tmp_path / "w8.onnx"
    onnx.save(_det_model(np.random.default_rng(3)), str(src))
    result = CliRunner().invoke(app, ["quant-weights", "det", str(src), "-o", str(dst)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["out_bytes"] == dst.stat().st_size < summary["source_bytes"]
    assert summary["weight_only"]["weights"] == 2 and summary["weight_only"]["bits"] == 8
    bad = CliRunner().invoke(app, ["quant-weights", "det", str(tmp_path / "none.onnx"), "-o", "x"])
    assert bad.exit_code != 0 and "none.onnx" in bad.output


def test_cli_refuses_its_source_as_output_and_a_model_of_the_other_kind(tmp_path) -> None:
    from typer.testing import CliRunner

    from slimocr.cli.main import app
    from slimocr.zoo.records import FILES_DIR

    src = tmp_path / "float.onnx"
    onnx.save(_det_model(np.random.default_rng(3)), str(src))
    before = src.read_bytes()
    same = CliRunner().invoke(app, ["quant-weights", "det", str(src), "-o", str(src)])
    assert same.exit_code == 2 and "is the source model" in same.output
    assert src.read_bytes() == before
    rec_file = FILES_DIR / "ppocrv6t-rec-w8.onnx"
    out = tmp_path / "w8.onnx"
    wrong = CliRunner().invoke(app, ["quant-weights", "det", str(rec_file), "-o", str(out)])
    assert wrong.exit_code == 1 and "expected a text detector" in wrong.output
    assert not out.exists()
    folder = CliRunner().invoke(app, ["quant-weights", "det", str(src), "-o", str(tmp_path)])
    assert folder.exit_code == 2 and f"{tmp_path}: is a folder" in folder.output
