"""Fold weight-only int8 weights back to float32 constants (:func:`fold_stored_int8_weights`).

Runs at load, in front of :mod:`slimocr.graph.thin_channels`, which needs the weights as stored
float constants; ONNX Runtime's own constant folding would compute the same values.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from slimocr.graph.core import attrs, drop_dead, name_uses


def fold_stored_int8_weights(model: onnx.ModelProto) -> int:
    """Replace ``Mul(Cast(q), s)`` of stored int8 ``q`` and float32 ``s`` (the weight-only int8
    form of :mod:`slimocr.toolkit.compress.quant.weight_only`) by the float32 product as a stored
    constant (in place); return how many.

    This is the constant folding ONNX Runtime applies when it opens such a file, with the same
    float32 arithmetic, done ahead so that rewrites which need the weights as stored constants
    (:func:`pad_thin_channels`) see them. Meant for a model in memory: it undoes the file's
    4× smaller storage.
    """
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    uses = name_uses(graph)
    graph_outputs = {v.name for v in graph.output}
    drop: set[int] = set()  # node positions
    nodes = list(graph.node)
    position = {n.output[0]: i for i, n in enumerate(nodes) if n.output}
    folded: list[onnx.TensorProto] = []
    for mul in nodes:
        if mul.op_type != "Mul" or mul.domain not in ("", "ai.onnx") or len(mul.input) != 2:
            continue
        for side in (0, 1):
            cast, scale = producers.get(mul.input[side]), mul.input[1 - side]
            if cast is None or cast.op_type != "Cast" or scale not in inits:
                continue
            q = inits.get(cast.input[0])
            if q is None or q.data_type != onnx.TensorProto.INT8:
                continue
            if attrs(cast).get("to") != onnx.TensorProto.FLOAT:
                continue
            if inits[scale].data_type != onnx.TensorProto.FLOAT:
                continue
            # read only here: not a graph input or output, not inside a subgraph
            if uses[cast.output[0]] != 1 or uses[q.name] != 1 or uses[scale] != 1:
                continue
            if mul.output[0] in graph_outputs:
                continue
            a = numpy_helper.to_array(q).astype(np.float32)
            s = numpy_helper.to_array(inits[scale])
            product = a * s if side == 0 else s * a
            folded.append(numpy_helper.from_array(product, mul.output[0]))
            drop.update((position[mul.output[0]], position[cast.output[0]]))
            break
    if folded:
        keep = [n for i, n in enumerate(nodes) if i not in drop]
        del graph.node[:]
        graph.node.extend(keep)
        graph.initializer.extend(folded)
        drop_dead(graph)
    return len(folded)
