"""Widen feature maps thinner than ONNX Runtime's NCHWc channel block (:func:`pad_thin_channels`).

Decided once: this pass runs when a model is opened
(:func:`slimocr.infer.session.layout_rewritten`), never at export, and only when the CPU
execution provider comes first. The reason: the width it pads to belongs to the machine, not
to the model. ONNX Runtime's blocked (NCHWc) convolutions on x86-64 work in blocks of 8
channels with AVX2 and 16 with AVX-512 (:func:`slimocr.infer.session.nchwc_block` reads it from
the CPU flags); ARM CPUs and the GPU providers do not use those kernels, and there the zero
channels would only add work. A file widened at export would carry the exporting machine's
block to every other machine, so the files stay as exported (their sha256 unchanged) and each
session widens its in-memory copy for the CPU it runs on.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import numpy_helper

from slimocr.graph.core import (
    conv_parts,
    graph_consumers,
    name_uses,
    static_shapes,
    subgraph_reads,
)

# ops through which a zero channel stays zero: f(0) = 0 elementwise
_ZERO_KEEPING = ("Relu", "HardSwish", "LeakyRelu", "Identity")


def pad_thin_channels(model: onnx.ModelProto, block: int) -> int:
    """Widen float feature maps of fewer than ``block`` channels to ``block`` with zero
    channels (in place); return how many maps (channel groups) were widened.

    ONNX Runtime's blocked (NCHWc) convolutions on x86 work in blocks of 16 channels with
    AVX-512 (8 with AVX2) and already compute a thinner map as a full block, but a conv that
    *reads* fewer channels than a block takes the plain-layout input path, with a layout
    conversion in front of it. The v3 detectors' first block works on 8-channel maps at half
    resolution, so three conversions of those maps ran on every image. With zero channels
    added the function is unchanged: the producing convs get zero filters and zero bias,
    depthwise convs zero filters, the convs that read the map zero input weights, and every
    op in between keeps a zero channel zero (``Relu``, ``HardSwish``, ``LeakyRelu``,
    ``Identity``, ``Add`` of two such maps).

    A map is widened only when all of that holds for every tensor of its channel group: each
    is made by a float conv with stored weights, a depthwise conv or one of those ops, and
    read only by them (a ``Concat``, ``Resize``, a gate or a graph output leaves it as it is),
    when no subgraph reads it, and when the weights it changes are read by their conv only
    (not shared, not declared as graph inputs). Squeeze-excitation maps (1×1) are left as they
    are. Outputs are equal for finite inputs (a zero filter times an infinite input value
    would make a NaN).
    """
    if block < 2:
        return 0
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    consumers = graph_consumers(graph)
    # tensors that must keep their channels: graph outputs and what subgraphs read
    sub_reads = subgraph_reads(graph.node)
    fixed = {v.name for v in graph.output} | sub_reads
    weight_uses = name_uses(graph, sub_reads)  # a weight read anywhere else than by its conv stays

    parent: dict[str, str] = {}

    def find(t: str) -> str:
        while parent.setdefault(t, t) != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    def is_depthwise(node: onnx.NodeProto) -> bool:
        parts = conv_parts(node, inits)
        return parts is not None and parts[2] > 1 and parts[0].shape[:2] == (parts[2], 1)

    def is_member_op(node: onnx.NodeProto) -> bool:
        """An op that maps a channel group onto itself and keeps zero channels zero."""
        if node.domain not in ("", "ai.onnx"):
            return False
        if node.op_type in _ZERO_KEEPING:
            return True
        if node.op_type == "Add":
            return len(node.input) == 2 and not any(i in inits for i in node.input)
        return is_depthwise(node)

    for node in graph.node:
        if is_member_op(node):
            for name in node.input[: 2 if node.op_type == "Add" else 1]:
                union(name, node.output[0])
        elif conv_parts(node, inits) is not None:
            find(node.output[0])  # a conv's output starts a group of its own

    groups: dict[str, list[str]] = defaultdict(list)
    for t in list(parent):
        groups[find(t)].append(t)
    shapes, _ = static_shapes(model)

    def pixel_map(t: str) -> bool:  # squeeze-excitation maps (1×1) gain nothing from a block
        shape = shapes.get(t)
        return shape is not None and len(shape) == 4 and shape[2:] == [1, 1]

    done = 0
    for tensors in groups.values():
        members = set(tensors)
        if any(pixel_map(t) for t in tensors):
            continue
        channels: set[int] = set()
        makers: list[tuple[onnx.NodeProto, bool]] = []  # (conv, is depthwise)
        readers: dict[int, onnx.NodeProto] = {}
        ok = True
        for t in tensors:
            node = producers.get(t)
            if t in fixed or node is None:
                ok = False
                break
            parts = conv_parts(node, inits)
            if parts is not None and parts[2] == 1:
                channels.add(parts[0].shape[0])
                makers.append((node, False))
            elif is_member_op(node):
                if is_depthwise(node):
                    channels.add(parts[0].shape[0])  # type: ignore[index]
                    makers.append((node, True))
            else:
                ok = False
            for user in consumers.get(t, []):
                up = conv_parts(user, inits)
                if up is not None and up[2] == 1:
                    if user.input[0] != t:
                        ok = False
                    readers[id(user)] = user
                elif not (is_member_op(user) and user.output[0] in members):
                    ok = False
            if not ok:
                break
        if not ok or len(channels) != 1 or not makers:
            continue
        c = channels.pop()
        if c >= block:
            continue
        readers_list = list(readers.values())
        nodes = [n for n, _ in makers] + readers_list
        if any(weight_uses[n.input[1]] != 1 for n in nodes):
            continue
        if any(len(n.input) > 2 and n.input[2] and weight_uses[n.input[2]] != 1 for n, _ in makers):
            continue
        if any(conv_parts(n, inits)[0].shape[1] != c for n in readers_list):  # type: ignore[index]
            continue
        for node, dw in makers:
            w, b, group = conv_parts(node, inits)  # type: ignore[misc]
            wide = np.zeros((block, *w.shape[1:]), dtype=w.dtype)
            wide[:c] = w
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(wide, node.input[1]))
            if b is not None:
                bias = np.zeros(block, dtype=b.dtype)
                bias[:c] = b
                inits[node.input[2]].CopyFrom(numpy_helper.from_array(bias, node.input[2]))
            if dw:
                for a in node.attribute:
                    if a.name == "group":
                        a.i = block
        for node in readers_list:
            w = conv_parts(node, inits)[0]  # type: ignore[index]
            wide = np.zeros((w.shape[0], block, *w.shape[2:]), dtype=w.dtype)
            wide[:, :c] = w
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(wide, node.input[1]))
        stale = [v for v in graph.value_info if v.name in members]
        for v in stale:
            graph.value_info.remove(v)
        done += 1
    return done


def may_have_thin_maps(model: onnx.ModelProto, block: int) -> bool:
    """Cheap test before the rewrite: some conv weight (stored, or the int8 of a weight-only
    ``Cast``) has fewer than ``block`` output channels."""
    graph = model.graph
    dims = {t.name: list(t.dims) for t in graph.initializer}
    cast_of = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Cast"}
    mul_of = {n.output[0]: list(n.input) for n in graph.node if n.op_type == "Mul"}
    for node in graph.node:
        if node.op_type != "Conv" or len(node.input) < 2:
            continue
        name = node.input[1]
        shape = dims.get(name)
        if shape is None:  # Mul(Cast(q), s): q's shape
            shape = next((dims.get(cast_of.get(i, "")) for i in mul_of.get(name, [])), None)
        if shape is not None and len(shape) == 4 and shape[0] < block:
            return True
    return False
