"""RapidOCR-style recognizer files: charset in a newline-joined ``character`` entry (no space
class), input height fixed in the graph (48)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")


def _tiny_rec(path, chars: list[str], extra_space: bool) -> None:
    from onnx import TensorProto, helper

    n_classes = len(chars) + 1 + (1 if extra_space else 0)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 48, "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "W", n_classes])
    weights = helper.make_tensor(
        "w", TensorProto.FLOAT, [1, 1, n_classes], np.linspace(0, 1, n_classes).tolist()
    )
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [2])
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2], keepdims=0),
        helper.make_node("Unsqueeze", ["m", "axes"], ["u"]),
        helper.make_node("Mul", ["u", "w"], ["z"]),
        helper.make_node("Softmax", ["z"], ["y"], axis=2),
    ]
    graph = helper.make_graph(nodes, "rec", [x], [y], initializer=[weights, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model.metadata_props.add(key="character", value="\n".join(chars))
    onnx.save(model, str(path))


@pytest.mark.parametrize("extra_space", [True, False])
def test_character_metadata_and_input_height(tmp_path, extra_space):
    from slimocr.infer.pipeline import model_input_height, resolve_charset
    from slimocr.infer.rec import TextRecognizer
    from slimocr.infer.session import OnnxSession

    path = tmp_path / "rec.onnx"
    _tiny_rec(path, ["a", "b", "c"], extra_space)
    session = OnnxSession(path)
    chars = resolve_charset(None, session)
    assert chars == (["a", "b", "c", " "] if extra_space else ["a", "b", "c"])
    assert model_input_height(session, 32) == 48
    rec = TextRecognizer(session, charset=chars, image_height=48)
    out = rec([np.full((24, 60, 3), 200, np.uint8)])
    assert len(out) == 1
