"""Export fake-quantized models to QDQ ONNX, and check what ONNX Runtime makes of them.

The file keeps the float model's I/O (input ``x``, PP-OCR's output name, dynamic axes), so it is
a drop-in replacement. Weights are stored as int8 (biases int32) constants behind
``DequantizeLinear``; activations pass ``QuantizeLinear → DequantizeLinear`` pairs with the
calibrated or trained scales. ONNX Runtime fuses ``DQ → Conv → Q`` into ``QLinearConv``;
:func:`int8_op_counts` reads the graph it actually runs.

LSTMs stay float in QAT (ARCHITECTURE.md: the PyTorch QAT-to-ONNX path for LSTM is broken);
:func:`quantize_lstm_dynamic` gives them ONNX Runtime's dynamic int8 instead.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from slimocr.files import atomic_write
from slimocr.graph import compact_graph
from slimocr.toolkit.compress.quant.prepare import export_mode
from slimocr.toolkit.export.onnx_export import export_onnx, set_metadata

INT8_KERNELS = (
    "QLinearConv",
    "ConvInteger",
    "MatMulInteger",
    "QLinearMatMul",
    "QGemm",
    "DynamicQuantizeLSTM",
    "MatMulIntegerToFloat",
    "DynamicQuantizeMatMul",
)
QDQ_MIN_OPSET = 13


def export_qdq(
    model: nn.Module,
    out: str | Path,
    kind: str,
    metadata: dict[str, str],
    sample_shape: tuple[int, int, int, int] | None = None,
    opset: int = 17,
) -> Path:
    """Export a calibrated or trained fake-quant model as a QDQ int8 ONNX file (atomic write).

    Args:
        model: from :func:`~.prepare.prepare_qat`, with every activation scale set.
        out: the ONNX file.
        kind: ``"det"`` or ``"rec"``.
        metadata: from :func:`slimocr.toolkit.export.onnx_export.build_metadata` (add the quant
            choices under ``extra``).
        sample_shape: trace input shape (default 1×3×640×640 det, 1×3×32×320 rec).
        opset: ONNX opset, at least 13 (per-axis ``DequantizeLinear``).
    """
    if opset < QDQ_MIN_OPSET:
        raise ValueError(f"QDQ export needs opset >= {QDQ_MIN_OPSET}, not {opset}")
    with export_mode(model):
        return export_onnx(model, out, kind, metadata, sample_shape=sample_shape, opset=opset)


def _session_options(threads: int, optimized: Path | None = None):  # noqa: ANN202
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if optimized is not None:
        so.optimized_model_filepath = str(optimized)
    return so


def optimized_op_counts(path: str | Path, threads: int = 1) -> Counter[str]:
    """Op types of the graph ONNX Runtime (CPU, all optimizations) builds from ``path``.

    The optimized graph is written through ``SessionOptions.optimized_model_filepath`` and
    read back, so the counts are of the kernels that run, not of the file's nodes.
    """
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        opt = Path(tmp) / "optimized.onnx"
        ort.InferenceSession(
            str(path), _session_options(threads, opt), providers=["CPUExecutionProvider"]
        )
        graph = onnx.load(str(opt), load_external_data=False).graph
        return Counter(n.op_type for n in graph.node)


def int8_op_counts(path: str | Path, threads: int = 1) -> dict[str, int]:
    """How many int8 kernels (``QLinearConv``, ``MatMulInteger``...) ONNX Runtime runs, and
    how many convolutions still run in float (``Conv``, ``ConvTranspose``, ``FusedConv``)."""
    counts = optimized_op_counts(path, threads)
    out = {k: counts[k] for k in INT8_KERNELS if counts[k]}
    for k in ("Conv", "FusedConv", "ConvTranspose", "LSTM", "MatMul", "Gemm", "FusedMatMul"):
        if counts[k]:
            out[f"float_{k}"] = counts[k]
    return out


def ort_run(path: str | Path, x: np.ndarray, threads: int = 1) -> np.ndarray:
    """The first output of ``path`` on ``x`` in ONNX Runtime (CPU, default optimizations)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(
        str(path), _session_options(threads), providers=["CPUExecutionProvider"]
    )
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@torch.no_grad()
def parity(model: nn.Module, path: str | Path, x: torch.Tensor) -> dict[str, float]:
    """ONNX Runtime vs the fake-quant model on ``x``: max and mean absolute difference."""
    model.eval()
    ref = model(x).float().numpy()
    got = ort_run(path, x.numpy())
    diff = np.abs(ref - got)
    return {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}


def quantize_lstm_dynamic(src: str | Path, dst: str | Path, reduce_range: bool = True) -> Path:
    """Give the LSTMs of an exported recognizer ONNX Runtime's dynamic int8.

    ``onnxruntime.quantization.quantize_dynamic`` replaces each ``LSTM`` with
    ``DynamicQuantizeLSTM`` (int8 weights, activations quantized per call). Only LSTM nodes are
    touched: the rest of a QDQ file keeps its static quantization. The metadata is kept, with
    ``lstm_quant`` added.

    Args:
        src: an exported recognizer (float or QDQ).
        dst: the file to write (atomically).
        reduce_range: 7-bit weights (avoids u8×s8 saturation on AVX2 without VNNI).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "staged.onnx"
        proto = onnx.load(str(src))
        meta = {p.key: p.value for p in proto.metadata_props}
        if not any(n.op_type == "LSTM" for n in proto.graph.node):
            raise ValueError(f"{src}: no LSTM node to quantize")
        quantize_dynamic(
            str(src),
            str(staged),
            op_types_to_quantize=["LSTM"],
            weight_type=QuantType.QInt8,
            reduce_range=reduce_range,
        )
        out = onnx.load(str(staged))
        quant = json.loads(meta.get("quant", "{}") or "{}")
        quant["lstm"] = "onnxruntime dynamic int8" + (" (7-bit weights)" if reduce_range else "")
        meta["quant"] = json.dumps(quant)
        meta["lstm_quant"] = "dynamic_int8"
        compact_graph(out)
        set_metadata(out, meta)
        onnx.save(out, str(staged))
        atomic_write(dst, lambda tmp_out: shutil.copyfile(staged, tmp_out))
    return dst
