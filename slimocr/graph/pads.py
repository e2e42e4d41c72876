""":func:`fold_pads` moves constant zero ``Pad`` nodes into the ``pads`` of the convolutions and
max-pools that read them (PP-LCNetV4's stem pads right and bottom before its 2×2 convs and
max-pool); in an int8 graph that also keeps the stem on ONNX Runtime's int8 NHWC kernels.
"""

from __future__ import annotations

import numpy as np
import onnx

from slimocr.graph.core import attrs, drop_dead, evaluate_constant, graph_consumers


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
        zp = evaluate_constant(node.input[2], producers, inits, opset)
        return zp is not None and zp.dtype == np.uint8 and not zp.any()
    return False


def _takes_pads(node: onnx.NodeProto, spatial: list[int], nonneg: bool) -> bool:
    """Whether ``node`` reading a zero-padded 4-D tensor (``spatial`` = h/w begin, h/w end)
    computes the same with those pads in its own ``pads``."""
    a = attrs(node)
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
        if attrs(pad).get("mode", b"constant") != b"constant" or pad.output[0] in outputs:
            continue
        if len(pad.input) > 3 and pad.input[3]:
            continue  # explicit axes
        if len(pad.input) > 2 and pad.input[2]:
            value = evaluate_constant(pad.input[2], producers, inits, opset)
            if value is None or np.asarray(value).any():
                continue
        pads = evaluate_constant(pad.input[1], producers, inits, opset)
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
            a = attrs(node)
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
        drop_dead(graph)
    return done
