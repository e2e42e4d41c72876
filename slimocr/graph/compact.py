"""Shorter names and initializers instead of ``Constant`` nodes (:func:`compact_graph`).

Runs at export (:func:`slimocr.toolkit.export.onnx_export.export_onnx`, the int8 and
weight-only exports); it changes a file's size, not what it computes.
"""

from __future__ import annotations

from typing import Any

import onnx


def compact_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """Shrink an exported graph's bookkeeping without touching what it computes (in place).

    The trace names every node and tensor after its module path
    (``/backbone/stages.0/.../in_quant/QuantizeLinear_output_0``) and stores constants as
    ``Constant`` nodes; in a QDQ file those names weigh about a third as much as the int8
    weights. Constants become initializers, intermediate tensors get short names (``t1f``),
    nodes lose their optional names (a QDQ detector has ~550 nodes: ~2 KB of ``n21f``),
    shape annotations are dropped; the graph's inputs and outputs keep their names, so the
    file stays a drop-in replacement. ONNX Runtime computes the same bits either way.
    """
    graph = model.graph
    kept = {v.name for v in graph.input} | {v.name for v in graph.output}
    consts, nodes = [], []
    for node in graph.node:
        if (
            node.op_type == "Constant"
            and len(node.attribute) == 1
            and node.attribute[0].name == "value"
        ):
            tensor = onnx.TensorProto()
            tensor.CopyFrom(node.attribute[0].t)
            tensor.name = node.output[0]
            consts.append(tensor)
        else:
            nodes.append(node)
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in kept:
            return name
        if name not in names:
            names[name] = f"t{len(names):x}"
        return names[name]

    def rename(nodes: Any) -> None:  # nodes of the graph and of its subgraphs (If branches)
        for node in nodes:
            node.name = ""
            node.doc_string = ""
            node.input[:] = [short(n) for n in node.input]
            node.output[:] = [short(n) for n in node.output]
            for attr in node.attribute:
                for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                    for value in [*sub.input, *sub.output, *sub.value_info]:
                        value.name = short(value.name)
                    for tensor in sub.initializer:
                        tensor.name = short(tensor.name)
                    rename(sub.node)

    for tensor in [*graph.initializer, *consts]:
        tensor.name = short(tensor.name)
    rename(nodes)
    graph.initializer.extend(consts)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    return model
