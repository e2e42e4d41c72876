""":func:`fold_gate_residual` turns a gated residual ``x + x·g`` (the squeeze-excitation
residual of the DB necks) into ``x·(g + 1)``: one pass over the feature map instead of two,
the ``+ 1`` done on the small gate. Unlike the DB upsampling and pad rewrites it is exact only
up to float rounding (results differ in the last bits).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from slimocr.graph.core import graph_consumers, static_shapes


def fold_gate_residual(model: onnx.ModelProto) -> int:
    """Rewrite ``Add(x, Mul(x, g))`` as ``Mul(x, Add(g, 1))`` (in place); return how many.

    Both forms broadcast to the same shape, so the rewrite is valid for any shapes; it is
    applied where it saves work: the ``Mul`` is read only by the ``Add``, ``g`` is not a stored
    constant, and each of ``g``'s dimensions is 1 or ``x``'s (a per-channel gate of an N×C×H×W
    map), so that the ``+ 1`` runs on ``g``'s few values. Only float32 gates are rewritten
    (the ``1`` is stored as float32).
    """
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    consumers = graph_consumers(graph)
    producers = {o: n for n in graph.node for o in n.output}
    outputs = {v.name for v in graph.output}
    shapes, types = static_shapes(model)

    def per_channel(gate: str, x: str) -> bool:
        gs, xs = shapes.get(gate), shapes.get(x)
        if gs is None or xs is None or len(gs) > len(xs):
            return False
        padded = [1] * (len(xs) - len(gs)) + gs
        # an unknown dimension (the batch) counts as equal to x's: the rewrite is correct for
        # any shapes (both forms broadcast to the same shape), the check only keeps it where
        # it saves work
        return all(g in (1, d) for g, d in zip(padded, xs, strict=True))

    done = 0
    for add in list(graph.node):
        if add.op_type != "Add" or add.domain not in ("", "ai.onnx") or len(add.input) != 2:
            continue
        for side in (0, 1):
            x, other = add.input[side], add.input[1 - side]
            mul = producers.get(other)
            if mul is None or mul.op_type != "Mul" or len(mul.input) != 2 or x not in mul.input:
                continue
            if len(consumers.get(other, [])) != 1 or other in outputs:
                continue
            gate = mul.input[1] if mul.input[0] == x else mul.input[0]
            if gate == x or gate in inits or types.get(gate) != onnx.TensorProto.FLOAT:
                continue
            if not per_channel(gate, x):
                continue
            one = f"{add.output[0]}_one"
            plus = f"{add.output[0]}_gate1"
            graph.initializer.append(numpy_helper.from_array(np.array(1.0, np.float32), one))
            position = list(graph.node).index(mul)
            graph.node.remove(mul)
            graph.node.remove(add)
            graph.node.insert(position, onnx.helper.make_node("Add", [gate, one], [plus]))
            graph.node.insert(
                position + 1, onnx.helper.make_node("Mul", [x, plus], [add.output[0]])
            )
            done += 1
            break
    return done
