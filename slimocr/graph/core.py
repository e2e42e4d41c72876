"""Helpers shared by the graph passes: attributes, producers and readers, stored constants,
shapes, dead-node removal."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, cast

import numpy as np
import onnx
from onnx import numpy_helper


def attrs(node: onnx.NodeProto) -> dict[str, Any]:
    """A node's attributes by name, as Python values."""
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def graph_consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    """Tensor name → the nodes that read it."""
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    return consumers


def stored_constant(
    tensor: str, producers: dict[str, onnx.NodeProto], inits: dict
) -> np.ndarray | None:
    """The value of a stored constant (an initializer or a ``Constant`` node's tensor
    ``value``), else None."""
    if tensor in inits:
        return numpy_helper.to_array(inits[tensor])
    node = producers.get(tensor)
    if node is not None and node.op_type == "Constant":
        value = attrs(node).get("value")
        if isinstance(value, onnx.TensorProto):
            return numpy_helper.to_array(value)
    return None


def evaluate_constant(
    tensor: str, producers: dict[str, onnx.NodeProto], inits: dict, opset: int, depth: int = 0
) -> np.ndarray | None:
    """The value of ``tensor`` when it is computed from stored constants only (the exporter
    spells a fixed ``F.pad`` as a small shape-arithmetic chain); None otherwise."""
    stored = stored_constant(tensor, producers, inits)
    if stored is not None:
        return stored
    node = producers.get(tensor)
    if node is None or depth > 16 or node.domain not in ("", "ai.onnx"):
        return None
    if node.op_type == "Constant":  # a Constant without a tensor ``value``
        return None
    values = {}
    for name in node.input:
        if name:
            value = evaluate_constant(name, producers, inits, opset, depth + 1)
            if value is None:
                return None
            values[name] = value
    from onnx.reference import ReferenceEvaluator

    graph = onnx.helper.make_graph(
        [node],
        "const",
        [
            onnx.helper.make_tensor_value_info(
                n, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape
            )
            for n, v in values.items()
        ],
        [
            onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None)
            for o in node.output
        ],
    )
    sub = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    try:
        # a list of the outputs (a dict only with intermediate=True)
        out = cast("list[Any]", ReferenceEvaluator(sub).run(None, values))
    except Exception:  # an op the reference runtime cannot run: treat as not constant
        return None
    return np.asarray(out[list(node.output).index(tensor)])


def static_shapes(
    model: onnx.ModelProto,
) -> tuple[dict[str, list[int | None]], dict[str, int]]:
    """Tensor name → its inferred shape (None for a symbolic dimension), and → element type."""
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes: dict[str, list[int | None]] = {}
    types: dict[str, int] = {}
    values = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    for v in values:
        t = v.type.tensor_type
        types[v.name] = t.elem_type
        if t.HasField("shape"):
            shapes[v.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return shapes, types


def drop_dead(graph: onnx.GraphProto) -> None:
    """Remove nodes whose outputs nobody reads, then initializers nobody reads."""
    keep = {v.name for v in graph.output}
    while True:
        used = keep | {name for node in graph.node for name in node.input}
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    used = keep | {name for node in graph.node for name in node.input}
    for tensor in list(graph.initializer):
        if tensor.name not in used:
            graph.initializer.remove(tensor)


def subgraph_reads(nodes: Iterable[onnx.NodeProto]) -> set[str]:
    """Names that the subgraphs (``If``/``Loop``/``Scan`` bodies) of ``nodes`` read, at any
    depth: outer-scope tensors among them cannot be changed without changing the branch."""
    names: set[str] = set()
    for node in nodes:
        for attr in node.attribute:
            bodies = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
            for body in bodies:
                for inner in body.node:
                    names.update(inner.input)
                names.update(v.name for v in body.output)
                names |= subgraph_reads(body.node)
    return names


def name_uses(graph: onnx.GraphProto, sub_reads: set[str] | None = None) -> dict[str, int]:
    """How often each name is read: as any node input, as a graph output, as a declared graph
    input (an initializer listed there can be overridden at run time) or inside a subgraph
    (``sub_reads``: :func:`subgraph_reads` of the graph's nodes, when already known)."""
    uses: dict[str, int] = defaultdict(int)
    for node in graph.node:
        for name in node.input:
            uses[name] += 1
    for name in (
        *(v.name for v in graph.output),
        *(v.name for v in graph.input),
        *(subgraph_reads(graph.node) if sub_reads is None else sub_reads),
    ):
        uses[name] += 1
    return uses


def conv_parts(
    node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]
) -> tuple[np.ndarray, np.ndarray | None, int] | None:
    """A float conv's stored (4-D) weight, bias (None if absent) and group; None otherwise."""
    if node.op_type != "Conv" or node.domain not in ("", "ai.onnx"):
        return None
    w = inits.get(node.input[1]) if len(node.input) > 1 else None
    if w is None or len(w.dims) != 4 or w.data_type != onnx.TensorProto.FLOAT:
        return None
    b = None
    if len(node.input) > 2 and node.input[2]:
        if node.input[2] not in inits:
            return None
        b = numpy_helper.to_array(inits[node.input[2]])
    return numpy_helper.to_array(w), b, int(attrs(node).get("group", 1))
