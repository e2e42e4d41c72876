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


RECORDS: dict[str, ZooRecord] = load_records()
DEFAULTS: dict[str, str] = load_defaults()
