"""Export SlimOCR torch models to ONNX files that drop into PP-OCR-style pipelines.

The file keeps PP-OCR's I/O: input ``x`` (N×3×H×W float32, normalized as PP-OCR does), output
the N×1×H×W probability map (detector) or the N×T×C softmax (recognizer), with dynamic batch,
height and width. Metadata makes the file self-describing: kind, architecture, charset (JSON
list for recognizers), parent model, recipe and the SlimOCR version.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

import slimocr
from slimocr.charset import charset_to_json

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


def export_onnx(
    model: nn.Module,
    out: str | Path,
    kind: str,
    metadata: dict[str, str],
    sample_shape: tuple[int, int, int, int] | None = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Export ``model`` (put in eval mode) to ``out``, written atomically.

    Args:
        model: a detector or recognizer.
        out: the ONNX file to write.
        kind: ``"det"`` or ``"rec"``.
        metadata: entries from :func:`build_metadata`.
        sample_shape: the trace input's shape (default 1×3×640×640 det, 1×3×32×320 rec).
        opset: ONNX opset (>= 13).
    """
    if kind not in OUTPUT_NAMES:
        raise ValueError(f"kind must be 'det' or 'rec', not {kind!r}")
    out = Path(out)
    model = model.eval()
    if sample_shape is None:
        sample_shape = (1, 3, 640, 640) if kind == "det" else (1, 3, 32, 320)
    out_name = OUTPUT_NAMES[kind]
    dynamic = {"x": {0: "batch", 2: "height", 3: "width"}}
    dynamic[out_name] = (
        {0: "batch", 2: "height", 3: "width"}
        if kind == "det"
        else {
            0: "batch",
            1: "frames",
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    os.close(fd)
    try:
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
        set_metadata(proto, metadata)
        onnx.save(proto, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
