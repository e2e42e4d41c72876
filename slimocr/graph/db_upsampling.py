""":func:`merge_db_upsampling` replaces the DB head's two 2× transposed convolutions
(``ConvTranspose → [BatchNormalization] → Relu → ConvTranspose → [Sigmoid]``, kernel 2, stride
2) by two 1×1 convolutions at the input resolution and one ``DepthToSpace``. Both forms compute
the same function: a kernel-2 stride-2 transposed convolution writes each input pixel into its
own 2×2 output block, so the two of them map each input pixel to its own 4×4 block through a
pixel-wise network. ONNX Runtime runs a transposed convolution as a GEMM followed by a
scatter of columns to the image; the 1×1 convolutions take its blocked (NCHWc) kernels and
fuse the ReLU and the sigmoid.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from slimocr.graph.core import attrs, graph_consumers

_BN_DEFAULT_EPS = 1e-5


def _is_up2(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> bool:
    """A kernel-2 stride-2 transposed convolution without padding, groups or output shape,
    whose weight (and bias, if any) are stored constants."""
    if node.op_type != "ConvTranspose" or node.domain not in ("", "ai.onnx"):
        return False
    a = attrs(node)
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
    eps = float(attrs(bn).get("epsilon", _BN_DEFAULT_EPS))
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
      each side; docs/reports/2026-11-29-quantization-log.md times both forms);
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
