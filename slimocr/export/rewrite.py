"""Exact ONNX graph rewrites that make an exported model run faster in ONNX Runtime.

:func:`merge_db_upsampling` replaces the DB head's two 2× transposed convolutions
(``ConvTranspose → [BatchNormalization] → Relu → ConvTranspose → [Sigmoid]``, kernel 2, stride
2) by two 1×1 convolutions at the input resolution and one ``DepthToSpace``. Both forms compute
the same function: a kernel-2 stride-2 transposed convolution writes each input pixel into its
own 2×2 output block, so the two of them map each input pixel to its own 4×4 block through a
pixel-wise network. ONNX Runtime runs a transposed convolution as a GEMM followed by a
scatter of columns to the image; the 1×1 convolutions take its blocked (NCHWc) kernels and
fuse the ReLU and the sigmoid.

:func:`fold_pads` moves constant zero ``Pad`` nodes into the ``pads`` of the convolutions and
max-pools that read them (PP-LCNetV4's stem pads right and bottom before its 2×2 convs and
max-pool); in an int8 graph that also keeps the stem on ONNX Runtime's int8 NHWC kernels.

:func:`fold_gate_residual` turns a gated residual ``x + x·g`` (the squeeze-excitation
residual of the DB necks) into ``x·(g + 1)``: one pass over the feature map instead of two,
the ``+ 1`` done on the small gate. Unlike the rewrites above it is exact only up to float
rounding (results differ in the last bits).

:func:`fold_sigmoid_scale` moves a positive scalar factor in front of a ``Sigmoid`` into the
scale of the ``DequantizeLinear`` that feeds it (the ``x·σ(1.702x)`` GELU of an int8 graph), so
that ONNX Runtime fuses ``DequantizeLinear → Sigmoid → QuantizeLinear`` into its table-lookup
``QLinearSigmoid``; also exact up to float rounding.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import onnx
from onnx import numpy_helper

_BN_DEFAULT_EPS = 1e-5


def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def graph_consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    """Tensor name → the nodes that read it."""
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    return consumers


def _is_up2(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> bool:
    """A kernel-2 stride-2 transposed convolution without padding, groups or output shape,
    whose weight (and bias, if any) are stored constants."""
    if node.op_type != "ConvTranspose" or node.domain not in ("", "ai.onnx"):
        return False
    a = _attrs(node)
    if list(a.get("kernel_shape", [2, 2])) != [2, 2] or list(a.get("strides", [1, 1])) != [2, 2]:
        return False
    if any(a.get("pads", [0, 0, 0, 0])) or a.get("group", 1) != 1:
        return False
    if any(a.get("output_padding", [0, 0])) or "output_shape" in a:
        return False
    if list(a.get("dilations", [1, 1])) != [1, 1] or a.get("auto_pad", b"NOTSET") != b"NOTSET":
        return False
    if node.input[1] not in inits or (len(node.input) > 2 and node.input[2] not in inits):
        return False
    return len(inits[node.input[1]].dims) == 4


def _weight_bias(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]):  # noqa: ANN202
    w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
    n_out = w.shape[1]
    b = (
        numpy_helper.to_array(inits[node.input[2]]).astype(np.float64)
        if len(node.input) > 2 and node.input[2]
        else np.zeros(n_out)
    )
    return w, b


def _fold_bn(
    w: np.ndarray, b: np.ndarray, bn: onnx.NodeProto, inits: dict[str, onnx.TensorProto]
) -> tuple[np.ndarray, np.ndarray]:
    scale, beta, mean, var = (
        numpy_helper.to_array(inits[n]).astype(np.float64) for n in bn.input[1:5]
    )
    eps = float(_attrs(bn).get("epsilon", _BN_DEFAULT_EPS))
    k = scale / np.sqrt(var + eps)
    return w * k[None, :, None, None], (b - mean) * k + beta


def merge_db_upsampling(model: onnx.ModelProto) -> int:
    """Rewrite every DB upsampling tail of ``model`` (in place); return how many were rewritten.

    The tail ``ConvTranspose(k2, s2) → [BatchNormalization] → Relu → ConvTranspose(k2, s2) →
    [Sigmoid]`` on an N×C×H×W input, with constant weights ``W1`` (C×M×2×2) and ``W2``
    (M×K×2×2), becomes

    * ``Conv`` 1×1, C → 4M: channel ``(2·a1 + b1)·M + m`` holds the first transposed
      convolution's output ``m`` at offset ``(a1, b1)`` of each 2×2 block (batch norm folded);
    * ``Relu``;
    * ``Conv`` 1×1, 4M → 16K: channel ``(4·a + b)·K + k`` with ``a = 2·a1 + a2``,
      ``b = 2·b1 + b2`` is output ``k`` at offset ``(a, b)`` of each 4×4 block; it reads only
      the ``2M`` channels of row ``a1`` (a block-diagonal weight, stored dense: ONNX Runtime's
      blocked-layout path left the equivalent two-group conv out, with a layout conversion on
      each side; docs/quantization.md times both forms);
    * ``Sigmoid`` when the tail had one; ``DepthToSpace`` (block 4, DCR) to N×K×4H×4W.

    The tail's output tensor keeps its name; tails whose intermediate tensors are used
    elsewhere, or whose weights are not plain constants (e.g. quantized), are left as they are.
    """
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers = graph_consumers(graph)
    outputs = {v.name for v in graph.output}

    def only_consumer(tensor: str) -> onnx.NodeProto | None:
        users = consumers.get(tensor, [])
        return users[0] if len(users) == 1 and tensor not in outputs else None

    rewrites = []
    for up1 in graph.node:
        if not _is_up2(up1, inits):
            continue
        chain = [up1]
        nxt = only_consumer(up1.output[0])
        bn = None
        if nxt is not None and nxt.op_type == "BatchNormalization" and len(nxt.output) == 1:
            if not all(n in inits for n in nxt.input[1:5]):
                continue
            bn, nxt = nxt, only_consumer(nxt.output[0])
            chain.append(bn)
        if nxt is None or nxt.op_type != "Relu":
            continue
        relu = nxt
        chain.append(relu)
        up2 = only_consumer(relu.output[0])
        if up2 is None or not _is_up2(up2, inits) or up2.input[0] != relu.output[0]:
            continue
        chain.append(up2)
        sig = only_consumer(up2.output[0])
        if sig is not None and sig.op_type == "Sigmoid":
            chain.append(sig)
        else:
            sig = None
        rewrites.append((chain, up1, bn, up2, sig))

    done = 0
    dropped: set[str] = set()
    for chain, up1, bn, up2, sig in rewrites:
        w1, b1 = _weight_bias(up1, inits)
        if bn is not None:
            w1, b1 = _fold_bn(w1, b1, bn, inits)
        w2, b2 = _weight_bias(up2, inits)
        c, m = w1.shape[:2]
        if w2.shape[0] != m:
            continue
        k = w2.shape[1]
        wa = np.zeros((4 * m, c, 1, 1))
        ba = np.zeros(4 * m)
        for a1 in range(2):
            for b1_ in range(2):
                g = 2 * a1 + b1_
                wa[g * m : (g + 1) * m, :, 0, 0] = w1[:, :, a1, b1_].T
                ba[g * m : (g + 1) * m] = b1
        # output rows a in {2·a1, 2·a1 + 1} read only the intermediate channels of row a1,
        # [2·a1·M, (2·a1 + 2)·M), at index 2·a1·M + b1·M + m
        wb = np.zeros((16 * k, 4 * m, 1, 1))
        bb = np.zeros(16 * k)
        for a1 in range(2):
            for b1_ in range(2):
                for a2 in range(2):
                    for b2_ in range(2):
                        a, b = 2 * a1 + a2, 2 * b1_ + b2_
                        rows = slice((4 * a + b) * k, (4 * a + b + 1) * k)
                        cols = slice((2 * a1 + b1_) * m, (2 * a1 + b1_ + 1) * m)
                        wb[rows, cols, 0, 0] = w2[:, :, a2, b2_].T
                        bb[rows] = b2
        base = up1.output[0]
        names = {s: f"{base}_up{s}" for s in ("wa", "ba", "wb", "bb", "a", "r", "b", "s")}
        for key, arr in (("wa", wa), ("ba", ba), ("wb", wb), ("bb", bb)):
            graph.initializer.append(numpy_helper.from_array(arr.astype(np.float32), names[key]))
        out = (sig or up2).output[0]
        new_nodes = [
            onnx.helper.make_node("Conv", [up1.input[0], names["wa"], names["ba"]], [names["a"]]),
            onnx.helper.make_node("Relu", [names["a"]], [names["r"]]),
            onnx.helper.make_node("Conv", [names["r"], names["wb"], names["bb"]], [names["b"]]),
        ]
        last = names["b"]
        if sig is not None:
            new_nodes.append(onnx.helper.make_node("Sigmoid", [last], [names["s"]]))
            last = names["s"]
        new_nodes.append(
            onnx.helper.make_node("DepthToSpace", [last], [out], blocksize=4, mode="DCR")
        )
        position = list(graph.node).index(up1)
        for node in chain:
            dropped.update(node.input[1:])
            graph.node.remove(node)
        for offset, node in enumerate(new_nodes):
            graph.node.insert(position + offset, node)
        done += 1

    used = {name for node in graph.node for name in node.input}
    for tensor in list(graph.initializer):
        if tensor.name in dropped and tensor.name not in used:
            graph.initializer.remove(tensor)
    return done


def _nonnegative(
    tensor: str, producers: dict[str, onnx.NodeProto], inits: dict, opset: int
) -> bool:
    """Whether ``tensor`` is non-negative by construction: a ``Relu`` output, or a
    ``DequantizeLinear`` of uint8 values with zero point 0 (a quantized ReLU output)."""
    node = producers.get(tensor)
    if node is None:
        return False
    if node.op_type == "Relu":
        return True
    if node.op_type == "DequantizeLinear" and len(node.input) > 2 and node.input[2]:
        zp = _evaluate(node.input[2], producers, inits, opset)
        return zp is not None and zp.dtype == np.uint8 and not zp.any()
    return False


def _stored_constant(
    tensor: str, producers: dict[str, onnx.NodeProto], inits: dict
) -> np.ndarray | None:
    """The value of a stored constant (an initializer or a ``Constant`` node's tensor
    ``value``), else None."""
    if tensor in inits:
        return numpy_helper.to_array(inits[tensor])
    node = producers.get(tensor)
    if node is not None and node.op_type == "Constant":
        value = _attrs(node).get("value")
        if isinstance(value, onnx.TensorProto):
            return numpy_helper.to_array(value)
    return None


def _evaluate(
    tensor: str, producers: dict[str, onnx.NodeProto], inits: dict, opset: int, depth: int = 0
) -> np.ndarray | None:
    """The value of ``tensor`` when it is computed from stored constants only (the exporter
    spells a fixed ``F.pad`` as a small shape-arithmetic chain); None otherwise."""
    stored = _stored_constant(tensor, producers, inits)
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
            value = _evaluate(name, producers, inits, opset, depth + 1)
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
        out = ReferenceEvaluator(sub).run(None, values)
    except Exception:  # an op the reference runtime cannot run: treat as not constant
        return None
    return np.asarray(out[list(node.output).index(tensor)])


def _takes_pads(node: onnx.NodeProto, spatial: list[int], nonneg: bool) -> bool:
    """Whether ``node`` reading a zero-padded 4-D tensor (``spatial`` = h/w begin, h/w end)
    computes the same with those pads in its own ``pads``."""
    a = _attrs(node)
    if node.domain not in ("", "ai.onnx") or a.get("auto_pad", b"NOTSET") != b"NOTSET":
        return False
    if node.op_type == "Conv":  # a convolution pads with zeros
        return True
    if node.op_type == "MaxPool" and nonneg and not a.get("ceil_mode", 0):
        # -inf padding equals zero padding over non-negative values, when no window is all pad
        k = list(a.get("kernel_shape", []))
        dilated = list(a.get("dilations", [1, 1])) != [1, 1]
        return len(k) == 2 and not dilated and all(p < k[i % 2] for i, p in enumerate(spatial))
    return False


def fold_pads(model: onnx.ModelProto) -> int:
    """Fold constant zero ``Pad`` nodes into the convolutions and max-pools that read them
    (in place); return how many ``Pad`` nodes were removed.

    ``Conv`` and ``MaxPool`` take (possibly asymmetric) ``pads`` themselves, so a ``Pad`` in
    front of them is a separate pass over the activation, and in an int8 graph a float one
    between dequantize and quantize. Folding is exact: a convolution pads with zeros; in a QDQ
    graph the path ``Pad → QuantizeLinear → DequantizeLinear → Conv`` becomes ``QuantizeLinear →
    DequantizeLinear → Conv`` (zero quantizes to the zero point, which dequantizes to zero);
    a max-pool pads with −∞, which equals zero padding only when its input is non-negative
    (checked: a ReLU or a zero-point-0 uint8 dequantize) and every window holds an input
    element. A ``Pad`` is folded only when every reader of its output can take it.
    """
    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    inits = {t.name: t for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    consumers = graph_consumers(graph)
    outputs = {v.name for v in graph.output}

    done = 0
    for pad in list(graph.node):
        if pad.op_type != "Pad" or pad.domain not in ("", "ai.onnx") or len(pad.input) < 2:
            continue
        if _attrs(pad).get("mode", b"constant") != b"constant" or pad.output[0] in outputs:
            continue
        if len(pad.input) > 3 and pad.input[3]:
            continue  # explicit axes
        if len(pad.input) > 2 and pad.input[2]:
            value = _evaluate(pad.input[2], producers, inits, opset)
            if value is None or np.asarray(value).any():
                continue
        pads = _evaluate(pad.input[1], producers, inits, opset)
        if pads is None or pads.size != 8 or pads.min() < 0 or pads[[0, 1, 4, 5]].any():
            continue
        spatial = [int(p) for p in pads[[2, 3, 6, 7]]]  # h_begin, w_begin, h_end, w_end
        nonneg = _nonnegative(pad.input[0], producers, inits, opset)

        targets: list[onnx.NodeProto] = []  # the readers whose pads grow
        ok = True
        for user in consumers.get(pad.output[0], []):
            if user.input[0] != pad.output[0] or list(user.input).count(pad.output[0]) != 1:
                ok = False
            elif user.op_type == "QuantizeLinear" and user.output[0] not in outputs:
                for dq in consumers.get(user.output[0], []):
                    if dq.op_type != "DequantizeLinear" or dq.output[0] in outputs:
                        ok = False
                        continue
                    for reader in consumers.get(dq.output[0], []):
                        if reader.input[0] != dq.output[0]:
                            ok = False
                        elif not _takes_pads(reader, spatial, nonneg):
                            ok = False
                        else:
                            targets.append(reader)
            elif _takes_pads(user, spatial, nonneg):
                targets.append(user)
            else:
                ok = False
        if not ok or not targets:
            continue
        for node in targets:
            a = _attrs(node)
            old = list(a.get("pads", [0, 0, 0, 0]))
            new = [o + p for o, p in zip(old, spatial, strict=True)]
            for attr in list(node.attribute):
                if attr.name == "pads":
                    node.attribute.remove(attr)
            node.attribute.append(onnx.helper.make_attribute("pads", new))
        for user in consumers.get(pad.output[0], []):
            user.input[0] = pad.input[0]
        graph.node.remove(pad)
        done += 1
    if done:
        _drop_dead(graph)
    return done


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
    shapes, types = _static_shapes(model)

    def per_channel(gate: str, x: str) -> bool:
        gs, xs = shapes.get(gate), shapes.get(x)
        if gs is None or xs is None or len(gs) > len(xs):
            return False
        gs = [1] * (len(xs) - len(gs)) + list(gs)
        # an unknown dimension (the batch) counts as equal to x's: the rewrite is correct for
        # any shapes (both forms broadcast to the same shape), the check only keeps it where
        # it saves work
        return all(g in (1, d) for g, d in zip(gs, xs, strict=True))

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
        value = _stored_constant(name, producers, inits)
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
            scale = _stored_constant(dq.input[1], producers, inits)
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


def _static_shapes(
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


def _drop_dead(graph: onnx.GraphProto) -> None:
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


# ops through which a zero channel stays zero: f(0) = 0 elementwise
_ZERO_KEEPING = ("Relu", "HardSwish", "LeakyRelu", "Identity")


def _subgraph_reads(nodes: Iterable[onnx.NodeProto]) -> set[str]:
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
                names |= _subgraph_reads(body.node)
    return names


def _name_uses(graph: onnx.GraphProto, subgraph_reads: set[str] | None = None) -> dict[str, int]:
    """How often each name is read: as any node input, as a graph output, as a declared graph
    input (an initializer listed there can be overridden at run time) or inside a subgraph
    (``subgraph_reads``: :func:`_subgraph_reads` of the graph's nodes, when already known)."""
    uses: dict[str, int] = defaultdict(int)
    for node in graph.node:
        for name in node.input:
            uses[name] += 1
    for name in (
        *(v.name for v in graph.output),
        *(v.name for v in graph.input),
        *(_subgraph_reads(graph.node) if subgraph_reads is None else subgraph_reads),
    ):
        uses[name] += 1
    return uses


def _conv_parts(
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
    return numpy_helper.to_array(w), b, int(_attrs(node).get("group", 1))


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
    sub_reads = _subgraph_reads(graph.node)
    fixed = {v.name for v in graph.output} | sub_reads
    weight_uses = _name_uses(graph, sub_reads)  # a weight read anywhere else than by its conv stays

    parent: dict[str, str] = {}

    def find(t: str) -> str:
        while parent.setdefault(t, t) != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    def is_depthwise(node: onnx.NodeProto) -> bool:
        parts = _conv_parts(node, inits)
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
        elif _conv_parts(node, inits) is not None:
            find(node.output[0])  # a conv's output starts a group of its own

    groups: dict[str, list[str]] = defaultdict(list)
    for t in list(parent):
        groups[find(t)].append(t)
    shapes, _ = _static_shapes(model)

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
            parts = _conv_parts(node, inits)
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
                up = _conv_parts(user, inits)
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
        if any(_conv_parts(n, inits)[0].shape[1] != c for n in readers_list):  # type: ignore[index]
            continue
        for node, dw in makers:
            w, b, group = _conv_parts(node, inits)  # type: ignore[misc]
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
            w = _conv_parts(node, inits)[0]  # type: ignore[index]
            wide = np.zeros((w.shape[0], block, *w.shape[2:]), dtype=w.dtype)
            wide[:, :c] = w
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(wide, node.input[1]))
        stale = [v for v in graph.value_info if v.name in members]
        for v in stale:
            graph.value_info.remove(v)
        done += 1
    return done


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
    uses = _name_uses(graph)
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
            if _attrs(cast).get("to") != onnx.TensorProto.FLOAT:
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
        _drop_dead(graph)
    return len(folded)
