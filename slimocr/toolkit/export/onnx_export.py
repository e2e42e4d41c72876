"""Export SlimOCR torch models to ONNX files that drop into PP-OCR-style pipelines.

The file keeps the official file's I/O: input ``x`` (N×3×H×W float32, normalized as PP-OCR does),
output the N×1×H×W probability map (detector) or the N×T×C softmax (recognizer), with dynamic
batch, height and width. The output name is PP-OCR's (``sigmoid_0.tmp_0``, ``softmax_0.tmp_0``)
unless the registered model the metadata's ``arch`` names declares another (RapidOCR's PP-OCRv6
files: ``fetch_name_0``); such a recognizer may also fix its input height, as its file does.
Metadata makes the file self-describing: kind, architecture, charset (JSON list for recognizers),
parent model, recipe and the SlimOCR version.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

import slimocr
from slimocr.charset import charset_to_json
from slimocr.files import atomic_write
from slimocr.graph import compact_graph, optimize
from slimocr.toolkit.models import list_models, model_spec
from slimocr.toolkit.models.registry import ModelSpec

# Output names of the official inference files, kept so that our files are drop-in replacements.
OUTPUT_NAMES = {"det": "sigmoid_0.tmp_0", "rec": "softmax_0.tmp_0"}
DEFAULT_OPSET = 17


def set_metadata(model: onnx.ModelProto, meta: dict[str, str]) -> None:
    """Replace the ONNX file's custom metadata entries named in ``meta``."""
    keep = [p for p in model.metadata_props if p.key not in meta]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)


def build_metadata(
    kind: str,
    arch: str,
    charset: list[str] | None = None,
    parent: str | None = None,
    recipe: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The metadata entries SlimOCR writes into every exported file."""
    meta = {
        "slimocr_version": slimocr.__version__,
        "kind": kind,
        "arch": arch,
        "parent": parent or "",
        "recipe": recipe or "",
    }
    if charset is not None:
        meta["charset"] = charset_to_json(charset)
    for key, value in (extra or {}).items():
        meta[key] = value if isinstance(value, str) else json.dumps(value)
    return meta


def export_passes(model: onnx.ModelProto, kind: str) -> list[str]:
    """The :mod:`slimocr.graph` passes an export applies, in order: zero ``Pad`` folding; for a
    detector, the DB head's upsampling as 1×1 convs + ``DepthToSpace``; for an int8 (QDQ) graph,
    the gated residual (~8% on the v3 detector network) and the ``SigmoidGELU`` scale fold
    (→ ``QLinearSigmoid``). The thin-map widening is not among them: it depends on the CPU
    that runs the file and is applied when a session opens it (:mod:`slimocr.graph.thin_channels`).
    """
    passes = ["fold_pads"]
    if kind == "det":
        passes.append("merge_db_upsampling")
    if any(n.op_type == "QuantizeLinear" for n in model.graph.node):
        passes += ["fold_gate_residual", "fold_sigmoid_scale"]
    return passes


def _registered(arch: str | None) -> ModelSpec | None:
    return model_spec(arch) if arch in list_models() else None


def export_onnx(
    model: nn.Module,
    out: str | Path,
    kind: str,
    metadata: dict[str, str],
    sample_shape: tuple[int, int, int, int] | None = None,
    opset: int = DEFAULT_OPSET,
    rewrite: bool = True,
) -> Path:
    """Export ``model`` (put in eval mode) to ``out``, written atomically.

    Args:
        model: a detector or recognizer.
        out: the ONNX file to write.
        kind: ``"det"`` or ``"rec"``.
        metadata: entries from :func:`build_metadata`; its ``arch``, when a registered model,
            sets the output name, the recognizer's trace height and whether it is fixed.
        sample_shape: the trace input's shape (default 1×3×640×640 det, 1×3×H×320 rec with H
            the registered input height, else 32).
        opset: ONNX opset (>= 13).
        rewrite: apply the speed rewrites of :func:`export_passes` (:mod:`slimocr.graph`): zero
            ``Pad`` nodes folded into the convolutions and max-pools that read them; for
            detectors, the DB head's transposed convolutions as 1×1 convolutions +
            ``DepthToSpace``; in int8 graphs, gated residuals ``x + x·g`` as ``x·(g + 1)``
            (equal up to float rounding; float graphs keep them, where ONNX Runtime ran both
            forms equally fast) and a scalar factor before a ``Sigmoid`` moved into the scale
            of the ``DequantizeLinear`` that feeds it (:class:`SigmoidGELU`'s form).
    """
    if kind not in OUTPUT_NAMES:
        raise ValueError(f"kind must be 'det' or 'rec', not {kind!r}")
    out = Path(out)
    model = model.eval()
    spec = _registered(metadata.get("arch"))
    height = (spec.input_height if spec else None) or 32
    if sample_shape is None:
        sample_shape = (1, 3, 640, 640) if kind == "det" else (1, 3, height, 320)
    static_height = kind == "rec" and spec is not None and spec.static_height
    if static_height and sample_shape[2] != height:
        raise ValueError(f"{metadata['arch']} takes inputs {height} high, not {sample_shape[2]}")
    out_name = (spec.output_name if spec else None) or OUTPUT_NAMES[kind]
    dynamic: dict[str, dict[int, str]] = {"x": {0: "batch", 2: "height", 3: "width"}}
    if static_height:
        del dynamic["x"][2]
    dynamic[out_name] = (
        {0: "batch", 2: "height", 3: "width"}
        if kind == "det"
        else {
            0: "batch",
            1: "frames",
        }
    )

    def write(tmp: str) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (torch.zeros(sample_shape),),
                tmp,
                input_names=["x"],
                output_names=[out_name],
                dynamic_axes=dynamic,
                opset_version=opset,
                dynamo=False,
            )
        proto = onnx.load(tmp)
        if rewrite:
            optimize(proto, export_passes(proto, kind))
        compact_graph(proto)
        onnx.checker.check_model(proto)
        set_metadata(proto, metadata)
        onnx.save(proto, tmp)

    return atomic_write(out, write)
