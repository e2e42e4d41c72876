"""Small ONNX models built in code for the tests: thin feature maps (narrower than a CPU's
NCHWc block) that the runtime's layout rewrite widens."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def stem(tail: str = "conv", se: bool = True) -> onnx.ModelProto:
    """A MobileNetV3-like start: stem conv 3→8 + HardSwish; a block on 8 channels (1×1 conv +
    ReLU, depthwise 3×3 + ReLU, 1×1 conv) with a residual add; then 8 → 32 by ``tail``
    ("conv": a 1×1 conv; "concat", "sigmoid": ops that do not keep a zero channel's place or
    value), and optionally a squeeze-excitation gate on the 32 channels (its 6-channel
    inner map is 1×1)."""
    rng = np.random.default_rng(0)

    def w(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.5, name)

    inits = [
        w("w0", 8, 3, 3, 3),
        w("b0", 8),
        w("w1", 8, 8, 1, 1),
        w("b1", 8),
        w("w2", 8, 1, 3, 3),
        w("b2", 8),
        w("w3", 8, 8, 1, 1),
        w("b3", 8),
        w("w4", 32, 8, 1, 1),
        w("b4", 32),
        w("s1", 6, 32, 1, 1),
        w("s2", 32, 6, 1, 1),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("HardSwish", ["c0"], ["h0"]),
        helper.make_node("Conv", ["h0", "w1", "b1"], ["c1"]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], group=8, pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"]),
        helper.make_node("Add", ["h0", "c3"], ["a"]),
    ]
    if tail == "conv":
        nodes.append(helper.make_node("Conv", ["a", "w4", "b4"], ["t"]))
    elif tail == "concat":
        nodes += [
            helper.make_node("Concat", ["a", "a", "a", "a"], ["cat"], axis=1),
            helper.make_node("Relu", ["cat"], ["t"]),
        ]
    else:
        nodes += [
            helper.make_node("Sigmoid", ["a"], ["sg"]),
            helper.make_node("Conv", ["sg", "w4", "b4"], ["t"]),
        ]
    if se:
        nodes += [
            helper.make_node("GlobalAveragePool", ["t"], ["p"]),
            helper.make_node("Conv", ["p", "s1"], ["q"]),
            helper.make_node("Relu", ["q"], ["qr"]),
            helper.make_node("Conv", ["qr", "s2"], ["g0"]),
            helper.make_node("HardSigmoid", ["g0"], ["g"]),
            helper.make_node("Mul", ["t", "g"], ["y"]),
        ]
    else:
        nodes.append(helper.make_node("Identity", ["t"], ["y"]))
    graph = helper.make_graph(
        nodes,
        "stem",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "C", "h", "w"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def thin_detector() -> onnx.ModelProto:
    """:func:`stem` as a detector: a 1×1 conv to one channel, nearest upsampling back to the
    input size and a sigmoid give a 1×1×H×W probability map, as a DB detector's does."""
    model = stem()
    g = model.graph
    rng = np.random.default_rng(3)
    g.initializer.extend(
        [
            numpy_helper.from_array(rng.standard_normal((1, 32, 1, 1)).astype(np.float32), "wd"),
            numpy_helper.from_array(np.zeros(1, np.float32), "bd"),
            numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
        ]
    )
    g.node.extend(
        [
            helper.make_node("Conv", ["y", "wd", "bd"], ["d"]),
            helper.make_node("Resize", ["d", "", "scales"], ["u"], mode="nearest"),
            helper.make_node("Sigmoid", ["u"], ["maps"]),
        ]
    )
    del g.output[:]
    g.output.extend([helper.make_tensor_value_info("maps", TensorProto.FLOAT, ["N", 1, "H", "W"])])
    onnx.checker.check_model(model)
    return model
