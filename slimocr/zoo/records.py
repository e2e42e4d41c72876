"""Typed records of the released models and the files shipped inside the package."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slimocr.errors import ConfigError
from slimocr.official import verify_sha256

# The pipeline settings a :class:`PipelineSpec` may fix, as :class:`~slimocr.infer.pipeline.OCR`
# keyword arguments (field name → OCR argument).
SETTING_FIELDS: dict[str, str] = {
    "rec_height": "rec_image_height",
    "det_limit_side_len": "det_limit_side_len",
    "det_limit_type": "det_limit_type",
    "det_max_side": "det_max_side",
    "det_thresh": "det_thresh",
    "det_box_thresh": "box_thresh",
    "det_unclip_ratio": "unclip_ratio",
}
# The detector settings as :class:`~slimocr.infer.det.TextDetector` keyword arguments.
DET_OPTION_FIELDS: dict[str, str] = {
    "det_limit_side_len": "limit_side_len",
    "det_limit_type": "limit_type",
    "det_max_side": "max_side_limit",
    "det_thresh": "thresh",
    "det_box_thresh": "box_thresh",
    "det_unclip_ratio": "unclip_ratio",
}


def det_options(settings: dict[str, Any]) -> dict[str, Any]:
    """The detector settings among pipeline ``settings`` (by :class:`PipelineSpec` field) as
    :class:`~slimocr.infer.det.TextDetector` keyword arguments."""
    return {DET_OPTION_FIELDS[f]: v for f, v in settings.items() if f in DET_OPTION_FIELDS}


@dataclass(frozen=True)
class PipelineSpec:
    """A named detector + recognizer pair: a zoo pipeline (a benchmark row) or a peer's.

    Attributes:
        name: the pipeline's name (``slimocr-v6s-ptq``).
        det: detector model (zoo or official name).
        rec: recognizer model (zoo or official name).
        rec_height: the recognizer's input height where its file does not fix it.
        det_limit_side_len: the detector's resize limit (None: the OCR default, 960).
        det_limit_type: ``"max"`` / ``"min"`` / ``"resize_long"`` (None: ``"max"``).
        det_max_side: the cap on the detector input's longer side (None: 4000).
        det_thresh: DB binarization threshold (None: 0.3).
        det_box_thresh: DB box score threshold (None: 0.6).
        det_unclip_ratio: DB unclip ratio (None: 1.5).
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
    det_limit_side_len: int | None = None
    det_limit_type: str | None = None
    det_max_side: int | None = None
    det_thresh: float | None = None
    det_box_thresh: float | None = None
    det_unclip_ratio: float | None = None

    def settings(self) -> dict[str, Any]:
        """The settings this pipeline fixes (unset ones left out), by field name."""
        return {f: getattr(self, f) for f in SETTING_FIELDS if getattr(self, f) is not None}

    def ocr_kwargs(self) -> dict[str, Any]:
        """The settings as :class:`~slimocr.infer.pipeline.OCR` keyword arguments.

        >>> PipelineSpec("p", "d", "r", det_thresh=0.2).ocr_kwargs()
        {'det_thresh': 0.2}
        """
        return {SETTING_FIELDS[f]: v for f, v in self.settings().items()}

    def det_kwargs(self) -> dict[str, Any]:
        """The detector settings as :class:`~slimocr.infer.det.TextDetector` keyword arguments.

        >>> PipelineSpec("p", "d", "r", det_limit_type="min", det_thresh=0.2).det_kwargs()
        {'limit_type': 'min', 'thresh': 0.2}
        """
        return det_options(self.settings())

    def to_json(self) -> dict[str, Any]:
        """The records-file form (fields at their default left out)."""
        out: dict[str, Any] = {"name": self.name, "det": self.det, "rec": self.rec}
        out.update(self.settings())
        if self.note:
            out["note"] = self.note
        if self.reference is not None:
            out["reference"] = self.reference
        if self.not_default:
            out["not_default"] = self.not_default
        return out


FILES_DIR = Path(__file__).parent / "files"
RECORDS_JSON = Path(__file__).parent / "records.json"


@dataclass(frozen=True)
class ZooRecord:
    """One released model: what it is, where it came from, and what it measured."""

    name: str
    kind: str  # "det" | "rec"
    arch: str
    file: str  # relative to slimocr/zoo/files
    sha256: str
    size_bytes: int
    parent: str | None
    recipe: str
    metrics: dict[str, Any] = field(default_factory=dict)
    # what ``slimocr zoo build`` measured while making the file (method, MACs, eval, hardware)
    build: dict[str, Any] = field(default_factory=dict)
    # why the file left the package (empty: shipped); the record stays, so ``slimocr zoo
    # build NAME`` remakes the file, and a built file with this sha256 loads as before
    retired: str = ""
    # the record loaded instead on a CPU without an int8 dot product (x86 VNNI, Arm dotprod):
    # a float-compute sibling of this int8-activation file (empty: this file everywhere;
    # :func:`slimocr.zoo.registry.effective_record`)
    int8_fallback: str = ""

    @property
    def path(self) -> Path:
        return FILES_DIR / self.file


def load_records(path: Path = RECORDS_JSON) -> dict[str, ZooRecord]:
    """Read the records file; an absent file means no zoo models yet.

    Raises:
        ConfigError: an entry has an unknown field or lacks one, or an ``int8_fallback`` is
            not a shipped record of the same kind without a fallback of its own.
    """
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    records = {}
    for i, entry in enumerate(data["records"]):
        try:
            record = ZooRecord(**entry)
        except TypeError as exc:
            name = entry.get("name") if isinstance(entry, dict) else entry
            raise ConfigError(f"{path}: record entry {i} ({name}): {exc}") from None
        records[record.name] = record
    for record in records.values():
        problem = fallback_problem(record, records)
        if problem:
            raise ConfigError(f"{path}: {record.name}: int8_fallback {problem}")
    return records


def fallback_problem(record: ZooRecord, records: dict[str, ZooRecord]) -> str:
    """Why ``record.int8_fallback`` cannot stand in for it (empty: it can, or there is none):
    the fallback must be another record of the same kind, shipped (not retired), and have no
    fallback of its own (the choice is one level deep)."""
    name = record.int8_fallback
    if not name:
        return ""
    other = records.get(name)
    if other is None:
        return f"{name!r} is not a record of this file"
    if name == record.name:
        return "names the record itself"
    if other.kind != record.kind:
        return f"{name!r} is a {other.kind} model, not a {record.kind} model"
    if other.retired:
        return f"{name!r} is retired ({other.retired})"
    if other.int8_fallback:
        return f"{name!r} has an int8_fallback of its own (one level only)"
    return ""


def record_json(record: ZooRecord) -> dict[str, Any]:
    """The records-file form of ``record`` (``retired`` and ``int8_fallback`` left out while
    empty)."""
    out = asdict(record)
    for key in ("retired", "int8_fallback"):
        if not out[key]:
            del out[key]
    return out


def shipped(records: dict[str, ZooRecord]) -> dict[str, ZooRecord]:
    """The records whose files the package ships (not retired)."""
    return {k: r for k, r in records.items() if not r.retired}


def load_defaults(path: Path = RECORDS_JSON) -> dict[str, str]:
    """The default models (``det``, ``rec``) and the default ``pipeline`` they form."""
    if not path.exists():
        return {"det": "official-ppocrv3-det", "rec": "official-ppocrv2-rec"}
    return dict(json.loads(path.read_text(encoding="utf-8"))["defaults"])


def load_pipelines(path: Path = RECORDS_JSON) -> list[PipelineSpec]:
    """Named detector + recognizer pairs of the zoo (the benchmark's rows).

    Raises:
        ConfigError: an entry lacks ``name``/``det``/``rec`` or has an unknown field.
    """
    if not path.exists():
        return []
    entries = json.loads(path.read_text(encoding="utf-8")).get("pipelines", [])
    pipelines = []
    for i, entry in enumerate(entries):
        try:
            pipelines.append(PipelineSpec(**entry))
        except TypeError as exc:
            raise ConfigError(f"{path}: pipeline entry {i} ({entry}): {exc}") from None
    return pipelines


def save_records(
    records: dict[str, ZooRecord], defaults: dict[str, str], path: Path = RECORDS_JSON
) -> None:
    """Write the records file (sorted, stable formatting, so diffs stay readable)."""
    data = {
        "defaults": defaults,
        "pipelines": [p.to_json() for p in load_pipelines(path)],
        "records": [record_json(records[k]) for k in sorted(records)],
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def has_built_file(record: ZooRecord) -> bool:
    """Whether the record's file is in the files folder with the recorded sha256."""
    from slimocr.official import sha256_file

    return record.path.is_file() and sha256_file(record.path) == record.sha256


def verified_file(record: ZooRecord) -> Path:
    """The record's file, after checking its sha256 (ModelFileError on mismatch)."""
    return verify_sha256(record.path, record.sha256)


RECORDS: dict[str, ZooRecord] = load_records()
DEFAULTS: dict[str, str] = load_defaults()
