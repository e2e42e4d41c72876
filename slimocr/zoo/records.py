"""Typed records of the released models and the files shipped inside the package."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slimocr.errors import ConfigError
from slimocr.official import verify_sha256
from slimocr.zoo.registry import PipelineSpec

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

    @property
    def path(self) -> Path:
        return FILES_DIR / self.file


def load_records(path: Path = RECORDS_JSON) -> dict[str, ZooRecord]:
    """Read the records file; an absent file means no zoo models yet."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    records = [ZooRecord(**entry) for entry in data["records"]]
    return {r.name: r for r in records}


def load_defaults(path: Path = RECORDS_JSON) -> dict[str, str]:
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
        "records": [asdict(records[k]) for k in sorted(records)],
    }
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def verified_file(record: ZooRecord) -> Path:
    """The record's file, after checking its sha256 (ModelFileError on mismatch)."""
    return verify_sha256(record.path, record.sha256)


def record_bench_metrics(report: dict[str, Any], records_path: Path = RECORDS_JSON) -> list[str]:
    """Copy a full benchmark run's numbers (``slimocr bench`` report) into the ``metrics`` of
    the zoo records it measured, with the machine and settings, and make the run's default
    pick (fastest zoo pipeline within the accuracy bar) the CLI's default models; returns the
    updated names. Quick runs on a subset (``limit``) are not recorded."""
    if report["settings"].get("limit") is not None:
        return []
    records = load_records(records_path)
    where = {"machine": report["machine"], "threads": report["settings"]["threads"]}
    updated: list[str] = []
    for row in report["rows"]:
        if row.get("group") != "zoo":
            continue
        det, rec = records.get(row["det"]), records.get(row["rec"])
        if det is not None:
            det.metrics.update(
                ic15_det_hmean=row["det_hmean"], det_ms_per_image=round(row["det_ms"], 2), **where
            )
            updated.append(det.name)
        if rec is not None:
            rec.metrics.update(
                ic15_rec_acc=row["rec_acc"],
                rec_ms_per_crop=round(row["rec_ms_per_crop"], 3),
                **where,
            )
            updated.append(rec.name)
    defaults = load_defaults(records_path)
    pick = report.get("default_pick")
    if pick and pick["det"] in records and pick["rec"] in records:
        defaults = {"det": pick["det"], "rec": pick["rec"]}  # the bench's bar decides
    save_records(records, defaults, records_path)
    return sorted(set(updated))


RECORDS: dict[str, ZooRecord] = load_records()
DEFAULTS: dict[str, str] = load_defaults()
