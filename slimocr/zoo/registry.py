"""Model names → verified files, pipeline names → model pairs.

A model is named by a zoo record name (``slimocr zoo list``), by ``official-ppocrv3-det`` /
``official-ppocrv2-rec`` (the unmodified PP-OCR files from their PyPI package), or by a path to an
ONNX file. A pipeline (a benchmark row) is named by a zoo pipeline name (``slimocr-float``,
``slimocr-v6s-ptq``, …) or a peer's (``rapidocr-ppocrv6-small``, …).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from slimocr.errors import ModelFileError
from slimocr.official import official_path

Kind = Literal["det", "rec"]

OFFICIAL_NAMES: dict[str, tuple[Kind, str]] = {
    "official-ppocrv3-det": ("det", "ppocrv3_det"),
    "official-ppocrv2-rec": ("rec", "ppocrv2_rec"),
    "rapidocr-ppocrv4-det": ("det", "ppocrv4_det"),
    "rapidocr-ppocrv4-rec": ("rec", "ppocrv4_rec"),
    "rapidocr-ppocrv6s-det": ("det", "ppocrv6s_det"),
    "rapidocr-ppocrv6s-rec": ("rec", "ppocrv6s_rec"),
}


@dataclass(frozen=True)
class PipelineSpec:
    """A named detector + recognizer pair: a zoo pipeline (a benchmark row) or a peer's.

    Attributes:
        name: the pipeline's name (``slimocr-v6s-ptq``).
        det: detector model (zoo or official name).
        rec: recognizer model (zoo or official name).
        rec_height: the recognizer's input height where its file does not fix it.
        note: what it is, for the benchmark table.
        reference: the pipeline its ratios and accuracy bar are measured against (None: the
            float v3/v2 pair).
        not_default: why the benchmark's default pick must pass it over, when a measurement
            outside the benchmark's accuracy bar rules it out (empty: a candidate).
    """

    name: str
    det: str
    rec: str
    rec_height: int | None = None
    note: str = ""
    reference: str | None = None
    not_default: str = ""

    def to_json(self) -> dict[str, Any]:
        """The records-file form (fields at their default left out)."""
        out: dict[str, Any] = {"name": self.name, "det": self.det, "rec": self.rec}
        if self.rec_height is not None:
            out["rec_height"] = self.rec_height
        if self.note:
            out["note"] = self.note
        if self.reference is not None:
            out["reference"] = self.reference
        if self.not_default:
            out["not_default"] = self.not_default
        return out


# The peers' float pipelines as RapidOCR ships them (their packages installed with --no-deps).
# ``rec_height``: the recognizer's input height where the file does not fix it.
PEER_PIPELINES: tuple[PipelineSpec, ...] = (
    PipelineSpec(
        "rapidocr-ppocrv4-mobile",
        "rapidocr-ppocrv4-det",
        "rapidocr-ppocrv4-rec",
        rec_height=48,
        note="PP-OCRv4 mobile as RapidOCR 1.4 ships it",
    ),
    PipelineSpec(
        "rapidocr-ppocrv6-small",
        "rapidocr-ppocrv6s-det",
        "rapidocr-ppocrv6s-rec",
        rec_height=48,
        note="PP-OCRv6 small, RapidOCR 3.10's default",
    ),
)


def resolve_pipeline(name: str) -> PipelineSpec:
    """The zoo or peer pipeline called ``name``.

    Raises:
        ModelFileError: no pipeline has that name.
    """
    from slimocr.zoo.records import load_pipelines

    pipelines = [*load_pipelines(), *PEER_PIPELINES]
    for entry in pipelines:
        if entry.name == name:
            return entry
    known = ", ".join(p.name for p in pipelines)
    raise ModelFileError(f"{name}: unknown pipeline (known: {known}; or give DET,REC models)")


def default_model(kind: Kind) -> str:
    """Name of the model that the pipeline uses when none is given."""
    from slimocr.zoo.records import DEFAULTS

    return DEFAULTS[kind]


def resolve_model(name_or_path: str | Path | None, kind: Kind) -> Path:
    """Turn a model name or path into the path of a verified ONNX file.

    Args:
        name_or_path: a zoo name, an official name, a path, or None for the default model.
        kind: ``"det"`` or ``"rec"``; a zoo or official name of the other kind is refused.

    Raises:
        ModelFileError: unknown name, missing file, or sha256 mismatch for a shipped file.
    """
    from slimocr.zoo.records import RECORDS, verified_file

    if name_or_path is None:
        name_or_path = default_model(kind)
    name = str(name_or_path)
    if name in OFFICIAL_NAMES:
        official_kind, key = OFFICIAL_NAMES[name]
        if official_kind != kind:
            raise ModelFileError(f"{name}: is a {official_kind} model, not a {kind} model")
        return official_path(key)
    if name in RECORDS:
        record = RECORDS[name]
        if record.kind != kind:
            raise ModelFileError(f"{name}: is a {record.kind} model, not a {kind} model")
        return verified_file(record)
    path = Path(name)
    if path.suffix.lower() == ".onnx" or path.exists() or "/" in name:
        if not path.exists():
            raise ModelFileError(f"{path}: model file not found")
        if path.is_dir():
            raise ModelFileError(f"{path}: is a directory, not an ONNX model file")
        return path
    known = ", ".join(sorted([*RECORDS, *OFFICIAL_NAMES]))
    raise ModelFileError(f"{name}: unknown model name (known: {known}; or give a path to .onnx)")
