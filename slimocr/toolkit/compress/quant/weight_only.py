"""Weight-only int8: store a float ONNX model's weights as int8, compute in float.

Static int8 (QDQ on activations too) is what makes ONNX Runtime run int8 kernels, but it also
puts a quantization step on every activation, and on thin layers the quantize/dequantize around
the kernel can cost more than it saves (docs/reports/2026-11-29-pruning-log.md). Weight-only
int8 keeps the activations and the arithmetic float: each conv / matmul weight becomes an int8
initializer (symmetric, abs-max per output channel) followed by ``Cast`` and a ``Mul`` by its
scales. The file shrinks about 4×. ONNX Runtime's constant folding turns ``Cast → Mul`` of
initializers into a float initializer when it builds the session (a ``DequantizeLinear`` there
would be kept and run on every call, and would block the conv fusions), so the network runs the
same float kernels as the float file, on weights rounded to 255 levels per channel.

Only initializers that are a node's weight input (``Conv``/``ConvTranspose`` input 1,
``MatMul``/``Gemm`` input 1) and hold at least ``min_elements`` values are converted; biases,
small tensors and everything inside subgraphs stay float.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from slimocr.errors import ModelFileError
from slimocr.files import atomic_write
from slimocr.graph import compact_graph
from slimocr.toolkit.export.onnx_export import set_metadata

WEIGHT_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")


def _channel_axis(node: onnx.NodeProto, ndim: int) -> int:
    """The axis of ``node``'s weight that indexes its output channels."""
    if node.op_type == "Conv":
        return 0
    if node.op_type == "ConvTranspose":
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        return 1 if group == 1 else 0  # [in, out/group, k...]; grouped: per input channel
    if node.op_type == "Gemm":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return 0 if trans_b else 1
    return ndim - 1  # MatMul: [..., K, N]


def quantize_weight(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-channel abs-max int8: ``(q, scale)`` with ``w ≈ q * scale``.

    ``scale`` has ``w``'s rank, size 1 on every axis but ``axis``, so it broadcasts against
    ``q``. A channel of zeros gets scale 1 (its values stay exactly 0).
    """
    w = w.astype(np.float32)
    reduce = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w).max(axis=reduce, keepdims=True)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


def _convertible(tensor: onnx.TensorProto, min_elements: int) -> bool:
    dims = list(tensor.dims)
    return (
        tensor.data_type == onnx.TensorProto.FLOAT
        and len(dims) >= 2
        and int(np.prod(dims)) >= min_elements
    )


def weight_only_int8(
    model: onnx.ModelProto, ops: Iterable[str] = WEIGHT_OPS, min_elements: int = 64
) -> tuple[onnx.ModelProto, dict[str, int]]:
    """Convert the weights of ``model`` (in place); returns it and a summary.

    Raises:
        ValueError: the model has no weight to convert.
    """
    ops = tuple(ops)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    converted, values, new_nodes = 0, 0, []
    for node in graph.node:
        if node.op_type not in ops or len(node.input) < 2 or node.input[1] not in inits:
            continue
        name = node.input[1]
        tensor = inits.pop(name)  # popped: a weight shared by two nodes is converted once
        if not _convertible(tensor, min_elements):
            continue
        w = numpy_helper.to_array(tensor)
        q, scale = quantize_weight(w, _channel_axis(node, w.ndim))
        graph.initializer.remove(tensor)
        graph.initializer.extend(
            [numpy_helper.from_array(q, f"{name}_q"), numpy_helper.from_array(scale, f"{name}_s")]
        )
        new_nodes += [
            helper.make_node("Cast", [f"{name}_q"], [f"{name}_f"], to=onnx.TensorProto.FLOAT),
            helper.make_node("Mul", [f"{name}_f", f"{name}_s"], [name]),
        ]
        converted += 1
        values += w.size
    if not converted:
        raise ValueError("no conv/matmul weight initializer to convert")
    nodes = new_nodes + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model, {"weights": converted, "values": values}


def weight_only_file(
    src: str | Path, dst: str | Path, extra: dict[str, str] | None = None
) -> dict[str, object]:
    """Read ``src``, convert its weights (:func:`weight_only_int8`), write ``dst`` atomically.

    The metadata is kept; ``precision`` becomes ``w8`` and ``weight_only`` records the
    summary (plus ``extra``), which is also returned. An official recognizer that reads a
    separate dictionary (PP-OCRv6 tiny's) gets it as ``charset`` metadata: the copy is
    self-describing.

    Raises:
        ModelFileError: ``src`` is missing or not an ONNX model.
    """
    src, dst = Path(src), Path(dst)
    try:
        model = onnx.load(str(src))
    except Exception as exc:  # noqa: BLE001 - protobuf/IO errors of a bad file all mean "unreadable"
        raise ModelFileError(f"{src}: cannot read ONNX model ({exc})") from exc
    model, summary = weight_only_int8(model)
    compact_graph(model)
    meta = {p.key: p.value for p in model.metadata_props}
    meta["precision"] = "w8"
    described = {"bits": 8, "granularity": "per-channel abs-max", **summary}
    meta["weight_only"] = json.dumps(described)
    if "charset" not in meta and "character" not in meta:
        from slimocr.charset import charset_to_json, load_charset
        from slimocr.official import companion_charset

        companion = companion_charset(src)
        if companion is not None:
            meta["charset"] = charset_to_json(load_charset(companion))
    meta.update(extra or {})
    set_metadata(model, meta)
    onnx.checker.check_model(model)
    atomic_write(dst, lambda tmp: onnx.save(model, tmp))
    return described
