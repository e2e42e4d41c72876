""":func:`fold_sigmoid_scale` moves a positive scalar factor in front of a ``Sigmoid`` into the
scale of the ``DequantizeLinear`` that feeds it (the ``x·σ(1.702x)`` GELU of an int8 graph), so
that ONNX Runtime fuses ``DequantizeLinear → Sigmoid → QuantizeLinear`` into its table-lookup
``QLinearSigmoid``; also exact up to float rounding.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from slimocr.graph.core import graph_consumers, stored_constant


def fold_sigmoid_scale(model: onnx.ModelProto) -> int:
    """Rewrite ``Sigmoid(Mul(DequantizeLinear(q, s, z), a))`` as
    ``Sigmoid(DequantizeLinear(q, s·a, z))`` (in place); return how many.

    ``a`` is a positive float32 scalar constant, ``s`` a per-tensor float32 scale. The
    ``DequantizeLinear`` keeps its other readers (a new one feeds the ``Sigmoid``); the ``Mul``
    goes when the ``Sigmoid`` was its only reader.
    """
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    consumers = graph_consumers(graph)
    outputs = {v.name for v in graph.output}

    def positive_scalar(name: str) -> float | None:
        value = stored_constant(name, producers, inits)
        if value is None or value.size != 1 or value.dtype != np.float32:
            return None
        number = float(value.reshape(()))
        return number if number > 0 else None

    done = 0
    for sig in list(graph.node):
        if sig.op_type != "Sigmoid" or sig.domain not in ("", "ai.onnx"):
            continue
        mul = producers.get(sig.input[0])
        if mul is None or mul.op_type != "Mul" or len(mul.input) != 2:
            continue
        for side in (0, 1):
            factor = positive_scalar(mul.input[1 - side])
            dq = producers.get(mul.input[side])
            if factor is None or dq is None or dq.op_type != "DequantizeLinear":
                continue
            scale = stored_constant(dq.input[1], producers, inits)
            if scale is None or scale.size != 1 or scale.dtype != np.float32:
                continue
            new_scale = f"{sig.output[0]}_scale"
            value = np.array(scale.reshape(()) * np.float32(factor), np.float32)
            graph.initializer.append(numpy_helper.from_array(value, new_scale))
            new_dq = onnx.helper.make_node(
                "DequantizeLinear",
                [dq.input[0], new_scale, *dq.input[2:]],
                [f"{sig.output[0]}_in"],
            )
            graph.node.insert(list(graph.node).index(sig), new_dq)
            sig.input[0] = new_dq.output[0]
            if not consumers.get(mul.output[0], [])[1:] and mul.output[0] not in outputs:
                graph.node.remove(mul)
            done += 1
            break
    return done
